"""Scores every comparison shares: the peers' tuning and the runs' evaluations call these.

A leaf of the experiments package: numpy only, so :mod:`.peers` and :mod:`.runs` both import
it without importing each other.
"""

from __future__ import annotations

import math

import numpy as np

KINDS = ("classification", "regression")  # the kinds of task: scored by accuracy, or by R^2


def log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray, eps: float = 1e-15) -> float:
    """Mean negative log-probability of the true label; a label the model never saw scores ``eps``.

    ``proba`` is ``(n_rows, n_classes)`` with columns in the order of ``classes``; each row's
    probability of its label is clipped to ``[eps, 1]`` before the log. (scikit-learn's
    ``log_loss`` refuses labels outside ``classes``; under a shift, or on a validation split
    that holds a class the training rows lacked, they occur.)

    Examples:
        >>> round(log_loss(np.array(["a", "b"]), np.array([[0.5, 0.5], [0.2, 0.8]]), np.array(["a", "b"])), 4)
        0.4581
        >>> round(log_loss(np.array(["c"]), np.array([[0.5, 0.5]]), np.array(["a", "b"])), 4)  # unseen: -log(1e-15)
        34.5388
    """
    lookup = {label: i for i, label in enumerate(np.asarray(classes).tolist())}
    index = np.array([lookup.get(label, -1) for label in np.asarray(y).tolist()])  # (N,), -1 for an unseen label
    p = np.where(index >= 0, proba[np.arange(len(index)), np.maximum(index, 0)], 0.0)
    return float(-np.log(np.clip(p, eps, 1.0)).mean())


def r2_and_rmse(y: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """R^2 (``1 - SS_res / SS_tot`` around ``y``'s own mean, as scikit-learn's ``r2_score``) and RMSE.

    R^2 is NaN for a constant ``y``. Out of distribution a training mean scores below 0.

    Examples:
        >>> r2_and_rmse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
        (0.5, 0.5773502691896257)
    """
    y, predicted = np.asarray(y, dtype=np.float64), np.asarray(predicted, dtype=np.float64).reshape(-1)
    residual = float(np.sum((y - predicted) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return (1.0 - residual / total if total > 0 else math.nan), math.sqrt(residual / len(y))
