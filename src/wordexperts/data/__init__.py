"""Data sets: the paper's simulation with covariate shift (Tables 3-4) and its results, and real
tables with natural shifts read from PyPI wheels (:mod:`.tables`).

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
from .tables import TASKS, ShiftTask, TaskSplit, auto_mpg, load_task

__all__ = [
    "CONFIGURATIONS",
    "PAPER_MEAN_OOD_ACCURACY",
    "PAPER_MODELS",
    "PAPER_SEEDS",
    "TASKS",
    "ShiftTask",
    "Simulation",
    "SimulationConfig",
    "TaskSplit",
    "auto_mpg",
    "load_task",
    "paper_mean_ood_accuracy",
    "paper_results",
    "paper_results_dir",
    "simulate",
]
