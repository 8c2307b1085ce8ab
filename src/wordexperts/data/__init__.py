"""Data a user generates or loads: the paper's simulation with covariate shift (Tables 3-4),
the synthetic and real text corpora (:mod:`.corpora`) and embeddings shipped in wheels
(:mod:`.pretrained`).

A leaf of the package: any layer may import it, and it imports nothing from the others.
"""

from .simulation import CONFIGURATIONS, PAPER_SEEDS, Simulation, SimulationConfig, simulate

__all__ = ["CONFIGURATIONS", "PAPER_SEEDS", "Simulation", "SimulationConfig", "simulate"]
