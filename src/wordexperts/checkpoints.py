"""Checkpoints of a training run: one file, written whole every N steps or seconds, to resume from.

A checkpoint holds everything the rest of a run depends on: every member's weights, its
optimiser's moments and step count, the learning-rate schedule's position, the random states
(the row shuffle's generator as it was before the current epoch's order was drawn, torch's
global state for dropout, the fast road's numpy dropout streams), where the run stands (epoch,
member, step, the loss summed so far), the history, and the caller's own state (the
estimators' early stopping). A run resumed from it takes the very steps the uninterrupted run
would have taken, so on a CPU with the same threads its final weights are equal bit for bit.

The file is a wordexperts model file (:func:`~wordexperts.files.write_model_file`: safetensors
plus a hashed JSON document; loading it never executes code), written through a temporary file
and renamed, so a run killed while writing leaves the previous checkpoint intact. It also
records a fingerprint of the run (the training rows' digest and every setting that shapes the
steps); resuming a different run from it is refused with the setting that differs.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal as _signal
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from .errors import ConfigError, ModelFileError
from .files import read_model_file, write_model_file

CHECKPOINT_NAME = "checkpoint.safetensors"
CHECKPOINT_KIND = "wordexperts-checkpoint"
DEFAULT_EVERY = "60s"


def parse_every(every: int | str) -> tuple[int | None, float | None]:
    """``every`` as ``(steps, seconds)``: an int or ``"500"`` is steps, ``"90s"`` (or ``"1.5m"``) seconds.

    Examples:
        >>> parse_every(500), parse_every("90s"), parse_every("2m"), parse_every("25 steps")
        ((500, None), (None, 90.0), (None, 120.0), (25, None))
    """
    if isinstance(every, bool):
        raise ConfigError(f"checkpoint_every must be a number of steps or seconds ('60s'), got {every!r}")
    if isinstance(every, int):
        if every < 1:
            raise ConfigError(f"checkpoint_every must be at least 1 step, got {every}")
        return every, None
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(steps?|s|sec|seconds?|m|min|minutes?)?\s*", str(every))
    if match is None:
        raise ConfigError(
            f"checkpoint_every must be a number of steps (500) or of seconds ('60s', '5m'), got {every!r}"
        )
    number, unit = float(match.group(1)), match.group(2) or "steps"
    if unit.startswith("step"):
        if number != int(number) or number < 1:
            raise ConfigError(f"checkpoint_every must be a whole number of steps, at least 1, got {every!r}")
        return int(number), None
    seconds = number * (60.0 if unit.startswith("m") else 1.0)
    if not seconds > 0:
        raise ConfigError(f"checkpoint_every must be a positive time, got {every!r}")
    return None, seconds


def digest_tensor(tensor: torch.Tensor) -> str:
    """A BLAKE2b digest of a tensor's dtype, shape and bytes: the training rows' fingerprint."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    h.update(memoryview(tensor.detach().cpu().contiguous().numpy()).cast("B"))
    return h.hexdigest()


class Checkpoints:
    """Where a training run keeps its checkpoint, how often it writes one, and whether it resumes.

    ``directory`` holds one file, :data:`CHECKPOINT_NAME`, replaced whole at each write.
    ``every``: steps (an int, ``"500"``) or seconds (``"60s"``, ``"5m"``); a checkpoint is
    written at the first step boundary once that many steps or seconds have passed since the
    last one, and also when a run is interrupted (Ctrl-C). ``resume=True`` goes on from the
    checkpoint in ``directory`` where there is one (and starts afresh, with a warning, where
    there is none, so a job that is restarted with the same command just works).

    Examples:
        >>> import tempfile
        >>> checkpoints = Checkpoints(tempfile.mkdtemp(), every=2)
        >>> [checkpoints.due() for _ in range(2)]
        [False, True]
        >>> _ = checkpoints.write({"w": torch.zeros(1)}, {})
        >>> checkpoints.due(), checkpoints.path.name
        (False, 'checkpoint.safetensors')
    """

    def __init__(self, directory: str | os.PathLike, *, every: int | str = DEFAULT_EVERY, resume: bool = False):
        if not isinstance(directory, (str, os.PathLike)):
            raise ConfigError(f"checkpoint_dir must be a path, got {directory!r}")
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigError(f"checkpoint_dir {str(self.directory)!r} exists and is not a folder")
        self.every_steps, self.every_seconds = parse_every(every)
        if not isinstance(resume, bool):
            raise ConfigError(f"resume must be True or False, got {resume!r}")
        self.resume = resume
        self.path = self.directory / CHECKPOINT_NAME
        self.written = 0  # checkpoints written by this run
        self._steps = 0
        self._since = time.monotonic()

    def due(self) -> bool:
        """Count one step; ``True`` when a checkpoint should be written now."""
        self._steps += 1
        if self.every_steps is not None and self._steps >= self.every_steps:
            return True
        return self.every_seconds is not None and time.monotonic() - self._since >= self.every_seconds

    def write(self, tensors: dict[str, torch.Tensor], document: dict) -> Path:
        """Replace the checkpoint with ``tensors`` and the JSON ``document``, atomically."""
        path = write_model_file(self.path, tensors, {"kind": CHECKPOINT_KIND, **document})
        self.written += 1
        self._steps, self._since = 0, time.monotonic()
        return path

    def read(self) -> tuple[dict[str, torch.Tensor], dict] | None:
        """The checkpoint to resume from, or ``None`` (with a warning) where the folder has none."""
        if not self.path.is_file():
            warnings.warn(
                f"resume: no checkpoint in {str(self.directory)!r} yet; training starts from the beginning",
                RuntimeWarning, stacklevel=3,
            )
            return None
        tensors, document = read_model_file(self.path)
        if document.get("kind") != CHECKPOINT_KIND:
            raise ModelFileError(f"{str(self.path)!r} is a wordexperts model file, not a training checkpoint")
        return tensors, document

    def recorded_seed(self) -> int | None:
        """The seed the checkpoint's run used, where resuming and there is one (for ``random_state=None``)."""
        if not (self.resume and self.path.is_file()):
            return None
        seed = self.read()[1]["fingerprint"].get("seed")
        return seed if isinstance(seed, int) else None


def check_fingerprint(recorded: dict, current: dict, path: Path) -> None:
    """Refuse to resume a run whose settings or rows differ from the checkpoint's, naming the first."""
    loose = ("threads", "processes")  # change the rounding, not the run
    for name in sorted(set(recorded) | set(current)):
        if name in loose:
            continue
        if recorded.get(name) != current.get(name):
            what = "the training rows" if name == "rows_digest" else f"{name}"
            raise ConfigError(
                f"the checkpoint in {str(path.parent)!r} is from a different run: {what} differ "
                f"(checkpoint {recorded.get(name)!r}, now {current.get(name)!r}). Resume with the same data "
                f"and settings, or train afresh (resume=False, or another checkpoint folder)"
            )
    for name in loose:
        if recorded.get(name, 1) != current.get(name, 1):
            warnings.warn(
                f"resuming with {current.get(name, 1)} {name} where the checkpoint's run had "
                f"{recorded.get(name, 1)}: the result is as good, but not bitwise the uninterrupted run's",
                RuntimeWarning, stacklevel=3,
            )


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped training at a step boundary; ``checkpoint`` is where it was
    kept, if anywhere.

    A ``KeyboardInterrupt``, so code that stops on Ctrl-C still does. ``epoch`` and ``step`` (1-based)
    are the last step taken; ``signal`` the signal's number (``exit_code``: 128 plus it, as a shell
    reports a process the signal ended).
    """

    def __init__(
        self, *, epoch: int, step: int, steps: int, checkpoint: Path | None, signal: int = _signal.SIGINT
    ) -> None:
        self.epoch, self.step, self.steps, self.checkpoint, self.signal = epoch, step, steps, checkpoint, int(signal)
        by = "Ctrl-C" if self.signal == _signal.SIGINT else _signal.Signals(self.signal).name
        where = f"training stopped by {by} after epoch {epoch}, step {step} of {steps}"
        if checkpoint is None:
            how = "no checkpoint was kept (fit with a checkpoint folder to be able to resume)"
        else:
            how = f"the checkpoint {str(checkpoint)!r} keeps it: fit again the same way with resume=True to go on"
        super().__init__(f"{where}; {how}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signal


class InterruptFlag:
    """Turns the first Ctrl-C (SIGINT) or SIGTERM during training into a flag read at step boundaries.

    Inside :meth:`catching` (in the main thread only; elsewhere signals are not delivered), the
    first such signal sets :attr:`raised` (its number) and puts the previous handlers back, so a
    second Ctrl-C interrupts at once, as usual. Training checks the flag between steps, where its
    state is whole, writes a checkpoint and stops. SIGTERM is what job schedulers and container
    runtimes send before they kill a process: a fit stopped by it keeps its checkpoint too. A
    signal someone else handles (or ignores) is left to them.
    """

    SIGNALS = {_signal.SIGINT: _signal.default_int_handler, _signal.SIGTERM: _signal.SIG_DFL}  # ours to catch when

    def __init__(self) -> None:
        self.raised: int | None = None

    @contextmanager
    def catching(self) -> Iterator[InterruptFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {number: _signal.getsignal(number) for number in self.SIGNALS}
        ours = [number for number, default in self.SIGNALS.items() if previous[number] is default]

        def handler(signum, frame):
            self.raised = signum
            for number in ours:
                _signal.signal(number, previous[number])

        for number in ours:
            _signal.signal(number, handler)
        try:
            yield self
        finally:
            for number in ours:
                _signal.signal(number, previous[number])


def numpy_state(state: dict) -> dict:
    """A numpy bit generator's state with its arrays and numpy integers as plain (JSON) ints."""
    import numpy as np

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            return {"__array__": [int(v) for v in value.tolist()], "dtype": str(value.dtype)}
        if isinstance(value, np.integer):
            return int(value)
        return value

    return plain(state)


def numpy_state_back(state: dict) -> dict:
    """:func:`numpy_state` undone."""
    import numpy as np

    def back(value):
        if isinstance(value, dict) and "__array__" in value:
            return np.array(value["__array__"], dtype=value["dtype"])
        if isinstance(value, dict):
            return {k: back(v) for k, v in value.items()}
        return value

    return back(state)
