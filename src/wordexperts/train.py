"""The training loop every model shares: threads, device, seed, progress and history.

Works with any :class:`~wordexperts.core.masking.MaskedLanguageModel` (attention or its word
experts form): minibatches of rows, each row contributing the masked-LM loss of every chosen
position masked alone, Adam.

A single-block attention model trained on rows takes a faster road to the same steps
(:class:`OnePassTraining`): the hand-derived gradients of
:class:`~wordexperts.core.gradients.OnePassGradients` instead of autograd, one fused Adam call
on all parameters instead of ``torch.optim.Adam.step``, dropout masks drawn 32 bits apiece
from numpy's generator, all in inference mode. At the paper's tabular sizes a step costs what
its PyTorch calls cost to dispatch; that road makes 411 a step where autograd makes 1025, and
fits the paper's model in a quarter of the time (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checks import check_positive_int
from .core.gradients import OnePassGradients, fast_step_supported
from .core.masking import MaskedLanguageModel, Positions, check_positions, cross_entropy, expand_masked


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n_threads)``, restoring the old value after.

    On a 2-core machine, more intra-op threads than cores made small training steps 5-40x
    slower, so every entry point sets this deliberately; ``None`` leaves it as it is.
    """
    n_threads = check_positive_int("n_threads", n_threads, optional=True)
    if n_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` (an error if CUDA is absent) or ``"auto"`` (CUDA when available)."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available; use 'cpu' or 'auto'")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    return torch.device(device)


def make_optimizer(model: torch.nn.Module, *, lr: float = 1e-3, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam, fused where this PyTorch build supports it (about 4x less overhead per step on CPU)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, eps=eps, fused=True)
    except (RuntimeError, ValueError, TypeError):  # builds or devices without a fused kernel
        return torch.optim.Adam(model.parameters(), lr=lr, eps=eps)


class EarlyStopping:
    """Keeps the weights of the epoch with the lowest validation loss, and says when to stop.

    Call :meth:`update` once per epoch with that epoch's validation loss; it returns ``True``
    once ``patience`` epochs have passed without a loss below the best by more than
    ``min_delta``. :meth:`restore` then loads the best epoch's weights. Every training loop of
    the project (the estimators', the peers' transformers') stops through this one object.

    Examples:
        >>> model = nn.Linear(1, 1)
        >>> stopping = EarlyStopping(patience=2)
        >>> [stopping.update(loss, model) for loss in (1.0, 0.5, 0.7, 0.6)]
        [False, False, False, True]
        >>> stopping.best_epoch, stopping.best_loss
        (2, 0.5)
    """

    def __init__(self, patience: int, *, min_delta: float = 0.0) -> None:
        self.patience = check_positive_int("patience", patience)
        self.min_delta = float(min_delta)
        self.epochs = 0  # updates seen
        self.best_epoch = 0  # 1-based; 0 until a loss improves
        self.best_loss = math.inf
        self._best_state: dict[str, torch.Tensor] | None = None

    def update(self, loss: float, model: nn.Module) -> bool:
        """Record one epoch's validation loss (keeping the weights if it is the best); ``True``: stop."""
        self.epochs += 1
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = float(loss), self.epochs
            self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self.epochs - self.best_epoch >= self.patience

    def restore(self, model: nn.Module) -> bool:
        """Load the best epoch's weights into ``model``; ``False`` when no epoch improved."""
        if self._best_state is None:
            return False
        model.load_state_dict(self._best_state)
        return True


@dataclass
class TrainingHistory:
    """Mean training loss and wall-clock seconds of each epoch."""

    loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def train_epoch(
    model: MaskedLanguageModel,
    optimizer: torch.optim.Optimizer,
    tokens: torch.Tensor,
    *,
    batch_size: int,
    generator: torch.Generator,
    positions: Positions = None,
    batching: Literal["rows", "copies"] = "rows",
    **masked_logits_kwargs,
) -> float:
    """One shuffled pass over ``tokens`` ``(N, L)``; returns the mean loss over masked slots.

    ``batching="rows"``: a step takes ``batch_size`` rows, each with every position in
    ``positions`` masked in turn (through ``masked_logits``, one pass for a single block).
    ``batching="copies"``: the paper's recipe, for models with a ``forward``: every row is
    copied once per position with that position masked, the ``N * P`` copies are shuffled
    together, and a step takes ``batch_size`` copies.

    This is the autograd road, with any ``optimizer``; :func:`train_mlm` takes the same rows
    steps through :class:`OnePassTraining` where it applies.
    """
    check_positive_int("batch_size", batch_size)
    model.train()
    tokens = model.check_tokens(tokens)
    p = check_positions(positions, tokens.shape[1], tokens.device)
    if batching == "copies":
        if type(model).forward is nn.Module.forward:
            raise ValueError(
                f"batching='copies' runs masked copies through the model's forward pass, which "
                f"{type(model).__name__} does not have; use batching='rows'"
            )
        N, L = tokens.shape
        copies = expand_masked(tokens, p, model.config.mask_token).reshape(N * p.numel(), L)  # (N*P, L)
        slots = p.repeat(N)  # (N*P,): the masked position of each copy
        targets = tokens[:, p].reshape(-1)  # (N*P,)
    elif batching != "rows":
        raise ValueError(f"batching must be 'rows' or 'copies', got {batching!r}")
    n = tokens.shape[0] if batching == "rows" else copies.shape[0]
    order = torch.randperm(n, generator=generator).to(tokens.device)
    total = 0.0
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        if batching == "rows":
            loss = model.mlm_loss_at(tokens[index], p, **masked_logits_kwargs)  # checked once, above
        else:
            logits = model(copies[index])  # (b, L, V)
            loss = cross_entropy(logits[torch.arange(index.numel()), slots[index]], targets[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * index.numel()
    return total / n


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
    """

    def __init__(self, model: MaskedLanguageModel, tokens: torch.Tensor, positions: torch.Tensor, *, lr: float, eps: float):
        self.model, self.tokens, self.positions = model, tokens, positions
        self.step = OnePassGradients(model, length=tokens.shape[1], positions=positions)
        self.keys = self.step.keys(tokens)  # (N, L + P)
        self.targets = tokens[:, positions].contiguous()  # (N, P)
        self.adam = FusedAdam(self.step.parameters, lr=lr, eps=eps)
        c = model.config
        rate = c.dropout if c.block == "bert" else 0.0
        self.masks = DropoutMasks(rate, dtype=self.step.parameters[0].dtype, device=tokens.device) if rate else None
        self.fallback_steps = 0

    def epoch(self, order: torch.Tensor, batch_size: int) -> float:
        """One pass over the rows in ``order`` ``(N,)``; returns the mean loss over masked slots."""
        self.model.train()
        step, names = self.step, self.step.names
        keys, targets = self.keys.index_select(0, order), self.targets.index_select(0, order)  # (N, L + P), (N, P)
        d, P, n = self.model.config.d_model, self.positions.numel(), order.numel()
        total = 0.0
        for start in range(0, n, batch_size):
            # Inference mode: no autograd bookkeeping at all, ~8% off a step of tiny operations.
            with torch.inference_mode():
                dropout = None if self.masks is None else self.masks(2, d, min(batch_size, n - start), P)  # (2, d, B, P)
                loss, smallest, grads = step(keys[start : start + batch_size], targets[start : start + batch_size], dropout)
                if step.normaliser_ok(smallest):
                    self.adam.step([grads[name] for name in names])
                    total += loss.item()
                    continue
            total += self._autograd_step(order[start : start + batch_size]).item()
        return total / (n * P)

    def _autograd_step(self, index: torch.Tensor) -> torch.Tensor:
        """The step through autograd and ``masked_logits``; returns the summed loss."""
        model = self.model
        model.zero_grad(set_to_none=True)
        loss = model.mlm_loss_at(self.tokens[index], self.positions, method="one_pass")
        loss.backward()
        grads = dict(model.named_parameters())
        with torch.inference_mode():
            self.adam.step([grads[name].grad for name in self.step.names])
        model.zero_grad(set_to_none=True)
        self.fallback_steps += 1
        return loss.detach() * (index.numel() * self.positions.numel())


FAST_KEYS = 1024  # (column, token) keys up to which the hand-derived step beats autograd (measured)


def _one_pass_training_applies(model: MaskedLanguageModel, batching: str, masked_logits_kwargs: dict) -> str | None:
    """``None`` if :class:`OnePassTraining` can run these epochs, else why not."""
    if not fast_step_supported(model):
        return "the hand-derived step is for a single-block BidirectionalAttention"
    keys = model.config.max_len * model.config.n_tokens
    if keys > FAST_KEYS:
        # Its key table holds every (column, token) pair: past ~1000 keys it costs more memory
        # and time than autograd (5 GB and 6x slower at a 9,000-word vocabulary over 8 columns).
        return f"the hand-derived step tabulates max_len * n_tokens = {keys} keys, more than {FAST_KEYS}"
    if batching != "rows":
        return "the hand-derived step trains with batching='rows'"
    if set(masked_logits_kwargs) - {"method"} or masked_logits_kwargs.get("method", "auto") not in ("auto", "one_pass"):
        return f"the hand-derived step computes method='one_pass' only, got {masked_logits_kwargs}"
    return None


def train_mlm(
    model: MaskedLanguageModel,
    tokens: object,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    eps: float = 1e-8,
    positions: Positions = None,
    batching: Literal["rows", "copies"] = "rows",
    seed: int = 0,
    device: str | torch.device | None = None,
    n_threads: int | None = None,
    progress: bool = False,
    callback: Callable[[int, float], bool | None] | None = None,
    fast: bool | None = None,
    **masked_logits_kwargs,
) -> TrainingHistory:
    """Fit ``model`` in place with Adam on the masked-LM loss of ``positions`` (all by default).

    ``tokens`` is ``(N, L)``. ``seed`` drives the shuffling of rows (or, with
    ``batching="copies"``, of masked copies: see :func:`train_epoch`) and dropout, inside a
    forked random state, so two runs from the same initial weights give the same losses on
    CPU and the caller's global random state is left as it was. ``device`` (``"cpu"``,
    ``"cuda"``, ``"auto"``; default: where the model is) moves the model there. Extra keyword
    arguments go to ``masked_logits`` (for attention, ``method="one_pass"`` or ``"expand"``).
    ``callback(epoch, loss)``, if given, runs after every epoch (0-based) with that epoch's
    mean loss; returning ``True`` stops training there (early stopping lives in the caller).

    ``fast=None`` (default) trains a single-block :class:`BidirectionalAttention` with
    ``batching="rows"`` (and ``method`` absent, ``"auto"`` or ``"one_pass"``) through
    :class:`OnePassTraining`: the same steps with gradients derived by hand, 3-4x faster on
    CPU. With dropout off its losses match the autograd road's to rounding; with dropout on
    they differ by the masks drawn (both seeded). ``fast=True`` insists on it (a
    ``ValueError`` says why it does not apply), ``fast=False`` always takes autograd.

    Examples:
        >>> from wordexperts import BidirectionalAttention
        >>> _ = torch.manual_seed(0)
        >>> model = BidirectionalAttention(vocab_size=4, max_len=3, d_model=8, n_heads=2)
        >>> history = train_mlm(model, torch.randint(0, 4, (64, 3)), epochs=2, batch_size=32)
        >>> len(history.loss)
        2
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if device is not None:
        model.to(resolve_device(device))
    tokens = model.check_tokens(tokens)
    here = tokens.device
    why_not = _one_pass_training_applies(model, batching, masked_logits_kwargs)
    if fast and why_not is not None:
        raise ValueError(f"fast=True: {why_not}")
    fast = why_not is None and fast is not False
    if fast:
        p = check_positions(positions, tokens.shape[1], here)
    else:
        optimizer = make_optimizer(model, lr=lr, eps=eps)
    generator = torch.Generator().manual_seed(seed)
    history = TrainingHistory()
    forked = [here.index if here.index is not None else torch.cuda.current_device()] if here.type == "cuda" else []
    with torch_threads(n_threads), torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)  # dropout
        if fast:
            training = OnePassTraining(model, tokens, p, lr=lr, eps=eps)
        for epoch in tqdm(range(epochs), desc="epochs", disable=not progress, leave=False):
            started = time.perf_counter()
            if fast:  # the same shuffle as train_epoch's
                loss = training.epoch(torch.randperm(tokens.shape[0], generator=generator).to(here), batch_size)
            else:
                loss = train_epoch(
                    model, optimizer, tokens, batch_size=batch_size, generator=generator, positions=positions,
                    batching=batching, **masked_logits_kwargs,
                )
            history.seconds.append(time.perf_counter() - started)
            history.loss.append(loss)
            if callback is not None and callback(epoch, loss):
                break
    return history
