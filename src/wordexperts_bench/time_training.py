"""Training and prediction speed of the paper's tabular model.

:func:`time_training` fits the paper's architecture (:func:`~wordexperts.tabular.estimators.paper_tabular_config`:
width 20, 5 heads of 4, one post-LN block, dropout 0.1) on random rows with ``train_mlm``,
both roads in one process: the fast road (hand-derived one-pass gradients, fused Adam, bulk
dropout masks; ``train_mlm``'s default for this model) and autograd (``fast=False``). It
times whole fits of each, and both roads epoch by epoch, interleaved, from the same weights.
:func:`time_prediction` measures ``masked_logits`` throughput on many rows, whole and in
chunks. Both return data; nothing here prints.
"""

from __future__ import annotations

import statistics
import time

import torch

from wordexperts.checks import check_positive_int
from wordexperts.core import BidirectionalAttention
from wordexperts.core.gradients import OnePassGradients
from wordexperts.errors import ConfigError
from wordexperts.fast_step import OnePassTraining
from wordexperts.tabular.estimators import paper_tabular_config
from wordexperts.train import make_optimizer, torch_threads, train_epoch, train_mlm

from . import machine

LR, EPS = 1e-3, 1e-7  # the paper's Adam (Keras's epsilon)


def hand_gradient_agreement(config, tokens: torch.Tensor, *, seed: int = 0) -> float:
    """Largest absolute difference between hand-derived and autograd one-pass gradients (and mean loss)."""
    torch.manual_seed(seed)
    model = BidirectionalAttention(config).eval()  # no dropout
    p = torch.arange(tokens.shape[1])
    step = OnePassGradients(model, length=tokens.shape[1], positions=p)
    loss, _, grads = step(step.keys(tokens), tokens)
    reference = model.mlm_loss(tokens, method="one_pass")
    reference.backward()
    worst = float(abs(loss / tokens.numel() - reference.detach()))
    for name, q in model.named_parameters():
        if name in grads:
            worst = max(worst, float((grads[name] - q.grad).abs().max()))
    return worst


def time_training(
    *,
    rows: int = 2000,
    epochs: int = 200,
    fits: int = 2,
    autograd_fits: int = 1,
    compare_epochs: int = 21,
    batch_size: int = 128,
    seed: int = 0,
    n_threads: int = 1,
) -> dict:
    """Seconds per fit of the paper's model, fast road and autograd, and their per-epoch ratio.

    ``fits`` whole fits of ``epochs`` epochs take the fast road and ``autograd_fits`` the
    autograd one (``train_mlm(..., fast=False)``), each from the same initial weights. Then
    ``compare_epochs`` epochs of each road run interleaved, epoch by epoch; the first is a
    warm-up, and a road's figure is the median of the rest, so the ratio compares the two
    under the same load on a shared machine.
    """
    for name, value in (("rows", rows), ("epochs", epochs), ("fits", fits), ("batch_size", batch_size)):
        check_positive_int(name, value)
    if compare_epochs < 2:
        raise ConfigError("compare_epochs must be at least 2: the first epoch is a warm-up")
    config = paper_tabular_config()
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, config.vocab_size, (rows, config.max_len), generator=generator)
    steps = -(-rows // batch_size)

    def fresh() -> BidirectionalAttention:
        torch.manual_seed(seed)
        return BidirectionalAttention(config)

    def fit(fast: bool) -> tuple[float, float]:
        model = fresh()
        started = time.perf_counter()
        history = train_mlm(
            model, tokens, epochs=epochs, batch_size=batch_size, lr=LR, eps=EPS, seed=seed, n_threads=n_threads,
            fast=fast,
        )
        return time.perf_counter() - started, history.loss[-1]

    fast_fits = [fit(True) for _ in range(fits)]
    autograd_fits_ = [fit(False) for _ in range(autograd_fits)]

    seconds: dict[str, list[float]] = {"fast": [], "autograd": []}
    losses: dict[str, float] = {}
    with torch_threads(n_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models = {"fast": fresh(), "autograd": fresh()}
        shuffles = {way: torch.Generator().manual_seed(seed) for way in models}
        fast = OnePassTraining(models["fast"], tokens, torch.arange(config.max_len), lr=LR, eps=EPS)
        optimizer = make_optimizer(models["autograd"], lr=LR, eps=EPS)
        for _ in range(compare_epochs):
            started = time.perf_counter()
            losses["fast"] = fast.epoch(torch.randperm(rows, generator=shuffles["fast"]), batch_size)
            seconds["fast"].append(time.perf_counter() - started)
            started = time.perf_counter()
            losses["autograd"] = train_epoch(
                models["autograd"], optimizer, tokens, batch_size=batch_size, generator=shuffles["autograd"],
                method="one_pass",
            )
            seconds["autograd"].append(time.perf_counter() - started)
        agreement = hand_gradient_agreement(config, tokens[:batch_size], seed=seed)

    result = {
        "rows": rows,
        "columns": config.max_len,
        "epochs": epochs,
        "batch_size": batch_size,
        "steps_per_epoch": steps,
        "n_threads": n_threads,
        "seed": seed,
        "fit_seconds_fast": [s for s, _ in fast_fits],
        "fit_seconds_autograd": [s for s, _ in autograd_fits_],
        "final_loss_fast": fast_fits[-1][1],
        "final_loss_autograd": autograd_fits_[-1][1] if autograd_fits_ else None,
        "compare_epochs_timed": compare_epochs - 1,
    }
    for way, timed in seconds.items():
        ms = [1000 * s for s in timed[1:]]
        result[f"ms_per_epoch_{way}"] = statistics.median(ms)
        result[f"ms_min_{way}"], result[f"ms_max_{way}"] = min(ms), max(ms)
        result[f"ms_per_step_{way}"] = statistics.median(ms) / steps
        result[f"compare_loss_{way}"] = losses[way]
    result["speedup"] = result["ms_per_epoch_autograd"] / result["ms_per_epoch_fast"]
    result["speedup_fastest"] = result["ms_min_autograd"] / result["ms_min_fast"]
    result["max_gradient_difference"] = agreement
    result.update(machine())
    return result


def time_prediction(
    *,
    rows: int = 100_000,
    position: int = 5,
    chunks: tuple[int | None, ...] = (None, 10_000, 2_000, 1_000),
    repeats: int = 3,
    seed: int = 0,
    n_threads: int = 1,
) -> dict:
    """Rows per second of ``model.eval().masked_logits(x, positions=[position])``, paper model.

    Each chunk size (``None``: all rows in one call) is timed ``repeats`` times under
    ``torch.no_grad()`` (median), and the whole call once more without it.
    """
    config = paper_tabular_config()
    torch.manual_seed(seed)
    model = BidirectionalAttention(config).eval()
    x = torch.randint(0, config.vocab_size, (rows, config.max_len), generator=torch.Generator().manual_seed(seed))
    result: dict = {"rows": rows, "position": position, "n_threads": n_threads, "rows_per_second": {}}
    with torch_threads(n_threads):
        model.masked_logits(x[:1000], positions=[position])  # warm-up
        for chunk in chunks:
            size = rows if chunk is None else chunk
            timed = []
            for _ in range(repeats):
                started = time.perf_counter()
                with torch.no_grad():
                    for i in range(0, rows, size):
                        model.masked_logits(x[i : i + size], positions=[position])
                timed.append(time.perf_counter() - started)
            result["rows_per_second"]["whole" if chunk is None else str(chunk)] = rows / statistics.median(timed)
        started = time.perf_counter()
        model.masked_logits(x, positions=[position])
        result["rows_per_second_with_autograd"] = rows / (time.perf_counter() - started)
    best = max(result["rows_per_second"], key=result["rows_per_second"].get)
    result["best_chunk"] = best
    result.update(machine())
    return result
