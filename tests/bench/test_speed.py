"""`bench speed`: training and prediction rows per second, every configuration, device and thread count."""

import numpy as np
import pandas as pd
import pytest
import torch

from wordexperts.cli import main
from wordexperts_bench.speed import (
    MEASURES,
    QUICK_ROWS,
    RUN_COLUMNS,
    speed_report,
    speed_summary,
    speed_table,
)


def test_bench_speed_quick_measures_every_rate(tmp_path, capsys):
    assert main(["bench", "speed", "--quick", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv", "speed.md"]
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs.columns) == list(RUN_COLUMNS)
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    # 2 configurations x (CPU on 1 and 2 threads, CUDA once) x 5 measures
    assert len(runs) == 2 * (2 + len(devices) - 1) * len(MEASURES)
    assert set(runs["measure"]) == set(MEASURES) and sorted(set(runs["device"])) == devices
    assert sorted(set(runs.loc[runs["device"] == "cpu", "threads"])) == [1, 2]
    shapes = runs.groupby("configuration")[["columns", "d_model", "n_heads", "d_ff"]].first()
    assert shapes.loc["paper"].tolist() == [6, 20, 5, 5] and shapes.loc["issue"].tolist() == [16, 64, 4, 256]
    for name, (train_rows, predict_rows) in QUICK_ROWS.items():
        rows = runs[runs["configuration"] == name].set_index("measure")["rows"]
        assert set(rows[[m for m in MEASURES if m.startswith("train")]]) == {train_rows}
        assert set(rows[["predict_dataframe", "predict_tokens"]]) == {predict_rows}
    for column in ("seconds_median", "rows_per_second", "best_rows_per_second"):
        assert np.isfinite(runs[column]).all() and (runs[column] > 0).all(), column
    np.testing.assert_allclose(runs["rows_per_second"], runs["rows"] / runs["seconds_median"], rtol=1e-12)
    assert (runs["best_rows_per_second"] >= runs["rows_per_second"] * (1 - 1e-12)).all()
    assert runs["batch_size"].isna().tolist() == runs["measure"].str.startswith("predict").tolist()
    report = (tmp_path / "speed.md").read_text()
    assert "Command:" in report and "CPU thread counts: [1, 2]" in report and f"torch {torch.__version__}" in report
    assert "| paper | predict_dataframe |" in report and "the target of 1,000,000" in capsys.readouterr().out


def _runs(rate: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "configuration": "paper", "device": "cpu", "threads": [1, 2, 2],
            "measure": ["predict_dataframe", "predict_dataframe", "train_expand"],
            "batch_size": pd.array([None, None, 128], dtype="Int64"), "rows": 1_000_000, "repeats": 3,
            "seconds_median": [1.0, 1e6 / rate, 2.0], "rows_per_second": [1e6, rate, 5e5],
            "best_rows_per_second": [1.1e6, rate * 1.1, 6e5],
        }
    )


def test_summary_puts_each_thread_count_in_a_column():
    summary = speed_summary(_runs(1.5e6))
    assert summary.columns.tolist() == ["configuration", "measure", "cpu, 1 thread", "cpu, 2 threads"]
    assert summary["measure"].tolist() == ["predict_dataframe", "train_expand"]
    assert summary.iloc[0, 2:].tolist() == [1e6, 1.5e6] and np.isnan(summary.iloc[1, 2]) and summary.iloc[1, 3] == 5e5


@pytest.mark.parametrize(("rate", "verdict"), [(1.5e6, "meets"), (0.9e6, "misses")])
def test_report_compares_the_paper_prediction_on_two_threads_with_the_target(rate, verdict):
    report = speed_report(_runs(rate))
    assert f"predicts {rate:,.0f} rows per second" in report and f"it {verdict} the target of 1,000,000" in report


def test_speed_table_is_seeded_with_ten_balanced_classes():
    X, y = speed_table(5000, features=5, seed=3)
    again, y_again = speed_table(5000, features=5, seed=3)
    pd.testing.assert_frame_equal(X, again)
    assert (y == y_again).all() and X.shape == (5000, 5) and list(X.columns) == [f"f{i}" for i in range(5)]
    counts = pd.Series(y).value_counts()
    assert sorted(counts.index) == [f"c{k}" for k in range(10)] and counts.min() >= 450 and counts.max() <= 550
