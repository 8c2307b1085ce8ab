"""Load: one fitted estimator answering many small requests from threads, as a service would.

1,000 predictions of 1-3 rows each, from 8 threads at once, must give the answers the same
requests get one after another (bit for bit), agree with one batch call over all their rows (to
float32 rounding: the model's matrix products are blocked by batch size, see
``check_methods_subset_invariance`` in the estimators), and leave resident memory where it was
(within 50 MiB of where a warm-up left it, over 4,000 requests in all).
Numbers measured here are quoted in docs/reliability.md (run with ``-s`` to see them).
"""

from __future__ import annotations

import gc
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch

from wordexperts.tabular import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor

N_REQUESTS = 1000
N_WORKERS = 8
BATCH_TOLERANCE = 1e-6  # float32 rounding between a batch and a subset of it (3e-7 measured)
MEMORY_GROWTH_LIMIT = 50 * 2**20  # bytes


def resident_bytes() -> int:
    """This process's resident set size, from /proc/self/statm (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "cat": rng.choice(["p", "q", "r", "s"], n),
            "flag": rng.random(n) < 0.5,
            "count": rng.integers(0, 6, n),
        }
    )
    X.loc[::11, "num"] = np.nan
    X.loc[::7, "cat"] = None
    return X


def requests(X: pd.DataFrame, n: int, seed: int) -> list[pd.DataFrame]:
    """``n`` requests of 1-3 consecutive rows of ``X``, with unseen categories now and then."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        start, size = int(rng.integers(0, len(X) - 3)), int(rng.integers(1, 4))
        rows = X.iloc[start : start + size].copy()
        if rng.random() < 0.1:
            rows.loc[rows.index[0], "cat"] = "never seen"
        out.append(rows)
    return out


@pytest.fixture(scope="module")
def fitted() -> tuple[WordExpertsClassifier, pd.DataFrame]:
    X = table(400, seed=0)
    y = np.where((X["cat"] == "p") | (X["num"] > 0.5), "yes", "no")
    return WordExpertsClassifier(epochs=10, random_state=0).fit(X, y), table(300, seed=1)


def concurrently(method, batches: list[pd.DataFrame]) -> list[np.ndarray]:
    with ThreadPoolExecutor(N_WORKERS) as pool:
        return list(pool.map(method, batches))


def test_1000_concurrent_predictions_equal_sequential_and_batch_answers_without_memory_growth(fitted):
    model, X = fitted
    threads_before = torch.get_num_threads()

    # Every round gets new request frames, as a service would: pandas keeps a weak reference on an
    # input frame for every view taken of it, so predicting on the same frame objects again and
    # again grows memory in pandas' bookkeeping (bounded), not in the model (docs/reliability.md).
    gc.collect()
    start = resident_bytes()
    concurrently(model.predict_proba, requests(X, 200, seed=3))  # warm-up: allocator, thread pools
    gc.collect()
    warm = resident_bytes()
    work = requests(X, N_REQUESTS, seed=2)
    answers = concurrently(model.predict_proba, work)
    again = concurrently(model.predict_proba, requests(X, N_REQUESTS, seed=2))  # the same rows, new frames
    gc.collect()
    compared = resident_bytes()  # the 2,000 answers and 1,000 request frames above are still held
    labels = np.concatenate(concurrently(model.predict, requests(X, N_REQUESTS, seed=2)))
    gc.collect()
    rounds = [resident_bytes()]
    concurrently(model.predict_proba, requests(X, N_REQUESTS, seed=10))  # answers dropped, as a service's
    gc.collect()
    rounds.append(resident_bytes())

    one_by_one = [model.predict_proba(rows) for rows in work]
    batch = model.predict_proba(pd.concat(work, ignore_index=True))
    stacked = np.concatenate(answers)

    difference = float(np.abs(stacked - batch).max())
    mib = 2**20
    print(
        f"\n{N_REQUESTS} requests ({len(stacked)} rows) from {N_WORKERS} threads, twice: resident memory "
        f"{start / mib:.1f} MiB at start, {warm / mib:.1f} after a 200-request warm-up, {compared / mib:.1f} "
        f"after the 2 x 1,000 (answers held), then {', '.join(f'{r / mib:.1f}' for r in rounds)} after each "
        f"1,000 more; largest |probability difference| against one batch call: {difference:.1e}"
    )
    assert len(answers) == N_REQUESTS
    for got, rows in zip(answers, work, strict=True):
        assert got.shape == (len(rows), len(model.classes_))
    assert all(np.array_equal(a, b) for a, b in zip(answers, one_by_one, strict=True))  # bit for bit
    assert all(np.array_equal(a, b) for a, b in zip(answers, again, strict=True))
    assert difference <= BATCH_TOLERANCE
    margin = np.abs(batch[:, 0] - batch[:, 1]) > 2 * BATCH_TOLERANCE  # rows whose label rounding cannot flip
    np.testing.assert_array_equal(labels[margin], model.classes_[batch.argmax(axis=1)][margin])
    assert compared - warm < MEMORY_GROWTH_LIMIT and max(rounds) - warm < MEMORY_GROWTH_LIMIT
    assert torch.get_num_threads() == threads_before


@pytest.mark.parametrize("cls", [WordExpertsRegressor, WordExpertsImputer])
def test_concurrent_regression_and_imputation_equal_sequential(cls):
    X = table(300, seed=4)
    if cls is WordExpertsRegressor:
        features = X.drop(columns="num")
        model, method = cls(epochs=5, random_state=0).fit(features, X["num"].fillna(0.0)), "predict"
    else:
        features = X
        model, method = cls(epochs=5, random_state=0).fit(X), "transform"
    work = requests(features, 300, seed=5)
    answers = concurrently(getattr(model, method), work)
    for got, rows in zip(answers, work, strict=True):
        expected = getattr(model, method)(rows)
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(got, expected)
        else:
            np.testing.assert_array_equal(got, expected)


def fresh_thread_count() -> int:
    """``torch.get_num_threads()`` as a thread started now sees it."""
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return seen[0]


@pytest.mark.xfail(
    strict=False,
    reason="library bug (train.torch_threads under concurrent calls): 0.7.0 restores the count found when the "
    "first overlapping block opened, once the last closes, yet a new thread still started with 2 threads in 1 of "
    "3 runs of this file after test_estimators.py; how PyTorch/OpenMP keep per-thread and process-wide counts "
    "is not understood yet",
)
def test_concurrent_predictions_leave_the_thread_count_as_it_was(fitted):
    """An estimator with n_threads=2 in a process set to 1 thread: after predictions from 8 threads,
    a new thread must still start with 1 thread."""
    _, X = fitted
    model = WordExpertsClassifier(epochs=1, random_state=0, n_threads=2).fit(X, np.resize(["a", "b"], len(X)))
    torch.set_num_threads(1)  # tests/conftest.py sets one thread; set it again here, whatever ran before
    before = torch.get_num_threads(), fresh_thread_count()
    assert before == (1, 1)
    for seed in range(5):  # the race is lost in most runs; five rounds make a pass unlikely
        concurrently(model.predict_proba, requests(X, 200, seed=seed))
        assert (torch.get_num_threads(), fresh_thread_count()) == before
