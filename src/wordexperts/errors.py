"""Errors by kind: what the user can fix, and everything else.

Every problem a user can fix (a bad table, a bad setting, a damaged model file, a missing
optional extra) raises a subclass of :class:`WordExpertsError`. The command line prints those
as one line and exits 2; any other exception is a bug in wordexperts, and the command line says
so, exits 1, and prints the traceback with ``--debug`` (or ``WORDEXPERTS_DEBUG=1``).

Each class also keeps the built-in base that callers caught before it existed (``ValueError``,
``TypeError``, ``ImportError``), so ``except ValueError`` goes on working; the two ``...TypeError``
classes are both, so ``except TypeError`` and ``except DataError`` each catch a sparse matrix::

    WordExpertsError
    ├── ModelFileError      (ValueError)   a model file that is not ours, truncated, tampered with
    ├── DataError           (ValueError)   a bad table, target, column or value
    │   └── DataTypeError   (TypeError)    data of a kind that is not accepted (sparse, objects)
    ├── ConfigError         (ValueError)   a bad setting or parameter
    │   └── ConfigTypeError (TypeError)    a setting of the wrong type
    ├── MissingExtraError   (ImportError)  an optional extra that is not installed
    └── TrainingDivergedError (FloatingPointError) the training loss became NaN or infinite

Examples
--------
>>> from wordexperts.errors import DataError, WordExpertsError
>>> issubclass(DataError, WordExpertsError) and issubclass(DataError, ValueError)
True

This module imports nothing, so the command line can catch these without loading torch.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigTypeError",
    "DataError",
    "DataNotFoundError",
    "DataTypeError",
    "MissingExtraError",
    "ModelFileError",
    "PeerFailedError",
    "TrainingDivergedError",
    "WordExpertsError",
]


class WordExpertsError(Exception):
    """A problem the user can fix: the message says what is wrong and, where it can, what to do."""


class ModelFileError(WordExpertsError, ValueError):
    """A model file that is not ours, was truncated or tampered with, or has an unknown version."""


class DataError(WordExpertsError, ValueError):
    """A table, target, column or value that cannot be used as given."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data path that does not exist: ``except FileNotFoundError`` catches it too."""


class DataTypeError(DataError, TypeError):
    """Data of a type that is not accepted: a sparse matrix, a column of objects, tokens that are not ints."""


class ConfigError(WordExpertsError, ValueError):
    """A setting or parameter outside what is allowed."""


class ConfigTypeError(ConfigError, TypeError):
    """A setting or parameter of the wrong type."""


class MissingExtraError(WordExpertsError, ImportError):
    """An optional dependency that is not installed; the message names what to ``pip install``."""


class TrainingDivergedError(WordExpertsError, FloatingPointError):
    """The training loss became NaN or infinite: training stopped before that step's update.

    ``loss`` is the value, ``epoch`` (1-based; ``None`` where the raiser does not know it) and
    ``step`` (1-based, within the epoch) say where. The model keeps the parameters of the step
    before. Both training roads raise it; :func:`wordexperts.fast_step.diverged` builds it.
    The fix is the user's: a lower learning rate, or clipped gradients.
    """

    loss: float = float("nan")
    epoch: int | None = None
    step: int | None = None


class PeerFailedError(WordExpertsError, RuntimeError):
    """Training over processes stopped: another rank failed, died or stopped answering.

    ``rank`` is this process's rank, ``failed`` the ranks known to have failed (from the
    reports they left, :meth:`wordexperts.distributed.Distributed.announce_failures`; empty
    where a peer died without one, killed by a signal or out of memory), ``reports`` their
    messages by rank. The message names them; the cause is in the failed rank's own output.
    """

    def __init__(self, message: str, *, rank: int, failed=(), reports: dict | None = None) -> None:
        super().__init__(message)
        self.rank, self.failed, self.reports = rank, tuple(failed), dict(reports or {})
