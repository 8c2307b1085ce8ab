import pytest
import torch

from wordexperts_bench.time_training import time_prediction, time_training


def test_training_benchmark_times_both_roads():
    result = time_training(rows=256, epochs=2, fits=1, autograd_fits=1, compare_epochs=2, batch_size=64)
    assert result["steps_per_epoch"] == 4 and len(result["fit_seconds_fast"]) == 1
    for way in ("fast", "autograd"):
        assert 0 < result[f"ms_min_{way}"] <= result[f"ms_per_epoch_{way}"] <= result[f"ms_max_{way}"]
        assert result[f"ms_per_step_{way}"] == result[f"ms_per_epoch_{way}"] / 4
        assert 1.0 < result[f"compare_loss_{way}"] < 3.0  # ~log(10) on random rows
    assert 1.0 < result["final_loss_fast"] < 3.0 and 1.0 < result["final_loss_autograd"] < 3.0
    assert result["speedup"] == result["ms_per_epoch_autograd"] / result["ms_per_epoch_fast"]
    assert result["max_gradient_difference"] <= 1e-5
    assert torch.get_num_threads() == 1  # restored


def test_prediction_benchmark_reports_each_chunk():
    result = time_prediction(rows=3000, chunks=(None, 1000), repeats=1)
    assert set(result["rows_per_second"]) == {"whole", "1000"}
    assert all(v > 0 for v in result["rows_per_second"].values()) and result["rows_per_second_with_autograd"] > 0
    assert result["best_chunk"] in result["rows_per_second"]


def test_sizes_must_be_positive_ints():
    with pytest.raises(ValueError, match="fits must be a positive int, got 0"):
        time_training(rows=8, epochs=1, fits=0)
