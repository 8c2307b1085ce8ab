"""The estimators on Parquet sources: fitted from a sample's encoder and every row, predicting batch by batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wordexperts import ConfigError, DataError, WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor
from wordexperts.tabular import stream


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[pd.DataFrame, object]:
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({"a": rng.integers(0, 5, n), "b": rng.normal(size=n), "c": rng.choice(list("xyz"), n)})
    frame["y"] = ((frame.a + (frame.b > 0)) % 3).astype(str)
    folder = tmp_path_factory.mktemp("parquet")
    for i, part in enumerate(np.array_split(np.arange(n), 3)):  # a folder of three files
        pq.write_table(pa.Table.from_pandas(frame.iloc[part], preserve_index=False), folder / f"part-{i}.parquet")
    return frame, folder


def test_a_table_within_the_sample_fits_as_the_same_frame_in_memory_bitwise(table):
    frame, folder = table
    X, y = frame.drop(columns="y"), frame["y"]
    streamed = WordExpertsClassifier(random_state=0, epochs=3).fit(folder, "y")
    in_memory = WordExpertsClassifier(random_state=0, epochs=3).fit(X, y)
    assert np.array_equal(streamed.predict_proba(X), in_memory.predict_proba(X))
    assert streamed.target_name_ == "y" and streamed.history_["rows"] == 3000
    assert np.array_equal(streamed.predict_proba(folder), in_memory.predict_proba(X))  # a source, batch by batch


def test_a_table_larger_than_the_sample_trains_on_every_row(table, monkeypatch):
    frame, folder = table
    monkeypatch.setattr(stream, "SAMPLE_ROWS", 500)  # the encoder sees 500 rows; training sees 2,950 (50 validate)
    seen = []
    encode = stream.encode_dataset

    def spy(*args, **kwargs):
        tokens = encode(*args, **kwargs)
        seen.append(tokens.shape)
        return tokens

    monkeypatch.setattr(stream, "encode_dataset", spy)
    model = WordExpertsClassifier(random_state=0, epochs=3).fit(folder, "y")
    assert seen == [(3000, 4)] and model.history_["rows"] == 3000
    X = frame.drop(columns="y")
    majority = frame["y"].value_counts(normalize=True).max()
    assert (model.predict(X) == frame["y"]).mean() > majority + 0.05


def test_regressor_and_imputer_read_parquet_too(table):
    frame, folder = table
    regressor = WordExpertsRegressor(random_state=0, epochs=2).fit(folder, "b")
    features = frame.drop(columns="b")
    assert np.array_equal(regressor.predict(folder), regressor.predict(features))
    holes = frame.copy()
    holes.loc[::7, "a"] = np.nan
    imputer = WordExpertsImputer(random_state=0, epochs=2).fit(folder)
    pq.write_table(pa.Table.from_pandas(holes, preserve_index=False), folder.parent / "holes.parquet")
    filled = imputer.transform(folder.parent / "holes.parquet")
    assert filled.shape == frame.shape and not filled.isna().any().any()
    pd.testing.assert_frame_equal(filled, imputer.transform(holes))


def test_parquet_mistakes_are_named(table):
    _, folder = table
    with pytest.raises(DataError, match=r"y='label' is not a column of the Parquet data; its columns are \['a'"):
        WordExpertsClassifier().fit(folder, "label")
    with pytest.raises(ConfigError, match="y names its target column"):
        WordExpertsClassifier().fit(folder, np.zeros(3000))
    with pytest.raises(ConfigError, match="not available with a Parquet source"):
        WordExpertsClassifier().fit(folder, "y", sample_weight=np.ones(3000))
    with pytest.raises(DataError, match="does not exist"):
        WordExpertsClassifier().fit(folder / "nothing.parquet", "y")


def test_cli_fits_and_predicts_a_parquet_folder_batch_by_batch(table, tmp_path, capsys):
    from wordexperts.cli import main
    from wordexperts.tabular import load

    frame, folder = table
    model, out = tmp_path / "m.safetensors", tmp_path / "p.parquet"
    fit = ["fit", str(folder), "--target", "y", "--epochs", "2", "--seed", "0", "--quiet", "--drop", "c"]
    assert main([*fit, "--out", str(model)]) == 0
    assert "on 3000 rows x 2 columns" in capsys.readouterr().out
    fitted = load(model)
    assert list(fitted.feature_names_in_) == ["a", "b"]  # --drop left c out of the streamed columns
    assert main(["predict", str(model), str(folder), "--out", str(out), "--proba"]) == 0
    assert "predicted 3000 rows" in capsys.readouterr().out
    written = pq.read_table(out).to_pandas()
    assert list(written.columns) == ["y_predicted", *(f"proba_{c}" for c in fitted.classes_)]
    assert written["y_predicted"].tolist() == fitted.predict(frame[["a", "b"]]).tolist()
    assert main(["predict", str(model), str(folder), "--out", str(tmp_path / "p.csv")]) == 2
    assert "give --out a .parquet path" in capsys.readouterr().err
    assert main([*fit, "--out", str(model), "--weight", "a"]) == 2
    assert "not available yet for streamed Parquet data" in capsys.readouterr().err
