"""``wordexperts verify``'s grid and the demo's planted task: the equivalence checked in the library."""

from wordexperts.demo import gates_demo
from wordexperts.verify import verify_equivalence, verify_grid


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


def test_gates_demo_finds_the_copied_column():
    result = gates_demo(rows=1000, epochs=20)
    gates = result["mean_gates"]
    assert abs(sum(gates) - 1) < 1e-5
    assert gates[result["source"]] > 0.9
    assert result["accuracy"] > 0.9
    assert result["max_logit_difference"] <= 1e-4
