"""Reproduce the paper's two tabular tables: the simulation (Tables 3-4) and auto-mpg (Table 5).

:func:`reproduce_simulation` replays paper.md §2's 12 configurations x 20 seeds on the
authors' data (:func:`~wordexperts.data.simulate`, bins pooled as they did), fits our paper
preset and the peers, and lines the results up seed by seed against the authors' per-seed
results (all five of their models; shipped as data, :mod:`.paper`). :func:`reproduce_auto_mpg`
runs paper.md's auto-mpg protocol (train USA, test Europe + Japan, every column in 3 quantile
bins) over many seeds. Both return data
(:class:`Reproduction`); :mod:`.report` writes ``report.md``, the CSVs and the plots.

What the peers see: the bins are integers ``0 .. n_cat - 1``; our model, the authors'
baselines, the one-hot peers and the transformers treat them as categories (tokens, one-hot,
embeddings); the gradient-boosting libraries (:data:`ORDERED_BINS`) get them as ordered
numbers (what a user would hand them, and their stronger setting here).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wordexperts.data import CONFIGURATIONS, PAPER_SEEDS, SimulationConfig, simulate
from wordexperts.errors import ConfigError

from .paper import (
    ATTENTION_MARGIN,
    AUTO_MPG_MARGIN,
    AUTO_MPG_PAPER,
    AUTO_MPG_REFERENCE,
    AUTO_MPG_TARGET,
    LR_MARGIN,
    PAPER_MODELS,
    SIMULATION_MEAN_OOD_ACCURACY,
    paper_results,
)
from .runs import Run, cost_table, model_spec, paired, run_grid, summarize

# Ours, the authors' logistic regression and the four gradient-boosting libraries (paper.md §2's
# settings: XGBoost 200 trees depth 4, LightGBM 200 trees, CatBoost 300 iterations, HistGB defaults).
SIMULATION_MODELS: tuple[str, ...] = (
    "wordexperts-paper",
    "paper-lr",
    "hgb",
    "xgboost",
    "lightgbm",
    "catboost",
)
# The authors' grids: hours per seed on two cores; only on request (--paper-baselines).
SLOW_PAPER_BASELINES: tuple[str, ...] = ("paper-rf", "paper-gb", "paper-mlp")
# The x_noise = 0 corner of each (num_core, corr): paper.md's table of the gradient-boosting libraries.
QUICK_CONFIGURATIONS: tuple[tuple[int, float, float], ...] = (
    (1, 0.1, 0.0),
    (1, 0.9, 0.0),
    (5, 0.1, 0.0),
    (5, 0.9, 0.0),
)
QUICK_SEEDS = 2


@dataclass
class Reproduction:
    """What a reproduction measured: ``runs`` has one row per (configuration, seed, model).

    ``summary``: mean, standard deviation and 95% interval per (configuration, model);
    ``paper``: the authors' numbers on the same configurations and seeds (their per-seed results);
    ``paired``: per-seed differences of our paper preset against the paper's attention;
    ``checks``: the issue's bars, each with the measured number and whether it holds.
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    paper: pd.DataFrame
    paired: pd.DataFrame
    checks: pd.DataFrame
    timings: pd.DataFrame
    settings: dict = field(default_factory=dict)


def _config_label(key: tuple[int, float, float]) -> str:
    num_core, corr, x_noise = key
    return f"{num_core}/{corr:g}/{x_noise:g}"


def simulation_data(key: tuple[int, float, float], seed: int, categories: bool):
    """One seed of the authors' data: ``X_train, y_train, {"train": ..., "test": ...}``.

    ``categories=True`` gives the bins as pandas categories (our model, the authors'
    baselines), ``False`` as int64 (the gradient-boosting libraries).
    """
    num_core, corr, x_noise = key
    data = simulate(
        SimulationConfig(num_core=num_core, corr=corr, x_noise=x_noise),
        seed=seed,
        binning="pooled",
    )
    X, y = data.train.drop(columns="y"), data.train["y"]
    X_test, y_test = data.test.drop(columns="y"), data.test["y"]
    if categories:
        levels = list(range(data.config.n_cat))
        X, X_test = (f.apply(lambda c: pd.Categorical(c, categories=levels)) for f in (X, X_test))
    return X, y, {"train": (X, y), "test": (X_test, y_test)}


ORDERED_BINS = ("hgb", "xgboost", "lightgbm", "catboost")


def _sees_categories(model: str) -> bool:
    """Bins as categories (ours, one-hot models, the transformers' embeddings) or as ordered integers (trees)."""
    return model not in ORDERED_BINS


def _simulation_config(model: str) -> dict:
    from .peers import SIMULATION_CONFIGS

    return dict(SIMULATION_CONFIGS.get(model, {}))


def _paper_table(
    configurations: Sequence[tuple], seeds: Sequence[int], root: str | os.PathLike | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The authors' numbers on the same seeds, per configuration and model, and per seed.

    Returns ``(summary, per_seed)`` from the per-seed results (:func:`.paper.paper_results`,
    ``root`` for another folder of them); seeds outside the paper's 20 have no numbers.
    """
    rows, per_seed = [], []
    for key in configurations:
        label = _config_label(key)
        table = paper_results(key, root).set_index("seed")
        table = table.loc[[s for s in seeds if s in table.index]]
        for model in PAPER_MODELS:
            acc, mse = table[f"acc_test_{model}"], table[f"mse_test_{model}"]
            rows.append(
                {
                    "configuration": label,
                    "model": model,
                    "seeds": len(table),
                    "source": "per-seed CSV",
                    "acc_test": acc.mean(),
                    "acc_test_std": acc.std(ddof=1),
                    "mse_test": mse.mean(),
                    "mse_test_std": mse.std(ddof=1),
                }
            )
        per_seed.append(table.reset_index().assign(configuration=label))
    return pd.DataFrame(rows), pd.concat(per_seed, ignore_index=True)


def reproduce_simulation(
    *,
    configurations: Sequence[tuple[int, float, float]] = CONFIGURATIONS,
    seeds: Sequence[int] = PAPER_SEEDS,
    models: Sequence[str] = SIMULATION_MODELS,
    jobs: int = 2,
    threads: int = 1,
    verbose: int = 0,
    paper_root: str | os.PathLike | None = None,
) -> Reproduction:
    """Fit ``models`` on every (configuration, seed) of the authors' simulation and compare.

    ``configurations`` are ``(num_core, corr, x_noise)`` keys of
    :data:`~wordexperts.data.CONFIGURATIONS`; ``seeds`` are run seeds (the paper's 20 by
    default; others are fine but have no paper numbers to pair with). Each model gets the
    same data and its own ``random_state = seed``.

    Examples:
        >>> r = reproduce_simulation(configurations=[(5, 0.9, 0.0)], seeds=[4951], models=["paper-lr"], jobs=1)
        >>> r.runs[["configuration", "model", "seed"]].to_dict("records")
        [{'configuration': '5/0.9/0', 'model': 'paper-lr', 'seed': 4951}]
        >>> float(r.runs["acc_test"].iloc[0])  # the authors' acc_test_lr for this seed
        0.1435
    """
    configurations = [tuple(key) for key in configurations]
    for key in configurations:
        if key not in SIMULATION_MEAN_OOD_ACCURACY:
            raise ConfigError(
                f"unknown configuration {key}; choose (num_core, corr, x_noise) from {list(CONFIGURATIONS)}"
            )
    for model in models:
        model_spec(model)  # unknown keys fail before any work
    runs = [
        Run(
            labels={
                "configuration": _config_label(key),
                "num_core": key[0],
                "corr": key[1],
                "x_noise": key[2],
            },
            model=model,
            seed=int(seed),
            data=functools.partial(simulation_data, key, int(seed), _sees_categories(model)),
            config=_simulation_config(model),
            bin_mse=True,
        )
        for key in configurations
        for seed in seeds
        for model in models
    ]
    started = time.perf_counter()
    table = run_grid(runs, jobs=jobs, threads=threads, verbose=verbose)
    wall = time.perf_counter() - started
    return simulation_result(table, wall_seconds=wall, jobs=jobs, threads=threads, paper_root=paper_root)


def simulation_result(
    runs: pd.DataFrame,
    *,
    wall_seconds: float,
    jobs: int,
    threads: int = 1,
    paper_root: str | os.PathLike | None = None,
) -> Reproduction:
    """A :class:`Reproduction` from the per-seed rows of :func:`reproduce_simulation` (``runs.csv``).

    Summaries, the paper's numbers, the paired comparison and the checks are all derived from
    ``runs``, so a saved ``runs.csv`` can be re-reported without refitting anything.
    """
    labels = runs.drop_duplicates("configuration")
    configurations = [(int(r.num_core), float(r.corr), float(r.x_noise)) for r in labels.itertuples()]
    seeds = [int(s) for s in dict.fromkeys(runs["seed"])]
    summary = summarize(runs, ["configuration", "model"], ["acc_test", "mse_test", "acc_train", "mse_train"])
    paper, per_seed = _paper_table(configurations, seeds, paper_root)
    pairs, checks = _simulation_checks(runs, summary, paper, per_seed, configurations)
    return Reproduction(
        runs=runs,
        summary=summary,
        paper=paper,
        paired=pairs,
        checks=checks,
        timings=cost_table(runs, wall_seconds, jobs),
        settings={
            "configurations": [_config_label(k) for k in configurations],
            "seeds": seeds,
            "models": list(dict.fromkeys(runs["model"])),
            "jobs": jobs,
            "threads": threads,
            "wall_seconds": wall_seconds,
            "paper_source": f"per-seed CSVs ({paper_root or 'shipped with wordexperts_bench'})",
        },
    )


def _simulation_checks(runs, summary, paper, per_seed, configurations) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The issue's bars per configuration, and our attention paired seed by seed with theirs."""
    ours = summary.set_index(["configuration", "model"])
    theirs = paper.set_index(["configuration", "model"])
    checks, pairs = [], []
    for key in configurations:
        label = _config_label(key)
        if (label, "wordexperts-paper") in ours.index:
            mean = ours.loc[(label, "wordexperts-paper"), "acc_test"]
            paper_at = theirs.loc[(label, "at"), "acc_test"]
            checks.append(
                {
                    "configuration": label,
                    "check": f"paper preset >= paper attention - {ATTENTION_MARGIN}",
                    "ours": mean,
                    "reference": paper_at,
                    "holds": bool(mean >= paper_at - ATTENTION_MARGIN),
                }
            )
            if key[0] == 5:
                baselines = {m: theirs.loc[(label, m), "acc_test"] for m in ("lr", "rf", "gb", "mlp")}
                baselines.update(
                    {
                        m: ours.loc[(label, m), "acc_test"]
                        for m in ours.loc[label].index
                        if not m.startswith("wordexperts")
                    }
                )
                best = max(baselines, key=baselines.get)
                checks.append(
                    {
                        "configuration": label,
                        "check": f"paper preset > every baseline (best: {best})",
                        "ours": mean,
                        "reference": baselines[best],
                        "holds": bool(mean > baselines[best]),
                    }
                )
        if (label, "paper-lr") in ours.index:
            mean = ours.loc[(label, "paper-lr"), "acc_test"]
            paper_lr = theirs.loc[(label, "lr"), "acc_test"]
            checks.append(
                {
                    "configuration": label,
                    "check": f"same data: |our LR - their LR| <= {LR_MARGIN}",
                    "ours": mean,
                    "reference": paper_lr,
                    "holds": bool(abs(mean - paper_lr) <= LR_MARGIN),
                }
            )
        mine = runs[(runs["configuration"] == label) & (runs["model"] == "wordexperts-paper")]
        joined = mine.merge(per_seed[per_seed["configuration"] == label], on="seed")
        if len(joined):
            pairs.append({"configuration": label, **paired(joined, "acc_test", "acc_test_at")})
    return pd.DataFrame(pairs), pd.DataFrame(checks)


# ---- auto-mpg (paper.md §2, Table 5) ----

AUTO_MPG_MODELS: tuple[str, ...] = (
    "wordexperts-paper",
    "wordexperts-ensemble",
    "majority",
    "lr",
    "rf",
    "hgb",
    "xgboost",
    "lightgbm",
    "catboost",
    "mlp",
    "ft-transformer",
    "tab-transformer",
)
AUTO_MPG_SEEDS = 10
QUICK_AUTO_MPG_MODELS: tuple[str, ...] = ("wordexperts-paper", "majority", "lr", "hgb", "catboost")
QUICK_AUTO_MPG_SEEDS = 3


def paper_auto_mpg(*, categories: bool = True) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """paper.md's auto-mpg: ``(X_train, y_train, X_test, y_test)``, train USA, test Europe + Japan.

    Rows with unknown mpg or horsepower dropped, cylinders 4/6/8 kept (385 cars: 245 / 140);
    cylinders 4/6/8 -> 0/1/2, the other five features and mpg each cut into 3 quantile bins
    over all 385 cars (the authors' pooled binning); origin and name dropped. The bins are
    categories (``categories=True``: our model reads them as tokens, the peers one-hot or
    as embeddings) or int64 (``False``: the gradient-boosting libraries, as in the simulation).

    Examples:
        >>> X, y, X_test, y_test = paper_auto_mpg()
        >>> X.shape, X_test.shape, sorted(y.unique().tolist())
        ((245, 6), (140, 6), [0, 1, 2])
    """
    from .tables import auto_mpg

    cars = auto_mpg()
    cars = cars[cars["cylinders"].isin([4, 6, 8])].reset_index(drop=True)
    table = pd.DataFrame({"cylinders": cars["cylinders"].map({4: 0, 6: 1, 8: 2})})
    for column in (
        "displacement",
        "horsepower",
        "weight",
        "acceleration",
        "model_year",
    ):
        table[column] = pd.qcut(cars[column], 3, labels=False)
    X = table.astype(np.int64)
    if categories:
        X = X.apply(lambda c: pd.Categorical(c, categories=[0, 1, 2]))
    y = pd.qcut(cars["mpg"], 3, labels=False).rename("mpg")
    usa = (cars["origin"] == "USA").to_numpy()
    return X[usa], y[usa], X[~usa], y[~usa]


def auto_mpg_data(categories: bool = True):
    """``X, y, {"train": ..., "test": ...}`` of :func:`paper_auto_mpg`."""
    X, y, X_test, y_test = paper_auto_mpg(categories=categories)
    return X, y, {"train": (X, y), "test": (X_test, y_test)}


def reproduce_auto_mpg(
    *,
    seeds: Sequence[int] = range(AUTO_MPG_SEEDS),
    models: Sequence[str] = AUTO_MPG_MODELS,
    jobs: int = 2,
    threads: int = 1,
    verbose: int = 0,
) -> Reproduction:
    """paper.md's auto-mpg protocol over ``seeds``: every model with its library's defaults.

    The split is fixed (USA -> Europe + Japan); the seed moves each model's own randomness
    (initialisation, dropout, bagging), which is what the paper's single seed hid.
    """
    from .runs import check_models

    runnable, missing = check_models(models)
    runs = [
        Run(
            labels={"configuration": "auto-mpg"},
            model=model,
            seed=int(seed),
            data=functools.partial(auto_mpg_data, _sees_categories(model)),
            bin_mse=True,
        )
        for seed in seeds
        for model in runnable
    ]
    started = time.perf_counter()
    table = run_grid(runs, jobs=jobs, threads=threads, verbose=verbose)
    wall = time.perf_counter() - started
    summary = summarize(
        table,
        ["configuration", "model"],
        ["acc_test", "acc_train", "logloss_test", "mse_test"],
    )
    summary["reference"] = summary["model"].map(AUTO_MPG_REFERENCE)
    by_model = summary.set_index("model")
    checks = []
    if "wordexperts-paper" in by_model.index:
        ours = by_model.loc["wordexperts-paper", "acc_test"]
        checks.append(
            {
                "check": f"paper preset within {AUTO_MPG_MARGIN} of {AUTO_MPG_TARGET}",
                "ours": ours,
                "reference": AUTO_MPG_TARGET,
                "holds": bool(abs(ours - AUTO_MPG_TARGET) <= AUTO_MPG_MARGIN),
            }
        )
    peers = by_model.drop(index=[m for m in by_model.index if m.startswith("wordexperts")])
    for key in ("wordexperts-ensemble",):  # "beyond the paper" aims past the best peer
        if key in by_model.index and len(peers):
            best = peers["acc_test"].idxmax()
            checks.append(
                {
                    "check": f"{key} beats the best peer's mean ({best})",
                    "ours": by_model.loc[key, "acc_test"],
                    "reference": peers.loc[best, "acc_test"],
                    "holds": bool(by_model.loc[key, "acc_test"] > peers.loc[best, "acc_test"]),
                }
            )
    return Reproduction(
        runs=table,
        summary=summary,
        paper=pd.DataFrame({"model": list(AUTO_MPG_PAPER), "acc_test": list(AUTO_MPG_PAPER.values())}),
        paired=pd.DataFrame(),
        checks=pd.DataFrame(checks),
        timings=cost_table(table, wall, jobs),
        settings={
            "seeds": [int(s) for s in seeds],
            "models": runnable,
            "missing": missing,
            "jobs": jobs,
            "threads": threads,
            "wall_seconds": wall,
        },
    )
