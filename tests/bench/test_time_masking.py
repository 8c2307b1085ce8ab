import pytest
import torch

from wordexperts_bench.time_masking import WAYS, time_masking


def test_masking_benchmark_reports_every_way():
    result = time_masking(rows=256, epochs=2, batch_size=64)
    for way in WAYS:
        assert result[f"ms_per_epoch_{way}"] > 0
        assert result[f"ms_min_{way}"] <= result[f"ms_per_epoch_{way}"] <= result[f"ms_max_{way}"]
        assert 1.0 < result[f"final_loss_{way}"] < 3.0  # ~log(10) on random rows
    assert result["max_gradient_difference"] <= 1e-5
    assert result["speedup_vs_expand"] == result["ms_per_epoch_expand"] / result["ms_per_epoch_one_pass"]
    assert torch.get_num_threads() == 1  # restored


def test_sizes_must_be_positive_ints():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        time_masking(rows=8, epochs=2, batch_size=0)
    with pytest.raises(ValueError, match="rows must be a positive int, got 8.0"):
        time_masking(rows=8.0, epochs=2)
