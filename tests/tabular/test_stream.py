"""Parquet larger than memory: open_dataset's checks, the streamed sample, encode_dataset and
predict_to_parquet against the whole table read at once, and files written whole or not at all."""

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from wordexperts.errors import ConfigError, ConfigTypeError, DataError
from wordexperts.tabular import WordExpertsClassifier, WordExpertsRegressor
from wordexperts.tabular.encoding import TableEncoder
from wordexperts.tabular.estimators import TARGET
from wordexperts.tabular.stream import (
    DataNotFoundError,
    check_columns,
    encode_dataset,
    open_dataset,
    predict_to_parquet,
    sample_rows,
    token_dtype,
)

N_ROWS = 3000
FEATURES = ["size", "count", "colour", "flag", "shape", "grade"]


def _table(n_rows: int = N_ROWS, seed: int = 0) -> pa.Table:
    """Mixed columns as Parquet holds them: floats with NaN, ints with nulls, strings with
    nulls, bools, a dictionary-encoded string column, int categories; an id and a target."""
    rng = np.random.default_rng(seed)
    size = rng.normal(size=n_rows)
    size[rng.random(n_rows) < 0.05] = np.nan
    count = pa.array(rng.poisson(3.0, n_rows), mask=rng.random(n_rows) < 0.05)
    colour = rng.choice(np.array(["red", "green", "blue", "teal"], dtype=object), n_rows, p=[0.4, 0.3, 0.2, 0.1])
    colour[[17, 1500, 2999]] = "rare"  # 3 rows of 3000: a sample of 400 likely misses them all
    missing = rng.random(n_rows) < 0.05
    missing[[17, 1500, 2999]] = False
    colour = pa.array(colour, pa.string(), mask=missing)
    shape = pa.array(rng.choice(["circle", "square"], n_rows)).dictionary_encode()
    grade = rng.integers(1, 6, n_rows)
    y = np.where(np.nan_to_num(size) + (grade > 3) > 0.5, "high", "low")
    return pa.table(
        {
            "id": np.arange(n_rows) + 10_000,
            "size": size,
            "count": count,
            "colour": colour,
            "flag": rng.random(n_rows) < 0.3,
            "shape": shape,
            "grade": grade,
            "y": y,
            "target": 2.0 * np.nan_to_num(size) + rng.normal(scale=0.1, size=n_rows),
        }
    )


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return _table()


@pytest.fixture(scope="module")
def one_file(tmp_path_factory, table) -> str:
    path = tmp_path_factory.mktemp("one") / "table.parquet"
    pq.write_table(table, path, row_group_size=700)
    return str(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, table) -> str:
    """Three files of uneven sizes, in sorted order, plus files a dataset folder skips."""
    path = tmp_path_factory.mktemp("folder")
    for name, rows in (
        ("part-0.parquet", slice(0, 1000)),
        ("part-1.parquet", slice(1000, 1300)),
        ("part-2.parquet", slice(1300, None)),
    ):
        start, stop, _ = rows.indices(N_ROWS)
        pq.write_table(table.slice(start, stop - start), path / name, row_group_size=400)
    (path / "_SUCCESS").write_text("")
    (path / ".part-3.parquet.tmp").write_text("half written")
    return str(path)


def _whole(source: str, columns: list[str]) -> pd.DataFrame:
    return ds.dataset(source, format="parquet").to_table(columns=columns).to_pandas()


def _encoder(table: pa.Table, **params) -> TableEncoder:
    return TableEncoder(n_bins=8, categorical=["grade"], **params).fit(table.select(FEATURES).to_pandas())


def _siblings(path) -> list[str]:
    return sorted(os.listdir(os.path.dirname(path)))


# ---------------------------------------------------------------------------------------------
# open_dataset
# ---------------------------------------------------------------------------------------------


def test_open_dataset_reads_a_folder_in_sorted_order_and_skips_hidden_files(folder, table):
    dataset = open_dataset(folder)
    assert [os.path.basename(f) for f in dataset.files] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert dataset.count_rows() == N_ROWS
    assert dataset.to_table(columns=["id"]).column("id").to_pylist() == table.column("id").to_pylist()
    assert open_dataset(dataset) is dataset


def test_open_dataset_errors_name_the_path(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"data '.*nowhere.parquet' does not exist"):
        open_dataset(tmp_path / "nowhere.parquet")
    assert issubclass(DataNotFoundError, DataError) and issubclass(DataNotFoundError, FileNotFoundError)
    csv = tmp_path / "table.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"table.csv' is not a Parquet file; convert it first"):
        open_dataset(csv)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_text("")
    with pytest.raises(DataError, match="holds no data files"):
        open_dataset(empty)
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), tmp_path / "no_rows.parquet")
    with pytest.raises(DataError, match="no_rows.parquet' has no rows"):
        open_dataset(tmp_path / "no_rows.parquet")
    with pytest.raises(DataError, match="the dataset has no rows"):
        open_dataset(ds.dataset(pa.table({"a": pa.array([], pa.int64())})))
    with pytest.raises(ConfigTypeError, match="got DataFrame"):
        open_dataset(pd.DataFrame({"a": [1]}))


# ---------------------------------------------------------------------------------------------
# sample_rows
# ---------------------------------------------------------------------------------------------


def test_sample_is_reproducible_and_independent_of_batch_size(folder):
    first = sample_rows(folder, 500, seed=3, batch_rows=128)
    assert len(first) == 500 and first.index.is_unique and first.index.is_monotonic_increasing
    assert first.equals(sample_rows(folder, 500, seed=3, batch_rows=1000))
    assert first.equals(sample_rows(folder, 500, seed=3, batch_rows=7))
    other = sample_rows(folder, 500, seed=4, batch_rows=128)
    assert len(set(first.index) & set(other.index)) < 150  # two samples of 1/6 share about 1/6 of their rows: 83
    # The index is each row's position: the sampled rows are those rows.
    assert (first["id"].to_numpy() == first.index.to_numpy() + 10_000).all()


def test_sample_is_uniform_over_positions(tmp_path):
    """40 samples of 1,000 of 10,000 rows (ten compactions each): every tenth of the table
    gets 4,000 +- 57 picks (one standard deviation); all within 4% (2.8 of them; measured: 1.7%)."""
    pq.write_table(pa.table({"x": np.arange(10_000)}), tmp_path / "x.parquet", row_group_size=999)
    dataset = open_dataset(tmp_path / "x.parquet")
    picks = np.concatenate([sample_rows(dataset, 1000, seed=s, batch_rows=500)["x"].to_numpy() for s in range(40)])
    tenths = np.bincount(picks // 1000, minlength=10)
    assert tenths.sum() == 40_000
    assert np.abs(tenths / 4000 - 1).max() < 0.04
    # Early and late rows alike (a reservoir that favours either shows up here first).
    assert abs(tenths[0] - tenths[-1]) < 250


def test_sample_with_n_at_least_the_rows_is_the_whole_table(one_file):
    sample = sample_rows(one_file, N_ROWS + 1, seed=0, batch_rows=256)
    whole = _whole(one_file, None)
    assert sample.index.tolist() == list(range(N_ROWS))
    pd.testing.assert_frame_equal(sample.reset_index(drop=True), whole)


def test_sample_columns_and_argument_errors(one_file):
    sample = sample_rows(one_file, 10, seed=0, columns=["grade", "size"])
    assert list(sample.columns) == ["grade", "size"]
    with pytest.raises(DataError, match=r"columns \['weight'\] are not in the dataset"):
        sample_rows(one_file, 10, columns=["weight"])
    with pytest.raises(ConfigError, match="n must be a positive int, got 0"):
        sample_rows(one_file, 0)
    with pytest.raises(ConfigTypeError, match="seed must be an int"):
        sample_rows(one_file, 10, seed=0.5)


def test_bins_fitted_on_a_sample_cut_the_whole_table_evenly(tmp_path):
    """Edges from a 2,000-row sample of 40,000 rows put 10% +- 1.5% of the whole table in each
    of 10 bins (one standard deviation is sqrt(0.1 * 0.9 / 2000) = 0.67%; measured: 1.1% at most)."""
    rng = np.random.default_rng(1)
    pq.write_table(pa.table({"x": rng.lognormal(size=40_000)}), tmp_path / "x.parquet")
    encoder = TableEncoder(n_bins=10).fit(sample_rows(tmp_path / "x.parquet", 2000, seed=0))
    tokens = encode_dataset(encoder, tmp_path / "x.parquet")
    shares = np.bincount(tokens[:, 0], minlength=10)[:10] / 40_000
    assert np.abs(shares - 0.1).max() < 0.015


def test_batches_hold_exactly_batch_rows_across_row_groups_and_files(folder):
    """Files of 1000, 300 and 1700 rows in row groups of 400: batches of 333 all the same."""
    from wordexperts.tabular.stream import _batches

    batches = list(_batches(open_dataset(folder), ["id", "shape"], 333))
    assert [b.num_rows for b in batches] == [333] * 9 + [3]
    ids = np.concatenate([b.column("id").to_numpy() for b in batches])
    assert np.array_equal(ids, np.arange(N_ROWS) + 10_000)
    assert all(b.schema.field("shape").type == pa.dictionary(pa.int32(), pa.string()) for b in batches)


def test_files_that_store_a_column_differently_read_as_the_dataset_types(tmp_path, table):
    """An int32 column in one file and int64 in another reads as the first file's type; a
    string where the first file has numbers is an error naming the column and the file."""
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(table.slice(0, 100), folder / "a.parquet")
    pq.write_table(
        table.slice(100, 100).set_column(6, "grade", table.column("grade").slice(100, 100).cast(pa.int32())),
        folder / "b.parquet",
    )
    sample = sample_rows(folder, 1000, seed=0, batch_rows=64)
    assert sample["grade"].dtype == np.int64 and sample["grade"].tolist() == table.column("grade").to_pylist()[:200]
    encoder = _encoder(table)
    assert np.array_equal(
        encode_dataset(encoder, folder, batch_rows=64),
        encoder.transform(table.select(FEATURES).slice(0, 200).to_pandas()),
    )
    pq.write_table(table.slice(200, 100).set_column(1, "size", pa.array(["big"] * 100)), folder / "c.parquet")
    with pytest.raises(
        DataError,
        match=r"column 'size' in '.*c\.parquet' has type string, which does not convert to the dataset's double",
    ):
        sample_rows(folder, 1000, seed=0)


def test_datasets_that_are_not_plain_files_stream_too(table, tmp_path):
    """An in-memory dataset goes through Dataset.to_batches: same tokens, same batches."""
    encoder = _encoder(table)
    dataset = ds.dataset(table)
    assert np.array_equal(
        encode_dataset(encoder, dataset, batch_rows=700), encoder.transform(table.select(FEATURES).to_pandas())
    )
    assert sample_rows(dataset, 500, seed=3, batch_rows=128).index.equals(
        sample_rows(ds.dataset(table.to_batches(max_chunksize=1000)), 500, seed=3, batch_rows=1000).index
    )


# ---------------------------------------------------------------------------------------------
# encode_dataset
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["one_file", "folder"])
def test_encode_dataset_equals_transform_of_the_whole_table(source, request, tmp_path, table):
    source = request.getfixturevalue(source)
    encoder = TableEncoder(n_bins=8, categorical=["grade"]).fit(sample_rows(source, 400, seed=2, columns=FEATURES))
    path = tmp_path / "tokens.npy"
    tokens = encode_dataset(encoder, source, path, batch_rows=257)
    expected = encoder.transform(_whole(source, FEATURES))
    assert tokens.shape == (N_ROWS, len(FEATURES)) and tokens.dtype == np.uint8
    assert np.array_equal(tokens, expected)
    assert np.array_equal(np.load(path, mmap_mode="r"), expected)
    assert _siblings(path) == ["tokens.npy"]
    # Both kinds of special token occur: missing values, and the rare colour absent from the sample.
    colour = FEATURES.index("colour")
    assert (tokens[:, colour] == encoder.missing_token("colour")).sum() == 162
    assert encoder.categories_["colour"] == ["blue", "green", "red", "teal"]  # seed 2's sample misses "rare"
    assert (tokens[:, colour] == encoder.unknown_token("colour")).sum() == 3


def test_encode_dataset_without_a_path_keeps_no_file(one_file, table, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    encoder = _encoder(table)
    tokens = encode_dataset(encoder, one_file, batch_rows=1000)
    assert np.array_equal(tokens, encoder.transform(table.select(FEATURES).to_pandas()))
    assert os.listdir(tmp_path) == []  # the file is gone; the map keeps its pages


def test_token_dtype_follows_the_vocabulary(tmp_path):
    codes = np.arange(3000) % 300  # 300 categories: 302 tokens, int16
    pq.write_table(pa.table({"code": codes.astype(str), "x": np.arange(3000.0)}), tmp_path / "t.parquet")
    encoder = TableEncoder(n_bins=4, max_categories=None).fit(pd.read_parquet(tmp_path / "t.parquet"))
    tokens = encode_dataset(encoder, tmp_path / "t.parquet", tmp_path / "t.npy", batch_rows=512)
    assert encoder.vocab_size_ == 308 and tokens.dtype == np.int16
    assert np.array_equal(tokens, encoder.transform(pd.read_parquet(tmp_path / "t.parquet")))
    assert [token_dtype(v) for v in (2, 255, 256, 32_767, 32_768)] == [np.uint8, np.uint8, np.int16, np.int16, np.int32]


def test_encode_dataset_reads_a_renamed_column(one_file, table, tmp_path):
    frame = table.select(["size", "y"]).to_pandas().rename(columns={"y": TARGET})
    encoder = TableEncoder(n_bins=4).fit(frame)
    tokens = encode_dataset(encoder, one_file, tmp_path / "t.npy", rename={"y": TARGET})
    assert np.array_equal(tokens, encoder.transform(frame))
    with pytest.raises(ConfigError, match=r"rename maps to columns \['label'\]"):
        encode_dataset(encoder, one_file, rename={"y": "label"})


def test_schema_errors_name_the_column_and_the_file(tmp_path, table):
    encoder = _encoder(table)
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(table.slice(0, 100), folder / "a.parquet")
    pq.write_table(table.slice(100, 100).drop_columns(["colour"]), folder / "b.parquet")
    with pytest.raises(DataError, match=r"column 'colour' is missing from '.*b\.parquet', whose columns are"):
        encode_dataset(encoder, folder, tmp_path / "t.npy")
    (folder / "b.parquet").unlink()
    wrong = table.slice(100, 100).set_column(1, "size", pa.array(["big"] * 100))
    pq.write_table(wrong, folder / "c.parquet")
    with pytest.raises(
        DataError, match=r"column 'size' in '.*c\.parquet' has type string, but the encoder reads numbers"
    ):
        encode_dataset(encoder, folder, tmp_path / "t.npy")
    (folder / "c.parquet").unlink()
    wrong = table.slice(100, 100).set_column(3, "colour", pa.array(np.arange(100)))
    pq.write_table(wrong, folder / "d.parquet")
    with pytest.raises(DataError, match=r"column 'colour' in '.*d\.parquet' has type int64, but the encoder reads str"):
        check_columns(open_dataset(folder), encoder)
    assert sorted(os.listdir(tmp_path)) == ["data"]  # nothing written
    positional = TableEncoder().fit(np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="fitted without column names"):
        check_columns(open_dataset(folder), positional)


class _FailingEncoder(TableEncoder):
    """Raises ``error`` on the ``fail_at``-th transform: an error midway through the file."""

    def transform(self, X):
        self.calls_ = getattr(self, "calls_", 0) + 1
        if self.calls_ == self.fail_at_:
            raise self.error_
        return super().transform(X)


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_encode_dataset_leaves_no_file_after_an_error_midway(one_file, table, tmp_path, error):
    encoder = _FailingEncoder(n_bins=8, categorical=["grade"]).fit(table.select(FEATURES).to_pandas())
    encoder.fail_at_, encoder.error_ = 3, error
    path = tmp_path / "tokens.npy"
    with pytest.raises(type(error)):
        encode_dataset(encoder, one_file, path, batch_rows=500)
    assert encoder.calls_ == 3 and os.listdir(tmp_path) == []
    np.save(path, np.arange(3))  # an old file stays as it was
    encoder.calls_ = 0
    with pytest.raises(type(error)):
        encode_dataset(encoder, one_file, path, batch_rows=500)
    assert os.listdir(tmp_path) == ["tokens.npy"] and np.load(path).tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------------------------
# predict_to_parquet
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(table) -> WordExpertsClassifier:
    frame = table.to_pandas()
    return WordExpertsClassifier(epochs=3, random_state=0, categorical=["grade"]).fit(frame[FEATURES], frame["y"])


def test_predictions_equal_predict_on_the_whole_table(classifier, folder, tmp_path):
    whole = _whole(folder, ["id", *FEATURES])
    out = predict_to_parquet(classifier, folder, tmp_path / "p.parquet", batch_rows=2048, columns=["id"])
    written = pq.read_table(out)
    assert written.schema.names == ["id", "prediction"] and written.num_rows == N_ROWS
    assert written.column("id").to_pylist() == whole["id"].tolist()  # order kept
    assert written.column("prediction").to_pylist() == classifier.predict(whole[FEATURES]).tolist()
    assert _siblings(out) == ["p.parquet"]

    out = predict_to_parquet(classifier, folder, tmp_path / "q.parquet", batch_rows=2048, proba=True)
    written = pq.read_table(out).to_pandas()
    assert list(written.columns) == ["prediction", "proba_high", "proba_low"]
    assert np.array_equal(written[["proba_high", "proba_low"]].to_numpy(), classifier.predict_proba(whole[FEATURES]))
    assert written["prediction"].tolist() == classifier.predict(whole[FEATURES]).tolist()


def test_predictions_in_other_batch_sizes_agree_to_float32_rounding(classifier, folder, tmp_path):
    """Batches that are not whole PREDICT_CHUNKs run the model on other row counts: the
    probabilities move in their last float32 bits, never more."""
    whole = _whole(folder, FEATURES)
    out = predict_to_parquet(classifier, folder, tmp_path / "q.parquet", batch_rows=333, proba=True)
    gap = np.abs(pq.read_table(out).to_pandas()[["proba_high", "proba_low"]].to_numpy() - classifier.predict_proba(whole))
    assert gap.max() < 1e-6


def test_regressor_predictions_equal_predict_on_the_whole_table(one_file, table, tmp_path):
    frame = table.to_pandas()
    model = WordExpertsRegressor(epochs=3, random_state=0).fit(frame[["size", "colour"]], frame["target"])
    out = predict_to_parquet(model, one_file, tmp_path / "r.parquet", batch_rows=2048, columns=["id", "size"])
    written = pq.read_table(out).to_pandas()
    assert list(written.columns) == ["id", "size", "prediction"]
    assert np.array_equal(written["prediction"].to_numpy(), model.predict(frame[["size", "colour"]]))
    with pytest.raises(ConfigError, match="WordExpertsRegressor has no predict_proba"):
        predict_to_parquet(model, one_file, tmp_path / "r.parquet", proba=True)


def test_predict_to_parquet_checks_columns_before_predicting(classifier, table, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(table.slice(0, 100), folder / "a.parquet")
    pq.write_table(table.slice(100, 100).drop_columns(["grade"]), folder / "b.parquet")
    with pytest.raises(DataError, match=r"column 'grade' is missing from '.*b\.parquet'"):
        predict_to_parquet(classifier, folder, tmp_path / "p.parquet")
    (folder / "b.parquet").unlink()
    with pytest.raises(DataError, match=r"column 'key' is missing from '.*a\.parquet'"):
        predict_to_parquet(classifier, folder, tmp_path / "p.parquet", columns=["key"])
    with pytest.raises(ConfigError, match=r"columns \['prediction'\] would clash"):
        predict_to_parquet(classifier, folder, tmp_path / "p.parquet", columns=["prediction"])
    assert os.listdir(tmp_path) == ["data"]


@pytest.mark.parametrize("error", [RuntimeError("out of memory"), KeyboardInterrupt()])
def test_predict_to_parquet_leaves_no_file_after_an_error_midway(classifier, one_file, tmp_path, monkeypatch, error):
    calls = []
    predict = classifier.predict

    def failing(X):
        calls.append(len(X))
        if len(calls) == 3:
            raise error
        return predict(X)

    monkeypatch.setattr(classifier, "predict", failing)
    with pytest.raises(type(error)):
        predict_to_parquet(classifier, one_file, tmp_path / "p.parquet", batch_rows=500)
    assert calls == [500, 500, 500] and os.listdir(tmp_path) == []


def test_written_files_get_the_usual_mode_not_the_temporary_files(classifier, folder, tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        out = predict_to_parquet(classifier, folder, tmp_path / "p.parquet")
        tokens = tmp_path / "tokens.npy"
        encode_dataset(classifier.encoder_, folder, tokens, rename={"y": TARGET})
    finally:
        os.umask(mask)
    assert oct(out.stat().st_mode & 0o777) == "0o644"  # mkstemp's 0600 would keep others out
    assert oct(tokens.stat().st_mode & 0o777) == "0o644"
