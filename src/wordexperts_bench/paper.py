"""The paper's numbers, and the margins we hold ourselves to, in one place.

Everything a reproduction compares against, and every bar it checks, is named here and read
from here; the code defines no published number anywhere else (docstrings may quote them).
Sources:

- Wibisono & Wang, *Bidirectional Attention as a Mixture of Continuous Word Experts*, UAI
  2023 (paper.md in the team's reference folder): the simulation's mean OOD accuracy
  (Tables 3-4) and auto-mpg (Table 5).
- The authors' per-seed results of the simulation, shipped with this package as data in
  ``wordexperts_bench/paper_results/simulation_{num_core}_{corr}_{x_noise}_True_10.csv``
  (12 files, one row per seed; columns ``seed`` and ``{acc,mse}_{train,test}_{lr,rf,gb,mlp,at}``,
  ``at`` = their attention model, "mse" = mean squared difference of bin indices). They are
  the authors' released result files, copied unchanged, so that every checkout and every
  installed copy compares seed by seed on identical data. :func:`paper_results` reads them;
  ``root=`` (the CLI's ``--paper-results DIR``) reads another folder of the same files.

Examples:
    >>> table = paper_results((5, 0.9, 0))
    >>> len(table), round(float(table["acc_test_at"].mean()), 3)
    (20, 0.392)
    >>> SIMULATION_MEAN_OOD_ACCURACY[(5, 0.9, 0.0)]["at"]
    0.392
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from wordexperts.data.simulation import SimulationConfig

__all__ = [
    "ATTENTION_MARGIN",
    "AUTO_MPG_MARGIN",
    "AUTO_MPG_PAPER",
    "AUTO_MPG_QUOTED_MAJORITY",
    "AUTO_MPG_REFERENCE",
    "AUTO_MPG_TARGET",
    "LR_MARGIN",
    "PAPER_MODELS",
    "PAPER_NAMES",
    "SIMULATION_MEAN_OOD_ACCURACY",
    "paper_mean_ood_accuracy",
    "paper_results",
]

# ---- the simulation (paper.md §2, Tables 3-4) ----

PAPER_MODELS: tuple[str, ...] = ("lr", "rf", "gb", "mlp", "at")
"""The authors' models, as the suffixes of their CSV columns (``at``: their attention model)."""
PAPER_NAMES: Mapping[str, str] = MappingProxyType(
    {"lr": "LR", "rf": "RF", "gb": "GB", "mlp": "MLP", "at": "attention"}
)
_SIMULATION_TABLE = (
    # core corr noise    LR     RF     GB     MLP    attention
    (1, 0.1, 0.0, 0.388, 0.409, 0.413, 0.323, 0.404),
    (1, 0.1, 0.5, 0.345, 0.361, 0.366, 0.292, 0.359),
    (1, 0.1, 1.5, 0.250, 0.243, 0.253, 0.204, 0.252),
    (1, 0.9, 0.0, 0.313, 0.298, 0.350, 0.237, 0.389),
    (1, 0.9, 0.5, 0.270, 0.252, 0.299, 0.202, 0.306),
    (1, 0.9, 1.5, 0.169, 0.158, 0.172, 0.142, 0.170),
    (5, 0.1, 0.0, 0.250, 0.207, 0.244, 0.306, 0.419),
    (5, 0.1, 0.5, 0.227, 0.173, 0.215, 0.252, 0.318),
    (5, 0.1, 1.5, 0.167, 0.099, 0.157, 0.165, 0.171),
    (5, 0.9, 0.0, 0.162, 0.150, 0.156, 0.169, 0.392),
    (5, 0.9, 0.5, 0.154, 0.133, 0.153, 0.151, 0.269),
    (5, 0.9, 1.5, 0.125, 0.108, 0.114, 0.118, 0.133),
)  # fmt: skip
SIMULATION_MEAN_OOD_ACCURACY: Mapping[tuple[int, float, float], Mapping[str, float]] = MappingProxyType(
    {tuple(row[:3]): MappingProxyType(dict(zip(PAPER_MODELS, row[3:]))) for row in _SIMULATION_TABLE}
)
"""Mean OOD test accuracy over the 20 seeds, as published, keyed like :data:`wordexperts.data.CONFIGURATIONS`."""

ATTENTION_MARGIN = 0.03
"""Our paper preset's mean OOD accuracy may fall at most this far below the authors' attention."""
LR_MARGIN = 0.01
"""On the same data our logistic regression must land within this of theirs (a check of the data)."""

# ---- auto-mpg (paper.md §2, Table 5: one run, seed 42) ----

AUTO_MPG_PAPER: Mapping[str, float] = MappingProxyType(
    {
        "attention (paper)": 0.793,
        "CategoryEmbedding MLP": 0.764,
        "random forest (CV)": 0.721,
        "FT-Transformer": 0.707,
        "TabTransformer": 0.707,
        "MLP (CV)": 0.700,
        "logistic regression": 0.657,
        "gradient boosting (CV)": 0.657,
        "TabNet": 0.600,
        "AutoInt": 0.364,
    }
)
"""paper.md's Table 5: OOD accuracy (Europe + Japan) of one run per model."""
AUTO_MPG_QUOTED_MAJORITY = 0.600
"""The "majority class" accuracy quoted beside paper.md's reference peers (the test set's own majority bin)."""
AUTO_MPG_REFERENCE: Mapping[str, float] = MappingProxyType(
    {
        "wordexperts-paper": 0.731,
        "hgb": 0.743,
        "lr": 0.721,
        "mlp": 0.716,
        "rf": 0.713,
        "catboost": 0.704,
        "lightgbm": 0.686,
        "xgboost": 0.671,
    }
)
"""paper.md's reference measurements over seeds 0-9 with library defaults (ours: a prototype
of the paper's recipe with Keras-style initialisation); the yardstick for the single 0.793."""
AUTO_MPG_TARGET = 0.73
"""The mean over seeds our paper preset should reach on auto-mpg (paper.md's measured 0.731) ..."""
AUTO_MPG_MARGIN = 0.03
"""... within this margin."""

_PACKAGED = "paper_results"


def _results_file(config: SimulationConfig, root: str | os.PathLike | None) -> Traversable:
    name = f"simulation_{config.name}.csv"
    if root is not None:
        path = Path(root) / name
        if not path.is_file():
            raise FileNotFoundError(f"no results file {path} for configuration {config.name} in {root}")
        return path
    return importlib.resources.files(__package__).joinpath(_PACKAGED, name)


def paper_results(config: SimulationConfig | tuple, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """The authors' per-seed results for one configuration: one row per seed (20 rows).

    ``config`` is a :class:`~wordexperts.data.SimulationConfig` or a ``(num_core, corr,
    x_noise)`` triple. The files shipped with this package are read unless ``root`` names a
    folder of the authors' ``simulation_*.csv`` files (the commands' ``--paper-results DIR``).
    """
    if not isinstance(config, SimulationConfig):
        num_core, corr, x_noise = config
        config = SimulationConfig(num_core=num_core, corr=corr, x_noise=x_noise)
    with _results_file(config, root).open("rb") as handle:
        return pd.read_csv(handle, index_col=0)


def paper_mean_ood_accuracy() -> pd.DataFrame:
    """:data:`SIMULATION_MEAN_OOD_ACCURACY` as a frame: one row per configuration, one column per model.

    Examples:
        >>> table = paper_mean_ood_accuracy()
        >>> table.shape
        (12, 8)
        >>> float(table.set_index(["num_core", "corr", "x_noise"]).loc[(5, 0.9, 0.0), "at"])
        0.392
    """
    rows = [
        {"num_core": key[0], "corr": key[1], "x_noise": key[2], **means}
        for key, means in SIMULATION_MEAN_OOD_ACCURACY.items()
    ]
    return pd.DataFrame(rows)
