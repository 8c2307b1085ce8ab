"""The estimators' speed: fit with the paper preset, and prediction throughput.

:func:`time_fit_predict` fits :class:`~wordexperts.tabular.WordExpertsClassifier` with
``preset="paper"`` on the paper's simulation (2000 training rows x 6 columns: 5 features and
the target) and times it whole (encoding, model, 200 epochs), then times ``predict`` on
``predict_rows`` rows. Returns data; the CLI prints and writes it.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd

from wordexperts.data import SimulationConfig, simulate
from wordexperts.tabular import WordExpertsClassifier

from . import machine


def time_fit_predict(
    *,
    epochs: int = 200,
    repeats: int = 3,
    predict_rows: int = 100_000,
    seed: int = 0,
    n_threads: int = 1,
) -> dict:
    """Seconds per paper-preset fit (``repeats`` fits, median) and predicted rows per second."""
    data = simulate(SimulationConfig(num_core=5, corr=0.9, x_noise=0.0), seed=4951, binning="pooled")
    X, y = data.train.drop(columns="y"), data.train["y"]
    fits, model = [], None
    for r in range(repeats):
        model = WordExpertsClassifier(
            preset="paper", epochs=epochs, random_state=seed + r, n_threads=n_threads, categorical=list(X.columns)
        )
        started = time.perf_counter()
        model.fit(X, y)
        fits.append(time.perf_counter() - started)
    rng = np.random.default_rng(seed)
    big = pd.DataFrame(rng.integers(0, 10, (predict_rows, X.shape[1])), columns=X.columns)
    model.predict(big.head(1000))  # warm-up
    predicts = []
    for _ in range(3):
        started = time.perf_counter()
        model.predict(big)
        predicts.append(time.perf_counter() - started)
    return {
        "rows": len(X),
        "columns": X.shape[1] + 1,
        "epochs": epochs,
        "repeats": repeats,
        "n_threads": n_threads,
        "fit_seconds_median": statistics.median(fits),
        "fit_seconds_min": min(fits),
        "fit_seconds_max": max(fits),
        "ms_per_epoch": 1000 * statistics.median(fits) / epochs,
        "ood_accuracy_last_fit": float(model.score(data.test.drop(columns="y"), data.test["y"])),
        "predict_rows": predict_rows,
        "predict_rows_per_second": predict_rows / statistics.median(predicts),
        **machine(),
    }


def fit_report(result: dict) -> str:
    """:func:`time_fit_predict`'s result as markdown."""
    return "\n".join(
        [
            (
                f"Paper preset, {result['rows']} rows x {result['columns']} columns (paper simulation 5/0.9/0, "
                f"seed 4951), {result['epochs']} epochs, {result['n_threads']} thread(s), torch {result['torch']}, "
                f"{result['machine']}"
            ),
            "",
            (
                f"fit: {result['fit_seconds_median']:.2f} s median of {result['repeats']} "
                f"(min {result['fit_seconds_min']:.2f}, max {result['fit_seconds_max']:.2f}); "
                f"{result['ms_per_epoch']:.1f} ms per epoch; OOD accuracy of the last fit "
                f"{result['ood_accuracy_last_fit']:.3f}"
            ),
            f"predict: {result['predict_rows_per_second']:,.0f} rows per second ({result['predict_rows']:,} rows, median of 3)",
        ]
    )


def large_table(rows: int = 100_000, *, numeric: int = 5, categorical: int = 3, seed: int = 0):
    """A generated table of ``rows`` x ``numeric + categorical`` features and a binary target.

    Numeric columns are standard normal, categorical ones 12 levels each; the target is a
    noisy rule of two numeric columns and one categorical one (an interaction). Returns ``X, y``.
    """
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"n{i}": rng.normal(size=rows) for i in range(numeric)})
    for i in range(categorical):
        X[f"c{i}"] = rng.choice([f"v{j:02d}" for j in range(12)], rows)
    signal = X["n0"] + X["n1"] * np.where(X["c0"] < "v06", 1.0, -1.0) + rng.normal(scale=0.5, size=rows)
    return X, np.where(signal > 0, "yes", "no")


def time_large_fit(
    *,
    rows: int = 100_000,
    numeric: int = 5,
    categorical: int = 3,
    peers: tuple[str, ...] = ("lightgbm", "catboost", "hgb"),
    seed: int = 0,
    n_threads: int = 1,
) -> dict:
    """Whole-fit seconds of the default estimator on :func:`large_table`, and of each installed peer's
    defaults in the same process and thread count; accuracy on a fresh draw of the same rule."""
    from .peers import PeerClassifier
    from .runs import check_models

    X, y = large_table(rows, numeric=numeric, categorical=categorical, seed=seed)
    X_test, y_test = large_table(20_000, numeric=numeric, categorical=categorical, seed=seed + 1)
    result: dict = {"rows": rows, "columns": X.shape[1], "n_threads": n_threads, "fits": []}
    model = WordExpertsClassifier(random_state=seed, n_threads=n_threads)
    started = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - started
    result["fits"].append(
        {
            "model": "wordexperts", "fit_seconds": seconds, "accuracy": float(model.score(X_test, y_test)),
            "epochs": model.n_epochs_, "best_epoch": model.best_epoch_,
        }
    )
    runnable, _ = check_models(peers)
    for name in runnable:
        peer = PeerClassifier(name, random_state=seed, n_threads=n_threads)
        started = time.perf_counter()
        peer.fit(X, y)
        seconds = time.perf_counter() - started
        result["fits"].append({"model": name, "fit_seconds": seconds, "accuracy": float(peer.score(X_test, y_test))})
    ours = result["fits"][0]["fit_seconds"]
    for fit in result["fits"]:
        fit["x_ours"] = fit["fit_seconds"] / ours
    result.update(machine())
    return result


def large_fit_report(result: dict) -> str:
    """:func:`time_large_fit`'s result as markdown."""
    lines = [
        (
            f"{result['rows']:,} rows x {result['columns']} columns (generated: `large_table`), "
            f"{result['n_threads']} thread(s), torch {result['torch']}, {result['machine']}"
        ),
        "",
        "| model | fit (s) | time / ours | accuracy |",
        "|---|---|---|---|",
    ]
    for fit in result["fits"]:
        lines.append(f"| {fit['model']} | {fit['fit_seconds']:.1f} | {fit['x_ours']:.2f} | {fit['accuracy']:.3f} |")
    return "\n".join(lines)
