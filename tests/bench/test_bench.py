import torch

from wordexperts.bench.demo import gates_demo
from wordexperts.bench.equivalence import verify_equivalence, verify_grid
from wordexperts.bench.masking import WAYS, time_masking


def test_verify_grid_covers_the_issue_grid_and_passes():
    grid = verify_grid()
    linear = [c for c in grid if c.block == "linear"]
    assert {(c.n_heads, c.n_layers, c.positional, c.residual) for c in linear} == {
        (h, l, p, r) for h in (1, 3) for l in (1, 2) for p in ("learned", "sinusoidal", "none") for r in (False, True)
    }
    table = verify_equivalence(rows=4)
    assert len(table) == len(grid) == 28
    assert table["passed"].all()
    assert table["experts_f64"].max() <= 1e-10 and table["experts_f32"].max() <= 1e-4
    assert table.loc[table["layers"] == 1, "one_pass_f32"].max() <= 1e-5


def test_masking_benchmark_reports_every_way():
    result = time_masking(rows=256, epochs=2, batch_size=64)
    for way in WAYS:
        assert result[f"ms_per_epoch_{way}"] > 0
        assert result[f"ms_min_{way}"] <= result[f"ms_per_epoch_{way}"] <= result[f"ms_max_{way}"]
        assert 1.0 < result[f"final_loss_{way}"] < 3.0  # ~log(10) on random rows
    assert result["max_gradient_difference"] <= 1e-5
    assert result["speedup_vs_expand"] == result["ms_per_epoch_expand"] / result["ms_per_epoch_one_pass"]
    assert torch.get_num_threads() == 1  # restored


def test_gates_demo_finds_the_copied_column():
    result = gates_demo(rows=1000, epochs=20)
    gates = result["mean_gates"]
    assert abs(sum(gates) - 1) < 1e-5
    assert gates[result["source"]] > 0.9
    assert result["accuracy"] > 0.9
    assert result["max_logit_difference"] <= 1e-4
