"""How stable are the estimators' feature importances, and the gates, from one seed to the next?

``feature_importances_`` (permutation on the validation split) and the mean gate of the
masked target on each column (``explain_summary``) both rank the columns. A ranking a user
can act on should not move much when only the seed changes. :func:`importance_stability`
fits the default estimator with several seeds on each task of the real suite and reports,
per task, the mean Spearman correlation between every pair of seeds' rankings, and how often
the top column agrees.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd


def _rankings(task_name: str, seed: int, threads: int) -> dict[str, pd.Series]:
    from wordexperts import WordExpertsClassifier, WordExpertsRegressor

    from .tables import load_task

    task = load_task(task_name)
    split = task.split(seed=0)  # the same rows for every seed: only the model's seed moves
    cls = WordExpertsRegressor if task.kind == "regression" else WordExpertsClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls(random_state=seed, n_threads=threads).fit(split.X_train, split.y_train)
    columns = [str(c) for c in model.feature_names_in_]
    ignored = model.encoder_.ignored_columns()
    used = [c for c in columns if c not in ignored]
    importance = pd.Series(model.feature_importances_, index=columns)[used]
    gates = model.explain_summary(split.X_train)["sum"]
    return {"importance": importance, "gates": gates.reindex(used)}


def _spearman(a: pd.Series, b: pd.Series) -> float:
    ranks = pd.concat([a, b], axis=1).rank()
    return float(ranks.corr().iloc[0, 1]) if len(ranks) > 2 else float("nan")


def importance_stability(tasks: Sequence[str], *, seeds: Sequence[int] = range(3), threads: int = 1) -> pd.DataFrame:
    """Per task and method (``importance``, ``gates``): mean pairwise Spearman correlation of the
    seeds' column rankings, the share of seed pairs that agree on the top column, and the columns."""
    rows = []
    for task in tasks:
        by_seed = [_rankings(task, seed, threads) for seed in seeds]
        for method in ("importance", "gates"):
            pairs = list(itertools.combinations([r[method] for r in by_seed], 2))
            rows.append(
                {
                    "task": task,
                    "method": method,
                    "columns": len(by_seed[0][method]),
                    "spearman": float(np.nanmean([_spearman(a, b) for a, b in pairs])),
                    "top_agrees": float(np.mean([a.idxmax() == b.idxmax() for a, b in pairs])),
                }
            )
    return pd.DataFrame(rows)
