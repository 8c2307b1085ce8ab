"""How the estimators' defaults are chosen: candidates measured on many tables at once.

A candidate is a set of estimator parameters. :func:`sweep` fits every candidate on every
(table, seed) of two families together, never on one table:

- the paper's simulation (paper.md §4: 2,000 rows of binned correlated features, a test set
  whose correlation is flipped), configurations and seeds as given;
- the real shifted suite (:mod:`.tables`), trained on the source domain and scored on the
  shifted rows (accuracy, or R^2 for regression tasks).

:func:`rank_candidates` ranks the candidates on each (table) by their mean score over seeds
and averages the ranks, beside the mean score per family and the mean fit time. The
defaults in :data:`wordexperts.tabular.estimators.PRESETS` are the candidate this ranks best
at a fit time the speed targets allow; ``docs/defaults.md`` quotes the run that chose them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# Candidates: overrides of the library defaults (PRESETS[None]); "paper" is the paper's preset.
CANDIDATES: Mapping[str, Mapping[str, Any]] = {
    "defaults": {},
    "paper": {"preset": "paper"},
    "constant-lr": {"lr_schedule": "constant"},
    "lr-1e-2": {"lr": 1e-2},
    "patience-40": {"patience": 40},
    "d64": {"d_model": 64, "d_ff": 128},
    "dropout-0.2": {"dropout": 0.2},
    "bins-20": {"n_bins": 20},
    "no-early-stopping": {"early_stopping": False},
    "lr-1e-3": {"lr": 1e-3},
    "shared-vocabulary": {"shared_vocabulary": True},
    "d16": {"d_model": 16, "n_heads": 4, "d_ff": 32},
    "members-4": {"n_members": 4},
    "no-early-stopping-members-4": {"early_stopping": False, "n_members": 4},
    "d16-members-8": {"d_model": 16, "n_heads": 4, "d_ff": 32, "n_members": 8},
    "simulation-as-numbers": {"simulation_input": "numbers"},
    "levels-10": {"n_levels": 10, "simulation_input": "numbers"},
    "levels-5": {"n_levels": 5, "simulation_input": "numbers"},
}


def _score(model: Any, X: pd.DataFrame, y: pd.Series, kind: str) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    prediction = model.predict(X)
    if kind == "regression":
        return float(r2_score(np.asarray(y, dtype=np.float64), prediction))
    return float(accuracy_score(np.asarray(y).astype(str), np.asarray(prediction).astype(str)))


def _fit_one(params: Mapping[str, Any], X, y, kind: str, seed: int, threads: int):
    import warnings

    from wordexperts.tabular import WordExpertsClassifier, WordExpertsRegressor

    cls = WordExpertsRegressor if kind == "regression" else WordExpertsClassifier
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls(**{**params, "random_state": seed, "n_threads": threads}).fit(X, y)
    return model, time.perf_counter() - started


def _simulation_rows(name: str, params, key, seed: int, threads: int) -> dict:
    from .reproduce import _config_label, simulation_data

    params = dict(params)
    # The simulation's features are quantile bins 0..9: as categories (the paper's view), or as
    # the ordered numbers they are (the trees' view).
    numbers = params.pop("simulation_input", "categories") == "numbers"
    X, y, parts = simulation_data(key, seed, categories=not numbers)
    model, seconds = _fit_one(params, X, y.astype(str), "classification", seed, threads)
    X_test, y_test = parts["test"]
    return {
        "candidate": name, "family": "simulation", "table": _config_label(key), "seed": seed,
        "score": _score(model, X_test, y_test.astype(str), "classification"), "fit_seconds": seconds,
        "epochs": model.n_epochs_,
    }


def _suite_rows(name: str, params, task_name: str, seed: int, threads: int) -> dict:
    from .tables import load_task

    params = {k: v for k, v in params.items() if k != "simulation_input"}
    task = load_task(task_name)
    kind = getattr(task, "kind", "classification")
    split = task.split(seed)
    model, seconds = _fit_one(params, split.X_train, split.y_train, kind, seed, threads)
    return {
        "candidate": name, "family": "suite", "table": task_name, "seed": seed,
        "score": _score(model, split.X_ood, split.y_ood, kind), "fit_seconds": seconds, "epochs": model.n_epochs_,
    }


def sweep(
    candidates: Mapping[str, Mapping[str, Any]] = CANDIDATES,
    *,
    configurations: Sequence[tuple[int, float, float]] = (),
    simulation_seeds: Sequence[int] = (),
    tasks: Sequence[str] = (),
    task_seeds: Sequence[int] = (),
    jobs: int = 1,
    threads: int = 1,
) -> pd.DataFrame:
    """One row per (candidate, table, seed): ``candidate, family, table, seed, score, fit_seconds, epochs``."""
    from joblib import Parallel, delayed

    work = [
        delayed(_simulation_rows)(name, params, key, seed, threads)
        for name, params in candidates.items()
        for key in configurations
        for seed in simulation_seeds
    ] + [
        delayed(_suite_rows)(name, params, task, seed, threads)
        for name, params in candidates.items()
        for task in tasks
        for seed in task_seeds
    ]
    return pd.DataFrame(Parallel(n_jobs=jobs)(work))


def rank_candidates(runs: pd.DataFrame) -> pd.DataFrame:
    """Per candidate: average rank over tables (1 = best), mean score per family, mean fit seconds.

    Ranks are taken per table on the mean score over seeds (ties share the mean rank).
    """
    means = runs.groupby(["family", "table", "candidate"], sort=False)["score"].mean().reset_index()
    means["rank"] = means.groupby(["family", "table"])["score"].rank(ascending=False, method="average")
    table = means.groupby("candidate", sort=False).agg(rank=("rank", "mean")).reset_index()
    for family, part in means.groupby("family", sort=False):
        table[f"rank_{family}"] = table["candidate"].map(part.groupby("candidate")["rank"].mean())
        table[f"score_{family}"] = table["candidate"].map(part.groupby("candidate")["score"].mean())
    table["fit_seconds"] = table["candidate"].map(runs.groupby("candidate")["fit_seconds"].mean())
    table["epochs"] = table["candidate"].map(runs.groupby("candidate")["epochs"].mean())
    return table.sort_values("rank", kind="stable").reset_index(drop=True)


def defaults_report(runs: pd.DataFrame, *, command: str) -> str:
    """Markdown: the ranking, then each candidate's mean score per table (seeds averaged)."""
    from wordexperts.reporting import markdown_table

    ranking = rank_candidates(runs)
    per_table = runs.groupby(["family", "table", "candidate"], sort=False)["score"].mean().unstack("candidate")
    per_table = per_table[list(ranking["candidate"])]
    seeds = runs.groupby("family")["seed"].nunique().to_dict()
    lines = [
        "# Choosing the defaults",
        "",
        f"Command: `{command}`",
        "",
        (
            "Every candidate fitted on every (table, seed); score: OOD accuracy (classification) or R^2 "
            f"(regression). Seeds per table: {seeds}. Rank 1 is best; ranks are averaged over tables."
        ),
        "",
        markdown_table(ranking.round(3)),
        "",
        "## Mean score per table",
        "",
        markdown_table(per_table.round(3).reset_index()),
    ]
    return "\n".join(lines)
