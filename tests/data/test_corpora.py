import itertools
from collections import Counter

import numpy as np
import pytest

from wordexperts.data.corpora import (
    QUESTION_COLUMNS,
    SyntheticConfig,
    Vocabulary,
    build_corpus,
    coupling_radius,
    load_text_file,
    signature,
    synthetic_corpus,
    tokenize,
)

SMALL = {"n_sentences": 2000, "n_chains": 200, "burn_in": 10}


def test_planted_analogies_hold_exactly_in_the_true_vectors():
    corpus = synthetic_corpus(**SMALL)
    truth, index = corpus.truth, corpus.vocabulary.index
    q = corpus.questions
    assert list(q.columns) == list(QUESTION_COLUMNS)
    assert len(q) == 4 * 8 * 7  # categories x ordered pairs of distinct stems
    assert set(q["section"]) == {"semantic", "syntactic"}
    ids = {c: q[c].map(index).to_numpy() for c in "abcd"}
    for vectors in (truth.rho, truth.alpha[:-1]):
        offsets = vectors[ids["b"]] - vectors[ids["a"]] - vectors[ids["d"]] + vectors[ids["c"]]
        assert np.abs(offsets).max() < 1e-12
        # ... and the query b - a + c lands exactly on d, nowhere near any other word
        query = vectors[ids["b"]] - vectors[ids["a"]] + vectors[ids["c"]]
        distances = np.linalg.norm(query[:, None] - vectors[None], axis=2)  # (Q, V)
        assert (distances.argmin(1) == ids["d"]).all()
    # the offset is shared by the stems of a category, not across categories
    first, other = q[q["category"] == "planted-0"].iloc[0], q[q["category"] == "planted-1"].iloc[0]
    offset = lambda row: truth.rho[index[row["b"]]] - truth.rho[index[row["a"]]]
    assert np.linalg.norm(offset(first) - offset(other)) > 0.1


def test_alpha_is_rho_times_the_signature_with_a_zero_mask_expert():
    truth = synthetic_corpus(**SMALL).truth
    assert signature(5).tolist() == [1, 1, 1, -1, -1]
    np.testing.assert_array_equal(truth.alpha[:-1], truth.rho * signature(truth.rho.shape[1]))
    assert not truth.alpha[-1].any() and not truth.gate_words[-1].any()


def test_coupling_sets_the_mean_field_radius():
    for coupling in (0.3, 0.6):
        corpus = synthetic_corpus(coupling=coupling, **SMALL)
        assert coupling_radius(corpus.truth.vectors, corpus.truth.config.length) == pytest.approx(coupling, rel=1e-10)


def test_default_coupling_keeps_every_word_in_the_corpus():
    """Below radius 1 no word takes over (at 1.3 one word took 40% of the tokens)."""
    corpus = synthetic_corpus(n_sentences=20_000)
    share = corpus.vocabulary.counts / corpus.n_tokens * len(corpus.vocabulary)  # 1 = uniform share
    assert share.min() > 0.25 and share.max() < 4


def test_gate_strength_zero_gives_uniform_gates():
    corpus = synthetic_corpus(**SMALL)
    x = corpus.windows(6)[:500]
    assert not corpus.truth.gate_vectors.any()
    for i in range(6):
        np.testing.assert_allclose(corpus.truth.gates(x, i), 1 / 6, atol=1e-15)
    gated = synthetic_corpus(gate_strength=2.0, **SMALL)
    weights = gated.truth.gates(gated.windows(6)[:500], 0)
    assert weights.max() / weights.min() > 10
    np.testing.assert_allclose(weights.sum(1), 1.0)
    # the knob scales the gate scores: their standard deviation over words is the strength
    scores = gated.truth.gate_words[:-1] @ gated.truth.gate_vectors.T  # (V, L)
    assert scores.std() == pytest.approx(2.0, rel=0.15)


def test_same_seed_same_corpus_other_seed_other_corpus():
    a, b = synthetic_corpus(seed=3, **SMALL), synthetic_corpus(seed=3, **SMALL)
    np.testing.assert_array_equal(a.windows(6), b.windows(6))
    np.testing.assert_array_equal(a.truth.vectors, b.truth.vectors)
    c = synthetic_corpus(seed=4, **SMALL)
    assert (a.windows(6) != c.windows(6)).mean() > 0.9
    assert not np.allclose(a.truth.vectors, c.truth.vectors)


def test_uniform_gates_sample_the_markov_random_field_exactly():
    """With uniform gates the sweeps are Gibbs sampling of p(x) ∝ exp(sum_{i<j} rho S rho / L).

    Six words, sentences of three: all 216 sentences enumerated, and 30,000 draws of the
    sampler against the exact law (total variation; the sampling noise alone gives ~0.03).
    """
    corpus = synthetic_corpus(
        n_categories=1, n_pairs=2, n_filler=2, dim=4, coupling=0.9, length=3, n_sentences=30_000, n_chains=3000, seed=0
    )
    truth = corpus.truth
    rho, alpha = truth.rho, truth.alpha[:-1]
    sentences = np.array(list(itertools.product(range(6), repeat=3)))  # (216, 3)
    energy = sum((rho[sentences[:, i]] * alpha[sentences[:, j]]).sum(1) for i, j in ((0, 1), (0, 2), (1, 2))) / 3
    exact = np.exp(energy - energy.max())
    exact /= exact.sum()
    drawn = np.bincount(corpus.windows(3) @ np.array([36, 6, 1]), minlength=216) / 30_000
    assert 0.5 * np.abs(drawn - exact).sum() < 0.05
    # the law is far from uniform, so the test has teeth
    assert 0.5 * np.abs(exact - 1 / 216).sum() > 0.1


def test_synthetic_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="gate_strength"):
        SyntheticConfig(gate_strength=-1)
    with pytest.raises(ValueError, match="coupling"):
        SyntheticConfig(coupling=0)
    with pytest.raises(ValueError, match="length"):
        SyntheticConfig(length=1)
    with pytest.raises(TypeError, match="not both"):
        synthetic_corpus(SyntheticConfig(), seed=1)


def test_tokenize_and_vocabulary():
    assert tokenize("Hello, World_x 3rd _skip ÉTÉ") == ["hello", "world_x", "rd", "été"]
    assert tokenize("a bb ccc", min_len=2, max_len=2) == ["bb"]
    vocab = Vocabulary.from_counts(Counter({"b": 2, "a": 2, "c": 5, "d": 1}), min_count=2)
    assert vocab.words == ("c", "a", "b") and vocab.counts.tolist() == [5, 2, 2]
    assert Vocabulary.from_counts(Counter({"b": 2, "a": 2, "c": 5}), max_size=2).words == ("c", "a")
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary(("a", "a"), np.array([1, 1]))


def test_build_corpus_drops_rare_words_and_windows_within_sentences():
    corpus = build_corpus([["x", "y", "x", "z", "x", "y"], ["y", "q", "x"]], name="toy", min_count=2)
    assert corpus.words == ["x", "y"]
    assert [s.tolist() for s in corpus.sentences] == [[0, 1, 0, 0, 1], [1, 0]]
    assert corpus.raw_tokens == 9 and corpus.n_tokens == 7
    assert corpus.windows(2).tolist() == [[0, 1], [0, 0], [1, 0]]
    assert corpus.windows(2, stride=1).shape == (5, 2)
    assert corpus.windows(np.int64(2), stride=np.int32(1)).shape == (5, 2)
    for bad, name in ((dict(length=True), "length"), (dict(length=2, stride=0), "stride")):
        with pytest.raises(ValueError, match=f"{name} must be a positive int"):
            corpus.windows(**bad)
    assert corpus.token_lists()[1] == ["y", "x"]
    with pytest.raises(ValueError, match="no sentence"):
        corpus.windows(6)
    long = build_corpus([["w"] * 25_000], name="long")
    assert [len(s) for s in long.sentences] == [10_000, 10_000, 5_000]


def test_load_text_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("The cat sat.\nthe DOG sat on the mat!\n\n  \nA cat, a dog.\n", encoding="utf-8")
    corpus = load_text_file(path, min_count=2)
    assert corpus.name == "tiny"
    assert corpus.raw_tokens == 13
    assert dict(zip(corpus.words, corpus.vocabulary.counts.tolist())) == {"the": 3, "a": 2, "cat": 2, "dog": 2, "sat": 2}
    assert len(corpus.sentences) == 3 and corpus.summary()["questions"] == 0


def test_wiki_sample_loads_with_its_reported_size():
    pytest.importorskip("gensim")
    from wordexperts.data.corpora import load_wiki_sample

    corpus = load_wiki_sample(min_count=5)
    summary = corpus.summary()
    assert summary["raw_tokens"] == 452_944  # gensim's WikiCorpus tokenisation of the 106 articles
    assert summary["vocabulary"] == 9_002
    assert summary["tokens"] == 412_531
    assert corpus.vocabulary.counts.min() == 5
    assert corpus.words[:3] == ["the", "of", "and"]
