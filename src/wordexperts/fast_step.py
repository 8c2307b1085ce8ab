"""The hand-derived fast step: the same training steps as autograd, a few times faster.

A single-block attention model trained on rows takes this road (:class:`OnePassTraining`):
the hand-derived gradients of :class:`~wordexperts.core.gradients.OnePassGradients` instead of
autograd, one fused Adam call on all parameters instead of ``torch.optim.Adam.step``, dropout
masks drawn 32 bits apiece from numpy's generator, all in inference mode. At the paper's
tabular sizes a step costs what its PyTorch calls cost to dispatch; this road makes 411 a step
where autograd makes 1025, and fits the paper's model in a quarter of the time
(docs/benchmarks.md). :func:`fast_road_refusal` says when it does not apply;
:func:`wordexperts.train.train_mlm` then trains with autograd.

It cannot train the wrong model quietly: it applies only to the modules and options it lists
(:func:`~wordexperts.core.gradients.fast_step_refusal`), and :func:`self_check` compares its
gradients with autograd's on one float64 batch before training starts. Both roads share the
numerical guards: a non-finite loss stops training (:class:`TrainingDivergedError`) before
that step's update, and gradients may be clipped to a global norm (:func:`clip_gradients_`).
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import torch

from .core.gradients import OnePassGradients, fast_step_refusal
from .core.masking import MaskedLanguageModel
from .distributed import (
    Distributed,
    all_reduce_gradients_,
    all_reduce_module_gradients_,
    shard,
    shard_part,
    shared_dropout,
)
from .errors import TrainingDivergedError


def diverged(
    loss: float, *, step: int, epoch: int | None = None, steps: int | None = None, lr: float | None = None
) -> TrainingDivergedError:
    """A :class:`TrainingDivergedError` whose message names where and says what to try.

    Examples:
        >>> print(diverged(float("nan"), step=7, epoch=3, steps=16, lr=0.01))
        the training loss became nan at epoch 3, step 7 of 16: training diverged, and stopped before that step's \
update. Lower the learning rate (lr=0.01), or clip the gradients (clip_grad_norm=1.0, say).
    """
    where = f"step {step}" + ("" if steps is None else f" of {steps}")
    where = where if epoch is None else f"epoch {epoch}, {where}"
    rate = "" if lr is None else f" (lr={lr:g})"
    error = TrainingDivergedError(
        f"the training loss became {loss} at {where}: training diverged, and stopped before that step's update. "
        f"Lower the learning rate{rate}, or clip the gradients (clip_grad_norm=1.0, say)."
    )
    error.loss, error.epoch, error.step = loss, epoch, step
    return error


def clip_gradients_(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale ``grads`` in place as ``torch.nn.utils.clip_grad_norm_`` scales the ``.grad`` of parameters.

    The norm is the L2 norm of all of them together; each is multiplied by
    ``min(1, max_norm / (norm + 1e-6))`` with the very calls PyTorch makes, so both roads clip
    alike. Returns the norm before clipping.

    Examples:
        >>> grads = [torch.tensor([3.0]), torch.tensor([4.0])]
        >>> float(clip_gradients_(grads, 1.0)), [round(float(g), 4) for g in grads]
        (5.0, [0.6, 0.8])
    """
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    torch._foreach_mul_(grads, torch.clamp(max_norm / (norm + 1e-6), max=1.0))
    return norm


class FusedAdam:
    """Adam on a fixed list of tensors: one fused kernel call a step, no ``.grad`` needed.

    Updates as ``torch.optim.Adam(params, lr=lr, eps=eps, fused=True)`` does (betas 0.9 and
    0.999, no weight decay, one step count for all tensors), minus the optimizer's per-step
    Python bookkeeping, which at the paper's sizes costs several times the update itself.
    Where the fused kernel is missing it takes Adam's textbook update tensor by tensor.
    """

    betas = (0.9, 0.999)

    def __init__(self, params: list[torch.Tensor], *, lr: float, eps: float) -> None:
        self.params, self.lr, self.eps = params, lr, eps
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.steps = torch.zeros((), dtype=torch.float32, device=params[0].device)  # as torch's fused Adam keeps it
        self.fused = hasattr(torch, "_fused_adam_")

    def step(self, grads: list[torch.Tensor]) -> None:
        """One update with ``grads``, aligned with the tensors given at construction."""
        self.steps += 1
        if self.fused:
            try:
                torch._fused_adam_(
                    self.params, grads, self.exp_avg, self.exp_avg_sq, [], [self.steps] * len(self.params),
                    lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps,
                    amsgrad=False, maximize=False,
                )
                return
            except (RuntimeError, NotImplementedError):  # no fused kernel for this device or dtype
                self.fused = False
        beta1, beta2 = self.betas
        step = float(self.steps)
        correction1, correction2 = 1 - beta1**step, math.sqrt(1 - beta2**step)
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq, strict=True):
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            p.addcdiv_(m, (v.sqrt() / correction2).add_(self.eps), value=-self.lr / correction1)


class DropoutMasks:
    """Inverted-dropout masks: 0 with probability ``rate``, else ``1 / (1 - rate)``.

    Drawing the masks is most of dropout's cost in a small step (``bernoulli_`` takes about
    6 ns an element on CPU, ``torch.rand`` 3). On CPU they come from numpy's SFC64 generator,
    32 random bits a mask compared with ``(1 - rate) * 2**32`` (so the keep probability is
    exact to 2**-32), under 1 ns an element; the generator is seeded from torch's, so a seeded
    run repeats. On CUDA, ``torch.rand`` on the device.
    """

    def __init__(self, rate: float, *, dtype: torch.dtype, device: torch.device) -> None:
        if not 0.0 < rate < 1.0:
            raise ValueError(f"rate must be in (0, 1), got {rate!r}")
        self.keep, self.dtype, self.device = 1.0 - rate, dtype, device
        self.scale = torch.tensor(1.0 / self.keep, dtype=dtype).item()
        if device.type == "cpu":
            seed = int(torch.randint(0, 2**62, ()))  # from torch's (seeded, forked) generator
            self._bits = np.random.SFC64(seed)  # fast and well tested; numpy's default PCG64 is ~25% slower
            self._threshold = np.uint32(min(round(self.keep * 2**32), 2**32 - 1))
            self._scale = np.array(self.scale, dtype=torch.empty((), dtype=dtype).numpy().dtype)

    def __call__(self, *shape: int) -> torch.Tensor:
        """A fresh ``shape`` of masks."""
        if self.device.type != "cpu":
            keep = torch.rand(shape, device=self.device) < self.keep
            return keep.to(self.dtype).mul_(self.scale)
        n = math.prod(shape)
        bits = self._bits.random_raw((n + 1) // 2).view(np.uint32)[:n]  # 64 random bits make two masks
        return torch.from_numpy((bits < self._threshold) * self._scale).view(shape)


class OnePassTraining:
    """Epochs of ``train_mlm`` for a single-block attention model with ``batching="rows"``.

    The same steps as :func:`train_epoch` with ``method="one_pass"`` (same shuffles, same
    batches, same Adam update) but with the gradients of
    :class:`~wordexperts.core.gradients.OnePassGradients`, :class:`FusedAdam`, and
    :class:`DropoutMasks` at the block's dropout sites. The keys and targets of every row are
    built once; an epoch gathers them in its shuffled order once and then only slices.

    A step whose softmax denominators could underflow under the table's normalisation (see
    :meth:`~wordexperts.core.gradients.OnePassGradients.normaliser_ok`) is recomputed through
    autograd and ``masked_logits``, with the module's own dropout; ``fallback_steps`` counts
    them.

    ``clip_grad_norm`` (optional): each step's gradients are scaled to that global L2 norm at
    most before the Adam update (:func:`clip_gradients_`). A step whose loss is not finite
    raises :class:`TrainingDivergedError` before its update. A model the step does not cover
    is refused (a ``ValueError`` with the reason); :func:`self_check` is the caller's to run.
    """

    def __init__(
        self,
        model: MaskedLanguageModel,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        *,
        lr: float,
        eps: float,
        weights: torch.Tensor | None = None,
        clip_grad_norm: float | None = None,
        world: Distributed | None = None,
    ):
        self.model, self.tokens, self.positions, self.weights = model, tokens, positions, weights
        self.clip_grad_norm = clip_grad_norm
        self.world = Distributed() if world is None else world
        self.step = OnePassGradients(
            model, length=tokens.shape[1], positions=positions, words=observed_words(model, tokens), weights=weights
        )
        self.keys = self.targets = None  # a large or compact table: each batch's keys built as it comes
        if tokens.dtype == torch.long and tokens.shape[0] * (tokens.shape[1] + positions.numel()) <= KEYS_AT_ONCE:
            self.keys = self.step.keys(tokens)  # (N, L + P)
            self.targets = tokens[:, positions].contiguous()  # (N, P)
        self.adam = FusedAdam(self.step.parameters, lr=lr, eps=eps)
        c = model.config
        rate = c.dropout if c.block == "bert" else 0.0
        self.masks = DropoutMasks(rate, dtype=self.step.parameters[0].dtype, device=tokens.device) if rate else None
        self.fallback_steps = 0
        self.pieces = 1  # pieces a step's rows are computed in: doubled each time the device runs out of memory

    def epoch(
        self, order: torch.Tensor, batch_size: int, *, learning_rate=None, start: int = 0, total: float = 0.0,
        after_step=None,
    ) -> float:
        """One pass over the rows in ``order`` ``(N,)``; returns the mean loss over masked slots.

        ``learning_rate`` (a :class:`~wordexperts.train.LearningRate`), if given, sets every step's rate.
        ``start`` steps of the pass were taken already, with summed loss ``total`` (a resumed run);
        ``after_step(number, total)``, if given, runs after each step's update (1-based ``number``).
        """
        self.model.train()
        if self.keys is not None:  # gathered in the epoch's order once, then sliced
            keys, targets = self.keys.index_select(0, order), self.targets.index_select(0, order)  # (N, L+P), (N, P)
        n, P = order.numel(), self.positions.numel()
        for number, begin in enumerate(range(start * batch_size, n, batch_size), start + 1):
            if learning_rate is not None:
                self.adam.lr = learning_rate.next()
            batch = order[begin : begin + batch_size]
            if self.keys is not None:
                batch_keys, batch_targets = keys[begin : begin + batch_size], targets[begin : begin + batch_size]
            else:
                rows = self.tokens[batch].long()  # (B, L)
                batch_keys, batch_targets = self.step.keys(rows), rows[:, self.positions]
            total += self._step(batch_keys, batch_targets, batch, number)
            if after_step is not None:
                after_step(number, total)
        return total / (n * P)

    def _step(self, keys, targets, batch, number) -> float:
        """Step ``number``: the rows ``batch`` ``(B,)``, whose keys ``(B, L + P)`` and targets ``(B, P)``
        these are; returns the summed loss.

        Over processes (``world``), this rank computes its :func:`~wordexperts.distributed.shard`
        of the batch, with its part of the whole batch's dropout masks, and the gradients and
        loss are summed over the ranks before the checks and the update, as one process makes them.
        """
        step, world = self.step, self.world
        d, P, rows = self.model.config.d_model, self.positions.numel(), batch.numel()
        part, count = shard_part(rows, world)  # this rank's rows of the batch: all of them in one process
        # Inference mode: no autograd bookkeeping at all, ~8% off a step of tiny operations.
        with torch.inference_mode():
            dropout = None if self.masks is None else self.masks(2, d, rows, P)  # (2, d, B, P)
            if world.active:
                dropout = None if dropout is None else dropout[:, :, part]
            while True:
                try:
                    loss, smallest, grads = self._gradients(keys[part], targets[part], dropout)
                    break
                except torch.cuda.OutOfMemoryError:  # the same step in twice the pieces
                    self.pieces = out_of_memory(self.pieces, part.stop - part.start, self.tokens.device)
            if step.normaliser_ok(smallest):  # False where the table holds a NaN: the autograd step names it
                tensors = [grads[name] for name in step.names]
                value = all_reduce_gradients_(
                    tensors, world, count=count * P, total=rows * P, reduction="mean", loss_sum=loss
                )
                if not math.isfinite(value):
                    raise diverged(value, step=number)
                if self.clip_grad_norm is not None:
                    clip_gradients_(tensors, self.clip_grad_norm)
                self.adam.step(tensors)
                return value
        return self._autograd_step(batch, number)

    def _gradients(self, keys, targets, dropout):
        """The step's ``(summed loss, smallest weight, gradients of the mean)`` over these rows, in
        ``self.pieces`` pieces (one, unless the device ran out of memory): the same sums, piece by piece."""
        if self.pieces == 1:
            return self.step(keys, targets, dropout)
        rows, total, smallest, summed = keys.shape[0], 0.0, None, None
        for piece in torch.arange(rows).tensor_split(self.pieces):
            if piece.numel() == 0:
                continue
            cut = slice(int(piece[0]), int(piece[-1]) + 1)
            loss, low, grads = self.step(keys[cut], targets[cut], None if dropout is None else dropout[:, :, cut])
            share = (cut.stop - cut.start) / rows  # a piece's mean gradient, weighed by its rows
            total += float(loss)
            smallest = low if smallest is None else torch.minimum(torch.as_tensor(smallest), torch.as_tensor(low))
            if summed is None:
                summed = {name: g * share for name, g in grads.items()}
            else:
                for name, g in grads.items():
                    summed[name].add_(g, alpha=share)
        return total, smallest, summed

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """What a checkpoint keeps of this road: Adam's moments and step count, the dropout stream, fallbacks."""
        tensors = {"steps": self.adam.steps.clone()}
        for i, (m, v) in enumerate(zip(self.adam.exp_avg, self.adam.exp_avg_sq, strict=True)):
            tensors[f"exp_avg.{i}"], tensors[f"exp_avg_sq.{i}"] = m.clone(), v.clone()
        document = {"fallback_steps": self.fallback_steps, "dropout": None}
        if self.masks is not None and self.masks.device.type == "cpu":
            document["dropout"] = self.masks._bits.state
        return tensors, document

    def load_state(self, tensors: dict[str, torch.Tensor], document: dict) -> None:
        """Set the state :meth:`state` gave (moments copied into the tensors the fused update holds)."""
        with torch.no_grad():
            self.adam.steps.copy_(tensors["steps"])
            for i, (m, v) in enumerate(zip(self.adam.exp_avg, self.adam.exp_avg_sq, strict=True)):
                m.copy_(tensors[f"exp_avg.{i}"])
                v.copy_(tensors[f"exp_avg_sq.{i}"])
        self.fallback_steps = int(document["fallback_steps"])
        if document.get("dropout") is not None:
            self.masks._bits.state = document["dropout"]

    def _autograd_step(self, index: torch.Tensor, number: int) -> float:
        """Step ``number`` of an epoch through autograd and ``masked_logits``; returns the summed loss."""
        model, world, P = self.model, self.world, self.positions.numel()
        model.zero_grad(set_to_none=True)
        mine = shard(index, world)
        with shared_dropout(model, world, mine):
            rows = self.tokens[mine.index].long()  # (b, L)
            loss = model.mlm_loss_at(rows, self.positions, weights=self.weights, method="one_pass")
        loss.backward()
        value = all_reduce_module_gradients_(
            model, world, count=mine.count * P, total=mine.rows * P, reduction="mean",
            loss_sum=loss.item() * (mine.count * P),
        )
        if not math.isfinite(value):
            raise diverged(value, step=number)
        named = dict(model.named_parameters())
        with torch.inference_mode():
            grads = [named[name].grad for name in self.step.names]
            if self.clip_grad_norm is not None:
                clip_gradients_(grads, self.clip_grad_norm)
            self.adam.step(grads)
        model.zero_grad(set_to_none=True)
        self.fallback_steps += 1
        return value


def out_of_memory(pieces: int, rows: int, device: torch.device) -> int:
    """After a step ran out of device memory: twice the ``pieces``, with a warning (an error past one row each)."""
    if pieces >= rows:
        raise torch.cuda.OutOfMemoryError(
            f"a training step ran out of memory on {device} even one row at a time: the model is too large for it"
        )
    if device.type == "cuda":
        torch.cuda.empty_cache()
    warnings.warn(
        f"a training step ran out of memory on {device}: its batch of {rows} rows now goes in {2 * pieces} pieces "
        f"of about {math.ceil(rows / (2 * pieces))} rows (the same step, summed piece by piece; slower). A smaller "
        f"batch_size avoids it",
        RuntimeWarning, stacklevel=4,
    )
    return 2 * pieces


KEYS_AT_ONCE = 1 << 26  # (row, key) pairs up to which OnePassTraining builds every row's keys once (512 MB)
TABLE_CHUNK = 1 << 20  # rows of a large table read at a time where a whole-table pass is needed


SELF_CHECK_ROWS = 16  # rows of the batch self_check compares on
SELF_CHECK_RTOL = 1e-8  # float64 rounding leaves ~1e-14; a wrong derivative is off by far more


def self_check(
    model: MaskedLanguageModel,
    tokens: torch.Tensor,
    positions: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    rows: int = SELF_CHECK_ROWS,
) -> str | None:
    """How the hand-derived gradients differ from autograd's on ``model``, or ``None`` when they agree.

    A float64 copy of ``model`` computes the loss and gradients of the first ``rows`` rows of
    ``tokens`` ``(N, L)`` (checked, on the model's device) at ``positions`` ``(P,)`` both ways,
    with dropout off; every gradient must match autograd's within ``SELF_CHECK_RTOL`` of the
    largest one (the loss, of itself). It catches what :func:`fast_road_refusal`'s list cannot
    see, such as a method changed on a module's class. The model, its gradients and the random
    state are left as they were; it costs one small step each way, once per training run.
    There is nothing to compare (``None``) where autograd's own loss or gradients are not
    finite (training then stops at its first step on either road), nor where the batch's
    softmax could underflow under the step's normalisation (training takes autograd for such
    steps: :class:`OnePassTraining`).

    Examples:
        >>> from wordexperts import BidirectionalAttention
        >>> model = BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2, block="bert")
        >>> self_check(model, torch.randint(0, 6, (32, 4)), torch.arange(4)) is None
        True
    """
    twin = copy.deepcopy(model).to(torch.float64).eval()  # eval: no dropout (the step gets no masks)
    twin.zero_grad(set_to_none=True)
    batch = tokens[:rows].long()
    step = OnePassGradients(
        twin, length=batch.shape[1], positions=positions, words=observed_words(twin, batch), weights=weights
    )
    with torch.no_grad():
        loss, smallest, grads = step(step.keys(batch), batch[:, positions])
    if not step.normaliser_ok(smallest):
        return None  # training takes autograd for such a step anyway (OnePassTraining.fallback_steps)
    with torch.enable_grad():
        reference = twin.mlm_loss_at(batch, positions, weights=weights, method="one_pass")
        reference.backward()
    named = dict(twin.named_parameters())
    expected = {name: torch.zeros_like(p) if p.grad is None else p.grad for name, p in named.items()}
    reference = float(reference.detach())
    if not math.isfinite(reference) or not all(bool(g.isfinite().all()) for g in expected.values()):
        return None
    loss = float(loss) / (batch.shape[0] * positions.numel())
    if not abs(loss - reference) <= SELF_CHECK_RTOL * abs(reference):
        return f"the hand-derived step's loss is {loss:.12g} on a float64 batch, autograd's {reference:.12g}"
    scale = max(float(g.abs().max()) for g in expected.values())
    for name, g in expected.items():
        off = float((grads.get(name, torch.zeros_like(g)) - g).abs().max())
        if not off <= SELF_CHECK_RTOL * scale:
            return (
                f"the hand-derived gradient of {name} is off autograd's by {off:.3g} on a float64 batch "
                f"(the largest gradient is {scale:.3g}), a step that does not compute this model"
            )
    return None


FAST_KEYS = 1024  # (column, token) keys up to which the hand-derived step beats autograd (measured)


def observed_words(model: MaskedLanguageModel, tokens: torch.Tensor) -> torch.Tensor:
    """The distinct word ids ``column * n_tokens + token`` that ``tokens`` ``(N, L)`` hold: ``(W,)``, sorted.

    Read ``TABLE_CHUNK`` rows at a time, so a large compact table is never copied whole."""
    offsets = torch.arange(tokens.shape[1], device=tokens.device) * model.config.n_tokens
    found = [torch.unique(chunk.long() + offsets) for chunk in tokens.split(TABLE_CHUNK)]
    return torch.unique(torch.cat(found))


def fast_road_refusal(
    model: MaskedLanguageModel, batching: str, masked_logits_kwargs: dict, tokens: torch.Tensor | None = None
) -> str | None:
    """Why :class:`OnePassTraining` cannot run these epochs on ``tokens``, or ``None`` when it can.

    First what the step covers (:func:`~wordexperts.core.gradients.fast_step_refusal`: the
    exact module types and options it lists), then what pays (the size of its key table) and
    what it computes (rows, one-pass logits).
    """
    why_not = fast_step_refusal(model)
    if why_not is not None:
        return why_not
    # Its key table holds every (column, token) pair the rows hold: past ~1000 keys it costs
    # more memory and time than autograd (5 GB and 6x slower at 9,000 words over 8 columns).
    if tokens is None:
        keys, counted = model.config.max_len * model.config.n_tokens, "max_len * n_tokens"
    else:
        keys, counted = observed_words(model, tokens).numel(), "(column, token) pairs in the rows:"
    if keys > FAST_KEYS:
        return f"the hand-derived step tabulates {counted} {keys} keys, more than {FAST_KEYS}"
    if batching != "rows":
        return "the hand-derived step trains with batching='rows'"
    if set(masked_logits_kwargs) - {"method"} or masked_logits_kwargs.get("method", "auto") not in ("auto", "one_pass"):
        return f"the hand-derived step computes method='one_pass' only, got {masked_logits_kwargs}"
    return None
