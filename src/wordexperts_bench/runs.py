"""One fit-and-score run per (data set, seed, model), in parallel: what every comparison shares.

``wordexperts reproduce simulation``, ``reproduce auto-mpg`` and ``bench ood`` all reduce to
the same unit of work: build a model by its key (ours or a peer's), fit it on one training
table with one seed (tuned first when the run has a budget), and score it on named evaluation
tables (in-distribution, out-of-distribution): accuracy and log-loss for a classification,
R^2 and RMSE for a regression. :func:`run_grid` runs many of them over processes with joblib; every
run seeds its own model and limits its own threads, so the numbers do not depend on the
order, the number of processes or the machine's load.

Our models (:data:`OURS`):

=====================  =====================================================================
key                    model
=====================  =====================================================================
wordexperts-paper      ``WordExpertsClassifier(preset="paper")``: the paper's recipe, unchanged
wordexperts            ``WordExpertsClassifier()``: the library's defaults
wordexperts-members    ``n_members=8`` of width 16 (``d_model=16, n_heads=4, d_ff=32``): the
                       best-ranked candidate of ``bench defaults``, at about 5x the fit
wordexperts-ensemble   "beyond the paper": the average of the probabilities of
                       :data:`ENSEMBLE_SIZE` paper-preset models trained from different seeds
                       (scikit-learn's soft ``VotingClassifier``)
=====================  =====================================================================

On a regression task each is the same entry with ``WordExpertsRegressor`` (the same preset
and parameters; the ensemble averages the predictions, ``VotingRegressor``). With the Optuna
tuner they are tuned like every peer, through the estimator parameters of :data:`OURS_SPACE`
(the preset's values first). The grid tuner never tunes them: they have one recipe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from wordexperts.errors import ConfigError

from .scores import KINDS, log_loss, r2_and_rmse

if TYPE_CHECKING:
    from .peers.space import Dimension

ENSEMBLE_SIZE = 10


class _Fixed:
    """A model with one recipe and only this package's own dependencies: never grid-tuned, always available."""

    configurations: tuple[Mapping[str, Any], ...] = ({},)
    space: tuple[Dimension, ...] = ()

    def available(self) -> str | None:
        return None

    def refusal(self, kind: str) -> str | None:
        return None


OURS_SPACE: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("lr", MappingProxyType({"low": 1e-4, "high": 1e-2, "log": True})),
    ("epochs", MappingProxyType({"low": 100, "high": 1000, "log": True, "integer": True})),
    ("dropout", MappingProxyType({"low": 0.0, "high": 0.3})),
    ("n_bins", MappingProxyType({"choices": (5, 10, 20)})),
)
"""Our estimators' Optuna space: learning rate, epochs, dropout, bins per numeric column. Each
dimension starts at the preset's value (``PRESETS``, read when tuning); a setting whose preset
value is not a number (``epochs="auto"``) is left to the library. Epochs matter most on small
tables: 200 epochs of 207 rows are 400 steps, and the paper preset's R^2 on ``midwest/state``
rose from 0.35 to 0.72 with 1000 epochs (seed 0, measured while writing this)."""


def ours_space(params: Mapping[str, Any]) -> tuple[Dimension, ...]:
    """:data:`OURS_SPACE` with the defaults of the preset named in ``params`` (``params`` itself overrides)."""
    from wordexperts.checks import is_int
    from wordexperts.tabular.estimators import PRESETS

    from .peers.space import Dimension

    preset = {**PRESETS[params.get("preset")], **params}
    space = []
    for name, ranges in OURS_SPACE:
        default = preset.get(name)
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if "choices" in ranges or (numeric and (is_int(default) or not ranges.get("integer"))):
            space.append(Dimension(name=name, default=default, **ranges))
    return tuple(space)


@dataclass(frozen=True, kw_only=True)
class Ours(_Fixed):
    """One of our models, built like a peer: ``make(config, seed=, threads=)``."""

    key: str
    name: str
    params: Mapping[str, Any]
    ensemble: int = 1

    package = "wordexperts"

    @property
    def space(self) -> tuple[Dimension, ...]:
        """The Optuna search space (:func:`ours_space`), starting at this entry's preset."""
        return ours_space(self.params)

    def make(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        seed: int = 0,
        threads: int = 1,
        kind: str = "classification",
    ):
        """``WordExpertsClassifier`` (or ``WordExpertsRegressor`` for ``kind="regression"``), unfitted."""
        from wordexperts.tabular import WordExpertsClassifier, WordExpertsRegressor

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        estimator = WordExpertsRegressor if kind == "regression" else WordExpertsClassifier
        params = {**self.params, **(config or {}), "n_threads": threads}
        if self.ensemble == 1:
            return estimator(random_state=seed, **params)
        members = [(f"seed{i}", estimator(random_state=seed * 1000 + i, **params)) for i in range(self.ensemble)]
        if kind == "regression":
            from sklearn.ensemble import VotingRegressor

            return VotingRegressor(members)
        from sklearn.ensemble import VotingClassifier

        return VotingClassifier(members, voting="soft")


OURS: Mapping[str, Ours] = MappingProxyType({
    o.key: o
    for o in (
        Ours(key="wordexperts-paper", name="word experts, paper preset", params={"preset": "paper"}),
        Ours(key="wordexperts", name="word experts, defaults", params={}),
        Ours(
            key="wordexperts-members",
            name="word experts, 8 members of width 16 trained together",
            params={"n_members": 8, "d_model": 16, "n_heads": 4, "d_ff": 32},
        ),
        Ours(
            key="wordexperts-ensemble",
            name=f"word experts, {ENSEMBLE_SIZE} paper-preset seeds averaged",
            params={"preset": "paper"},
            ensemble=ENSEMBLE_SIZE,
        ),
    )
})


@dataclass(frozen=True, kw_only=True)
class PaperBaseline(_Fixed):
    """One of the authors' four baselines with its grid (:func:`.peers.paper_baselines`)."""

    key: str
    name: str
    baseline: str

    package = "scikit-learn"

    def refusal(self, kind: str) -> str | None:
        return "the authors' baselines are classifiers (paper.md §2)" if kind == "regression" else None

    def make(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        seed: int = 0,
        threads: int = 1,
        kind: str = "classification",
    ):
        from .peers import paper_baselines

        reason = self.refusal(kind)
        if reason is not None:
            raise ConfigError(reason)
        return paper_baselines(seed)[self.baseline]


PAPER_BASELINES: Mapping[str, PaperBaseline] = MappingProxyType({
    b.key: b
    for b in (
        PaperBaseline(key="paper-lr", name="logistic regression (authors' encoding)", baseline="LR"),
        PaperBaseline(key="paper-rf", name="random forest (authors' 5-fold grid)", baseline="RF"),
        PaperBaseline(key="paper-gb", name="gradient boosting (authors' 5-fold grid)", baseline="GB"),
        PaperBaseline(key="paper-mlp", name="MLP (authors' 5-fold grid)", baseline="MLP"),
    )
})


def model_spec(key: str):
    """Ours, the authors' baselines or a peer's registry entry, by key; a ValueError lists the keys."""
    from .peers import PEERS

    for registry in (OURS, PAPER_BASELINES, PEERS):
        if key in registry:
            return registry[key]
    raise ConfigError(f"unknown model {key!r}; choose from {', '.join([*OURS, *PAPER_BASELINES, *PEERS])}")


def model_name(key: str) -> str:
    return model_spec(key).name


def check_models(keys: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``(runnable keys, {key: why not})``: unknown keys raise, uninstalled packages are reported."""
    runnable, missing = [], {}
    for key in keys:
        reason = model_spec(key).available()
        if reason is None:
            runnable.append(key)
        else:
            missing[key] = reason
    return runnable, missing


def score_regression(model, evaluations: Mapping[str, tuple[pd.DataFrame, pd.Series]]) -> dict[str, float]:
    """R^2 and RMSE of a fitted regressor on each table: keys ``r2_<name>``, ``rmse_<name>``; ``predict_seconds``.

    R^2 is ``1 - SS_res / SS_tot`` with the table's own mean (scikit-learn's ``r2_score``):
    0 is the table's mean, below 0 worse than it; out of distribution a training mean can
    score far below 0.
    """
    row: dict[str, float] = {}
    started = time.perf_counter()
    for name, (X, y) in evaluations.items():
        predicted = np.asarray(model.predict(X), dtype=np.float64).reshape(-1)
        if not np.isfinite(predicted).all():
            raise ValueError(f"{type(model).__name__} returned non-finite predictions on {name}")
        row[f"r2_{name}"], row[f"rmse_{name}"] = r2_and_rmse(np.asarray(y, dtype=np.float64), predicted)
    row["predict_seconds"] = time.perf_counter() - started
    return row


def score(model, evaluations: Mapping[str, tuple[pd.DataFrame, pd.Series]], *, bin_mse: bool) -> dict[str, float]:
    """Accuracy, log-loss (and bin-index MSE for integer bins) of a fitted model on each table.

    Keys ``acc_<name>``, ``logloss_<name>``, ``mse_<name>``; ``predict_seconds`` over all tables.
    """
    row: dict[str, float] = {}
    started = time.perf_counter()
    for name, (X, y) in evaluations.items():
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        if not np.isfinite(proba).all():
            raise ValueError(f"{type(model).__name__} returned non-finite probabilities on {name}")
        classes = np.asarray(model.classes_)
        predicted = classes[proba.argmax(axis=1)]
        truth = np.asarray(y)
        row[f"acc_{name}"] = float((predicted == truth).mean())
        row[f"logloss_{name}"] = log_loss(truth, proba, classes)
        if bin_mse:
            row[f"mse_{name}"] = float(np.mean((predicted.astype(np.float64) - truth.astype(np.float64)) ** 2))
    row["predict_seconds"] = time.perf_counter() - started
    return row


@dataclass(frozen=True, kw_only=True)
class Run:
    """One unit of work: ``data()`` -> (X_train, y_train, {name: (X, y)}), then fit and score ``model``.

    ``data`` must be a picklable callable (a module-level function or a ``functools.partial``)
    so that runs travel to joblib's worker processes; ``labels`` are copied into the result row.
    ``kind`` says how the model is built and scored (a classifier: accuracy, log-loss; a
    regressor: R^2, RMSE); ``budget > 1`` tunes it first with ``tuner`` ("grid" or "optuna",
    :mod:`.peers.tuning`).
    """

    labels: Mapping[str, Any]
    model: str
    seed: int
    data: Callable[[], tuple[pd.DataFrame, pd.Series, dict]]
    config: Mapping[str, Any] | None = None
    bin_mse: bool = False
    budget: int = 1
    kind: str = "classification"
    tuner: str = "grid"


def execute(run: Run, threads: int = 1) -> dict[str, Any]:
    """Fit and score one :class:`Run` in this process (threads limited for torch and the libraries)."""
    import torch

    torch.set_num_threads(threads)
    X, y, evaluations = run.data()
    spec = model_spec(run.model)
    row: dict[str, Any] = {**run.labels, "model": run.model, "seed": run.seed}
    started = time.perf_counter()
    if run.budget > 1 and run.tuner == "optuna":
        from .peers import tune_optuna

        tuned = tune_optuna(spec, X, y, seed=run.seed, budget=run.budget, threads=threads, kind=run.kind)
        model, row["config"] = tuned.model, tuned.index
    elif run.budget > 1 and len(spec.configurations) > 1:
        from .peers import tune

        tuned = tune(spec, X, y, seed=run.seed, budget=run.budget, threads=threads, kind=run.kind)
        model, row["config"] = tuned.model, tuned.index
    else:
        model = spec.make(run.config or {}, seed=run.seed, threads=threads, kind=run.kind).fit(X, y)
        row["config"] = 0
    row["fit_seconds"] = time.perf_counter() - started
    if run.kind == "regression":
        row.update(score_regression(model, evaluations))
    else:
        row.update(score(model, evaluations, bin_mse=run.bin_mse))
    return row


def run_grid(runs: Sequence[Run], *, jobs: int = 1, threads: int = 1, verbose: int = 0) -> pd.DataFrame:
    """:func:`execute` every run, over ``jobs`` processes (joblib); one row per run, in input order."""
    if jobs == 1 or len(runs) <= 1:
        rows = [execute(run, threads) for run in runs]
    else:
        from joblib import Parallel, delayed

        rows = Parallel(n_jobs=jobs, verbose=verbose)(delayed(execute)(run, threads) for run in runs)
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per group of ``keys``: seeds, and per metric its mean, ``_std``, ``_low`` and ``_high`` (95%); mean fit seconds."""
    from wordexperts.reporting import mean_interval

    rows = []
    metrics = [m for m in metrics if m in runs.columns]  # a classification-only grid has no R^2 columns
    for key, group in runs.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        row["seeds"] = int(group["seed"].nunique())
        for metric in metrics:
            mean, low, high = mean_interval(group[metric])
            if metric.startswith("acc"):  # an accuracy's interval stays inside [0, 1]
                low, high = max(low, 0.0), min(high, 1.0)
            elif metric.startswith("r2"):  # an R^2 is at most 1
                high = min(high, 1.0)
            std = float(group[metric].std(ddof=1)) if len(group) > 1 else math.nan
            row.update(
                {
                    metric: mean,
                    f"{metric}_std": std,
                    f"{metric}_low": low,
                    f"{metric}_high": high,
                }
            )
        row["fit_seconds"] = float(group["fit_seconds"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def cost_table(runs: pd.DataFrame, wall: float, jobs: int, keys: Sequence[str] = ("model",)) -> pd.DataFrame:
    """Per model (or per ``keys``): runs, fit seconds (mean, total) and its share of the summed fit time.

    Fit seconds include tuning (every trial's fit and the refit).
    """
    keys = list(keys)
    table = runs.groupby(keys, sort=False).agg(
        runs=("seed", "size"),
        fit_seconds_mean=("fit_seconds", "mean"),
        fit_seconds_total=("fit_seconds", "sum"),
    )
    table["predict_seconds_mean"] = runs.groupby(keys, sort=False)["predict_seconds"].mean()
    table["share"] = table["fit_seconds_total"] / table["fit_seconds_total"].sum()
    table = table.reset_index()
    table.attrs.update(wall_seconds=wall, jobs=jobs)
    return table


def ranks(summary: pd.DataFrame, group: str | list[str], value: str, *, higher_is_better: bool = True) -> pd.Series:
    """Rank of each row's ``value`` within its ``group`` (1 = best; ties share the lower rank)."""
    return summary.groupby(group, sort=False)[value].rank(ascending=not higher_is_better, method="min")


def paired(frame: pd.DataFrame, ours: str, theirs: str) -> dict[str, float]:
    """Per-seed differences ``ours - theirs`` of two aligned columns: mean, 95% interval, wins."""
    from wordexperts.reporting import mean_interval

    diff = (frame[ours] - frame[theirs]).to_numpy(dtype=float)
    mean, low, high = mean_interval(diff)
    return {
        "seeds": len(diff),
        "mean_difference": mean,
        "low": low,
        "high": high,
        "wins": int((diff > 0).sum()),
        "ties": int((diff == 0).sum()),
        "losses": int((diff < 0).sum()),
    }


def fmt_mean_std(mean: float, std: float) -> str:
    """``"0.392 ± 0.041"`` (``"0.392"`` without a spread)."""
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.3f}" if not math.isfinite(std) else f"{mean:.3f} ± {std:.3f}"
