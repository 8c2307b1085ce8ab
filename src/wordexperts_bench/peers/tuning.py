"""Fair tuning (:func:`tune`): every peer tries the first ``budget`` configurations of its grid.

The configurations are the package docstring's grids (configuration 0: the library's
defaults), so a budget means the same for every peer. Each is fitted on a seeded split of the
training rows (:func:`~.split.validation_split`) and scored on the rest; the best is refitted
on all rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils.validation import column_or_1d

from wordexperts.checks import check_positive_int
from wordexperts.tabular.encoding import as_frame

from ..scores import log_loss
from .registry import Peer, PeerClassifier, as_peer
from .split import validation_split


@dataclass(frozen=True)
class ValidationScore:
    """One configuration's score on the tuning split (NaN when there was no split: budget 1)."""

    index: int
    config: Mapping[str, Any]
    accuracy: float
    log_loss: float
    fit_seconds: float


@dataclass(frozen=True)
class TuneResult:
    """The chosen configuration, refitted on all training rows, and what choosing it cost.

    ``fit_seconds_total`` counts every fit: one per configuration tried plus the refit.
    """

    model: PeerClassifier
    config: Mapping[str, Any]
    index: int
    validation_scores: tuple[ValidationScore, ...]
    fit_seconds_total: float
    refit_seconds: float


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
) -> TuneResult:
    """The fair-tuning protocol: the first ``budget`` configurations, chosen on held-out rows.

    Each configuration is fitted on a seeded, stratified (when every class allows it) split of
    the training rows and scored on the other ``validation_fraction``; the best accuracy wins
    (ties: lower log-loss, then the earlier configuration) and is refitted on *all* rows.
    ``budget=1`` fits the defaults on all rows with no split (its score is NaN). A budget
    beyond the peer's configurations tries them all (majority has one).
    """
    peer = as_peer(peer)
    check_positive_int("budget", budget)
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    frame, _ = as_frame(X, what="X", ensure_2d=True)
    y = column_or_1d(np.asarray(y))
    configurations = peer.configurations[:budget]

    def make(config: Mapping[str, Any]) -> PeerClassifier:
        return peer.make(config, seed=seed, threads=threads, categorical=categorical)

    scores: list[ValidationScore] = []
    if len(configurations) == 1:
        scores.append(
            ValidationScore(index=0, config=dict(configurations[0]), accuracy=math.nan, log_loss=math.nan, fit_seconds=0.0)
        )
        index = 0
    else:
        train_rows, valid_rows = validation_split(y, validation_fraction, seed)
        if len(valid_rows) == 0:
            raise ValueError(f"{len(y)} rows leave no validation rows at validation_fraction={validation_fraction}")
        for i, config in enumerate(configurations):
            model = make(config)
            started = time.perf_counter()
            model.fit(frame.iloc[train_rows], y[train_rows])
            seconds = time.perf_counter() - started
            proba = model.predict_proba(frame.iloc[valid_rows])
            accuracy = float(np.mean(model.classes_[np.argmax(proba, axis=1)] == y[valid_rows]))
            scores.append(
                ValidationScore(
                    index=i, config=dict(config), accuracy=accuracy,
                    log_loss=log_loss(y[valid_rows], proba, model.classes_), fit_seconds=seconds,
                )
            )
        index = min(range(len(scores)), key=lambda i: (-scores[i].accuracy, scores[i].log_loss, i))
    model = make(configurations[index])
    started = time.perf_counter()
    model.fit(frame, y)
    refit = time.perf_counter() - started
    return TuneResult(
        model=model, config=dict(configurations[index]), index=index, validation_scores=tuple(scores),
        fit_seconds_total=sum(s.fit_seconds for s in scores) + refit, refit_seconds=refit,
    )
