from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from wordexperts.core import (
    AttentionConfig,
    BidirectionalAttention,
    WordExperts,
    to_experts,
)
from wordexperts.data.corpora import SyntheticConfig, synthetic_corpus

pytest.importorskip("gensim")

from wordexperts.analogy.evaluate import evaluate_analogies
from wordexperts.reporting import mean_interval
from wordexperts_bench.analogy.embeddings import (
    AttentionSpec,
    Word2VecSpec,
    mlm_embeddings,
    train_embeddings,
    train_word2vec,
)
from wordexperts_bench.analogy.side_by_side import (
    evaluate_embeddings,
    gate_sweep,
    measure_throughput,
    train_side_by_side,
    write_gate_sweep_report,
    write_side_by_side_report,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def uniform():
    """Uniform gates (plain CBOW), 40,000 sentences of 6 words over 128 words, dim 8."""
    return synthetic_corpus(n_sentences=40_000, seed=0)


@pytest.fixture(scope="module")
def trained(uniform):
    specs = [
        Word2VecSpec(name="cbow", vector_size=8, epochs=5),
        AttentionSpec(name="attention", d_model=8, n_heads=1, epochs=5),
        AttentionSpec(name="experts", structure="free", d_model=8, n_heads=1, epochs=5),
    ]
    with torch.random.fork_rng():
        return train_embeddings(uniform, specs, seed=0, n_threads=1)


def accuracy(trained, uniform, name: str) -> float:
    matrix, words = trained.embeddings[name]
    return evaluate_analogies(matrix, words, uniform.questions).accuracy


def test_cbow_recovers_the_planted_analogies_with_uniform_gates(trained, uniform):
    """The issue's bar: uniform gates and enough text, CBOW top-1 >= 0.9 (measured 0.969; seeds 0-4: 0.92-1.0)."""
    assert accuracy(trained, uniform, "cbow:input") >= 0.9
    assert accuracy(trained, uniform, "cbow:output") >= 0.9


def test_attention_and_expert_embeddings_recover_analogies_far_above_chance(trained, uniform):
    """Five epochs (measured: alpha 0.78, rho 0.38, E 0.15; free experts alpha 0.91, rho 0.96); chance is 1/125.

    The attention model is not converged after five epochs (its loss is 0.03 nats above the
    truth's); the gate sweep's 100 epochs bring it to about 0.96.
    """
    chance = 1 / (len(uniform.words) - 3)
    assert accuracy(trained, uniform, "attention:alpha") >= 0.5
    assert accuracy(trained, uniform, "attention:rho") >= 0.2
    assert accuracy(trained, uniform, "attention:E") >= 5 * chance
    assert accuracy(trained, uniform, "experts:alpha") >= 0.8
    assert accuracy(trained, uniform, "experts:rho") >= 0.8


def test_throughput_counts_every_window_token(trained, uniform):
    timings = trained.timings.set_index("model")
    assert trained.windows.shape == (40_000, 6)
    assert timings.loc["attention", "tokens"] == 40_000 * 6 * 5
    assert timings.loc["cbow", "tokens"] == uniform.n_tokens * 5
    rate = timings["tokens"] / timings["seconds"]
    np.testing.assert_allclose(timings["tokens_per_second"], rate)
    assert (timings["tokens_per_second"] > 1e4).all()
    assert timings.loc["attention", "final_loss"] < np.log(len(uniform.words))  # learned something


def test_mlm_embeddings_are_the_models_parameters():
    torch.manual_seed(0)
    words = list("abcdefg")
    model = BidirectionalAttention(AttentionConfig(vocab_size=7, max_len=4, d_model=6, n_heads=3)).double()
    found = mlm_embeddings(model, words)
    alpha = to_experts(model).alpha.detach().numpy()[:, :7]  # (H, V, d), mask row dropped
    assert list(found) == ["E", "alpha[0]", "alpha[1]", "alpha[2]", "alpha-sum", "alpha-concat", "rho"]
    np.testing.assert_array_equal(found["E"][0], model.token_embedding.weight[:7].detach().numpy())
    np.testing.assert_array_equal(found["alpha[1]"][0], alpha[1])
    np.testing.assert_allclose(found["alpha-sum"][0], alpha.sum(0))
    np.testing.assert_array_equal(found["alpha-concat"][0][:, 6:12], alpha[1])
    np.testing.assert_array_equal(found["rho"][0], model.head.weight.detach().numpy())
    assert all(w == words for _, w in found.values())
    free = WordExperts(AttentionConfig(vocab_size=7, max_len=4, d_model=6, n_heads=1), structure="free")
    assert list(mlm_embeddings(free, words)) == ["alpha", "u", "rho"]
    with pytest.raises(ValueError, match="6 words"):
        mlm_embeddings(model, words[:6])


def test_word2vec_is_deterministic_given_the_seed():
    corpus = synthetic_corpus(n_sentences=2000, n_chains=200, burn_in=5)
    spec = Word2VecSpec(vector_size=8, epochs=2)
    _, first, _ = train_word2vec(corpus, spec, length=6, seed=1)
    _, again, _ = train_word2vec(corpus, spec, length=6, seed=1)
    _, other, _ = train_word2vec(corpus, spec, length=6, seed=2)
    np.testing.assert_array_equal(first["input"][0], again["input"][0])
    assert not np.allclose(first["input"][0], other["input"][0])


def test_spec_names_must_be_unique():
    corpus = synthetic_corpus(n_sentences=500, n_chains=100, burn_in=2)
    with pytest.raises(ValueError, match="unique"):
        train_embeddings(corpus, [Word2VecSpec(name="x"), Word2VecSpec(name="x", sg=True)])


def test_evaluate_embeddings_scores_all_on_the_common_questions():
    words = ["man", "king", "woman", "queen", "apple", "pear"]
    vectors = np.array([[0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [-1, 0, 0], [-1, 1, 1]], dtype=float)
    questions = pd.DataFrame(
        [("royal", "semantic", "man", "king", "woman", "queen"), ("fruit", "syntactic", "apple", "pear", "man", "king")],
        columns=["category", "section", "a", "b", "c", "d"],
    )
    table = evaluate_embeddings({"m:full": (vectors, words), "m:noapple": (vectors[:4], words[:4])}, questions)
    assert table["answered"].tolist() == [1, 1]  # the apple question is not answerable by both
    assert table["accuracy"].tolist() == [1.0, 1.0]
    assert table["chance"].tolist() == [1 / 3, 1.0]
    alone = evaluate_embeddings({"m:full": (vectors, words)}, questions)
    assert alone["answered"].tolist() == [2]


def test_measure_throughput_times_epochs_after_the_first():
    corpus = synthetic_corpus(n_sentences=1000, n_chains=200, burn_in=2)
    specs = [AttentionSpec(name="a", d_model=8), AttentionSpec(name="e", structure="free", d_model=8)]
    with torch.random.fork_rng():
        table = measure_throughput(corpus, specs, devices=("cpu",), epochs=2)
    assert table["model"].tolist() == ["a", "e"]
    assert (table["epochs_timed"] == 1).all() and (table["window_tokens"] == 6000).all()
    np.testing.assert_allclose(table["tokens_per_second"], 6000 / table["seconds_per_epoch"])


def test_mean_interval_is_student_t():
    mean, _, high = mean_interval([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7)
    assert high - mean == pytest.approx(4.302653 * 0.2 / np.sqrt(3), rel=1e-6)  # t_{0.975, 2} s / sqrt(n)
    assert np.isnan(mean_interval([1.0])[1])


def test_reports_are_written(tmp_path):
    specs = [Word2VecSpec(name="cbow", vector_size=8, epochs=1), AttentionSpec(name="attention", d_model=8, epochs=1)]
    config = SyntheticConfig(n_sentences=1500, n_chains=300, burn_in=5)
    with torch.random.fork_rng():
        sweep = gate_sweep((0.0, 2.0), (0, 1), config=config, specs=specs, n_random=20)
        side = train_side_by_side(synthetic_corpus(config), specs, n_random=20)
    assert set(sweep.summary["strength"]) == {0.0, 2.0} and (sweep.summary["seeds"] == 2).all()
    assert ((sweep.summary["accuracy_low"] >= 0) & (sweep.summary["accuracy_high"] <= 1)).all()
    truth = sweep.theory_summary.query("source == 'truth' and measure == 'gate_ratio'").set_index("strength")["value"]
    assert truth[0.0] == pytest.approx(1.0) and truth[2.0] > 1.5
    paths = write_gate_sweep_report(sweep, tmp_path / "sweep", command="pytest")
    assert Path(paths["gate_sweep.png"]).read_bytes()[:8] == PNG
    assert len(pd.read_csv(paths["runs.csv"])) == len(sweep.runs) == 2 * 2 * 5  # 2 + 3 embeddings
    report = Path(paths["report.md"]).read_text()
    assert "g=2" in report and "cbow:input" in report and "pytest" in report
    paths = write_side_by_side_report(side, tmp_path / "side")
    assert Path(paths["accuracy.png"]).read_bytes()[:8] == PNG
    assert pd.read_csv(paths["side_by_side.csv"])["name"].tolist() == side.table["name"].tolist()
    assert "truth_loss" in side.settings and "Ratio condition" in Path(paths["report.md"]).read_text()
