"""Out-of-distribution benchmark on real tables with natural shifts (``wordexperts bench ood``).

Every task of :mod:`wordexperts_bench.tables` splits a real table (shipped inside a PyPI
package) into a source domain and a shifted one. Per seed: the source rows are split into
training and an in-distribution (ID) test set; the shifted rows are the out-of-distribution
(OOD) test set. Every model is fitted on the same training rows with ``random_state = seed``
and scored on both test sets: accuracy and log-loss, mean and 95% Student-t interval over
seeds, and the rank of each model per task (1 = best mean OOD accuracy).

Tuning is the same for everyone: with ``budget = k`` every peer tries the first ``k``
configurations of its grid (:mod:`.peers`; the first is the library's defaults), chosen by
accuracy on an in-distribution validation split of the training rows (the OOD rows are never
seen), then refitted on all training rows. Our paper preset is a fixed recipe and is never
tuned, whatever the budget.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from .runs import Run, check_models, cost_table, ranks, run_grid, summarize

OOD_MODELS: tuple[str, ...] = (
    "wordexperts-paper",
    "wordexperts",
    "wordexperts-ensemble",
    "majority",
    "lr",
    "rf",
    "hgb",
    "xgboost",
    "lightgbm",
    "catboost",
    "mlp",
    "ft-transformer",
    "tab-transformer",
)
QUICK_MODELS: tuple[str, ...] = (
    "wordexperts-paper",
    "majority",
    "lr",
    "hgb",
    "lightgbm",
)
QUICK_SEEDS = 2
METRICS = ["acc_ood", "acc_id", "logloss_ood", "logloss_id"]


@dataclass(kw_only=True)
class OodBenchmark:
    """``runs``: one row per (task, seed, model); ``summary``: per (task, model) means, intervals, ranks;
    ``average_rank``: per model over tasks; ``missing``: models that could not run, with why."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    average_rank: pd.DataFrame
    tasks: pd.DataFrame
    timings: pd.DataFrame
    missing: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def task_data(name: str, seed: int):
    """One seed of a task: ``X_train, y_train, {"id": (X, y), "ood": (X, y)}``."""
    from .tables import load_task

    split = load_task(name).split(seed)
    return (
        split.X_train,
        split.y_train,
        {"id": (split.X_id, split.y_id), "ood": (split.X_ood, split.y_ood)},
    )


def _task_table(tasks: Sequence[str]) -> pd.DataFrame:
    from .tables import load_task

    rows = []
    for name in tasks:
        task = load_task(name)
        split = task.split(0)
        rows.append(
            {
                "task": name,
                "source": task.source,
                "description": task.description,
                "train rows": len(split.X_train),
                "ID rows": len(split.X_id),
                "OOD rows": len(split.X_ood),
                "features": split.X_train.shape[1],
                "classes": int(split.y_train.nunique()),
            }
        )
    return pd.DataFrame(rows)


def bench_ood(
    *,
    tasks: Sequence[str] | None = None,
    seeds: Sequence[int] = range(5),
    models: Sequence[str] = OOD_MODELS,
    budget: int = 1,
    jobs: int = 2,
    threads: int = 1,
    verbose: int = 0,
) -> OodBenchmark:
    """Fit every model on every (task, seed) and score it in and out of distribution.

    Models whose package is not installed are skipped and listed in ``missing`` (the report
    names them); unknown model or task names raise a ValueError.
    """
    from .tables import TASKS, load_task

    tasks = list(TASKS if tasks is None else tasks)
    for name in tasks:
        load_task(name)  # unknown names fail before any work
    runnable, missing = check_models(models)
    runs = [
        Run(
            labels={"task": name},
            model=model,
            seed=int(seed),
            data=functools.partial(task_data, name, int(seed)),
            budget=budget,
        )
        for name in tasks
        for seed in seeds
        for model in runnable
    ]
    started = time.perf_counter()
    table = run_grid(runs, jobs=jobs, threads=threads, verbose=verbose)
    wall = time.perf_counter() - started
    return ood_result(table, budget=budget, wall_seconds=wall, jobs=jobs, threads=threads, missing=missing)


def ood_result(
    runs: pd.DataFrame,
    *,
    budget: int,
    wall_seconds: float,
    jobs: int,
    threads: int = 1,
    missing: dict[str, str] | None = None,
) -> OodBenchmark:
    """An :class:`OodBenchmark` from the per-seed rows of :func:`bench_ood` (``runs.csv``).

    Summaries, ranks and averages are derived from ``runs``, so a saved ``runs.csv`` can be
    re-reported without refitting.
    """
    tasks = list(dict.fromkeys(runs["task"]))
    summary = summarize(runs, ["task", "model"], METRICS)
    summary["rank_ood"] = ranks(summary, "task", "acc_ood")
    summary["rank_id"] = ranks(summary, "task", "acc_id")
    average = (
        summary.groupby("model", sort=False)
        .agg(
            rank_ood=("rank_ood", "mean"),
            rank_id=("rank_id", "mean"),
            acc_ood=("acc_ood", "mean"),
            acc_id=("acc_id", "mean"),
            wins_ood=("rank_ood", lambda r: int((r == 1).sum())),
        )
        .reset_index()
        .sort_values("rank_ood", kind="stable")
    )
    return OodBenchmark(
        runs=runs,
        summary=summary,
        average_rank=average,
        tasks=_task_table(tasks),
        timings=cost_table(runs, wall_seconds, jobs),
        missing=dict(missing or {}),
        settings={
            "tasks": tasks,
            "seeds": [int(s) for s in dict.fromkeys(runs["seed"])],
            "models": list(dict.fromkeys(runs["model"])),
            "budget": budget,
            "jobs": jobs,
            "threads": threads,
            "wall_seconds": wall_seconds,
        },
    )
