"""wordexperts: bidirectional attention as a mixture of continuous word experts.

Wibisono & Wang, UAI 2023. :class:`BidirectionalAttention` is the masked language model;
:class:`WordExperts` is the same family written as a CBOW model whose context average is
weighted by a mixture of experts; :func:`to_experts` and :func:`to_attention` convert exactly.
:class:`WordExpertsClassifier`, :class:`WordExpertsRegressor` and :class:`WordExpertsImputer`
are scikit-learn estimators that read a table as a sentence; :func:`load` reads their files.
"""

from .core import AttentionConfig, BidirectionalAttention, WordExperts, free_copy, to_attention, to_experts

__version__ = "0.3.0"

_TABULAR = ("WordExpertsClassifier", "WordExpertsImputer", "WordExpertsRegressor", "load")


def __getattr__(name: str) -> object:
    # The estimators pull in scikit-learn and pandas: import them on first use, not with the core.
    if name in _TABULAR:
        from . import tabular

        return getattr(tabular, name)
    raise AttributeError(f"module 'wordexperts' has no attribute {name!r}")

__all__ = [
    "AttentionConfig",
    "BidirectionalAttention",
    "WordExperts",
    "WordExpertsClassifier",
    "WordExpertsImputer",
    "WordExpertsRegressor",
    "__version__",
    "free_copy",
    "load",
    "to_attention",
    "to_experts",
]
