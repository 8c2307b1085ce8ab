"""Large batches with the estimators' defaults: which learning-rate rule keeps accuracy (issue 13).

Fits ``WordExpertsClassifier()`` (our defaults: batch 128, lr 3e-3, cosine schedule,
``epochs="auto"``, early stopping with patience 20 epochs) with ``batch_size`` in
{128, 512, 2048, 8192} under three learning-rate rules:

- ``same``:   lr unchanged (3e-3);
- ``linear``: lr * B / 128 (Goyal et al. 2017);
- ``sqrt``:   lr * sqrt(B / 128) (the square-root rule usually recommended for Adam);

and, as an experiment the library does not offer (it has no warm-up), ``linear+warmup`` and
``sqrt+warmup``: the same peak rates reached by a linear ramp over the first ``WARMUP_FRACTION``
of the budget's optimizer steps, multiplied into the cosine. The warm-up is a subclass of
``wordexperts.train.LearningRate`` swapped in for this process only; with no warm-up it gives
the library's rates exactly and only counts the optimizer steps taken.

Data sets (each fit scored on an in-distribution (ID) and an out-of-distribution (OOD) test set):

- ``sim``: the paper's simulation (``wordexperts.data.simulate``, configuration 5/0.9/0, bins
  pooled as the authors did and given as categories, as ``wordexperts_bench.reproduce`` does)
  drawn with ``n = N_TRAIN + N_ID`` rows: the first ``N_TRAIN`` train, the next ``N_ID`` are the
  ID test set; the simulation's shifted test draw (``n`` rows) is the OOD set. Seeds: the
  first three paper seeds (data seed = model ``random_state``).
- ``health``: the bench suite's ``health/year`` (German health panel, out of work; 1984-86 ->
  1987-88) on the *whole* table (19,609 rows; the suite keeps a 4,500-row subsample), split
  by ``ShiftTask.split(seed)``: about 8,600 training rows. Seeds 0, 1, 2.

Usage (writes one CSV row per fit, appending, and skips fits already in the CSV)::

    .venv/bin/python docs/reproduction/large-batch/large_batch.py            # the measurement
    .venv/bin/python docs/reproduction/large-batch/large_batch.py --quick    # a smoke test, seconds
    .venv/bin/python docs/reproduction/large-batch/large_batch.py --summary  # the tables from the CSV
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

import wordexperts.train as train_module
from wordexperts import WordExpertsClassifier
from wordexperts.data import PAPER_SEEDS, SimulationConfig, simulate
from wordexperts.errors import TrainingDivergedError
from wordexperts.tabular.estimators import PRESETS, epoch_budget

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_BATCH = PRESETS[None]["batch_size"]  # 128
BASE_LR = PRESETS[None]["lr"]  # 3e-3
BATCHES = (128, 512, 2048, 8192)
RULES = ("same", "linear", "sqrt")
WARMUP_RULES = ("linear+warmup", "sqrt+warmup")
WARMUP_BATCHES = (2048, 8192)
WARMUP_FRACTION = 0.05  # of the budget's optimizer steps (Goyal et al.: 5 of 90 epochs)
N_TRAIN, N_ID = 40_000, 5_000
SIM_KEY = (5, 0.9, 0.0)
FIELDS = [
    "dataset", "seed", "model_seed", "batch", "rule", "lr", "n_train_rows", "epoch_budget", "step_budget", "epochs",
    "best_epoch", "steps", "fit_seconds", "diverged", "best_val_loss", "acc_id", "acc_ood",
]


class CountingRate(train_module.LearningRate):
    """The library's rate (constant or cosine), times a linear warm-up over the first
    ``warmup_fraction`` of ``total_steps`` when set; remembers the last instance made."""

    warmup_fraction = 0.0
    last: CountingRate | None = None

    def __init__(self, lr, *, schedule="constant", total_steps=None):
        super().__init__(lr, schedule=schedule, total_steps=total_steps)
        steps = total_steps or 0
        self.warmup = max(1, round(self.warmup_fraction * steps)) if self.warmup_fraction > 0 else 0
        CountingRate.last = self

    def next(self) -> float:
        t = self.steps
        rate = super().next()
        if self.warmup:
            rate *= min(1.0, (t + 1) / self.warmup)
        return rate


train_module.LearningRate = CountingRate  # train_mlm looks the name up at call time


def rule_lr(rule: str, batch: int) -> float:
    base = rule.split("+")[0]
    scale = {"same": 1.0, "linear": batch / BASE_BATCH, "sqrt": math.sqrt(batch / BASE_BATCH)}[base]
    return BASE_LR * scale


def sim_data(seed: int, n_train: int, n_id: int):
    num_core, corr, x_noise = SIM_KEY
    data = simulate(SimulationConfig(num_core=num_core, corr=corr, x_noise=x_noise, n=n_train + n_id),
                    seed=seed, binning="pooled")
    levels = list(range(data.config.n_cat))

    def split(frame):
        X = frame.drop(columns="y").apply(lambda c: pd.Categorical(c, categories=levels))
        return X, frame["y"].to_numpy()

    X, y = split(data.train)
    X_ood, y_ood = split(data.test)
    return X.iloc[:n_train], y[:n_train], X.iloc[n_train:], y[n_train:], X_ood, y_ood


def health_data(seed: int):
    from wordexperts_bench import tables

    tables._subsample = lambda shifted, n_source, n_shifted, seed: np.arange(len(shifted))  # the whole table
    s = tables.load_task("health/year").split(seed)
    return s.X_train, s.y_train.to_numpy(), s.X_id, s.y_id.to_numpy(), s.X_ood, s.y_ood.to_numpy()


def one_fit(dataset, seed, batch, rule, data, model_seed=None) -> dict:
    X, y, X_id, y_id, X_ood, y_ood = data
    model_seed = seed if model_seed is None else model_seed
    lr = rule_lr(rule, batch)
    CountingRate.warmup_fraction = WARMUP_FRACTION if rule.endswith("+warmup") else 0.0
    n_fit = len(X) - round(PRESETS[None]["validation_fraction"] * len(X))  # rows left after the validation split
    budget = epoch_budget("auto", n_rows=n_fit, batch_size=batch)
    model = WordExpertsClassifier(batch_size=batch, lr=lr, random_state=model_seed, n_threads=1)
    row = {"dataset": dataset, "seed": seed, "model_seed": model_seed, "batch": batch, "rule": rule, "lr": lr,
           "n_train_rows": n_fit, "epoch_budget": budget, "step_budget": budget * math.ceil(n_fit / batch)}
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
    except TrainingDivergedError as error:
        rate = CountingRate.last
        return {**row, "epochs": math.nan, "best_epoch": math.nan, "steps": rate.steps,
                "fit_seconds": time.perf_counter() - started, "diverged": str(error).split(";")[0][:120],
                "best_val_loss": math.nan, "acc_id": math.nan, "acc_ood": math.nan}
    return {**row, "epochs": model.n_epochs_, "best_epoch": model.best_epoch_, "steps": CountingRate.last.steps,
            "fit_seconds": round(model.fit_seconds_, 2), "diverged": "",
            "best_val_loss": round(min(model.history_["val_loss"]), 5),
            "acc_id": float(np.mean(model.predict(X_id) == y_id)),
            "acc_ood": float(np.mean(model.predict(X_ood) == y_ood))}


def read_rows(out: str) -> list[dict]:
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def append_row(out: str, row: dict) -> None:
    """One row appended to ``out``, in the columns of its header (a CSV begun before ``model_seed``
    was a column keeps its own), or with a header of ``FIELDS`` if the file is new."""
    fields = None
    if os.path.exists(out):
        with open(out, newline="") as f:
            fields = next(csv.reader(f))
    with open(out, "a", newline="") as f:
        writer = csv.DictWriter(f, fields or FIELDS, extrasaction="ignore")
        if fields is None:
            writer.writeheader()
        writer.writerow(row)


def plan(quick: bool):
    """(dataset, seed, data loader) in the order they run: the simulation first."""
    if quick:
        return [("sim", PAPER_SEEDS[0], lambda s: sim_data(s, 3000, 1000))]
    jobs = [("sim", s, lambda s: sim_data(s, N_TRAIN, N_ID)) for s in PAPER_SEEDS[:3]]
    return jobs + [("health", s, health_data) for s in (0, 1, 2)]


def run(out: str, quick: bool) -> None:
    done = set()
    if os.path.exists(out):
        done = {(r["dataset"], int(r["seed"]), int(r["batch"]), r["rule"]) for r in read_rows(out)}
    fits = [(b, r) for b in BATCHES for r in (RULES if b != BASE_BATCH else ("same",))]
    fits += [(b, r) for b in WARMUP_BATCHES for r in WARMUP_RULES]
    if quick:
        fits = [(128, "same"), (2048, "linear"), (2048, "linear+warmup")]
    for dataset, seed, load in plan(quick):
        todo = [(b, r) for b, r in fits if (dataset, seed, b, r) not in done]
        if not todo:
            continue
        data = load(seed)
        for batch, rule in todo:
            row = one_fit(dataset, seed, batch, rule, data)
            append_row(out, row)
            print(" ".join(f"{k}={row[k]}" for k in FIELDS), flush=True)


NOISE_SEEDS = 4  # extra model seeds (random_state = seed + 1 ..) per data seed at batch 128


def run_noise(out: str) -> None:
    """Batch 128 with the defaults, refitted with ``NOISE_SEEDS`` other ``random_state`` on each data
    seed's very rows: the model-seed spread that a paired difference must be judged against."""
    done = set()
    if os.path.exists(out):
        done = {(r["dataset"], int(r["seed"]), int(r["model_seed"])) for r in read_rows(out)}
    for dataset, seed, load in plan(False):
        todo = [seed + k for k in range(1, NOISE_SEEDS + 1) if (dataset, seed, seed + k) not in done]
        if not todo:
            continue
        data = load(seed)
        for model_seed in todo:
            row = one_fit(dataset, seed, BASE_BATCH, "same", data, model_seed=model_seed)
            append_row(out, row)
            print(" ".join(f"{k}={row[k]}" for k in FIELDS), flush=True)


def noise_summary(runs_csv: str, noise_csv: str) -> pd.DataFrame:
    """Per dataset: the std over model seeds at batch 128 (pooled within data seeds) of ID and OOD
    accuracy, and the std a paired difference of two such fits would have (sqrt 2 times it)."""
    runs = pd.read_csv(runs_csv)
    if "model_seed" not in runs:
        runs["model_seed"] = runs["seed"]
    base = runs[runs["batch"] == BASE_BATCH]
    noise = pd.concat([base, pd.read_csv(noise_csv)], ignore_index=True)
    rows = []
    for dataset, group in noise.groupby("dataset"):
        row = {"dataset": dataset, "data_seeds": group["seed"].nunique(), "fits": len(group)}
        for m in ("acc_id", "acc_ood"):
            within = group.groupby("seed")[m].var(ddof=1).mean() ** 0.5  # pooled within-data-seed std
            row[f"{m}_model_seed_std"] = within
            row[f"{m}_paired_diff_std"] = within * 2**0.5
            row[f"{m}_range_within"] = group.groupby("seed")[m].agg(lambda v: v.max() - v.min()).max()
        rows.append(row)
    return pd.DataFrame(rows)


def summary(out: str) -> pd.DataFrame:
    """Per (dataset, batch, rule): lr, epochs, steps, seconds, accuracy mean and std over seeds, and
    the mean paired difference (this run minus batch 128 on the same seed) with its std."""
    runs = pd.read_csv(out, dtype={"diverged": object})
    runs["diverged"] = runs["diverged"].where(runs["diverged"].notna(), "")
    base = runs[runs["batch"] == BASE_BATCH][["dataset", "seed", "acc_id", "acc_ood"]]
    runs = runs.merge(base, on=["dataset", "seed"], suffixes=("", "_128"), how="left")
    for m in ("acc_id", "acc_ood"):
        runs[f"d_{m}"] = runs[m] - runs[f"{m}_128"]
    order = {r: i for i, r in enumerate(RULES + WARMUP_RULES)}
    table = runs.groupby(["dataset", "batch", "rule"]).agg(
        lr=("lr", "first"), seeds=("seed", "count"), diverged=("diverged", lambda d: int((d != "").sum())),
        epoch_budget=("epoch_budget", "first"), epochs=("epochs", "mean"), best_epoch=("best_epoch", "mean"),
        steps=("steps", "mean"), seconds=("fit_seconds", "mean"),
        acc_id=("acc_id", "mean"), acc_id_std=("acc_id", "std"), d_id=("d_acc_id", "mean"), d_id_std=("d_acc_id", "std"),
        acc_ood=("acc_ood", "mean"), acc_ood_std=("acc_ood", "std"), d_ood=("d_acc_ood", "mean"),
        d_ood_std=("d_acc_ood", "std"),
    ).reset_index()
    table["o"] = table["rule"].map(order)
    return table.sort_values(["dataset", "batch", "o"]).drop(columns="o").reset_index(drop=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 small fits on 3,000 rows (smoke test)")
    parser.add_argument("--summary", action="store_true", help="print the summary of the CSV and exit")
    parser.add_argument("--noise", action="store_true", help="batch-128 refits with other model seeds (noise.csv)")
    parser.add_argument("--out", default=None, help="CSV to append to (default: runs.csv beside this script)")
    args = parser.parse_args(argv)
    out = args.out or os.path.join(HERE, "runs-quick.csv" if args.quick else "runs.csv")
    noise = os.path.join(os.path.dirname(out), "noise.csv")
    if args.noise:
        run_noise(noise)
    elif not args.summary:
        run(out, args.quick)
    if os.path.exists(noise) and not args.quick:
        spread = noise_summary(out, noise)
        spread.to_csv(os.path.join(os.path.dirname(out), "noise-summary.csv"), index=False, float_format="%.4g")
        print(spread.round(4).to_string(index=False))
    table = summary(out)
    table.to_csv(os.path.join(os.path.dirname(out), "summary-quick.csv" if args.quick else "summary.csv"),
                 index=False, float_format="%.4g")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(4).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
