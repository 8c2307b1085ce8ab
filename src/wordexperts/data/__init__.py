"""Data sets of the paper: the simulation with covariate shift (Tables 3-4) and its results.

A leaf of the package: any layer may import it, and it imports nothing from the others.
"""

from .simulation import (
    CONFIGURATIONS,
    PAPER_MEAN_OOD_ACCURACY,
    PAPER_MODELS,
    PAPER_SEEDS,
    Simulation,
    SimulationConfig,
    paper_mean_ood_accuracy,
    paper_results,
    paper_results_dir,
    simulate,
)

__all__ = [
    "CONFIGURATIONS",
    "PAPER_MEAN_OOD_ACCURACY",
    "PAPER_MODELS",
    "PAPER_SEEDS",
    "Simulation",
    "SimulationConfig",
    "paper_mean_ood_accuracy",
    "paper_results",
    "paper_results_dir",
    "simulate",
]
