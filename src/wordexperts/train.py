"""The training loop every model shares: threads, device, seed, progress and history.

Works with any :class:`~wordexperts.core.masking.MaskedLanguageModel` (attention or its word
experts form): minibatches of rows, each row contributing the masked-LM loss of every chosen
position masked alone, Adam.

A single-block attention model trained on rows takes a faster road to the same steps, the
hand-derived step of :mod:`wordexperts.fast_step`, wherever that module says it applies and
its gradients agree with autograd's on a float64 batch; :class:`TrainingHistory` records
which road ran and why. On either road a non-finite loss stops training with a
:class:`TrainingDivergedError` naming the epoch and step, and ``clip_grad_norm`` clips the
gradients to a global norm.
"""

from __future__ import annotations

import math
import numbers
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import (
    Checkpoints,
    FitInterrupted,
    InterruptFlag,
    check_fingerprint,
    digest_tensor,
    numpy_state,
    numpy_state_back,
)
from .checks import check_positive_int
from .core.masking import (
    MaskedLanguageModel,
    Positions,
    check_position_weights,
    check_positions,
    cross_entropy,
    expand_masked,
)
from .distributed import (
    Distributed,
    all_reduce_module_gradients_,
    broadcast_,
    rank_zero_decides,
    rank_zero_writes,
    shard,
    shared_dropout,
)
from .errors import ConfigError
from .fast_step import (  # TrainingDivergedError: both roads raise it, and this module is its public home
    TABLE_CHUNK,
    OnePassTraining,
    TrainingDivergedError,
    diverged,
    fast_road_refusal,
    out_of_memory,
    self_check,
)

CallerState = tuple[
    Callable[[], tuple[dict[str, torch.Tensor], dict]], Callable[[dict[str, torch.Tensor], dict], None]
]  # (save, load) of a caller's state kept in checkpoints: train_mlm(caller_state=)


_THREADS = threading.Lock()  # guards the count of open torch_threads blocks and the count to restore
_open_blocks = 0
_outer_threads = 1


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n_threads)``, restoring the old value after.

    On a 2-core machine, more intra-op threads than cores made small training steps 5-40x
    slower, so every entry point sets this deliberately; ``None`` leaves it as it is.

    Safe from many threads at once (a service predicting concurrently): the count found when
    the first of the overlapping blocks opened is the one restored when the last closes. (Each
    block setting and restoring its own lost that race: a block would "restore" the count
    another had just set, and the process kept it.)
    """
    global _open_blocks, _outer_threads
    n_threads = check_positive_int("n_threads", n_threads, optional=True)
    if n_threads is None:
        yield
        return
    with _THREADS:
        before = torch.get_num_threads()
        if _open_blocks == 0:
            _outer_threads = before
        _open_blocks += 1
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        with _THREADS:
            _open_blocks -= 1
            torch.set_num_threads(_outer_threads if _open_blocks == 0 else before)  # before: a nested block's


def resolve_device(device: str | torch.device, *, warn: bool = True) -> torch.device:
    """``"cpu"``, ``"cuda"`` (an error if CUDA is absent) or ``"auto"`` (CUDA when available).

    ``"auto"`` on a machine without CUDA (or a torch build without it) gives the CPU, with a
    ``RuntimeWarning`` saying so unless ``warn=False``.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if warn:
            warnings.warn(
                "device='auto': no CUDA GPU here (or this torch build has no CUDA), so this runs on the CPU",
                RuntimeWarning, stacklevel=2,
            )
        return torch.device("cpu")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} was asked for but CUDA is not available; use 'cpu' or 'auto'")
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

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """What a checkpoint keeps: the best epoch's weights, and the counts (a JSON document)."""
        tensors = {} if self._best_state is None else {f"best.{k}": v for k, v in self._best_state.items()}
        best_loss = self.best_loss if math.isfinite(self.best_loss) else None  # JSON has no infinity
        return tensors, {"epochs": self.epochs, "best_epoch": self.best_epoch, "best_loss": best_loss}

    def load_state(self, tensors: dict[str, torch.Tensor], document: dict) -> None:
        """Set the state :meth:`state` gave."""
        self.epochs, self.best_epoch = int(document["epochs"]), int(document["best_epoch"])
        self.best_loss = math.inf if document["best_loss"] is None else float(document["best_loss"])
        best = {k.removeprefix("best."): v for k, v in tensors.items() if k.startswith("best.")}
        self._best_state = best or None

    def restore(self, model: nn.Module) -> bool:
        """Load the best epoch's weights into ``model``; ``False`` when no epoch improved."""
        if self._best_state is None:
            return False
        model.load_state_dict(self._best_state)
        return True


class LearningRate:
    """The learning rate of each optimizer step: ``"constant"``, or ``"cosine"`` decay to zero.

    ``"cosine"`` runs half a cosine from ``lr`` at the first step to zero after
    ``total_steps`` (the epoch budget's steps): early stopping may end training before, at a
    learning rate still well above zero. :meth:`next` gives the next step's rate.

    Examples:
        >>> rate = LearningRate(1.0, schedule="cosine", total_steps=4)
        >>> [round(rate.next(), 3) for _ in range(5)]
        [1.0, 0.854, 0.5, 0.146, 0.0]
    """

    SCHEDULES = ("constant", "cosine")

    def __init__(self, lr: float, *, schedule: str = "constant", total_steps: int | None = None) -> None:
        if schedule not in self.SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {self.SCHEDULES}, got {schedule!r}")
        if schedule == "cosine":
            check_positive_int("total_steps", total_steps)
        self.lr, self.schedule, self.total_steps = float(lr), schedule, total_steps
        self.steps = 0  # steps taken so far

    def next(self) -> float:
        """The rate of the next step (and count it)."""
        t, self.steps = self.steps, self.steps + 1
        if self.schedule == "constant":
            return self.lr
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * min(t, self.total_steps) / self.total_steps))


@dataclass
class TrainingHistory:
    """Mean training loss and wall-clock seconds of each epoch, and the road the steps took.

    ``road`` is ``"fast"`` (the hand-derived step, :mod:`wordexperts.fast_step`) or
    ``"autograd"``; ``road_reason`` says why (that the fast step covers the model and matched
    autograd on a float64 batch; or why it was refused, or how it failed that self-check, or
    ``fast=False``); ``fallback_steps`` counts the fast road's steps that went through autograd
    because their softmax could underflow. ``resumed_from``: where a run resumed from a
    checkpoint went on (1-based epoch, and steps of it already taken), else ``None``.
    """

    loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    road: str = "autograd"
    road_reason: str | None = None
    fallback_steps: int = 0
    resumed_from: dict | None = None  # {"epoch", "step"} (1-based; step 0: at the epoch's start) of a resumed run


def train_epoch(
    model: MaskedLanguageModel,
    optimizer: torch.optim.Optimizer,
    tokens: torch.Tensor,
    *,
    batch_size: int,
    generator: torch.Generator,
    positions: Positions = None,
    batching: Literal["rows", "copies"] = "rows",
    learning_rate: LearningRate | None = None,
    weights: torch.Tensor | None = None,
    row_weights: torch.Tensor | None = None,
    clip_grad_norm: float | None = None,
    order: torch.Tensor | None = None,
    start: int = 0,
    total: float = 0.0,
    after_step: Callable[[int, float], None] | None = None,
    world: Distributed | None = None,
    **masked_logits_kwargs,
) -> float:
    """One shuffled pass over ``tokens`` ``(N, L)``; returns the mean loss over masked slots.

    ``batching="rows"``: a step takes ``batch_size`` rows, each with every position in
    ``positions`` masked in turn (through ``masked_logits``, one pass for a single block).
    ``batching="copies"``: the paper's recipe, for models with a ``forward``: every row is
    copied once per position with that position masked, the ``N * P`` copies are shuffled
    together, and a step takes ``batch_size`` copies.

    This is the autograd road, with any ``optimizer``; :func:`train_mlm` takes the same rows
    steps through :class:`OnePassTraining` where it applies. ``learning_rate``, if given, sets
    every step's rate. ``row_weights`` ``(N,)`` (rows only): the epoch's rows are drawn with
    replacement, in proportion to them (:func:`epoch_order`). ``clip_grad_norm``, if given,
    clips each step's gradients to that global L2 norm (``torch.nn.utils.clip_grad_norm_``).
    A step whose loss is not finite raises :class:`TrainingDivergedError` before its update.

    ``order``, if given, is the epoch's order of rows (or copies) instead of a fresh draw from
    ``generator``; ``start`` steps of it were taken already, with summed loss ``total`` (a
    resumed run); ``after_step(number, total)``, if given, runs after each step's update.
    ``world`` (:class:`~wordexperts.distributed.Distributed`): over processes, this rank
    computes its shard of each batch and the ranks sum gradients and losses before the step.
    """
    check_positive_int("batch_size", batch_size)
    world = Distributed() if world is None else world
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
    if weights is not None and batching != "rows":
        raise ValueError("position weights need batching='rows'")
    if row_weights is not None and batching != "rows":
        raise ValueError("row weights need batching='rows'")
    n = tokens.shape[0] if batching == "rows" else copies.shape[0]
    if order is None:
        order = epoch_order(n, generator, row_weights).to(tokens.device)
    pieces = 1  # pieces a step's rows are computed in: doubled each time the device runs out of memory
    for number, begin in enumerate(range(start * batch_size, n, batch_size), start + 1):
        index = order[begin : begin + batch_size]

        def loss_of(rows: torch.Tensor) -> torch.Tensor:  # the mean loss over these rows' (or copies') slots
            if batching == "rows":
                return model.mlm_loss_at(tokens[rows].long(), p, weights=weights, **masked_logits_kwargs)  # checked
            logits = model(copies[rows])  # (b, L, V)
            return cross_entropy(logits[torch.arange(rows.numel()), slots[rows]], targets[rows])

        if not world.active:
            while True:
                try:
                    value = _backward_in_pieces(loss_of, index, pieces, optimizer, number)
                    break
                except torch.cuda.OutOfMemoryError:  # the same step in twice the pieces
                    pieces = out_of_memory(pieces, index.numel(), tokens.device)
        else:  # the ranks' gradients and losses summed: the whole batch's, on every rank, before the checks
            mine = shard(index, world)  # this rank's rows of the batch
            with shared_dropout(model, world, mine):
                loss = loss_of(mine.index)
            units = p.numel() if batching == "rows" else 1  # masked slots a row stands for
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            value = all_reduce_module_gradients_(
                model, world, count=mine.count * units, total=mine.rows * units, reduction="mean",
                loss_sum=loss.item() * mine.count * units,
            ) / (mine.rows * units)
            if not math.isfinite(value):
                raise diverged(value, step=number)
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        if learning_rate is not None:
            rate = learning_rate.next()
            for group in optimizer.param_groups:
                group["lr"] = rate
        optimizer.step()
        total += value * index.numel()
        if after_step is not None:
            after_step(number, total)
    return total / n


def _backward_in_pieces(
    loss_of: Callable[[torch.Tensor], torch.Tensor], index: torch.Tensor, pieces: int,
    optimizer: torch.optim.Optimizer, number: int,
) -> float:
    """The gradient of the mean loss over ``index``'s rows, left in ``.grad``, computed in ``pieces``
    pieces (each piece's loss weighed by its share of the rows); returns the mean loss. A loss
    that is not finite raises :class:`TrainingDivergedError` (step ``number``) before any update."""
    optimizer.zero_grad(set_to_none=True)
    if pieces == 1:
        loss = loss_of(index)
        value = loss.item()
        if not math.isfinite(value):
            raise diverged(value, step=number)
        loss.backward()
        return value
    value = 0.0
    for piece in index.tensor_split(pieces):
        if piece.numel() == 0:
            continue
        share = piece.numel() / index.numel()
        loss = loss_of(piece)
        part = loss.item()
        if not math.isfinite(part):
            raise diverged(part, step=number)
        (loss * share).backward()
        value += part * share
    return value


def token_table(model: MaskedLanguageModel, tokens: object) -> torch.Tensor:
    """``tokens`` ``(N, L)`` checked (:meth:`~wordexperts.core.masking.MaskedLanguageModel.check_tokens`)
    and on the model's device: int64, or a compact table kept in its own dtype.

    A table of a narrower integer dtype (uint8, int16, int32: what
    :func:`~wordexperts.tabular.stream.encode_dataset` writes, memory-mapped, say) is checked
    ``TABLE_CHUNK`` rows at a time and kept as it is; training reads each batch's rows from it
    as int64. So 20 million rows of 16 columns take 640 MB as int16, not 2.5 GB.
    """
    if isinstance(tokens, np.ndarray) and np.issubdtype(tokens.dtype, np.integer) and tokens.dtype.itemsize < 8:
        if tokens.dtype == np.uint16:
            tokens = tokens.astype(np.int32)  # torch has no uint16 arithmetic
        tokens = torch.from_numpy(np.ascontiguousarray(tokens))
    if not (isinstance(tokens, torch.Tensor) and tokens.dim() == 2 and tokens.dtype in COMPACT_TOKENS):
        return model.check_tokens(tokens)
    for start in range(0, tokens.shape[0], TABLE_CHUNK):
        try:
            model.check_tokens(tokens[start : start + TABLE_CHUNK])
        except ValueError as error:  # name the row in the whole table, not in the chunk
            where = re.sub(r"at row (\d+)", lambda m: f"at row {int(m.group(1)) + start}", str(error))
            raise type(error)(where) from None
    return tokens.to(next(model.parameters()).device)


COMPACT_TOKENS = (torch.uint8, torch.int8, torch.int16, torch.int32)


def epoch_order(n: int, generator: torch.Generator, row_weights: torch.Tensor | None = None) -> torch.Tensor:
    """An epoch's order of ``n`` rows ``(n,)``: a shuffle, or with ``row_weights`` ``(n,)`` ``n``
    draws with replacement, each row in proportion to its weight (so each step's expected
    gradient is that of the weighted loss, and a row of weight 0 is never drawn)."""
    if row_weights is None:
        return torch.randperm(n, generator=generator)
    cdf = torch.cumsum(row_weights.double().cpu(), 0)  # (n,); no category limit, unlike torch.multinomial
    u = torch.rand(n, generator=generator, dtype=torch.float64) * cdf[-1]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=n - 1)  # weight-0 rows have no interval


def check_row_weights(row_weights: object, n_rows: int) -> torch.Tensor | None:
    """``row_weights`` as a float64 ``(n_rows,)`` tensor of finite non-negative weights, not all zero."""
    if row_weights is None:
        return None
    w = torch.as_tensor(row_weights, dtype=torch.float64).cpu()
    if w.shape != (n_rows,):
        raise ValueError(f"row_weights must have shape ({n_rows},), one weight per row, got {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError("row_weights must be finite and non-negative")
    if not bool((w > 0).any()):
        raise ValueError("row_weights are all zero: no row to train on")
    return w


def train_mlm(
    model: MaskedLanguageModel | Sequence[MaskedLanguageModel],
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
    status: Callable[[], Mapping[str, object]] | None = None,
    lr_schedule: str = "constant",
    position_weights: object = None,
    row_weights: object = None,
    fast: bool | None = None,
    clip_grad_norm: float | None = None,
    checkpoints: Checkpoints | None = None,
    caller_state: CallerState | None = None,
    world: Distributed | None = None,
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
    ``status()``, if given, is shown on the progress bar after each epoch (say, the validation
    loss and the best epoch). ``lr_schedule`` (:class:`LearningRate`): ``"constant"`` or
    ``"cosine"`` decay to zero over the ``epochs`` budget. ``position_weights`` ``(P,)``
    weighs each position's loss (``mlm_loss_at(weights=)``; ``batching="rows"`` only).
    ``row_weights`` ``(N,)`` weighs the rows: each epoch draws ``N`` rows with replacement in
    proportion to them (:func:`epoch_order`; ``batching="rows"`` only).

    ``model`` may be a list of members (an ensemble): each epoch every member makes its own
    pass over the same rows (on the fast road, in the same shuffled order), each with its own
    Adam and dropout; the history and ``callback`` see the members' mean loss. On a CPU this
    costs ``k`` times one model: at tabular sizes a step is compute-bound, and a member axis
    through ``torch.func.vmap`` measured slower than the members' own fast steps
    (``wordexperts bench members``).

    ``fast=None`` (default) trains a single-block :class:`BidirectionalAttention` with
    ``batching="rows"`` (and ``method`` absent, ``"auto"`` or ``"one_pass"``) through
    :class:`OnePassTraining`: the same steps with gradients derived by hand, 3-4x faster on
    CPU. With dropout off its losses match the autograd road's to rounding; with dropout on
    they differ by the masks drawn (both seeded). It takes that road only for the exact
    modules and options it lists (:func:`~wordexperts.fast_step.fast_road_refusal`: a GELU in
    place of the feed-forward ReLU, say, goes through autograd), and only once its gradients
    have matched autograd's on one float64 batch (:func:`~wordexperts.fast_step.self_check`;
    where they do not, a warning says so and training takes autograd). ``fast=True`` insists
    on it (a ``ValueError`` says why it does not apply), ``fast=False`` always takes autograd.
    The history's ``road`` and ``road_reason`` say which road ran and why.

    ``clip_grad_norm`` (default ``None``: no clipping) scales each step's gradients to that
    global L2 norm at most, as ``torch.nn.utils.clip_grad_norm_``, on both roads. A step whose
    loss is NaN or infinite stops training with a :class:`TrainingDivergedError` (a
    ``FloatingPointError``) naming the epoch and step, before that step's update.

    ``checkpoints`` (a :class:`~wordexperts.checkpoints.Checkpoints`), if given, writes the
    run's whole state to one file every so many steps or seconds, and with ``resume=True``
    goes on from it: the run then takes the very steps it would have taken uninterrupted
    (bitwise, on CPU with the same threads). ``caller_state``: a pair ``(save, load)`` that
    adds the caller's own state to each checkpoint (``save() -> (tensors, document)``, a JSON
    document) and sets it back on resume (``load(tensors, document)``), before the first step.
    Ctrl-C (in the main thread) stops training at the next step boundary, writes a checkpoint
    if there are ``checkpoints``, and raises :class:`~wordexperts.checkpoints.FitInterrupted`
    (a ``KeyboardInterrupt``) saying where it stopped; a second Ctrl-C interrupts at once.

    ``world`` (:class:`~wordexperts.distributed.Distributed`, say ``from_environment()`` under
    ``torchrun``): data-parallel training over processes. Every rank holds the model and all
    of ``tokens`` and draws the same shuffles; each computes its part of every batch, the
    ranks sum their gradients and losses, and all take the same step, so the run equals one
    process's to float rounding (docs/distributed.md). Rank 0 alone writes checkpoints;
    stopping decisions are rank 0's. ``None``: one process.

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
    if clip_grad_norm is not None and (
        isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, numbers.Real)
        or not 0 < clip_grad_norm < math.inf
    ):
        raise ConfigError(f"clip_grad_norm must be a positive number or None, got {clip_grad_norm!r}")
    world = Distributed() if world is None else world
    members = list(model) if isinstance(model, (list, tuple, nn.ModuleList)) else [model]
    if not members:
        raise ValueError("train_mlm needs a model, or a non-empty list of members")
    if device is not None:
        for member in members:
            member.to(resolve_device(device))
    tokens = token_table(members[0], tokens)
    if batching == "copies":
        tokens = tokens.long()
    here = tokens.device
    refusals = (fast_road_refusal(member, batching, masked_logits_kwargs, tokens) for member in members)
    why_not = next((why for why in refusals if why), None)
    if fast and why_not is not None:
        raise ConfigError(f"fast=True: {why_not}")
    p = check_positions(positions, tokens.shape[1], here)
    weights = None if position_weights is None else check_position_weights(position_weights, p, name="position_weights")
    row_weights = check_row_weights(row_weights, tokens.shape[0])
    if row_weights is not None and batching != "rows":
        raise ValueError("row_weights need batching='rows'")
    history = TrainingHistory(road_reason="fast=False" if fast is False else why_not)
    rows = tokens.shape[0] * (p.numel() if batching == "copies" else 1)  # what an epoch's order orders
    per_epoch = math.ceil(rows / batch_size)
    resumed = None
    if checkpoints is not None:
        fingerprint = {
            "rows_digest": digest_tensor(tokens), "model": [repr(m.config) for m in members], "epochs": epochs,
            "batch_size": batch_size, "lr": lr, "eps": eps, "seed": seed, "batching": batching,
            "positions": p.tolist(), "lr_schedule": lr_schedule, "fast": fast, "clip_grad_norm": clip_grad_norm,
            "position_weights": None if weights is None else weights.tolist(),
            "row_weights": None if row_weights is None else digest_tensor(row_weights),
            "masked_logits": repr(sorted(masked_logits_kwargs.items())), "threads": torch.get_num_threads()
            if n_threads is None else n_threads, "processes": world.world_size,
        }
        resumed = checkpoints.read() if checkpoints.resume else None
        if resumed is not None:
            check_fingerprint(resumed[1]["fingerprint"], fingerprint, checkpoints.path)
            saved, document = _by_prefix(resumed[0]), resumed[1]
            for m, member in enumerate(members):
                member.load_state_dict(saved[f"member.{m}"])
            history.road, history.road_reason = document["road"], document["road_reason"]
            if history.road == "fast" and why_not is not None:
                raise ConfigError(f"the checkpoint's run took the hand-derived step, which now refuses: {why_not}")
    for member in members:  # every rank starts from rank 0's weights (a no-op for one process)
        broadcast_([*member.parameters(), *member.buffers()], world)
    forked = [here.index if here.index is not None else torch.cuda.current_device()] if here.type == "cuda" else []
    interrupt = InterruptFlag()
    with torch_threads(n_threads), torch.random.fork_rng(devices=forked), interrupt.catching():
        if resumed is None and why_not is None and fast is not False:  # the road is decided once per run
            disagreements = (self_check(member, tokens, p, weights) for member in members)
            why_not = next((why for why in disagreements if why), None)
            if not rank_zero_decides(why_not is None, world) and why_not is None:  # every rank takes rank 0's road
                why_not = "rank 0's self-check of the hand-derived step failed"
            if why_not is not None:
                if fast:
                    raise ConfigError(f"fast=True: {why_not}")
                warnings.warn(f"{why_not}; training through autograd instead", RuntimeWarning, stacklevel=2)
                history.road_reason = why_not
            else:
                history.road = "fast"
                history.road_reason = "the hand-derived step covers this model and matched autograd on a float64 batch"
        fast = history.road == "fast"
        if not fast:
            optimizers = [make_optimizer(member, lr=lr, eps=eps) for member in members]
        generator = torch.Generator().manual_seed(seed)
        rates = [LearningRate(lr, schedule=lr_schedule, total_steps=epochs * per_epoch) for _ in members]
        torch.manual_seed(seed)  # dropout
        if fast:
            trainings = [
                OnePassTraining(
                    member, tokens, p, lr=lr, eps=eps, weights=weights, clip_grad_norm=clip_grad_norm, world=world
                )
                for member in members
            ]
        where = {"epoch": 0, "member": 0, "step": 0, "total": 0.0, "losses": []}  # where the run stands
        order_state = generator.get_state()  # the generator as it was before the current order was drawn
        if resumed is not None:
            where = {k: document[k] for k in where}
            order_state = saved["rng"]["order"]
            generator.set_state(order_state)
            torch.set_rng_state(saved["rng"]["torch"])
            if forked:
                torch.cuda.set_rng_state(saved["rng"]["cuda"], forked[0])
            for m, rate in enumerate(rates):
                rate.steps = document["rate_steps"][m]
                if fast:
                    trainings[m].load_state(saved[f"road.{m}"], {
                        **document["roads"][m], "dropout": numpy_state_back(document["roads"][m]["dropout"])
                    })
                else:
                    state = optimizers[m].state_dict()
                    state["state"] = _optimizer_moments(saved.get(f"road.{m}", {}))
                    optimizers[m].load_state_dict(state)
            history.loss, history.seconds = list(document["loss"]), list(document["seconds"])
            history.resumed_from = {"epoch": where["epoch"] + 1, "step": where["step"]}
            if caller_state is not None:
                caller_state[1](saved.get("caller", {}), document["caller"])

        def write_checkpoint(epoch: int, member: int, step: int, total: float, losses: list[float]) -> Path:
            tensors = {"rng.order": order_state, "rng.torch": torch.get_rng_state()}
            if forked:
                tensors["rng.cuda"] = torch.cuda.get_rng_state(forked[0])
            roads = []
            for m, model in enumerate(members):
                tensors.update({f"member.{m}.{k}": v.clone() for k, v in model.state_dict().items()})
                if fast:
                    road_tensors, road = trainings[m].state()
                    road = {**road, "dropout": None if road["dropout"] is None else numpy_state(road["dropout"])}
                else:
                    road_tensors, road = _optimizer_tensors(optimizers[m]), {}
                tensors.update({f"road.{m}.{k}": v for k, v in road_tensors.items()})
                roads.append(road)
            caller_tensors, caller_document = caller_state[0]() if caller_state is not None else ({}, {})
            tensors.update({f"caller.{k}": v for k, v in caller_tensors.items()})
            with rank_zero_writes(world) as writer:  # the other ranks wait, and learn if the write failed
                if not writer:
                    return checkpoints.path
                return checkpoints.write(tensors, {
                    "fingerprint": fingerprint, "epoch": epoch, "member": member, "step": step, "total": total,
                    "losses": losses, "rate_steps": [r.steps for r in rates], "roads": roads, "road": history.road,
                    "road_reason": history.road_reason, "loss": history.loss, "seconds": history.seconds,
                    "caller": caller_document,
                })

        bar = tqdm(range(where["epoch"], epochs), desc="epochs", disable=not progress, leave=False)
        try:
            for epoch in bar:
                started = time.perf_counter()
                first = epoch == where["epoch"]  # the epoch a resumed run goes on with
                losses = list(where["losses"]) if first else []
                if fast:  # one shuffle, shared by the members (train_epoch's draw)
                    order_state = generator.get_state()
                    order = epoch_order(tokens.shape[0], generator, row_weights).to(here)
                for m in range(where["member"] if first else 0, len(members)):
                    resuming = first and m == where["member"]
                    start, total = (where["step"], where["total"]) if resuming else (0, 0.0)
                    if not fast:  # each member its own shuffle, drawn in turn
                        order_state = generator.get_state()
                        order = epoch_order(rows, generator, row_weights).to(here)

                    def after_step(number: int, total: float, epoch: int = epoch, m: int = m) -> None:
                        stop = rank_zero_decides(bool(interrupt.raised), world) if world.active else interrupt.raised
                        kept = None
                        due = checkpoints is not None and checkpoints.due()
                        if stop or (rank_zero_decides(due, world) if world.active else due):
                            kept = None if checkpoints is None else write_checkpoint(epoch, m, number, total, losses)
                        if stop:
                            raise FitInterrupted(
                                epoch=epoch + 1, step=number, steps=per_epoch, checkpoint=kept,
                                signal=interrupt.raised or 2,  # a peer rank's stop reads as Ctrl-C
                            )

                    if fast:
                        losses.append(trainings[m].epoch(
                            order, batch_size, learning_rate=rates[m], start=start, total=total, after_step=after_step
                        ))
                    else:
                        losses.append(train_epoch(
                            members[m], optimizers[m], tokens, batch_size=batch_size, generator=generator,
                            positions=positions, batching=batching, learning_rate=rates[m], weights=weights,
                            row_weights=row_weights, clip_grad_norm=clip_grad_norm, order=order, start=start,
                            total=total, after_step=after_step, world=world, **masked_logits_kwargs,
                        ))
                if fast:
                    history.fallback_steps = sum(t.fallback_steps for t in trainings)
                loss = sum(losses) / len(losses)
                history.seconds.append(time.perf_counter() - started)
                history.loss.append(loss)
                stop = rank_zero_decides(callback is not None and bool(callback(epoch, loss)), world)
                if progress:
                    bar.set_postfix({"loss": f"{loss:.4f}", **(status() if status is not None else {})}, refresh=False)
                if stop:
                    break
                if rank_zero_decides(interrupt.raised, world):  # Ctrl-C during the callback: stop at the next epoch
                    kept = None
                    if checkpoints is not None and epoch + 1 < epochs:
                        kept = write_checkpoint(epoch + 1, 0, 0, 0.0, [])
                    raise FitInterrupted(
                        epoch=epoch + 1, step=per_epoch, steps=per_epoch, checkpoint=kept, signal=interrupt.raised or 2
                    )
        except TrainingDivergedError as error:  # name the epoch, and the rate to lower
            raise diverged(error.loss, epoch=epoch + 1, step=error.step, steps=per_epoch, lr=lr) from None
        finally:
            bar.close()
    return history


def _by_prefix(tensors: dict[str, torch.Tensor]) -> dict:
    """Flat names ``"a.b.c"`` as nested dicts ``{"a": {"b": {"c": tensor}}}``, two levels deep at most
    (``member.0.<state_dict key>`` keeps its key whole)."""
    nested: dict = {}
    for name, tensor in tensors.items():
        head, _, rest = name.partition(".")
        if head in ("member", "road"):
            index, _, key = rest.partition(".")
            nested.setdefault(f"{head}.{index}", {})[key] = tensor
        else:
            nested.setdefault(head, {})[rest] = tensor
    return nested


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """A torch optimizer's per-parameter state as flat tensors ``"<param index>.<key>"``."""
    return {
        f"{i}.{key}": value.clone()
        for i, state in optimizer.state_dict()["state"].items()
        for key, value in state.items()
    }


def _optimizer_moments(tensors: dict[str, torch.Tensor]) -> dict[int, dict[str, torch.Tensor]]:
    """:func:`_optimizer_tensors` undone: the ``"state"`` of an optimizer's state dict."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        i, _, key = name.partition(".")
        state.setdefault(int(i), {})[key] = tensor
    return state
