"""Tuning, the same for every model: a budget of configurations, chosen on held-out training rows.

Two tuners share one protocol. Each configuration is fitted on a seeded split of the training
rows (:func:`~.split.validation_split`; stratified by class, or by target quartile for a
regression) and scored on the other ``validation_fraction``; the best is refitted on *all*
training rows. The out-of-distribution rows are never seen. ``budget=1`` fits the library's
defaults on all rows with no split.

- :func:`tune` (the grid tuner): the first ``budget`` configurations of the peer's grid (the
  package docstring's grids; configuration 0: the library's defaults), so a budget means the
  same for every peer.
- :func:`tune_optuna`: ``budget`` Optuna trials over the model's search space
  (:mod:`.space`), TPE seeded with the run's seed; trial 0 is enqueued at the library's
  defaults, so the defaults are always among the candidates. Works for our models too
  (:data:`wordexperts_bench.runs.OURS`), through their estimator parameters.

The score is accuracy for a classification (ties: lower log-loss, then the earlier
configuration) and R^2 for a regression (ties: the earlier configuration).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import column_or_1d

from wordexperts.checks import check_positive_int
from wordexperts.tabular.encoding import as_frame

from ..scores import KINDS, log_loss, r2_and_rmse
from .registry import Peer, as_peer
from .space import defaults, suggest
from .split import validation_split


@dataclass(frozen=True)
class ValidationScore:
    """One configuration's score on the tuning split (NaN when there was no split: budget 1).

    Classification fills ``accuracy`` and ``log_loss``, regression ``r2`` and ``rmse``.
    """

    index: int
    config: Mapping[str, Any]
    accuracy: float
    log_loss: float
    fit_seconds: float
    r2: float = math.nan
    rmse: float = math.nan

    def rank_key(self) -> tuple[float, float, int]:
        """Sort key, best first: higher accuracy (then lower log-loss) or higher R^2, then the earlier."""
        if math.isnan(self.r2):
            return (-_or_inf(self.accuracy), _or_inf(self.log_loss, sign=1), self.index)
        return (-_or_inf(self.r2), 0.0, self.index)


def _or_inf(value: float, sign: int = -1) -> float:
    """NaN (a failed or missing score) as the worst value: -inf for a score, +inf for a loss."""
    return value if math.isfinite(value) else sign * math.inf


@dataclass(frozen=True)
class TuneResult:
    """The chosen configuration, refitted on all training rows, and what choosing it cost.

    ``fit_seconds_total`` counts every fit: one per configuration tried plus the refit.
    """

    model: Any
    config: Mapping[str, Any]
    index: int
    validation_scores: tuple[ValidationScore, ...]
    fit_seconds_total: float
    refit_seconds: float


def _check(kind: str, budget: int, validation_fraction: float) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    check_positive_int("budget", budget)
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")


def tuning_split(y: np.ndarray, kind: str, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The held-out rows of tuning: stratified by class, or by the target's quartile for a regression."""
    strata = y if kind == "classification" else pd.qcut(y, 4, labels=False, duplicates="drop")
    train, valid = validation_split(np.asarray(strata), fraction, seed)
    if len(valid) == 0:
        raise ValueError(f"{len(y)} rows leave no validation rows at validation_fraction={fraction}")
    return train, valid


def validation_score(
    model: Any, X: pd.DataFrame, y: np.ndarray, *, kind: str, index: int, config: Mapping[str, Any], seconds: float
) -> ValidationScore:
    """Score a fitted model on the held-out rows."""
    if kind == "regression":
        r2, rmse = r2_and_rmse(y, model.predict(X))
        return ValidationScore(index, dict(config), math.nan, math.nan, seconds, r2=r2, rmse=rmse)
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = np.asarray(model.classes_)
    accuracy = float(np.mean(classes[np.argmax(proba, axis=1)] == y))
    return ValidationScore(index, dict(config), accuracy, log_loss(y, proba, classes), seconds)


def tune(
    peer: Peer | str,
    X: Any,
    y: Any,
    *,
    seed: int,
    budget: int,
    threads: int = 1,
    validation_fraction: float = 0.2,
    categorical: Sequence[str] | None = None,
    kind: str = "classification",
) -> TuneResult:
    """The grid tuner: the first ``budget`` configurations, chosen on held-out rows.

    Each configuration is fitted on a seeded, stratified (when every class allows it) split of
    the training rows and scored on the other ``validation_fraction``; the best accuracy wins
    (ties: lower log-loss, then the earlier configuration; a regression: the best R^2) and is
    refitted on *all* rows. ``budget=1`` fits the defaults on all rows with no split (its
    score is NaN). A budget beyond the peer's configurations tries them all (majority has one).
    """
    peer = as_peer(peer)
    _check(kind, budget, validation_fraction)
    frame, _ = as_frame(X, what="X", ensure_2d=True)
    y = column_or_1d(np.asarray(y))
    configurations = peer.configurations[:budget]

    def make(config: Mapping[str, Any]):
        return peer.make(config, seed=seed, threads=threads, categorical=categorical, kind=kind)

    scores: list[ValidationScore] = []
    if len(configurations) == 1:
        scores.append(
            ValidationScore(index=0, config=dict(configurations[0]), accuracy=math.nan, log_loss=math.nan, fit_seconds=0.0)
        )
        index = 0
    else:
        train_rows, valid_rows = tuning_split(y, kind, validation_fraction, seed)
        for i, config in enumerate(configurations):
            model = make(config)
            started = time.perf_counter()
            model.fit(frame.iloc[train_rows], y[train_rows])
            seconds = time.perf_counter() - started
            scores.append(
                validation_score(
                    model, frame.iloc[valid_rows], y[valid_rows], kind=kind, index=i, config=config, seconds=seconds
                )
            )
        index = min(range(len(scores)), key=lambda i: scores[i].rank_key())
    model = make(configurations[index])
    started = time.perf_counter()
    model.fit(frame, y)
    refit = time.perf_counter() - started
    return TuneResult(
        model=model, config=dict(configurations[index]), index=index, validation_scores=tuple(scores),
        fit_seconds_total=sum(s.fit_seconds for s in scores) + refit, refit_seconds=refit,
    )


def tune_optuna(
    spec: Any,
    X: Any,
    y: Any,
    *,
    seed: int,
    budget: int,
    threads: int = 1,
    validation_fraction: float = 0.2,
    kind: str = "classification",
) -> TuneResult:
    """The Optuna tuner: ``budget`` trials over ``spec.space``, chosen on held-out rows, the best refitted.

    ``spec`` is a peer (or its key) or one of our models: anything with ``space`` and
    ``make(config, seed=, threads=, kind=)``. Trial 0 is the library's defaults (every
    dimension at its default), then ``optuna.samplers.TPESampler(seed=seed)`` proposes the
    rest. A model with nothing to tune, or ``budget=1``, fits its defaults on all rows.
    ``index`` is the chosen trial's number (0: the defaults). A trial whose fit fails counts
    as the worst score (Optuna records it as failed) rather than ending the run.
    """
    spec = as_peer(spec) if isinstance(spec, str) else spec
    _check(kind, budget, validation_fraction)
    frame, _ = as_frame(X, what="X", ensure_2d=True)
    y = column_or_1d(np.asarray(y))
    space = tuple(getattr(spec, "space", ()))

    def make(config: Mapping[str, Any]):
        return spec.make(config, seed=seed, threads=threads, kind=kind)

    scores: list[ValidationScore] = []
    if budget == 1 or not space:
        scores.append(ValidationScore(index=0, config={}, accuracy=math.nan, log_loss=math.nan, fit_seconds=0.0))
        chosen: Mapping[str, Any] = {}
        index = 0
    else:
        import optuna

        train_rows, valid_rows = tuning_split(y, kind, validation_fraction, seed)
        X_fit, y_fit, X_valid, y_valid = frame.iloc[train_rows], y[train_rows], frame.iloc[valid_rows], y[valid_rows]

        def objective(trial) -> float:
            config = suggest(space, trial)
            model = make(config)
            started = time.perf_counter()
            model.fit(X_fit, y_fit)
            seconds = time.perf_counter() - started
            score = validation_score(
                model, X_valid, y_valid, kind=kind, index=trial.number, config=config, seconds=seconds
            )
            scores.append(score)
            value = score.r2 if kind == "regression" else score.accuracy
            return value if math.isfinite(value) else -math.inf

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.enqueue_trial(defaults(space, kind))
        study.optimize(objective, n_trials=budget, catch=(ValueError, RuntimeError, ArithmeticError))
        if not scores:
            raise RuntimeError(f"every one of the {budget} trials failed")
        best = min(scores, key=ValidationScore.rank_key)
        chosen, index = best.config, best.index
    model = make(chosen)
    started = time.perf_counter()
    model.fit(frame, y)
    refit = time.perf_counter() - started
    return TuneResult(
        model=model, config=dict(chosen), index=index, validation_scores=tuple(scores),
        fit_seconds_total=sum(s.fit_seconds for s in scores) + refit, refit_seconds=refit,
    )
