"""The runs' registries (ours, the authors' baselines, one run) and the scores every run records."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from wordexperts_bench.runs import (
    OURS,
    PAPER_BASELINES,
    Ours,
    PaperBaseline,
    Run,
    model_spec,
    score,
    score_regression,
)


def test_registries_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        Ours("mine", "my model", {})
    with pytest.raises(TypeError):
        PaperBaseline("paper-x", "x", "LR")
    with pytest.raises(TypeError):
        Run({"task": "t"}, "lr", 0, dict)
    entry = OURS["wordexperts-ensemble"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.ensemble = 2
    assert entry == Ours(key=entry.key, name=entry.name, params={"preset": "paper"}, ensemble=10)
    assert PAPER_BASELINES["paper-gb"] == PaperBaseline(
        key="paper-gb", name="gradient boosting (authors' 5-fold grid)", baseline="GB"
    )
    run = Run(labels={"task": "t"}, model="lr", seed=0, data=dict)
    assert (run.config, run.bin_mse, run.budget, run.kind, run.tuner) == (None, False, 1, "classification", "grid")
    assert model_spec("paper-lr").configurations == ({},) and model_spec("wordexperts").available() is None


class _Constant:
    """A fitted model stand-in: two classes, fixed probabilities."""

    classes_ = np.array([0, 1])

    def predict_proba(self, X):
        return np.array([[0.8, 0.2], [0.5, 0.5], [0.0, 1.0]])[: len(X)]


def test_score_counts_an_unseen_label_at_eps():
    X = np.zeros((3, 1))
    row = score(_Constant(), {"test": (X, np.array([0, 1, 2]))}, bin_mse=True)
    assert row["acc_test"] == pytest.approx(1 / 3)  # predicted 0, 0 (a tie: the first), 1
    expected = -(math.log(0.8) + math.log(0.5) + math.log(1e-15)) / 3
    assert row["logloss_test"] == pytest.approx(expected, rel=1e-12)
    assert row["mse_test"] == pytest.approx((0 + 1 + 1) / 3)


def test_our_models_regress_with_the_same_preset():
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    from wordexperts.tabular import WordExpertsClassifier, WordExpertsRegressor

    paper = OURS["wordexperts-paper"].make(seed=3, threads=1, kind="regression")
    assert isinstance(paper, WordExpertsRegressor) and paper.preset == "paper" and paper.random_state == 3
    assert isinstance(OURS["wordexperts"].make(kind="classification"), WordExpertsClassifier)
    ensemble = OURS["wordexperts-ensemble"].make(seed=1, kind="regression")
    assert isinstance(ensemble, VotingRegressor) and len(ensemble.estimators) == 10
    assert all(isinstance(m, WordExpertsRegressor) and m.preset == "paper" for _, m in ensemble.estimators)
    assert isinstance(OURS["wordexperts-ensemble"].make(seed=1), VotingClassifier)
    with pytest.raises(ValueError, match="kind"):
        OURS["wordexperts"].make(kind="ranking")
    assert PAPER_BASELINES["paper-lr"].refusal("regression") and PAPER_BASELINES["paper-lr"].refusal("classification") is None
    assert OURS["wordexperts"].refusal("regression") is None


def test_our_search_spaces_start_at_the_presets():
    from wordexperts.tabular.estimators import PRESETS
    from wordexperts_bench.peers.space import defaults

    for key, preset in (("wordexperts-paper", "paper"), ("wordexperts", None), ("wordexperts-ensemble", "paper")):
        space = OURS[key].space
        assert {"lr", "dropout", "n_bins"} <= {d.name for d in space}
        for name, value in defaults(space, "regression").items():
            assert PRESETS[preset][name] == value, (key, name)
    # a preset value that is not a number (epochs="auto") is left to the library
    assert ("epochs" in {d.name for d in OURS["wordexperts"].space}) == isinstance(PRESETS[None]["epochs"], int)


class _Line:
    """A fitted regressor stand-in: predicts 2x."""

    def predict(self, X):
        return 2 * np.asarray(X, dtype=float)[:, 0]


def test_score_regression_is_r2_and_rmse():
    X = np.array([[1.0], [2.0], [3.0]])
    row = score_regression(_Line(), {"ood": (X, np.array([2.0, 4.0, 7.0])), "id": (X, np.array([2.0, 4.0, 6.0]))})
    assert row["r2_id"] == 1.0 and row["rmse_id"] == 0.0
    truth = np.array([2.0, 4.0, 7.0])
    assert row["r2_ood"] == pytest.approx(1 - 1.0 / np.sum((truth - truth.mean()) ** 2))
    assert row["rmse_ood"] == pytest.approx(math.sqrt(1 / 3)) and row["predict_seconds"] >= 0
