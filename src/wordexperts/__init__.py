"""wordexperts: bidirectional attention as a mixture of continuous word experts.

Wibisono & Wang, UAI 2023. :class:`BidirectionalAttention` is the masked language model;
:class:`WordExperts` is the same family written as a CBOW model whose context average is
weighted by a mixture of experts; :func:`to_experts` and :func:`to_attention` convert exactly.
:class:`WordExpertsClassifier`, :class:`WordExpertsRegressor` and :class:`WordExpertsImputer`
are scikit-learn estimators that read a table as a sentence; :func:`load` reads their files.
Problems a user can fix raise a :class:`WordExpertsError` (:mod:`wordexperts.errors`).

Every name is imported on first use, so ``import wordexperts`` (and the command line's
``--help``) costs no torch import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time each name loads on first use
    from .core import AttentionConfig, BidirectionalAttention, WordExperts, free_copy, to_attention, to_experts
    from .errors import (
        ConfigError,
        ConfigTypeError,
        DataError,
        DataTypeError,
        MissingExtraError,
        ModelFileError,
        TrainingDivergedError,
        WordExpertsError,
    )
    from .tabular import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor, load

__version__ = "0.7.0"

_HOMES = {
    "AttentionConfig": "core",
    "BidirectionalAttention": "core",
    "WordExperts": "core",
    "free_copy": "core",
    "to_attention": "core",
    "to_experts": "core",
    "WordExpertsClassifier": "tabular",
    "WordExpertsImputer": "tabular",
    "WordExpertsRegressor": "tabular",
    "load": "tabular",
    "ConfigError": "errors",
    "ConfigTypeError": "errors",
    "DataError": "errors",
    "DataNotFoundError": "errors",
    "DataTypeError": "errors",
    "MissingExtraError": "errors",
    "ModelFileError": "errors",
    "PeerFailedError": "errors",
    "TrainingDivergedError": "errors",
    "WordExpertsError": "errors",
}


_SUBPACKAGES = ("analogy", "core", "data", "tabular")


def __getattr__(name: str) -> object:
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:  # `import wordexperts; wordexperts.core` as before
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'wordexperts' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "AttentionConfig",
    "BidirectionalAttention",
    "ConfigError",
    "ConfigTypeError",
    "DataError",
    "DataNotFoundError",
    "DataTypeError",
    "MissingExtraError",
    "ModelFileError",
    "PeerFailedError",
    "TrainingDivergedError",
    "WordExperts",
    "WordExpertsClassifier",
    "WordExpertsError",
    "WordExpertsImputer",
    "WordExpertsRegressor",
    "__version__",
    "free_copy",
    "load",
    "to_attention",
    "to_experts",
]
