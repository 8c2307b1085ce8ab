"""Tables as sentences: scikit-learn estimators on word experts, and the table encoder."""

from .encoding import IdentifierWarning, TableEncoder, as_frame
from .estimators import (
    PRESETS,
    BinDistribution,
    WordExpertsClassifier,
    WordExpertsImputer,
    WordExpertsRegressor,
    load,
)

__all__ = [
    "PRESETS",
    "BinDistribution",
    "IdentifierWarning",
    "TableEncoder",
    "WordExpertsClassifier",
    "WordExpertsImputer",
    "WordExpertsRegressor",
    "as_frame",
    "load",
]
