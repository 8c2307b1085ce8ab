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
    "no-target-share": {"target_share": "uniform"},
    "target-share-0.3": {"target_share": 0.3},
    "target-share-0.2": {"target_share": 0.2},
    "no-levels": {"n_levels": 0},
    "no-target-share-no-levels": {"target_share": "uniform", "n_levels": 0},
    "patience-auto": {"patience": "auto"},
    "simulation-as-numbers": {"simulation_input": "numbers"},
    "constant-lr": {"lr_schedule": "constant"},
    "lr-1e-3": {"lr": 1e-3},
    "d16": {"d_model": 16, "n_heads": 4, "d_ff": 32},
    "d64": {"d_model": 64, "n_heads": 4, "d_ff": 128},
    "dropout-0.2": {"dropout": 0.2},
    "no-early-stopping": {"early_stopping": False},
    "shared-vocabulary": {"shared_vocabulary": True},
    "members-4": {"n_members": 4},
    "members-8-d16": {"n_members": 8, "d_model": 16, "n_heads": 4, "d_ff": 32},
    "within-bin-off": {"within_bin": False},
    "patience-50": {"patience": 50},
    "no-stop": {"patience": 100_000},
    "feature-bins-20": {"n_bins": 20, "target_bins": 10},
    "feature-bins-32": {"n_bins": 32, "target_bins": 10},
    "bins-20": {"n_bins": 20},
}
REGRESSOR_ONLY = ("within_bin", "target_bins")  # left out when a candidate fits a classifier


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
    if cls is WordExpertsClassifier:
        params = {k: v for k, v in params.items() if k not in REGRESSOR_ONLY}
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


def zipf_table(seed: int, *, rows: int = 6000, levels: int = 3000):
    """A table with one high-cardinality column: ``levels`` Zipf-distributed cities (exponent
    1.1), each with its own effect on a binary target, beside 4 normal columns (one in the rule)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, levels + 1) ** 1.1
    city = rng.choice(levels, rows, p=p / p.sum())
    effect = rng.normal(size=levels)
    X = pd.DataFrame({f"n{i}": rng.normal(size=rows) for i in range(4)})
    X["city"] = [f"c{c}" for c in city]
    y = np.where(X["n0"] + effect[city] + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    return X, y


def sweep_max_categories(values: Sequence[int] = (30, 100, 300, 1000), *, seeds: Sequence[int] = range(3)) -> pd.DataFrame:
    """Accuracy and fit seconds of the default classifier for each ``max_categories`` on
    :func:`zipf_table` (4,000 training rows, 2,000 test rows): what keeping rarer categories
    buys, and what it costs once the (column, value) keys outgrow the fast step."""
    import warnings

    from wordexperts.tabular import WordExpertsClassifier

    rows = []
    for seed in seeds:
        X, y = zipf_table(seed)
        for value in values:
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = WordExpertsClassifier(max_categories=value, random_state=seed).fit(X[:4000], y[:4000])
            rows.append(
                {
                    "max_categories": value, "seed": seed, "fit_seconds": time.perf_counter() - started,
                    "accuracy": float(model.score(X[4000:], y[4000:])),
                    "kept": int(model.encoder_.n_values_[model.encoder_.columns_.index("city")]),
                }
            )
    return pd.DataFrame(rows)
