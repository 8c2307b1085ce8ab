"""What the regressor's within-bin means and prediction intervals do on the real suite.

For every regression task of :mod:`.tables` and seed, :func:`regression_runs` fits the default
:class:`~wordexperts.WordExpertsRegressor` twice, with ``within_bin`` on (the default) and off,
and scores both on the in-distribution (ID) test rows and the shifted (OOD) rows: R^2, and the
share of rows inside the 50% and 90% prediction intervals (``predict_interval``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

COVERAGES = (0.5, 0.9)


def _one(task_name: str, seed: int, within_bin: bool, threads: int) -> list[dict]:
    from sklearn.metrics import r2_score

    from wordexperts import WordExpertsRegressor

    from .tables import load_task

    split = load_task(task_name).split(seed)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = WordExpertsRegressor(random_state=seed, n_threads=threads, within_bin=within_bin)
        model.fit(split.X_train, split.y_train)
    seconds = time.perf_counter() - started
    rows = []
    for where, X, y in (("id", split.X_id, split.y_id), ("ood", split.X_ood, split.y_ood)):
        y = np.asarray(y, dtype=np.float64)
        row = {
            "task": task_name, "seed": seed, "within_bin": within_bin, "rows": where,
            "r2": float(r2_score(y, model.predict(X))), "fit_seconds": seconds,
        }
        for coverage in COVERAGES:
            bounds = model.predict_interval(X, coverage=coverage)
            row[f"inside_{coverage:g}"] = float(np.mean((y >= bounds[:, 0]) & (y <= bounds[:, 1])))
        rows.append(row)
    return rows


def regression_runs(tasks: Sequence[str], *, seeds: Sequence[int] = range(3), jobs: int = 1, threads: int = 1):
    """One row per (task, seed, within_bin, ID or OOD rows): R^2, interval coverage, fit seconds."""
    from joblib import Parallel, delayed

    work = [delayed(_one)(t, s, w, threads) for t in tasks for s in seeds for w in (True, False)]
    return pd.DataFrame([row for rows in Parallel(n_jobs=jobs)(work) for row in rows])


def regression_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per task, rows (ID/OOD) and ``within_bin``, with the mean over tasks last."""
    columns = ["r2", *[f"inside_{c:g}" for c in COVERAGES], "fit_seconds"]
    per_task = runs.groupby(["rows", "task", "within_bin"], sort=False)[columns].mean().reset_index()
    overall = per_task.groupby(["rows", "within_bin"], sort=False)[columns].mean().reset_index()
    return pd.concat([per_task, overall.assign(task="mean over tasks")], ignore_index=True)
