"""Out-of-distribution benchmark on real tables with natural shifts (``wordexperts bench ood``).

Every task of :mod:`wordexperts_bench.tables` splits a real table (shipped inside a PyPI
package) into a source domain and a shifted one. Per seed: the source rows are split into
training and an in-distribution (ID) test set; the shifted rows are the out-of-distribution
(OOD) test set. Every model is fitted on the same training rows with ``random_state = seed``
and scored on both test sets: accuracy and log-loss on a classification task, R^2 and RMSE on
a regression task; mean and 95% Student-t interval over seeds; the rank of each model per
task by the task's primary metric (``score_ood``: accuracy or R^2; 1 = best mean), averaged
over all tasks; and, seed by seed, each model's primary OOD metric minus the best peer's
(:func:`paired_against_best_peer`).

Seeds: :func:`default_seeds` gives a small table (under :data:`SMALL_TABLE_ROWS` rows) 10
seeds and a larger one 5, so that the intervals of small OOD sets are not left wide by too
few seeds; ``seeds=`` overrides it for every task.

Tuning is the same for everyone. ``budget = 1``: the libraries' defaults (our models: their
preset). ``budget = k`` with the grid tuner: every peer tries the first ``k`` configurations
of its grid (:mod:`.peers`; the first is the library's defaults), and our models, a fixed
recipe, are not tuned. ``budget = k`` with the Optuna tuner: every model, ours included, gets
``k`` trials over its search space, the defaults first. Either way the choice is made on an
in-distribution validation split of the training rows (the OOD rows are never seen) and the
chosen configuration is refitted on all training rows. ``with_defaults=True`` also runs the
defaults, and the report shows both tables side by side.

A model that cannot handle a task's kind (the authors' baselines classify only) is skipped on
that task and listed, with the reason, in ``skipped``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wordexperts.errors import ConfigError, MissingExtraError

from .runs import Run, check_models, cost_table, model_spec, ranks, run_grid, summarize

OOD_MODELS: tuple[str, ...] = (
    "wordexperts-paper",
    "wordexperts",
    "wordexperts-ensemble",
    "wordexperts-members",
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
    "realmlp",
    "tabm",
)
QUICK_MODELS: tuple[str, ...] = (
    "wordexperts-paper",
    "majority",
    "lr",
    "hgb",
    "lightgbm",
)
QUICK_TASKS: tuple[str, ...] = ("auto-mpg/origin", "penguins/year", "chile/region", "midwest/state", "crime/year")
QUICK_SEEDS = 2
SMALL_TABLE_ROWS = 1000  # tables below this many rows get SMALL_TABLE_SEEDS seeds
SMALL_TABLE_SEEDS = 10
SEEDS = 5
TUNERS = ("grid", "optuna")
METRICS = ["acc_ood", "acc_id", "logloss_ood", "logloss_id", "r2_ood", "r2_id", "rmse_ood", "rmse_id"]
PRIMARY = {"classification": "acc", "regression": "r2"}  # the metric a task ranks by (higher is better)
DEFAULTS = "defaults"  # the tuning label of budget-1 runs


@dataclass(kw_only=True)
class OodBenchmark:
    """The benchmark's data, every table keyed by ``tuning`` ("defaults", or e.g. "optuna budget 20").

    ``runs``: one row per (tuning, task, seed, model); ``summary``: per (tuning, task, model)
    means, intervals, ``score_ood`` / ``score_id`` (the task's primary metric) and ranks;
    ``average_rank``: per (tuning, model) over tasks; ``paired``: per (tuning, task, model) the
    mean difference to the best peer with its interval; ``timings``: per (tuning, model) what
    the fits cost; ``missing``: models whose package is absent; ``skipped``: ``{model: why}``
    for models left out of some tasks (e.g. classification-only on regression tasks).
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    average_rank: pd.DataFrame
    tasks: pd.DataFrame
    timings: pd.DataFrame
    paired: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
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


def default_seeds(name: str) -> int:
    """Seeds for a task: :data:`SMALL_TABLE_SEEDS` under :data:`SMALL_TABLE_ROWS` rows, else :data:`SEEDS`."""
    from .tables import load_task

    return SMALL_TABLE_SEEDS if len(load_task(name).frame) < SMALL_TABLE_ROWS else SEEDS


def tuning_label(budget: int, tuner: str) -> str:
    """``"defaults"`` for budget 1, else ``"<tuner> budget <k>"``."""
    return DEFAULTS if budget == 1 else f"{tuner} budget {budget}"


def _task_table(tasks: Sequence[str], seeds: dict[str, int] | None = None) -> pd.DataFrame:
    from .tables import load_task

    rows = []
    for name in tasks:
        task = load_task(name)
        split = task.split(0)
        rows.append(
            {
                "task": name,
                "kind": task.kind,
                "source": task.source,
                "target": task.target,
                "description": task.description,
                "train rows": len(split.X_train),
                "ID rows": len(split.X_id),
                "OOD rows": len(split.X_ood),
                "features": split.X_train.shape[1],
                "classes": str(split.y_train.nunique()) if task.kind == "classification" else "–",
                **({"seeds": seeds[name]} if seeds else {}),
            }
        )
    return pd.DataFrame(rows)


def bench_ood(
    *,
    tasks: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    models: Sequence[str] = OOD_MODELS,
    budget: int = 1,
    tuner: str = "grid",
    with_defaults: bool = False,
    jobs: int = 2,
    threads: int = 1,
    verbose: int = 0,
) -> OodBenchmark:
    """Fit every model on every (task, seed) and score it in and out of distribution.

    ``seeds=None`` gives each task :func:`default_seeds`; ``budget > 1`` tunes with ``tuner``
    (``with_defaults`` runs the defaults as well). Models whose package is not installed are
    skipped and listed in ``missing``; models that cannot handle a task's kind, in
    ``skipped``. Unknown model, task or tuner names raise a ValueError.
    """
    from .tables import TASKS, load_task

    if tuner not in TUNERS:
        raise ConfigError(f"unknown tuner {tuner!r}; choose from {', '.join(TUNERS)}")
    tasks = list(TASKS if tasks is None else tasks)
    kinds = {name: load_task(name).kind for name in tasks}  # unknown names fail before any work
    runnable, missing = check_models(models)
    if tuner == "optuna" and budget > 1:
        from importlib.util import find_spec

        if find_spec("optuna") is None:
            raise MissingExtraError(
                "--tuner optuna needs the pip package 'optuna' (pip install optuna, or wordexperts[bench])"
            )
    per_task = {name: list(seeds) if seeds is not None else list(range(default_seeds(name))) for name in tasks}
    tunings = [(budget, tuner)] if budget == 1 else ([(1, tuner)] if with_defaults else []) + [(budget, tuner)]
    skipped: dict[str, str] = {}
    runs = []
    for b, t in tunings:
        for name in tasks:
            for model in runnable:
                reason = model_spec(model).refusal(kinds[name])
                if reason is not None:
                    skipped[model] = f"not run on {kinds[name]} tasks: {reason}"
                    continue
                runs += [
                    Run(
                        labels={"tuning": tuning_label(b, t), "task": name, "kind": kinds[name]},
                        model=model,
                        seed=int(seed),
                        data=functools.partial(task_data, name, int(seed)),
                        budget=b,
                        kind=kinds[name],
                        tuner=t,
                    )
                    for seed in per_task[name]
                ]
    # the slowest runs first, so that the pool's last minutes are not one long fit
    slow = ("wordexperts-ensemble", "tabm", "tab-transformer", "ft-transformer", "realmlp")
    order = sorted(range(len(runs)), key=lambda i: runs[i].model not in slow)
    started = time.perf_counter()
    table = run_grid([runs[i] for i in order], jobs=jobs, threads=threads, verbose=verbose)
    wall = time.perf_counter() - started
    table = table.set_index(pd.Index(order)).sort_index().reset_index(drop=True)  # back in the grid's order
    return ood_result(
        table, budget=budget, tuner=tuner, wall_seconds=wall, jobs=jobs, threads=threads, missing=missing,
        skipped=skipped,
    )


def _with_labels(runs: pd.DataFrame, budget: int, tuner: str) -> pd.DataFrame:
    """A ``runs.csv`` of any version with ``tuning`` and ``kind`` (an older one has neither: classification)."""
    runs = runs.copy()
    if "tuning" not in runs.columns:
        runs.insert(0, "tuning", tuning_label(budget, tuner))
    if "kind" not in runs.columns:
        runs.insert(runs.columns.get_loc("task") + 1, "kind", "classification")
    return runs


def primary(runs: pd.DataFrame, where: str, suffix: str = "") -> pd.Series:
    """Each row's primary metric ``where`` ("ood" or "id"): accuracy for a classification, R^2 for a
    regression (``suffix`` "_low", "_high", "_std": that column of a summary)."""
    values = pd.Series(np.nan, index=runs.index, dtype=float)
    for kind, prefix in PRIMARY.items():
        column = f"{prefix}_{where}{suffix}"
        rows = runs["kind"] == kind
        if column in runs.columns and rows.any():
            values[rows] = runs.loc[rows, column].astype(float)
    return values


def ood_result(
    runs: pd.DataFrame,
    *,
    budget: int,
    wall_seconds: float,
    jobs: int,
    threads: int = 1,
    tuner: str = "grid",
    missing: dict[str, str] | None = None,
    skipped: dict[str, str] | None = None,
) -> OodBenchmark:
    """An :class:`OodBenchmark` from the per-seed rows of :func:`bench_ood` (``runs.csv``).

    Summaries, ranks, averages and paired intervals are derived from ``runs``, so a saved
    ``runs.csv`` can be re-reported without refitting.
    """
    runs = _with_labels(runs, budget, tuner)
    tasks = list(dict.fromkeys(runs["task"]))
    summary = summarize(runs, ["tuning", "task", "kind", "model"], METRICS)
    for where in ("ood", "id"):
        for suffix in ("", "_std", "_low", "_high"):
            summary[f"score_{where}{suffix}"] = primary(summary, where, suffix)
    summary["rank_ood"] = ranks(summary, ["tuning", "task"], "score_ood")
    summary["rank_id"] = ranks(summary, ["tuning", "task"], "score_id")
    seeds = {task: int(part["seed"].nunique()) for task, part in runs.groupby("task", sort=False)}
    return OodBenchmark(
        runs=runs,
        summary=summary,
        average_rank=average_ranks(summary),
        tasks=_task_table(tasks, seeds),
        timings=cost_table(runs, wall_seconds, jobs, keys=("tuning", "model")),
        paired=paired_against_best_peer(runs),
        missing=dict(missing or {}),
        skipped=dict(skipped or {}),
        settings={
            "tasks": tasks,
            "seeds": [int(s) for s in sorted(set(runs["seed"]))],
            "seeds_per_task": seeds,
            "models": list(dict.fromkeys(runs["model"])),
            "tunings": list(dict.fromkeys(runs["tuning"])),
            "budget": budget,
            "tuner": tuner,
            "jobs": jobs,
            "threads": threads,
            "wall_seconds": wall_seconds,
        },
    )


def average_ranks(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (tuning, model): mean rank over every task it ran (OOD and ID), tasks won, mean accuracy
    over the classification tasks and mean R^2 over the regression ones; best average OOD rank first."""
    rows = []
    for (tuning, model), part in summary.groupby(["tuning", "model"], sort=False):
        classification, regression = part[part["kind"] == "classification"], part[part["kind"] == "regression"]
        rows.append(
            {
                "tuning": tuning,
                "model": model,
                "tasks": len(part),
                "rank_ood": float(part["rank_ood"].mean()),
                "rank_id": float(part["rank_id"].mean()),
                "wins_ood": int((part["rank_ood"] == 1).sum()),
                "acc_ood": float(classification["acc_ood"].mean()) if len(classification) else np.nan,
                "acc_id": float(classification["acc_id"].mean()) if len(classification) else np.nan,
                "r2_ood": float(regression["r2_ood"].mean()) if len(regression) else np.nan,
                "r2_id": float(regression["r2_id"].mean()) if len(regression) else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {t: i for i, t in enumerate(dict.fromkeys(summary["tuning"]))}
    return table.sort_values(["tuning", "rank_ood"], key=lambda c: c.map(order) if c.name == "tuning" else c,
                             kind="stable").reset_index(drop=True)


def is_ours(model: str) -> bool:
    """Our models' keys start with ``wordexperts``; every other model is a peer."""
    return model.startswith("wordexperts")


def paired_against_best_peer(runs: pd.DataFrame) -> pd.DataFrame:
    """Seed by seed, each model's primary OOD metric minus the best peer's, per (tuning, task).

    The best peer of a task is the model that is not ours (:func:`is_ours`) with the best mean
    primary OOD metric (accuracy or R^2) over the task's seeds (ties: the first in run order).
    For every model the differences on the seeds both ran give the mean, a 95% Student-t
    interval (:func:`wordexperts.reporting.mean_interval`; NaN bounds with one seed) and the
    seeds won, tied and lost. The best peer's own row is all zeros. One row per
    (tuning, task, model) with ``best_peer``, ``metric`` ("acc_ood" or "r2_ood"), ``seeds``,
    ``mean_difference``, ``low``, ``high``, ``wins``, ``ties``, ``losses``.
    """
    from wordexperts.reporting import mean_interval

    runs = runs.assign(score_ood=primary(runs, "ood"))
    rows = []
    for (tuning, task), part in runs.groupby(["tuning", "task"], sort=False):
        kind = part["kind"].iloc[0]
        wide = part.pivot_table(index="seed", columns="model", values="score_ood", aggfunc="first")
        models = [m for m in dict.fromkeys(part["model"]) if m in wide.columns]
        peers = [m for m in models if not is_ours(m)]
        if not peers:
            continue
        means = wide[peers].mean()
        best = max(peers, key=lambda m: (np.nan_to_num(means[m], nan=-np.inf), -peers.index(m)))
        for model in models:
            both = wide[[model, best]].dropna()
            difference = (both[model] - both[best]).to_numpy(dtype=float)
            mean, low, high = mean_interval(difference)
            rows.append(
                {
                    "tuning": tuning,
                    "task": task,
                    "kind": kind,
                    "metric": f"{PRIMARY[kind]}_ood",
                    "model": model,
                    "best_peer": best,
                    "seeds": len(difference),
                    "mean_difference": mean,
                    "low": low,
                    "high": high,
                    "wins": int((difference > 0).sum()),
                    "ties": int((difference == 0).sum()),
                    "losses": int((difference < 0).sum()),
                }
            )
    return pd.DataFrame(rows)
