"""Masked-language-model plumbing shared by both parameterisations.

Checking token batches at the door, choosing which positions to mask, and the row-copying
expansion: copy ``p`` of a row holds the mask token at ``positions[p]`` and the row's own
tokens everywhere else. The expansion is the reference every faster path is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Positions = int | Sequence[int] | torch.Tensor | np.ndarray | None


def check_tokens(
    x: object,
    *,
    n_tokens: int,
    max_len: int,
    mask_token: int,
    allow_mask: bool,
) -> torch.Tensor:
    """Return ``x`` as a ``(B, L)`` int64 tensor, or raise naming what was wrong.

    Accepts a torch or numpy integer array of rank 2 with ``B >= 1``, ``1 <= L <= max_len`` and
    every id in ``[0, n_tokens)``. The mask token is refused unless ``allow_mask``: the models
    mask each position themselves, so a mask token in the input is almost always a mistake.
    """
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"token ids must be integers, got a numpy array of dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"token ids must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise TypeError(f"token ids must be an integer tensor (torch.long), got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(
            f"token ids must have shape (batch, length), got {x.dim()} dimension(s) {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"the token batch is empty: shape {tuple(x.shape)}; expected at least one row")
    if x.shape[1] > max_len:
        raise ValueError(f"sequences have length {x.shape[1]}, longer than the model's max_len={max_len}")
    if x.shape[1] == 0:
        raise ValueError("sequences have length 0; expected at least one position")
    x = x.long()
    bad = (x < 0) | (x >= n_tokens)
    if bad.any():
        row, col = (int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"token id {int(x[row, col])} at row {row}, position {col} is out of range: "
            f"expected ids in [0, {n_tokens})"
        )
    if not allow_mask:
        hit = x == mask_token
        if hit.any():
            row, col = (int(i) for i in hit.nonzero()[0])
            raise ValueError(
                f"the mask token {mask_token} appears in the input at row {row}, position {col}; "
                "each position is masked for you (pass allow_mask=True if a masked slot is intended)"
            )
    return x


def check_position_weights(
    weights: object, positions: torch.Tensor, *, dtype: torch.dtype = torch.float64, name: str = "weights"
) -> torch.Tensor:
    """Each masked position's loss weight as a ``(P,)`` tensor of ``dtype`` on ``positions``' device.

    One weight per position in ``positions`` ``(P,)``, none negative, not all zero; ``name`` is
    what an error calls them.
    """
    w = torch.as_tensor(weights, dtype=dtype).to(positions.device)
    if w.shape != positions.shape or not bool((w >= 0).all()) or float(w.sum()) <= 0:
        raise ValueError(f"{name} must be {positions.numel()} non-negative numbers, not all zero")
    return w


def check_positions(positions: Positions, length: int, device: torch.device) -> torch.Tensor:
    """Return the positions to mask as a ``(P,)`` int64 tensor; ``None`` means all ``length``.

    Accepts an int or a 1-D sequence, numpy array or tensor of ints; duplicates are allowed.
    """
    if positions is None:
        return torch.arange(length, device=device)
    given = positions

    def wrong() -> TypeError:  # built only on failure: a tensor's repr is costly in a training loop
        return TypeError(f"positions must be an int or a 1-D sequence of ints, got {given!r}")

    if isinstance(positions, (bool, np.bool_, str, bytes)):
        raise wrong()
    if isinstance(positions, (int, np.integer)):
        positions = [int(positions)]
    if not isinstance(positions, torch.Tensor):
        try:
            positions = np.asarray(positions)
        except (TypeError, ValueError) as error:
            raise wrong() from error
        if positions.size == 0:
            raise ValueError("positions is empty; expected at least one position to mask")
        if positions.dtype.kind not in "iu":
            raise wrong()
        positions = torch.from_numpy(np.ascontiguousarray(positions))
    if positions.dtype.is_floating_point or positions.dtype.is_complex or positions.dtype == torch.bool:
        raise wrong()
    if positions.dim() != 1:
        raise wrong()
    if positions.numel() == 0:
        raise ValueError("positions is empty; expected at least one position to mask")
    p = positions.to(device=device, dtype=torch.long)
    bad = (p < 0) | (p >= length)
    if bad.any():
        raise ValueError(f"position {int(p[bad][0])} is out of range for sequences of length {length}")
    return p


def expand_masked(x: torch.Tensor, positions: torch.Tensor, mask_token: int) -> torch.Tensor:
    """Row copies with one position masked each.

    Shape:
        x: ``(B, L)``, positions: ``(P,)`` -> ``(B, P, L)``; copy ``[b, p]`` is row ``b`` with
        ``positions[p]`` replaced by ``mask_token``.

    Examples:
        >>> expand_masked(torch.tensor([[1, 2, 3]]), torch.tensor([0, 2]), 9)
        tensor([[[9, 2, 3],
                 [1, 2, 9]]])
    """
    copies = x[:, None, :].repeat(1, positions.numel(), 1)  # (B, P, L)
    slot = torch.arange(positions.numel(), device=x.device)
    copies[:, slot, positions] = mask_token
    return copies


def mask_onehot(positions: torch.Tensor, length: int) -> torch.Tensor:
    """``(P, L)`` bool: True where column ``j`` is the masked position of query ``p``."""
    return torch.nn.functional.one_hot(positions, length).bool()


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """``F.cross_entropy`` of logits ``(..., V)`` against targets ``(...)``.

    The classes are laid along dim 1 of a ``(1, V, N)`` view: PyTorch's CPU log-softmax over a
    short last dimension (``V = 10`` bins) costs about twice as much, forward and backward.
    With ``reduction="none"`` the loss has the targets' shape.
    """
    flat = logits.reshape(-1, logits.shape[-1]).T.unsqueeze(0)  # (1, V, N)
    loss = F.cross_entropy(flat, targets.reshape(1, -1), reduction=reduction)
    return loss.view_as(targets) if reduction == "none" else loss


class MaskedLanguageModel(nn.Module):
    """What both parameterisations share: token checks and the masked-LM loss.

    A subclass has a ``config`` (with ``vocab_size``, ``max_len``, ``mask_token`` and
    ``n_tokens``), a public ``masked_logits(x, positions)`` that checks its arguments, and
    ``masked_logits_at(x, positions) -> (B, P, V)``, the same logits for tokens and positions
    already checked. The ``_at`` methods (and :meth:`mlm_loss_at` here) are the entry points
    of training loops and estimators, which check once and then call them batch after batch.
    """

    def check_tokens(self, x: object, *, allow_mask: bool = False) -> torch.Tensor:
        """Validate a token batch (see :func:`check_tokens`) and move it to the model's device."""
        c = self.config
        x = check_tokens(x, n_tokens=c.n_tokens, max_len=c.max_len, mask_token=c.mask_token, allow_mask=allow_mask)
        return x.to(next(self.parameters()).device)

    def mlm_loss(
        self,
        x: object,
        positions: Positions = None,
        *,
        reduction: str = "mean",
        allow_mask: bool = False,
        **kwargs,
    ) -> torch.Tensor:
        """Cross-entropy of each masked position's own token (a pseudo-likelihood over positions).

        Each of ``positions`` (all by default) is masked alone. ``reduction="none"`` gives
        ``(B, P)``; ``"mean"`` averages over rows and positions. With ``allow_mask=True`` the
        input may hold mask tokens outside ``positions``. Extra keyword arguments go to
        ``masked_logits`` (for instance ``method="expand"``).
        """
        x = self.check_tokens(x, allow_mask=allow_mask)
        p = check_positions(positions, x.shape[1], x.device)
        targets = x[:, p]  # (B, P)
        if allow_mask and (targets == self.config.mask_token).any():
            row, slot = (int(i) for i in (targets == self.config.mask_token).nonzero()[0])
            raise ValueError(
                f"position {int(p[slot])} of row {row} holds the mask token, which is not a word to predict"
            )
        return self.mlm_loss_at(x, p, reduction=reduction, **kwargs)

    def mlm_loss_at(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        *,
        reduction: str = "mean",
        weights: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        """:meth:`mlm_loss` without the checks, for callers that have made them once.

        ``x`` ``(B, L)`` int64 on the model's device (as :meth:`check_tokens` returns it) and
        ``positions`` ``(P,)`` int64 on the same device (as :func:`check_positions` returns it),
        every masked position holding a word, not the mask token. Nothing is checked: a wrong
        shape or id fails inside PyTorch, a mask token where a word should be goes unnoticed.
        Returns the loss of :meth:`mlm_loss`: a scalar, or ``(B, P)`` with ``reduction="none"``.
        Extra keyword arguments go to ``masked_logits_at``. ``weights`` ``(P,)`` (non-negative)
        weighs each position's cross-entropy in the mean: ``sum w_p CE / (B * sum w)``, the
        plain mean for equal weights (a classifier can weigh its target above the features).
        """
        if weights is None or reduction == "none":
            return cross_entropy(self.masked_logits_at(x, positions, **kwargs), x[:, positions], reduction=reduction)
        per_slot = cross_entropy(self.masked_logits_at(x, positions, **kwargs), x[:, positions], reduction="none")
        w = weights.to(per_slot.dtype)  # (P,)
        return (per_slot * w).sum() / (x.shape[0] * w.sum())
