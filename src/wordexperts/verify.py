"""The attention = mixture-of-word-experts equivalence, checked over a grid of random models.

:func:`verify_equivalence` returns one row per architecture with the largest logit
differences it measured; ``wordexperts verify`` prints it and exits non-zero on a failure.
"""

from __future__ import annotations

import copy
import itertools

import pandas as pd
import torch

from .core import AttentionConfig, BidirectionalAttention, to_attention, to_experts

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}
ONE_PASS_TOLERANCE = 1e-5  # float32, one-pass vs row-copying expansion


def _max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


@torch.no_grad()
def check_case(config: AttentionConfig, *, seed: int = 0, rows: int = 16) -> dict:
    """Build a random model, convert it both ways, and measure the logit differences.

    The reference is attention computed literally: every row copied once per position with
    that position masked, through the ordinary forward pass. Returns the largest absolute
    difference over every row and masked position between it and (a) the word-experts
    logits, (b) the round trip's, in float64 and float32 (the same weights cast), and (c) for
    one block, the one-pass form.
    """
    torch.manual_seed(seed)
    model64 = BidirectionalAttention(config).double().eval()
    x = torch.randint(0, config.vocab_size, (rows, config.max_len))
    row = {
        "block": config.block,
        "layers": config.n_layers,
        "heads": config.n_heads,
        "positional": config.positional,
        "residual": config.residual or config.block == "bert",
    }
    model32 = copy.deepcopy(model64).float()  # the same weights, cast
    for model, label in ((model64, "64"), (model32, "32")):
        reference = model.masked_logits(x, method="expand")
        experts = to_experts(model)
        row[f"experts_f{label}"] = _max_difference(reference, experts.masked_logits(x))
        row[f"round_trip_f{label}"] = _max_difference(reference, to_attention(experts).masked_logits(x, method="expand"))
    row["one_pass_f32"] = (
        _max_difference(model32.masked_logits(x, method="one_pass"), model32.masked_logits(x, method="expand"))
        if config.n_layers == 1
        else float("nan")
    )
    # Written as "<= tolerance" so that a NaN difference fails.
    row["passed"] = bool(
        all(row[f"{name}_f64"] <= TOLERANCE[torch.float64] for name in ("experts", "round_trip"))
        and all(row[f"{name}_f32"] <= TOLERANCE[torch.float32] for name in ("experts", "round_trip"))
        and (config.n_layers > 1 or row["one_pass_f32"] <= ONE_PASS_TOLERANCE)
    )
    return row


def verify_grid(*, vocab_size: int = 11, max_len: int = 6, d_model: int = 12) -> list[AttentionConfig]:
    """The grid of ``wordexperts verify``: 1 and 3 heads x 1 and 2 layers x each positional
    encoding x with and without residual (``linear`` blocks, where the equivalence is the
    paper's), plus ``bert`` blocks, whose LayerNorm and feed-forward layer act after the mixture."""
    grid = [
        AttentionConfig(
            vocab_size=vocab_size, max_len=max_len, d_model=d_model, n_heads=heads, n_layers=layers,
            positional=positional, residual=residual, block="linear",
        )
        for heads, layers, positional, residual in itertools.product((1, 3), (1, 2), ("learned", "sinusoidal", "none"), (False, True))
    ]
    grid += [
        AttentionConfig(
            vocab_size=vocab_size, max_len=max_len, d_model=d_model, n_heads=heads, n_layers=layers,
            block="bert", d_ff=5,
        )
        for heads, layers in itertools.product((1, 3), (1, 2))
    ]
    return grid


def verify_equivalence(*, seed: int = 0, rows: int = 16) -> pd.DataFrame:
    """One row per architecture of :func:`verify_grid` with the differences of :func:`check_case`."""
    return pd.DataFrame([check_case(config, seed=seed + i, rows=rows) for i, config in enumerate(verify_grid())])
