"""`wordexperts demo`: the table workflow on the shipped penguins, with the base install alone."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wordexperts import demo
from wordexperts.cli import build_parser

BENCH_MODULES = {"joblib", "xgboost", "lightgbm", "catboost", "vega_datasets"}  # what the quick reproductions need


@pytest.fixture(scope="module")
def without_the_bench_extra(tmp_path_factory):
    """One run of the demo as a base install sees it: the hook wired as `wordexperts demo` wires
    it, but the `[bench]` extra's modules not importable. Returns (status, output, folder, result)."""
    args = build_parser().parse_args(["demo", "--jobs", "1"])
    then = getattr(args, "then", None)  # wordexperts_bench.cli.quick_reproductions
    folder = tmp_path_factory.mktemp("demo")
    results = []
    workflow = demo.table_workflow
    find_spec = importlib.util.find_spec

    def without_bench(name, *args):
        return None if name in BENCH_MODULES else find_spec(name, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(importlib.util, "find_spec", without_bench)
        patch.setattr(demo, "table_workflow", lambda *a, **k: results.append(workflow(*a, **k)) or results[-1])
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            status = demo.run_demo(folder, seed=0, n_threads=1, then=(lambda: then(args)) if then else None)
    return status, output.getvalue(), folder, results[0]


def test_the_demo_runs_the_table_workflow_and_skips_the_reproduction_without_the_extra(without_the_bench_extra):
    status, out, folder, result = without_the_bench_extra
    assert status == 0
    assert 'pip install "wordexperts[bench]"' in out and "skipped." in out
    assert "Checks:" not in out and "quick form (" not in out  # no reproduction ran
    for step in ("1. fit:", "2. predict 2009 (117 penguins): accuracy", "3. explain:", "4. impute:"):
        assert step in out
    assert "28 of 28 architectures agree" in out and "`wordexperts verify`" in out
    assert "sex (masked: its own prior)" in out
    files = {"penguins.csv", "train.csv", "test.csv", "model.safetensors", "predictions.csv", "holes.csv",
             "imputer.safetensors", "filled.csv", "imputation.csv"}  # fmt: skip
    assert files <= {p.name for p in folder.iterdir()}
    assert sorted(p.name for p in (folder / "explain").iterdir()) == ["gates.csv", "gates.png", "summary.csv"]
    assert (folder / "explain" / "gates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result["files"]) == files | {f"explain/{n}" for n in ("gates.csv", "gates.png", "summary.csv")}


def test_the_demo_numbers_are_real_and_beat_the_trivial_baselines(without_the_bench_extra):
    _, out, folder, result = without_the_bench_extra
    assert result["rows"] == {"train": 216, "test": 117, "table": 344}
    predictions = pd.read_csv(folder / "predictions.csv")
    assert len(predictions) == 117 and result["accuracy"] == pytest.approx(
        np.mean(predictions["sex"] == predictions["sex_predicted"])
    )
    assert result["baselines"]["majority class"] == pytest.approx(59 / 117)  # 2009: 59 males, 58 females
    assert result["accuracy"] > result["baselines"]["majority class"] + 0.15  # sex is learnt, not guessed
    assert len(result["seed_accuracies"]) == demo.SEEDS_SHOWN and f"accuracy {result['accuracy']:.3f}" in out
    scores = pd.read_csv(folder / "imputation.csv")
    assert list(scores["column"]) == ["species", "island", "bill_length_mm", "bill_depth_mm",
                                      "flipper_length_mm", "body_mass_g", "sex"]  # fmt: skip
    assert scores["better"].sum() >= 6  # the imputer fills better than the column's mode or median
    filled = pd.read_csv(folder / "filled.csv")
    holes = pd.read_csv(folder / "holes.csv")
    assert holes.isna().to_numpy().sum() > filled.isna().to_numpy().sum() == 0


def test_the_demo_status_follows_the_equivalence_and_the_reproduction(
    without_the_bench_extra, monkeypatch, capsys, tmp_path
):
    result = without_the_bench_extra[3]
    monkeypatch.setattr(demo, "table_workflow", lambda *a, **k: result)
    failing = {"models": 28, "passed": 27, "float64": 1.0, "float32": 1.0}
    monkeypatch.setattr(demo, "equivalence_check", lambda **k: failing)
    assert demo.run_demo(tmp_path) == 1
    out = capsys.readouterr().out
    assert "27 of 28 architectures agree" in out and "1 FAILED" in out
    assert 'The quick reproduction of the paper needs `pip install "wordexperts[bench]"`; skipped.' in out
    monkeypatch.setattr(demo, "equivalence_check", lambda **k: {"models": 28, "passed": 28, "float64": 0, "float32": 0})
    assert demo.run_demo(tmp_path, then=lambda: 3) == 3


def test_the_shipped_penguins_and_the_shift():
    table = demo.penguins()
    assert table.shape == (344, 8) and table["sex"].isna().sum() == 11
    train, test = demo.shift_split(table)
    assert "year" not in train.columns and train["sex"].notna().all() and test["sex"].notna().all()
    assert (len(train), len(test)) == (216, 117)


def test_the_shipped_file_is_the_palmerpenguins_package_file():
    palmerpenguins = pytest.importorskip("palmerpenguins")
    source = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    shipped = Path(demo.__file__).parent / "data" / "penguins.csv"
    assert shipped.read_bytes() == source.read_bytes()


def test_hidden_cells_are_present_cells_and_scored_against_mode_and_median():
    truth = pd.DataFrame({"a": ["x", "x", "y", None] * 50, "b": [1.0, 2.0, 3.0, 4.0] * 50})
    holed, hidden = demo.hide_cells(truth, 0.3, seed=0)
    assert not (hidden & truth.isna().to_numpy()).any() and 0.2 < hidden[:, 1].mean() < 0.4
    assert holed.isna().to_numpy().sum() == hidden.sum() + truth.isna().to_numpy().sum()
    filled = truth.fillna("x")  # a perfect filler
    scores = demo.imputation_scores(truth, holed, filled, hidden).set_index("column")
    assert scores.loc["a", "wordexperts"] == 1.0 and scores.loc["b", "wordexperts"] == 0.0
    assert scores.loc["a", "baseline_is"] == "mode" and scores.loc["b", "baseline_is"] == "median"
    assert scores["better"].all()
