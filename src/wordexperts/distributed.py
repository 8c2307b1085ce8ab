"""Data-parallel training over processes: the same steps as one process, split by rows.

Launched by ``torchrun --nproc_per_node N -m wordexperts fit ...``, every process holds the
whole model and the whole table, draws the same shuffles from the same seed, and computes
one contiguous part of each global batch (:func:`shard`). A step then goes::

    global batch of B rows (same on every rank)
      ├── rank 0: rows [0, b0)      grads of the SUM of its slots' losses ─┐
      ├── rank 1: rows [b0, b0+b1)  grads of the SUM of its slots' losses ─┼─ all-reduce (sum), one flat buffer
      └── ...                                                              ─┘        │
    every rank: summed grads / (B * P slots) = the one-process gradient of the batch's mean loss
                then the same clipping and the same Adam update on identical parameters

So the parameters stay identical on every rank, and equal a one-process fit's to float
rounding (the sums are added in another order). Dropout keeps that equality only if each
rank uses its part of the *global* batch's masks: every rank draws the masks of all ``B``
rows from the same seeded stream and keeps its own rows (:func:`shared_dropout` for
``nn.Dropout``; the fast road slices :class:`~wordexperts.fast_step.DropoutMasks`' draw
with :attr:`Shard.part`).

Failures: a collective that fails or waits longer than the group's ``timeout`` raises
:class:`PeerFailedError` on the ranks still running, naming the rank that failed where it
said so (:meth:`Distributed.announce_failures`), instead of hanging. Rank 0 alone writes
files (:func:`rank_zero_writes`), through the atomic writes of :mod:`wordexperts.files`, so
no model file is ever half written.

Nothing here knows about tables or models' internals beyond ``nn.Module`` and ``nn.Dropout``;
with one process (no ``torchrun``) every function is a no-op that leaves the numbers
bit for bit as they were.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, PeerFailedError

DEFAULT_TIMEOUT = timedelta(minutes=10)  # how long a collective waits for a silent peer before it fails
_FAILURE_KEY = "wordexperts/failed/"  # + rank: the store key where a failing rank leaves its error
_ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")  # what torchrun sets


@dataclass(frozen=True, kw_only=True)
class Distributed:
    """The process group this process trains in: one process, or one rank of ``world_size``.

    Build it with :meth:`from_environment`, which reads what ``torchrun`` sets (``RANK``,
    ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and starts the default
    process group (gloo on CPU, NCCL on CUDA) once; without them it is one process and starts
    nothing. ``device`` is where this rank's model lives (``cuda:LOCAL_RANK`` under NCCL).
    ``timeout``: how long a collective waits for a peer before it fails.

    Examples:
        >>> world = Distributed()  # one process: what from_environment() gives outside torchrun
        >>> world.world_size, world.active, world.is_writer
        (1, False, True)
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None  # "gloo" or "nccl" while a process group is up; None for one process
    timeout: timedelta = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size or not 0 <= self.local_rank:
            raise ConfigError(f"rank {self.rank} (local {self.local_rank}) does not fit world_size {self.world_size}")

    @property
    def active(self) -> bool:
        """Whether there are other ranks to talk to (a process group with more than one process)."""
        return self.world_size > 1

    @property
    def is_writer(self) -> bool:
        """Rank 0 writes the files (models, reports, logs); the others only train."""
        return self.rank == 0

    @classmethod
    def from_environment(
        cls, *, device: str | torch.device | None = None, timeout: timedelta = DEFAULT_TIMEOUT
    ) -> Distributed:
        """This process's place, from ``torchrun``'s environment; the process group started once.

        Outside ``torchrun`` (no ``RANK``/``WORLD_SIZE``) or with ``WORLD_SIZE=1``: one process,
        no group, on ``device`` (``None``: the CPU; ``"auto"``: CUDA where available). Under
        ``torchrun``: ``device=None`` or ``"auto"`` takes ``cuda:LOCAL_RANK`` where CUDA is
        available, else the CPU; ``"cpu"`` insists on the CPU (gloo), ``"cuda"`` on
        ``cuda:LOCAL_RANK`` (NCCL). A second call returns the group already started (or adopts
        one a caller started, whose own timeout then holds, whatever ``timeout`` says).
        ``timeout`` bounds every collective: a peer silent for that long turns into a
        :class:`PeerFailedError`.
        """
        global _STORE
        if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
            raise ConfigError(f"timeout must be a positive datetime.timedelta, got {timeout!r}")
        if dist.is_available() and dist.is_initialized():  # started before: by an earlier call, or the caller
            world_size, rank = dist.get_world_size(), dist.get_rank()
            local_rank = int(os.environ.get("LOCAL_RANK", rank))
            backend = str(dist.get_backend())
            here = torch.device(f"cuda:{local_rank}") if backend == "nccl" else torch.device("cpu")
            if _STORE is None:
                _STORE = _default_store()
            return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=here, backend=backend,
                       timeout=timeout)
        launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
        world_size = _environment_int("WORLD_SIZE", 1) if launched else 1
        if world_size == 1:
            return cls(device=_one_process_device(device), timeout=timeout)
        missing = [name for name in _ENVIRONMENT if name not in os.environ]
        if missing:
            raise ConfigError(f"WORLD_SIZE={world_size} but {missing} are not set: launch with torchrun")
        rank, local_rank = _environment_int("RANK", 0), _environment_int("LOCAL_RANK", 0)
        here = _rank_device(device, local_rank)
        backend = "nccl" if here.type == "cuda" else "gloo"
        if not dist.is_available():
            raise ConfigError("this PyTorch build has no torch.distributed; it cannot train over processes")
        if here.type == "cuda":
            torch.cuda.set_device(here)
        dist.init_process_group(
            backend, init_method="env://", rank=rank, world_size=world_size, timeout=timeout,
            device_id=here if here.type == "cuda" else None,
        )
        _STORE = _default_store()
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=here, backend=backend,
                   timeout=timeout)

    def close(self) -> None:
        """End the process group (a no-op for one process). Call it once training and writing are done."""
        if self.active and dist.is_initialized():
            dist.destroy_process_group()

    @contextmanager
    def announce_failures(self) -> Iterator[None]:
        """Run a rank's work so that, if it raises, the other ranks learn which rank failed and why.

        On an exception (other than a :class:`PeerFailedError`, which is a consequence, not a
        cause) this rank leaves ``"ExceptionType: message"`` in the group's key-value store
        under its rank, then (gloo) ends its process group, so its peers' next collective
        fails at once and names it, and re-raises. Ending a gloo group before exiting also
        avoids an abort at interpreter exit that gloo's threads sometimes cause
        (``terminate called without an active exception``, exit code 134).
        """
        try:
            yield
        except Exception as error:
            if self.active:
                if not isinstance(error, PeerFailedError):
                    _leave_report(self.rank, f"{type(error).__name__}: {error}")
                if self.backend == "gloo" and dist.is_initialized():
                    dist.destroy_process_group()  # NCCL: left to its watchdog (destroying may wait on peers)
            raise


_STORE = None  # the default group's key-value store, where failing ranks leave their reports


def _environment_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"the environment variable {name}={value!r} is not an integer") from None


def _one_process_device(device: str | torch.device | None) -> torch.device:
    """One process's device: ``None`` the CPU, ``"auto"`` CUDA where available (as ``train.resolve_device``)."""
    if device is None:
        return torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = _torch_device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={str(device)!r} was asked for but CUDA is not available")
    return device


def _torch_device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}") from None


def _rank_device(device: str | torch.device | None, local_rank: int) -> torch.device:
    """The device of the process with ``local_rank`` on its machine: its own GPU, or the CPU."""
    kind = "auto" if device is None or device == "auto" else _torch_device(device).type
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cpu":
        return torch.device("cpu")
    if kind != "cuda":
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'auto' to train over processes, got {device!r}")
    if not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for but CUDA is not available")
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"LOCAL_RANK={local_rank} but this machine has {torch.cuda.device_count()} GPU(s): "
            f"start at most that many processes per node (torchrun --nproc_per_node)"
        )
    return torch.device(f"cuda:{local_rank}")


def _default_store():
    try:
        return dist.distributed_c10d._get_default_store()
    except (AttributeError, RuntimeError, ValueError):  # a private function: failure reports are a nicety
        return None


def _leave_report(rank: int, message: str) -> None:
    if _STORE is None:
        return
    with suppress(Exception):  # the store may be gone with its host; the error itself still propagates
        _STORE.set(f"{_FAILURE_KEY}{rank}", message[:2000])


def _reports(world: Distributed) -> dict[int, str]:
    """The failures other ranks reported, by rank (empty where the store cannot be read)."""
    found = {}
    if _STORE is None:
        return found
    for rank in range(world.world_size):
        key = f"{_FAILURE_KEY}{rank}"
        try:
            if rank != world.rank and _STORE.check([key]):
                found[rank] = _STORE.get(key).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - a store hosted by a dead rank answers nothing
            break
    return found


def _peer_failed(world: Distributed, what: str, error: BaseException) -> PeerFailedError:
    """The error a rank raises when a collective fails: who failed, if anyone said, and torch's reason."""
    reports = _reports(world)
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if reports:
        said = "; ".join(f"rank {rank} failed with {message}" for rank, message in sorted(reports.items()))
        message = f"rank {world.rank} stopped at {what}: {said} (torch: {text})"
    elif "timed out" in text.lower() or "timeout" in text.lower():
        message = (
            f"rank {world.rank} stopped at {what}: no answer from a peer within the timeout of {world.timeout} "
            f"(a rank is stuck or much slower; torch: {text})"
        )
    else:
        message = (
            f"rank {world.rank} stopped at {what}: a peer left the group without a report (killed, out of "
            f"memory, or crashed; torchrun's summary names it; torch: {text})"
        )
    return PeerFailedError(message, rank=world.rank, failed=sorted(reports), reports=reports)


def _all_reduce(world: Distributed, buffer: torch.Tensor, what: str) -> None:
    try:
        dist.all_reduce(buffer)
    except RuntimeError as error:  # torch's DistError kinds are RuntimeErrors
        raise _peer_failed(world, what, error) from error


def _broadcast(world: Distributed, buffer: torch.Tensor, what: str) -> None:
    try:
        dist.broadcast(buffer, src=0)
    except RuntimeError as error:
        raise _peer_failed(world, what, error) from error


@dataclass(frozen=True)
class Shard:
    """The rows of one global batch that one rank computes.

    ``rows``: the global batch's size ``B``. ``part``: this rank's contiguous place in it
    (slice pre-gathered per-row arrays and the batch's dropout masks with it). ``index``
    ``(b,)``: the rows to compute, ``batch[part]``. ``count``: the rows they count for,
    ``b``. A rank left without rows (a batch of fewer rows than ranks) computes the whole
    batch instead (``part`` covers it) and counts for nothing (``count == 0``): its random
    streams then advance exactly as its peers', and :func:`all_reduce_gradients_` zeroes
    what it contributes.
    """

    index: torch.Tensor
    part: slice
    count: int
    rows: int


def shard_slice(rows: int, world: Distributed) -> slice:
    """This rank's contiguous part of ``rows`` rows: sizes differ by at most 1, the first ranks larger.

    Examples:
        >>> [shard_slice(10, Distributed(rank=r, world_size=4)) for r in range(4)]
        [slice(0, 3, None), slice(3, 6, None), slice(6, 8, None), slice(8, 10, None)]
    """
    base, extra = divmod(rows, world.world_size)
    start = world.rank * base + min(world.rank, extra)
    return slice(start, start + base + (world.rank < extra))


def shard(index: torch.Tensor, world: Distributed) -> Shard:
    """The rows of the global batch ``index`` ``(B,)`` this rank computes (see :class:`Shard`).

    Every rank holds the same ``index``; their parts tile it, each row counted exactly once.

    Examples:
        >>> batch = torch.tensor([7, 3, 9, 1, 4])
        >>> [shard(batch, Distributed(rank=r, world_size=2)).index.tolist() for r in range(2)]
        [[7, 3, 9], [1, 4]]
        >>> small = shard(torch.tensor([7]), Distributed(rank=1, world_size=2))  # no row of its own
        >>> small.index.tolist(), small.count
        ([7], 0)
    """
    if index.dim() != 1:
        raise ValueError(f"a batch index must be 1-D, got shape {tuple(index.shape)}")
    rows = index.numel()
    if rows == 0:
        raise ValueError("the global batch is empty")
    part, count = shard_part(rows, world)
    return Shard(index[part] if world.active else index, part, count, rows)


def shard_part(rows: int, world: Distributed) -> tuple[slice, int]:
    """:func:`shard` without an index: this rank's ``(part, count)`` of a global batch of ``rows`` rows.

    Examples:
        >>> shard_part(5, Distributed(rank=1, world_size=2)), shard_part(1, Distributed(rank=1, world_size=2))
        ((slice(3, 5, None), 2), (slice(0, 1, None), 0))
    """
    if not world.active:
        return slice(0, rows), rows
    part = shard_slice(rows, world)
    count = part.stop - part.start
    return (part, count) if count else (slice(0, rows), 0)


def all_reduce_gradients_(
    grads: Sequence[torch.Tensor],
    world: Distributed,
    *,
    count: int,
    total: int,
    reduction: Literal["sum", "mean"],
    loss_sum: float | torch.Tensor = 0.0,
) -> float:
    """Turn each rank's gradients into the gradient of the global batch's mean loss, in place.

    ``grads``: this rank's gradients, the same list of tensors (names, shapes, order) on every
    rank, of the *sum* (``reduction="sum"``) or the *mean* (``"mean"``) of the losses of its
    ``count`` units (masked slots, say); ``total``: the units of the whole global batch (the
    sum of every rank's ``count``). A mean is first multiplied by ``count`` (the sum's
    gradient); the ranks then add their sums in one flattened buffer per dtype and divide by
    ``total``. ``loss_sum``: this rank's summed loss, added up in the same buffer; the global
    sum is returned, identical on every rank (check it for NaN there, so every rank stops at
    the same step). Clip after this call: clipping acts on the global gradient.

    One process: a ``"mean"`` is left as it is (bit for bit), a ``"sum"`` divided by ``total``.

    Examples:
        >>> grads = [torch.tensor([2.0, 4.0])]  # one process, a sum over 4 slots
        >>> all_reduce_gradients_(grads, Distributed(), count=4, total=4, reduction="sum", loss_sum=8.0)
        8.0
        >>> grads[0].tolist()
        [0.5, 1.0]
    """
    _check_counts(count, total, reduction, world)
    if not world.active:
        if reduction == "sum":
            torch._foreach_div_(list(grads), float(total))
        return float(loss_sum)
    (loss,) = _all_reduce_sums(grads, world, count=count, total=total, reduction=reduction, extras=[loss_sum])
    return loss


def all_reduce_module_gradients_(
    module: nn.Module,
    world: Distributed,
    *,
    count: int,
    total: int,
    reduction: Literal["sum", "mean"],
    loss_sum: float | torch.Tensor = 0.0,
) -> float:
    """:func:`all_reduce_gradients_` on the ``.grad`` of ``module``'s trainable parameters (autograd's road).

    A parameter without a gradient on one rank counts as zeros there; afterwards it has the
    global gradient if any rank had one, and stays ``None`` (so Adam skips it, as in one
    process) where none had: the key bias of attention, which cancels in every softmax, say.
    """
    _check_counts(count, total, reduction, world)
    params = [p for p in module.parameters() if p.requires_grad]
    if not world.active:
        grads = [p.grad for p in params if p.grad is not None]
        if reduction == "sum" and grads:
            torch._foreach_div_(grads, float(total))
        return float(loss_sum)
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
    present = [float(p.grad is not None) for p in params]
    loss, *had = _all_reduce_sums(grads, world, count=count, total=total, reduction=reduction,
                                  extras=[loss_sum, *present])
    for p, g, n in zip(params, grads, had, strict=True):
        p.grad = g if n > 0 else None
    return loss


def _check_counts(count: int, total: int, reduction: str, world: Distributed) -> None:
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if not 0 <= count <= total or total <= 0 or (not world.active and count != total):
        raise ValueError(f"count={count} and total={total}: need 0 <= count <= total, total > 0 (equal in one process)")


def _all_reduce_sums(
    grads: Sequence[torch.Tensor], world: Distributed, *, count: int, total: int, reduction: str, extras: list
) -> list[float]:
    """Sum ``grads`` (as sums) and the scalars ``extras`` over the ranks; ``grads`` end divided by ``total``."""
    grads = list(grads)
    if count == 0:  # a rank without rows of its own computed the batch only to keep its random streams in step
        torch._foreach_zero_(grads)
        extras = [0.0, *extras[1:]]
    elif reduction == "mean":
        torch._foreach_mul_(grads, float(count))
    groups: dict[tuple[torch.dtype, torch.device], list[int]] = {}
    for i, g in enumerate(grads):
        groups.setdefault((g.dtype, g.device), []).append(i)
    if not groups:  # nothing but the scalars: carry them in float64 on the rank's device
        groups[(torch.float64, world.device)] = []
    reduced_extras = []
    for number, ((dtype, device), members) in enumerate(groups.items()):
        tensors = [grads[i] for i in members]
        pieces = [g.reshape(-1) for g in tensors]
        if number == 0:  # the scalars ride in the first buffer: one collective a step where the dtype is one
            pieces.append(torch.stack([_scalar(e, dtype, device) for e in extras]))  # (len(extras),)
        buffer = torch.cat(pieces) if pieces else torch.zeros(0, dtype=dtype, device=device)  # (n,)
        _all_reduce(world, buffer, "the all-reduce of a step's gradients")
        if number == 0:
            reduced_extras = buffer[buffer.numel() - len(extras):].tolist()
        offset = 0
        for g in tensors:
            n = g.numel()
            g.copy_(buffer[offset : offset + n].view_as(g)).div_(float(total))
            offset += n
    return reduced_extras


def _scalar(value: float | torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to(dtype=dtype, device=device).reshape(())
    return torch.tensor(float(value), dtype=dtype, device=device)


def broadcast_(tensors: Sequence[torch.Tensor], world: Distributed) -> None:
    """Copy rank 0's ``tensors`` into every rank's, in place (one flattened buffer per dtype).

    Call it once before training with the model's parameters and buffers, so every rank starts
    from rank 0's weights even where they were initialised apart. A no-op for one process.
    """
    if not world.active:
        return
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for members in groups.values():
        buffer = torch.cat([t.detach().reshape(-1) for t in members])
        _broadcast(world, buffer, "the broadcast of rank 0's weights")
        offset = 0
        with torch.no_grad():
            for t in members:
                t.copy_(buffer[offset : offset + t.numel()].view_as(t))
                offset += t.numel()


def rank_zero_decides(flag: bool, world: Distributed) -> bool:
    """Rank 0's ``flag`` on every rank: for decisions every rank must take together (stop early, say).

    Each rank computes the same numbers, but a decision made on floats apart (validation
    losses on two kinds of CPU) could still split; a split means a rank waiting forever.
    """
    if not world.active:
        return bool(flag)
    buffer = torch.tensor([float(bool(flag))], device=world.device)
    _broadcast(world, buffer, "the broadcast of rank 0's decision")
    return bool(buffer.item())


@contextmanager
def rank_zero_writes(world: Distributed) -> Iterator[bool]:
    """A block where rank 0 writes files and the other ranks wait; yields whether this rank writes.

    On entry every rank checks in (so rank 0 writes only once all ranks got there without an
    error); on exit every rank learns whether the block failed anywhere: the rank that failed
    re-raises its own error, the others raise :class:`PeerFailedError` naming it, so no rank
    waits on a writer that is gone and no rank reports success when the file is missing.
    Write with :mod:`wordexperts.files` (temporary file, then rename): a writer killed halfway
    leaves the old file, or none, never half of one.

    Examples:
        >>> with rank_zero_writes(Distributed()) as writer:
        ...     writer
        True
    """
    if not world.active:
        yield True
        return
    _failed_ranks(world, failed=False, what="the check-in before rank 0 writes")
    try:
        yield world.is_writer
    except BaseException:
        with suppress(PeerFailedError):  # this rank's own error is the one to raise
            _failed_ranks(world, failed=True, what="the check-out after rank 0 writes")
        raise
    failed = _failed_ranks(world, failed=False, what="the check-out after rank 0 writes")
    if failed:
        raise PeerFailedError(
            f"rank {world.rank}: rank(s) {failed} failed while rank 0 wrote the files (see their errors)",
            rank=world.rank, failed=failed,
        )


def _failed_ranks(world: Distributed, *, failed: bool, what: str) -> list[int]:
    """Every rank says whether it failed (one all-reduce of a one-hot); returns the ranks that did."""
    flags = torch.zeros(world.world_size, device=world.device)
    flags[world.rank] = float(failed)
    _all_reduce(world, flags, what)
    return [rank for rank, flag in enumerate(flags.tolist()) if flag > 0]


def shared_dropout(model: nn.Module, world: Distributed, part: Shard) -> AbstractContextManager[None]:
    """A block where ``model``'s ``nn.Dropout`` modules use this rank's part of the global batch's masks.

    In one process a dropout module draws one mask for the whole batch (rows along dim 0). Here
    each dropout call draws the mask of the *global* batch, ``(rows * k, ...)`` with ``k`` the
    input's rows per batch row (1 for one-pass logits, ``P`` for expanded copies), from the
    same seeded stream as one process would (``F.dropout`` of ones: the same random calls),
    and multiplies its input by this rank's ``part`` of it. Ranks seeded alike then draw
    alike, and together apply exactly the one-process masks. A no-op for one process or with
    the model in eval mode. Dropout kinds other than ``nn.Dropout`` (``Dropout1d``,
    ``AlphaDropout``...) are refused by name when active.
    """
    if not world.active:
        return nullcontext()
    return _shared_dropout(model, part)


@contextmanager
def _shared_dropout(model: nn.Module, part: Shard) -> Iterator[None]:
    patched = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.training and module.p > 0:
            if type(module) is not nn.Dropout:
                raise ValueError(
                    f"{name} is a {type(module).__name__}: only nn.Dropout can share the global batch's masks"
                )
            patched.append(module)
    rows, start, stop = part.rows, part.part.start, part.part.stop

    def forward(module: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
        k, remainder = divmod(x.shape[0], stop - start)
        if remainder or k == 0:
            raise ValueError(
                f"a dropout input of {x.shape[0]} rows along dim 0 is not a multiple of the shard's "
                f"{stop - start} rows: the batch must run along dim 0"
            )
        mask = F.dropout(x.new_ones((rows * k, *x.shape[1:])), module.p, True)  # (rows*k, ...): the global draw
        return x * mask[start * k : stop * k]

    try:
        for module in patched:
            module.forward = forward.__get__(module)
        yield
    finally:
        for module in patched:
            module.__dict__.pop("forward", None)
