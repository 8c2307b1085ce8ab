"""Search spaces for Optuna tuning: one :class:`Dimension` per setting a model may change.

Every model (each peer in :data:`~.registry.PEERS` and each of our models in
:data:`wordexperts_bench.runs.OURS`) carries a small tuple of dimensions. The first trial a
tuner runs is every dimension at its ``default``, which is the library's own default for
that setting (``regression_default`` where a library's regressor defaults differ from its
classifier), so trial 0 is the model that the budget-1 benchmark fits.

Examples:
    >>> lr = Dimension(name="learning_rate", low=0.01, high=0.3, log=True, default=0.1)
    >>> lr.default_for("regression"), Dimension(name="depth", choices=(4, 6, 8), default=6).default_for("classification")
    (0.1, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_SAME: Any = object()  # regression_default not given: the classifier's default


@dataclass(frozen=True, kw_only=True)
class Dimension:
    """One setting and its range: ``[low, high]`` (``integer``, ``log``) or ``choices``; its library default.

    The default need not lie inside the range (a library default outside the sensible range
    is still trial 0); Optuna accepts an enqueued value anywhere.
    """

    name: str
    default: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: Sequence[Any] | None = None
    regression_default: Any = _SAME

    def __post_init__(self) -> None:
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError(f"{self.name}: give either low and high or choices")
        if self.choices is None and not self.low < self.high:
            raise ValueError(f"{self.name}: low must be below high, got {self.low}, {self.high}")

    def default_for(self, kind: str) -> Any:
        """The library's default for a ``kind`` of task ("classification" or "regression")."""
        return self.default if kind != "regression" or self.regression_default is _SAME else self.regression_default

    def suggest(self, trial) -> Any:
        """The value an Optuna ``trial`` draws (or the enqueued one)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)


def defaults(space: Sequence[Dimension], kind: str) -> dict[str, Any]:
    """Every dimension at its library default: the first trial's settings."""
    return {d.name: d.default_for(kind) for d in space}


def suggest(space: Sequence[Dimension], trial) -> dict[str, Any]:
    """One configuration drawn by ``trial``, as ``make(config)`` takes it."""
    return {d.name: d.suggest(trial) for d in space}


def describe(space: Sequence[Dimension], kind: str = "classification") -> str:
    """A one-line description of a space for reports: ``lr 1e-04..1e-02 (log; default 0.001), ...``."""
    if not space:
        return "nothing to tune"
    parts = []
    for d in space:
        rng = "/".join(map(str, d.choices)) if d.choices is not None else f"{d.low:g}..{d.high:g}" + (" log" if d.log else "")
        parts.append(f"{d.name} {rng} (default {d.default_for(kind)})")
    return "; ".join(parts)

