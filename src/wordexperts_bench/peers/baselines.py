"""The paper's four baselines (paper.md §2): :func:`paper_baselines`, each behind :class:`PaperOneHot`.

Not peers: these reproduce the authors' own comparison (their encoding, their grids, their
5-fold search), so that our runs can be lined up against their published numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from wordexperts.tabular.encoding import as_frame


class PaperOneHot(TransformerMixin, BaseEstimator):
    """The paper's features: every column categorical, ``pd.get_dummies(drop_first=True)``.

    Levels are fixed at fit (each column's sorted training values); a level's first is
    dropped, so an unknown value at transform reads as all zeros, the same as the first level.

    Examples:
        >>> PaperOneHot().fit(pd.DataFrame({"x0": [2, 0, 1]})).transform(pd.DataFrame({"x0": [1, 7]}))
        array([[1., 0.],
               [0., 0.]])
    """

    def fit(self, X: Any, y: Any = None) -> PaperOneHot:
        frame, _ = as_frame(X, what="X", ensure_2d=True)
        self.columns_ = list(frame.columns)
        self.categories_ = {c: frame[c].astype("category").cat.categories for c in self.columns_}
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "categories_")
        frame, _ = as_frame(X, what="X", ensure_2d=True)
        fixed = pd.DataFrame(
            {
                c: pd.Categorical.from_codes(levels.get_indexer(frame[c]), categories=levels)  # unknown: code -1, NaN
                for c, levels in self.categories_.items()
            },
            index=frame.index,
        )
        return pd.get_dummies(fixed, drop_first=True, dtype=np.float64).to_numpy()


def paper_baselines(seed: int, *, threads: int = 1) -> dict[str, Pipeline]:
    """The paper's four baselines (paper.md §2), unfitted, each behind :class:`PaperOneHot`.

    ``"LR"``: LogisticRegression(max_iter=2000). ``"RF"``, ``"GB"`` (sklearn's
    GradientBoostingClassifier) and ``"MLP"`` (MLPClassifier(max_iter=2000,
    learning_rate_init=0.01)): GridSearchCV over the paper's grids with 5-fold
    StratifiedKFold (unshuffled, as ``cv=5``), accuracy, refit on all rows. Every model gets
    ``random_state=seed``; ``threads > 1`` runs the grid's fits in parallel. Slow: GB's grid
    alone is 27 x 5 fits.
    """
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    def searched(model: BaseEstimator, grid: dict[str, list]) -> GridSearchCV:
        return GridSearchCV(model, grid, cv=StratifiedKFold(n_splits=5), n_jobs=threads if threads > 1 else None)

    models = {
        "LR": LogisticRegression(max_iter=2000, random_state=seed),
        "RF": searched(
            RandomForestClassifier(random_state=seed),
            {"criterion": ["gini", "entropy"], "n_estimators": [50, 100, 200], "max_depth": [1, 3, None]},
        ),
        "GB": searched(
            GradientBoostingClassifier(random_state=seed),
            {"learning_rate": [0.01, 0.1, 1], "n_estimators": [50, 100, 200], "max_depth": [1, 3, 5]},
        ),
        "MLP": searched(
            MLPClassifier(max_iter=2000, learning_rate_init=0.01, random_state=seed),
            {
                "hidden_layer_sizes": [(50,), (100,), (100, 50)], "alpha": [1e-4, 1e-3, 1e-2],
                "learning_rate": ["constant", "adaptive"],
            },
        ),
    }
    return {key: Pipeline([("one_hot", PaperOneHot()), ("model", model)]) for key, model in models.items()}
