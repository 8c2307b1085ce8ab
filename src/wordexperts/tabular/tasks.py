"""What a target column asks for, and how predictions of it are scored.

The command line's rules, kept here so that the CLI only parses and prints.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_CLASSES_FOR_INTEGERS = 20


def infer_task(target: pd.Series) -> str:
    """Classification for labels (text, bool, or at most 20 distinct integers); regression for other numbers.

    Examples:
        >>> infer_task(pd.Series(["a", "b"])), infer_task(pd.Series([1, 2, 3])), infer_task(pd.Series([0.5, 1.5]))
        ('classification', 'classification', 'regression')
    """
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    values = target.dropna().to_numpy(dtype=float)
    integral = bool(np.all(values == np.round(values)))
    return "classification" if integral and target.nunique() <= MAX_CLASSES_FOR_INTEGERS else "regression"


def prediction_score(model, predicted: pd.Series, truth: pd.Series | None) -> tuple[str, float] | None:
    """``("accuracy", a)`` for a classifier, ``("MSE", m)`` for a regressor; ``None`` without a complete truth."""
    if truth is None or not truth.notna().all():
        return None
    if hasattr(model, "classes_"):
        return ("accuracy", float(np.mean(predicted.to_numpy() == truth.to_numpy())))
    errors = predicted.to_numpy(dtype=float) - pd.to_numeric(truth).to_numpy(dtype=float)
    return ("MSE", float(np.mean(errors**2)))
