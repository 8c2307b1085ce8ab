"""The larger-than-memory benchmark: its generated files, its tokens, its quality figures, its command."""

import json
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from wordexperts.tabular.encoding import TableEncoder
from wordexperts.tabular.stream import open_dataset, sample_rows
from wordexperts_bench.stream_memory import LEVELS, MAX_CATEGORIES, N_BINS, main, stream_memory, write_dataset


def _zipf_unknown_share(levels: int, kept: int) -> float:
    """Share of rows outside the ``kept`` most frequent of ``levels`` Zipf(1) levels."""
    weights = 1.0 / np.arange(1, levels + 1)
    return float(1 - weights[:kept].sum() / weights.sum())


def test_write_dataset_writes_chunks_in_row_order_and_repeats_for_a_seed(tmp_path):
    paths = write_dataset(tmp_path / "a", rows=2500, rows_per_file=1000, row_group_rows=300, seed=1)
    assert [p.name for p in paths] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.read_metadata(p).num_rows for p in paths] == [1000, 1000, 500]
    assert [pq.read_metadata(p).num_row_groups for p in paths] == [4, 4, 2]
    again = write_dataset(tmp_path / "b", rows=2500, rows_per_file=1000, seed=1)
    for p, q in zip(paths, again):  # the same rows, whatever the row groups (to_pandas: NaN equals NaN)
        pd.testing.assert_frame_equal(pq.read_table(p).to_pandas(), pq.read_table(q).to_pandas())
    table = pq.read_table(paths[0])
    assert table.num_columns == 16 and table.column("c2").null_count == 66  # 5% missing: 50 +- 7 expected in 1000
    assert sorted(set(table.column("c1").to_pylist())) == ["c1_0", "c1_1", "c1_2"]


def test_stream_memory_tokens_and_quality(tmp_path):
    """30,000 rows, a 5,000-row sample: the token file is the table encoded at once; bin shares
    of the full table stay within 3% of the sample's (one standard deviation: sqrt(0.09 / 5000)
    = 0.4%); unknown shares follow from Zipf frequencies and the 300 categories kept."""
    result = stream_memory(rows=30_000, folder=tmp_path, n_sample=5_000, batch_rows=4_096, keep=True)
    assert (result["rows"], result["columns"], result["files"], result["n_sample"]) == (30_000, 16, 1, 5_000)
    assert result["token_dtype"] == "int16" and result["vocab_size"] > 255
    assert list(result["phases"]) == ["generate", "sample", "fit", "encode", "check"]
    assert all(p["seconds"] > 0 and p["peak_mb"] >= p["start_mb"] > 0 for p in result["phases"].values())
    assert result["peak_mb"] == max(p["peak_mb"] for p in result["phases"].values())

    dataset = open_dataset(tmp_path / "data")
    encoder = TableEncoder(n_bins=N_BINS, max_categories=MAX_CATEGORIES, categorical=["c6"])
    encoder.fit(sample_rows(dataset, 5_000, seed=0, batch_rows=4_096))
    whole = dataset.to_table().to_pandas()
    tokens = np.load(tmp_path / "tokens.npy")
    assert np.array_equal(tokens, encoder.transform(whole))

    gaps = result["quality"]["max_bin_share_gap"]
    assert sorted(gaps) == [f"n{j}" for j in range(8)] and max(gaps.values()) < 0.03
    unknown = result["quality"]["unknown_share"]
    assert unknown["c1"] == unknown["c3"] == unknown["c7"] == 0.0
    # A 5,000-row sample keeps some rarer categories than the top 300 (measured 0.419 and 0.172;
    # with 20,000,000 rows and a 1,000,000-row sample: 0.4006 and 0.1609).
    assert unknown["c5"] == pytest.approx(_zipf_unknown_share(LEVELS["c5"], MAX_CATEGORIES), abs=0.03)  # 0.400
    assert unknown["c4"] == pytest.approx(_zipf_unknown_share(LEVELS["c4"], MAX_CATEGORIES), abs=0.03)  # 0.161


def test_stream_memory_removes_what_it_wrote_and_keeps_what_it_was_given(tmp_path):
    stream_memory(rows=2_000, folder=tmp_path, n_sample=500)
    assert os.listdir(tmp_path) == []
    write_dataset(tmp_path / "data", rows=2_000)
    result = stream_memory(rows=1, folder=tmp_path, generate=False, n_sample=500)
    assert result["rows"] == 2_000 and "generate" not in result["phases"]
    assert os.listdir(tmp_path) == ["data"]


def test_main_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "result.json"
    assert main(["--rows", "3000", "--sample", "1000", "--batch-rows", "512", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("3,000 rows x 16 columns in 1 Parquet files")
    assert "| encode |" in printed and "Unknown-token share" in printed
    result = json.loads(out.read_text())
    assert result["rows"] == 3000 and result["batch_rows"] == 512
    assert isinstance(pd.Series(result["quality"]["max_bin_share_gap"]).max(), float)
