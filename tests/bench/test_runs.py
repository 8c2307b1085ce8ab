"""The runs' registries (ours, the authors' baselines, one run) and the scores every run records."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from wordexperts_bench.runs import OURS, PAPER_BASELINES, Ours, PaperBaseline, Run, model_spec, score


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
    assert (run.config, run.bin_mse, run.budget) == (None, False, 1)
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
