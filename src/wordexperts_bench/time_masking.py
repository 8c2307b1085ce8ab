"""One-pass masked logits against row copying: training speed and agreement.

The paper's tabular model trains on every row copied once per column, each copy with that
column masked. For a single block the same logits come from one attention pass per row.
:func:`time_masking` trains the paper's architecture on the same random rows three ways, in
one process and interleaved epoch by epoch, and reports milliseconds per epoch:

- ``one_pass``: steps of ``batch_size`` rows, all columns masked in one pass;
- ``expand``: the same steps (same rows, same gradients) with each row copied per column;
- ``copies``: the paper's recipe, the ``N * L`` masked copies shuffled together and taken
  ``batch_size`` copies per step, so an epoch has ``L`` times more (smaller) steps.
"""

from __future__ import annotations

import statistics
import time

import torch

from wordexperts.checks import check_positive_int
from wordexperts.core import AttentionConfig, BidirectionalAttention
from wordexperts.errors import ConfigError
from wordexperts.tabular.estimators import paper_tabular_config
from wordexperts.train import make_optimizer, torch_threads, train_epoch

from . import machine

WAYS = {
    "one_pass": {"batching": "rows", "method": "one_pass"},
    "expand": {"batching": "rows", "method": "expand"},
    "copies": {"batching": "copies"},
}


def gradient_agreement(config: AttentionConfig, tokens: torch.Tensor, *, seed: int = 0) -> float:
    """Largest absolute difference between one-pass and expansion loss gradients (dropout off)."""
    torch.manual_seed(seed)
    model = BidirectionalAttention(config)
    model.eval()
    grads = {}
    for method in ("one_pass", "expand"):
        model.zero_grad()
        model.mlm_loss(tokens, method=method).backward()
        # The key bias cancels in every softmax: one pass gives it no gradient, the expansion ~0.
        grads[method] = torch.cat(
            [(torch.zeros_like(p) if p.grad is None else p.grad).flatten() for p in model.parameters()]
        )
    return float((grads["one_pass"] - grads["expand"]).abs().max())


def time_masking(
    *,
    rows: int = 2000,
    epochs: int = 21,
    batch_size: int = 128,
    seed: int = 0,
    n_threads: int = 1,
) -> dict:
    """Train the paper's architecture each way of :data:`WAYS` and time it.

    All ways start from the same weights. The first epoch of each is a warm-up and is not
    counted; a way's figure is the median of its remaining epochs, and the ratios divide the
    medians measured in this one run. The ratios of the fastest epochs are reported beside
    them: on a shared machine a burst of interference costs a short one-pass epoch a larger
    share of its time than a long row-copying one, which biases the median ratio down.
    """
    if epochs < 2:
        raise ConfigError("epochs must be at least 2: the first epoch is a warm-up")
    for name, value in (("rows", rows), ("batch_size", batch_size), ("n_threads", n_threads)):
        check_positive_int(name, value)
    config = paper_tabular_config()
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, config.vocab_size, (rows, config.max_len), generator=generator)
    models, optimizers, shuffles = {}, {}, {}
    seconds: dict[str, list[float]] = {way: [] for way in WAYS}
    losses: dict[str, float] = {}
    for way in WAYS:
        torch.manual_seed(seed)
        models[way] = BidirectionalAttention(config)
        optimizers[way] = make_optimizer(models[way], lr=1e-3, eps=1e-7)
        shuffles[way] = torch.Generator().manual_seed(seed)
    with torch_threads(n_threads):
        for _ in range(epochs):
            for way, options in WAYS.items():
                started = time.perf_counter()
                losses[way] = train_epoch(
                    models[way], optimizers[way], tokens, batch_size=batch_size, generator=shuffles[way], **options
                )
                seconds[way].append(time.perf_counter() - started)
        max_grad_difference = gradient_agreement(config, tokens[:batch_size], seed=seed)
    result = {
        "rows": rows,
        "columns": config.max_len,
        "epochs_timed": epochs - 1,
        "batch_size": batch_size,
        "n_threads": n_threads,
        "seed": seed,
    }
    for way in WAYS:
        timed = [1000 * s for s in seconds[way][1:]]
        result[f"ms_per_epoch_{way}"] = statistics.median(timed)
        result[f"ms_min_{way}"], result[f"ms_max_{way}"] = min(timed), max(timed)
        result[f"final_loss_{way}"] = losses[way]
    for way in ("expand", "copies"):
        result[f"speedup_vs_{way}"] = result[f"ms_per_epoch_{way}"] / result["ms_per_epoch_one_pass"]
        result[f"speedup_vs_{way}_fastest"] = result[f"ms_min_{way}"] / result["ms_min_one_pass"]
    result["max_gradient_difference"] = max_grad_difference
    return result | machine()


def masking_report(result: dict) -> str:
    """:func:`time_masking`'s result as markdown: a table of the three ways, then the speed-ups."""
    lines = [
        (
            f"Paper tabular architecture, {result['rows']} random rows x {result['columns']} columns, batch "
            f"{result['batch_size']}, {result['n_threads']} thread(s), median of {result['epochs_timed']} epochs "
            f"after one warm-up (torch {result['torch']}, {result['machine']})"
        ),
        "",
        "| way | ms per epoch (median) | min - max | final loss |",
        "|---|---|---|---|",
    ]
    b, L = result["batch_size"], result["columns"]
    labels = {
        "one_pass": f"one pass ({b} rows per step)",
        "expand": f"row copying, same steps ({b} rows x {L} copies)",
        "copies": f"row copying, paper's recipe ({b} copies per step)",
    }
    for way, label in labels.items():
        lines.append(
            f"| {label} | {result[f'ms_per_epoch_{way}']:.1f} | {result[f'ms_min_{way}']:.1f} - "
            f"{result[f'ms_max_{way}']:.1f} | {result[f'final_loss_{way}']:.4f} |"
        )
    lines += [
        "",
        (
            f"one pass is {result['speedup_vs_expand']:.2f}x faster than row copying with the same steps, "
            f"{result['speedup_vs_copies']:.2f}x faster than the paper's recipe (medians; fastest epochs: "
            f"{result['speedup_vs_expand_fastest']:.2f}x and {result['speedup_vs_copies_fastest']:.2f}x)"
        ),
        f"largest gradient difference, one pass vs row copying (dropout off): {result['max_gradient_difference']:.1e}",
    ]
    return "\n".join(lines)
