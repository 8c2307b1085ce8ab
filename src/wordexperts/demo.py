"""A small planted task that shows the mixture-of-experts view at work.

Rows of ``L`` random words in which one column is a copy of another. Trained with the
masked-LM objective, a one-head ``linear`` attention model can only predict the copy by
gating on the source column; its :class:`~wordexperts.WordExperts` form shows the gates.
"""

from __future__ import annotations

import torch

from .core import BidirectionalAttention, to_experts
from .train import torch_threads, train_mlm


def copy_task(*, rows: int, length: int, vocab_size: int, source: int, target: int, seed: int) -> torch.Tensor:
    """``(rows, length)`` uniform random words with column ``target`` a copy of ``source``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab_size, (rows, length), generator=generator)
    x[:, target] = x[:, source]
    return x


def gates_demo(
    *,
    rows: int = 2000,
    length: int = 6,
    vocab_size: int = 10,
    source: int = 1,
    target: int = 5,
    epochs: int = 30,
    seed: int = 0,
    n_threads: int = 1,
) -> dict:
    """Train on :func:`copy_task` and read the gates of the masked target column.

    Returns the mean gate weight the target puts on each column (held-out rows), the
    held-out accuracy of predicting the target, and the largest difference between the
    trained model's attention and word-experts logits (float32).
    """
    with torch_threads(n_threads):
        torch.manual_seed(seed)
        model = BidirectionalAttention(
            vocab_size=vocab_size, max_len=length, d_model=16, n_heads=1, block="linear", residual=False
        )
        train_x = copy_task(rows=rows, length=length, vocab_size=vocab_size, source=source, target=target, seed=seed)
        test_x = copy_task(rows=rows, length=length, vocab_size=vocab_size, source=source, target=target, seed=seed + 1)
        history = train_mlm(model, train_x, epochs=epochs, batch_size=128, lr=1e-2, positions=[target], seed=seed)
        model.eval()
        with torch.no_grad():
            experts = to_experts(model)
            gates = experts.gates(test_x, position=target)  # (B, 1, L)
            logits = model.masked_logits(test_x, [target])  # (B, 1, V)
            accuracy = float((logits[:, 0].argmax(-1) == test_x[:, target]).float().mean())
            difference = float((experts.masked_logits(test_x, [target]) - logits).abs().max())
    return {
        "source": source,
        "target": target,
        "mean_gates": gates[:, 0].mean(0).tolist(),
        "accuracy": accuracy,
        "chance": 1.0 / vocab_size,
        "final_loss": history.loss[-1],
        "max_logit_difference": difference,
    }
