"""What an ensemble of k members costs per training step, three ways, in one process.

The estimators' default model (``PRESETS[None]``: width 32, 4 heads, feed-forward 64) on
random rows shaped like a table with per-column vocabularies (``columns`` columns of
``values`` values each), one batch of ``batch_size`` rows a step:

- ``fast``: one member on the hand-derived fast road (:class:`~wordexperts.fast_step.OnePassTraining`);
- ``members``: k members, each its own fast step on the same batch (what the estimators do);
- ``packed``: k members as one batched model: parameters stacked on a member axis
  (``torch.func.stack_module_state``), one ``vmap``-ed forward and backward through autograd,
  one fused Adam step for all of them.

:func:`time_members` returns milliseconds per step for each (median over ``steps`` steps
after a warm-up) and the ratio to one member. Nothing here prints.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch

from wordexperts.checks import check_positive_int
from wordexperts.core import BidirectionalAttention
from wordexperts.fast_step import OnePassTraining
from wordexperts.tabular.estimators import PRESETS, table_attention_config
from wordexperts.train import torch_threads

from . import machine


def _timed(step, steps: int) -> float:
    """Median milliseconds of ``step()`` over ``steps`` calls, after two warm-up calls."""
    step(), step()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


class _MemberLoss(torch.nn.Module):
    """One member's masked-LM loss at ``positions``, as a module ``functional_call`` can run."""

    def __init__(self, model: BidirectionalAttention, positions: torch.Tensor) -> None:
        super().__init__()
        self.model, self.positions = model, positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.mlm_loss_at(x, self.positions)


def _packed_step(models: list[BidirectionalAttention], batch: torch.Tensor, positions: torch.Tensor):
    """One training step of ``models`` packed on a member axis: stacked parameters, one vmap-ed
    forward and backward, one fused Adam step for all."""
    from torch.func import functional_call, stack_module_state, vmap

    stacked, buffers = stack_module_state([_MemberLoss(copy.deepcopy(m), positions) for m in models])
    base = _MemberLoss(copy.deepcopy(models[0]), positions)
    losses = vmap(lambda w, b, x: functional_call(base, (w, b), (x,)), in_dims=(0, 0, None), randomness="different")
    optimizer = torch.optim.Adam(list(stacked.values()), lr=1e-3, eps=1e-7, fused=True)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        losses(stacked, buffers, batch).sum().backward()
        optimizer.step()

    return step


def time_members(
    *,
    members: tuple[int, ...] = (1, 4, 8),
    columns: int = 9,
    values: int = 10,
    batch_size: int = 128,
    steps: int = 30,
    seed: int = 0,
    n_threads: int = 1,
) -> dict:
    """Milliseconds per training step of k members: one fast member, k fast members, k packed.

    Returns ``{"ms_fast_one": ..., "rows": [{"k", "ms_members", "ms_packed", "members_ratio",
    "packed_ratio"}, ...], ...}``, ratios against one member on the fast road.
    """
    for k in members:
        check_positive_int("members", k)
    params = dict(PRESETS[None])
    vocab = columns * (values + 2)
    config = table_attention_config(params, vocab_size=vocab, max_len=columns)
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.arange(columns) * (values + 2)
    tokens = torch.randint(0, values, (batch_size * 8, columns), generator=generator) + offsets  # (N, L)
    p = torch.arange(columns)
    result: dict = {
        "columns": columns, "values": values, "batch_size": batch_size, "steps": steps, "n_threads": n_threads,
        "d_model": config.d_model, "n_heads": config.n_heads, "d_ff": config.d_ff, "rows": [],
    }
    with torch_threads(n_threads):
        torch.manual_seed(seed)
        models = [BidirectionalAttention(config).train() for _ in range(max(members))]
        trainings = [OnePassTraining(m, tokens, p, lr=1e-3, eps=1e-7) for m in models]
        order = torch.arange(batch_size)

        def fast_steps(k: int):
            return lambda: [t.epoch(order, batch_size) for t in trainings[:k]]

        one = _timed(fast_steps(1), steps)
        result["ms_fast_one"] = one

        batch = tokens[:batch_size]
        for k in members:
            ms_members, ms_packed = _timed(fast_steps(k), steps), _timed(_packed_step(models[:k], batch, p), steps)
            result["rows"].append(
                {
                    "k": k, "ms_members": ms_members, "ms_packed": ms_packed,
                    "members_ratio": ms_members / one, "packed_ratio": ms_packed / one,
                }
            )
    result.update(machine())
    return result


def members_report(result: dict) -> str:
    """A markdown table of :func:`time_members`' result."""
    lines = [
        (
            f"Default model (width {result['d_model']}, {result['n_heads']} heads, feed-forward {result['d_ff']}), "
            f"{result['columns']} columns of {result['values']} values, batch {result['batch_size']}, "
            f"{result['n_threads']} thread(s), median of {result['steps']} steps."
        ),
        "",
        f"One member on the fast road: {result['ms_fast_one']:.2f} ms a step.",
        "",
        "| k | k fast members (ms) | x one | packed, vmap (ms) | x one |",
        "|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['k']} | {row['ms_members']:.2f} | {row['members_ratio']:.2f} | "
            f"{row['ms_packed']:.2f} | {row['packed_ratio']:.2f} |"
        )
    return "\n".join(lines)
