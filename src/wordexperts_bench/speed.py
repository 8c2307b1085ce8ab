"""Training and prediction rows per second: CPU on 1 and 2 threads, and CUDA where present.

Two configurations (:data:`CONFIGURATIONS`), each a :class:`~wordexperts.tabular.WordExpertsClassifier`
fitted for one epoch on a generated table (:func:`speed_table`):

- ``paper``: paper.md §2's model (``preset="paper"``: width 20, 5 heads of 4, feed-forward 5),
  6 columns (5 features and the target), batch 128;
- ``issue``: 16 columns, ``d_model=64``, 4 heads, one ``bert`` block with feed-forward 256,
  batch 1024.

For every configuration, device and thread count, :func:`time_speed` measures (``measure``):

- ``train_expand``, ``train_one_pass``: training epochs through :func:`~wordexperts.train.train_epoch`
  with each masking method of :data:`~.time_masking.WAYS` (row copying, every row copied once
  per column; one attention pass per row), autograd and fused Adam;
- ``train_one_pass_fast``: the hand-derived one-pass step that ``fit`` takes
  (:class:`~wordexperts.fast_step.OnePassTraining`), as :mod:`.time_training` times it;
- ``predict_dataframe``: ``predict_proba`` from a pandas DataFrame, encoding included;
- ``predict_tokens``: the model alone, from encoded tokens to probabilities (the same step
  ``predict_proba`` takes after encoding).

A training row counts once per epoch whatever the method (every column of it masked once).
Training ways run interleaved epoch by epoch from the same weights, the first epoch a warm-up;
predictions are timed after a warm-up call. Rates are rows over the median time (and over the
fastest: ``best_rows_per_second``). Returns data; nothing here prints.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from wordexperts.checks import check_positive_int
from wordexperts.fast_step import OnePassTraining
from wordexperts.reporting import markdown_table
from wordexperts.tabular import WordExpertsClassifier
from wordexperts.tabular.estimators import TARGET
from wordexperts.train import make_optimizer, torch_threads, train_epoch

from .time_masking import WAYS
from .time_training import EPS, LR

TRAINING_WAYS = ("expand", "one_pass")  # the masking methods of time_masking.WAYS that train by rows
MEASURES = ("train_expand", "train_one_pass", "train_one_pass_fast", "predict_dataframe", "predict_tokens")
RUN_COLUMNS = (
    "configuration", "columns", "d_model", "n_heads", "d_ff", "device", "threads", "measure", "batch_size", "rows",
    "repeats", "seconds_median", "rows_per_second", "best_rows_per_second",
)
PREDICT_TARGET = 1_000_000  # rows per second the paper's configuration should predict on 2 threads (issue 13)
FIT_ROWS = 2000  # rows the classifier is fitted on (one epoch: the weights' values do not change the speed)


@dataclass(frozen=True, kw_only=True)
class SpeedConfiguration:
    """A model and table that :func:`time_speed` measures.

    ``columns`` counts the target; ``estimator`` holds the classifier's parameters.
    """

    name: str
    columns: int
    estimator: dict = field(default_factory=dict)
    batch_size: int
    train_rows: int
    predict_rows: int


CONFIGURATIONS = (
    SpeedConfiguration(
        name="paper", columns=6, estimator={"preset": "paper"}, batch_size=128, train_rows=4096,
        predict_rows=1_000_000,
    ),
    SpeedConfiguration(
        name="issue", columns=16, estimator={"d_model": 64, "n_heads": 4, "d_ff": 256}, batch_size=1024,
        train_rows=4096, predict_rows=200_000,
    ),
)
QUICK_ROWS = {"paper": (512, 20_000), "issue": (256, 5_000)}  # --quick: (train_rows, predict_rows)


def quick_configurations() -> tuple[SpeedConfiguration, ...]:
    """:data:`CONFIGURATIONS` with the few rows of ``--quick`` (a smoke run, well under a minute)."""
    return tuple(
        replace(c, train_rows=train_rows, predict_rows=predict_rows, batch_size=min(c.batch_size, 128))
        for c in CONFIGURATIONS
        for train_rows, predict_rows in [QUICK_ROWS[c.name]]
    )


def speed_table(rows: int, *, features: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A generated table: ``features`` standard normal columns ``f0 ..`` and a 10-class target.

    The target is the decile of a noisy sum of the first three features, ``"c0" .. "c9"``.

    Shape:
        ``X`` ``(rows, features)`` float64, ``y`` ``(rows,)`` str.

    Examples:
        >>> X, y = speed_table(1000, features=5)
        >>> X.shape, sorted(set(y.tolist()))[:3]
        ((1000, 5), ['c0', 'c1', 'c2'])
    """
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, features)), columns=[f"f{i}" for i in range(features)])
    signal = X.iloc[:, : min(3, features)].sum(axis=1).to_numpy() + rng.normal(scale=0.5, size=rows)
    deciles = np.searchsorted(np.quantile(signal, np.linspace(0.1, 0.9, 9)), signal)
    return X, np.array([f"c{k}" for k in range(10)])[deciles]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training_ways(
    model: torch.nn.Module, tokens: torch.Tensor, *, batch_size: int, epochs: int, seed: int = 0
) -> dict[str, list[float]]:
    """Seconds of each epoch after the first, per way: ``{"train_expand": [...], ...}``.

    Each way trains its own copy of ``model`` (same weights at the start) on ``tokens``
    ``(N, L)`` (on the model's device), batches of ``batch_size`` rows with every column
    masked, the ways interleaved epoch by epoch; the first epoch of each is a warm-up.
    """
    device = tokens.device
    steps = {}
    for way in TRAINING_WAYS:
        member = copy.deepcopy(model).train()
        optimizer = make_optimizer(member, lr=LR, eps=EPS)
        shuffle = torch.Generator().manual_seed(seed)  # on the CPU, as train_mlm draws its orders

        def epoch(member=member, optimizer=optimizer, shuffle=shuffle, options=WAYS[way]) -> float:
            return train_epoch(member, optimizer, tokens, batch_size=batch_size, generator=shuffle, **options)

        steps[f"train_{way}"] = epoch
    positions = torch.arange(tokens.shape[1], device=device)
    fast = OnePassTraining(copy.deepcopy(model).train(), tokens, positions, lr=LR, eps=EPS)
    shuffle = torch.Generator().manual_seed(seed)

    def fast_epoch() -> float:
        return fast.epoch(torch.randperm(len(tokens), generator=shuffle).to(device), batch_size)

    steps["train_one_pass_fast"] = fast_epoch
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(epochs + 1):
        for name, step in steps.items():
            _synchronize(device)
            started = time.perf_counter()
            step()
            _synchronize(device)
            seconds[name].append(time.perf_counter() - started)
    return {name: timed[1:] for name, timed in seconds.items()}


def time_predictions(classifier: WordExpertsClassifier, X: pd.DataFrame, *, repeats: int) -> dict[str, list[float]]:
    """Seconds of ``repeats`` calls each of ``predict_proba(X)`` (``predict_dataframe``) and of
    the model's part of it, from ``X``'s tokens (``predict_tokens``: the estimator's own step
    after encoding), interleaved, after a warm-up call."""
    tokens = classifier.encoder_.transform(X, missing=[TARGET])  # (N, L): what predict_proba encodes
    steps = {
        "predict_dataframe": lambda: classifier.predict_proba(X),
        "predict_tokens": lambda: classifier._column_probabilities(tokens, TARGET),
    }
    classifier.predict_proba(X.head(4096))
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            started = time.perf_counter()
            step()  # returns numpy: the device has finished
            seconds[name].append(time.perf_counter() - started)
    return seconds


def _devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def time_speed(
    configurations: tuple[SpeedConfiguration, ...] = CONFIGURATIONS,
    *,
    threads: tuple[int, ...] = (1, 2),
    devices: list[str] | None = None,
    epochs: int = 3,
    repeats: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows per second of every measure of :data:`MEASURES`, one row per (configuration, device,
    threads, measure), columns :data:`RUN_COLUMNS`.

    CPU runs once per thread count in ``threads``; CUDA (in ``devices``, default: where
    available) once, on one CPU thread. ``epochs`` timed training epochs per way (after a
    warm-up), ``repeats`` timed predictions.
    """
    for name, value in (("epochs", epochs), ("repeats", repeats)):
        check_positive_int(name, value)
    for n in threads:
        check_positive_int("threads", n)
    runs = []
    for c in configurations:
        X, y = speed_table(max(FIT_ROWS, c.train_rows, c.predict_rows), features=c.columns - 1, seed=seed)
        for device in devices or _devices():
            classifier = WordExpertsClassifier(
                **c.estimator, epochs=1, batch_size=c.batch_size, random_state=seed, device=device,
                n_threads=max(threads),
            ).fit(X.head(FIT_ROWS), y[:FIT_ROWS])
            model = classifier.model_
            config = model.config
            tokens = classifier.encoder_.transform(X.head(c.train_rows).assign(**{TARGET: y[: c.train_rows]}))
            tokens = torch.as_tensor(tokens, device=next(model.parameters()).device)  # (N, L)
            for n_threads in (threads if device == "cpu" else (1,)):
                classifier.set_params(n_threads=n_threads)
                with torch_threads(n_threads):
                    seconds = time_training_ways(model, tokens, batch_size=c.batch_size, epochs=epochs, seed=seed)
                seconds |= time_predictions(classifier, X.head(c.predict_rows), repeats=repeats)
                for measure in MEASURES:
                    rows = c.train_rows if measure.startswith("train") else c.predict_rows
                    median = statistics.median(seconds[measure])
                    runs.append(
                        {
                            "configuration": c.name, "columns": c.columns, "d_model": config.d_model,
                            "n_heads": config.n_heads, "d_ff": config.d_ff, "device": device, "threads": n_threads,
                            "measure": measure, "batch_size": c.batch_size if measure.startswith("train") else None,
                            "rows": rows, "repeats": len(seconds[measure]), "seconds_median": median,
                            "rows_per_second": rows / median, "best_rows_per_second": rows / min(seconds[measure]),
                        }
                    )
    return pd.DataFrame(runs, columns=list(RUN_COLUMNS)).astype({"batch_size": "Int64"})  # none for predictions


def speed_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Median rows per second, one row per (configuration, measure), one column per device and threads.

    Examples:
        >>> runs = pd.DataFrame({"configuration": ["paper"] * 2, "measure": ["predict_tokens"] * 2,
        ...                      "device": ["cpu"] * 2, "threads": [1, 2], "rows_per_second": [1.0, 2.0]})
        >>> speed_summary(runs).columns.tolist()
        ['configuration', 'measure', 'cpu, 1 thread', 'cpu, 2 threads']
    """
    threads = runs["threads"].astype(str) + np.where(runs["threads"] == 1, " thread", " threads")
    where = runs["device"] + np.where(runs["device"] == "cpu", ", " + threads, "")
    table = runs.assign(where=where).pivot_table(  # rows and columns in the order the runs came
        index=["configuration", "measure"], columns="where", values="rows_per_second", sort=False
    )
    table.columns.name = None
    return table.reset_index()


def machine_description() -> dict[str, object]:
    """Where the rates were measured: CPU model and count, torch version, CUDA device (or None)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def speed_report(runs: pd.DataFrame, *, target: float = PREDICT_TARGET) -> str:
    """:func:`time_speed`'s runs as markdown: the summary table, the paper configuration's
    prediction rate on 2 CPU threads against ``target`` (when it was measured), every run."""
    summary = speed_summary(runs)
    numbers = summary.columns[2:]
    shown = summary.assign(**{c: summary[c].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}") for c in numbers})
    lines = ["Rows per second (median of the timed epochs or calls):", "", markdown_table(shown)]
    paper = runs[
        (runs["configuration"] == "paper") & (runs["measure"] == "predict_dataframe") & (runs["device"] == "cpu")
        & (runs["threads"] == 2)
    ]
    if len(paper):
        row = paper.iloc[0]
        verdict = "meets" if row["rows_per_second"] >= target else "misses"
        lines += [
            "",
            (
                f"The paper's configuration predicts {row['rows_per_second']:,.0f} rows per second from a DataFrame "
                f"on 2 CPU threads, encoding included (fastest call: {row['best_rows_per_second']:,.0f}; "
                f"{row['rows']:,} rows): it {verdict} the target of {target:,.0f}."
            ),
        ]
    every = runs[["configuration", "device", "threads", "measure", "batch_size", "rows", "repeats"]].assign(
        seconds_median=runs["seconds_median"].map("{:.4f}".format),
        rows_per_second=runs["rows_per_second"].map("{:,.0f}".format),
        best_rows_per_second=runs["best_rows_per_second"].map("{:,.0f}".format),
        batch_size=runs["batch_size"].map(lambda b: "" if pd.isna(b) else f"{b:.0f}"),
    )
    lines += ["", "Every run:", "", markdown_table(every)]
    return "\n".join(lines)


def speed_description(
    runs: pd.DataFrame, configurations: tuple[SpeedConfiguration, ...] = CONFIGURATIONS, *, seed: int = 0
) -> str:
    """What was measured and where, for the report: configurations, machine, threads, seed."""
    m = machine_description()
    lines = [
        (
            f"Machine: {m['cpu']}, {m['cpu_count']} CPUs; torch {m['torch']}; CUDA: {m['cuda'] or 'none'}. "
            f"CPU thread counts: {sorted(set(runs.loc[runs['device'] == 'cpu', 'threads']))} (torch intra-op threads)."
        ),
        "",
    ]
    for c in configurations:
        lines.append(
            f"- `{c.name}`: {c.columns} columns (target included), classifier {c.estimator or 'defaults'}, "
            f"batch {c.batch_size}; {c.train_rows:,} training rows, {c.predict_rows:,} predicted rows "
            "(generated: `speed_table`, standard normal features, 10 classes)."
        )
    lines += [
        "",
        (
            f"Seed {seed}: the tables, and each classifier, fitted for one epoch on the first {FIT_ROWS:,} rows "
            "(its weights do not change the speed); the training ways start from its weights."
        ),
        "",
        (
            "Measures: `train_expand` / `train_one_pass`: `train_epoch` with row copying / one attention pass "
            "(autograd, fused Adam); `train_one_pass_fast`: the hand-derived one-pass step `fit` takes; "
            "`predict_dataframe`: `predict_proba` from a pandas DataFrame, encoding included; `predict_tokens`: "
            "the model alone, tokens to probabilities. A training row counts once per epoch (every column masked "
            "once). `runs.csv` also holds the fastest epoch or call (`best_rows_per_second`)."
        ),
    ]
    return "\n".join(lines)
