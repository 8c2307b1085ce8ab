"""The seeded validation split: the rows that tuning and the transformers' early stopping hold out."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(train rows, validation rows)``: stratified when every class can be, else plain.

    ``round(fraction * len(y))`` rows are held out; none when that leaves either side empty.
    Both index arrays come back sorted.

    Examples:
        >>> y = np.array(["a", "b"] * 5)
        >>> train, valid = validation_split(y, 0.2, seed=0)
        >>> len(train), len(valid), y[valid].tolist() in (["a", "b"], ["b", "a"])  # stratified: one of each
        (8, 2, True)
        >>> validation_split(np.array(["a", "b"]), 0.1, seed=0)[1].size  # round(0.2) = 0 rows held out
        0
    """
    rows = np.arange(len(y))
    n_valid = round(fraction * len(y))
    if n_valid < 1 or len(y) - n_valid < 1:
        return rows, rows[:0]
    try:
        train, valid = train_test_split(rows, test_size=n_valid, random_state=seed, stratify=y)
    except ValueError:  # a class with one row, or fewer validation rows than classes
        train, valid = train_test_split(rows, test_size=n_valid, random_state=seed)
    return np.sort(train), np.sort(valid)
