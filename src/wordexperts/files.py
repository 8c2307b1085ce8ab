"""Files: written whole or not at all, and model files that never execute code on load.

A model file is one safetensors file: the tensors, plus a JSON document (config,
vocabularies, fitted attributes) in the safetensors header's metadata under the key
``"wordexperts"``. Loading parses JSON and raw tensor bytes only, never pickle. The JSON
carries a format version, a SHA-256 digest of every tensor's bytes and one of the JSON
document itself, so a truncated or accidentally altered file is refused with a clear error
instead of being loaded wrong. (A digest stored in the file is no signature: it catches
damage and careless edits, not someone who recomputes it.)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError, ModelFileError

if TYPE_CHECKING:  # imported where used: writing a report or a table needs neither
    import pandas as pd
    import torch

FORMAT_NAME = "wordexperts-model"
FORMAT_VERSION = 1
METADATA_KEY = "wordexperts"


def _atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, new_file_mode())  # mkstemp makes 0600; a written file gets the usual mode
        if isinstance(data, str):
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode a newly created file gets under this process's umask (0o644 under the usual 022)."""
    return 0o666 & ~_umask()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename.

    A reader never sees a half-written file, and a failure leaves any old file untouched.
    """
    return _atomic_write(path, text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write_text` for bytes."""
    return _atomic_write(path, data)


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()


def _document_digest(document: dict) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, allow_nan=False).encode()).hexdigest()


def write_model_file(path: str | os.PathLike, tensors: dict[str, torch.Tensor], document: dict) -> Path:
    """Write ``tensors`` and the JSON-serialisable ``document`` to one safetensors file, atomically.

    Examples:
        >>> import tempfile, torch
        >>> path = Path(tempfile.mkdtemp()) / "m.safetensors"
        >>> _ = write_model_file(path, {"w": torch.ones(2, 3)}, {"kind": "demo"})
        >>> tensors, document = read_model_file(path)
        >>> tensors["w"].shape, document["kind"]
        (torch.Size([2, 3]), 'demo')
    """
    from safetensors.torch import save

    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": {name: _digest(t) for name, t in tensors.items()},
        "document_sha256": _document_digest(document),
        "document": document,
    }
    data = save(tensors, metadata={METADATA_KEY: json.dumps(header, allow_nan=False)})
    return atomic_write_bytes(path, data)


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by :func:`write_model_file`: ``(tensors, document)``.

    Raises :class:`ModelFileError` naming the file and what is wrong with it.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as error:  # safetensors raises its own error types for every kind of damage
        raise ModelFileError(
            f"{str(path)!r} is not a readable wordexperts model file (truncated or not safetensors): {error}"
        ) from None
    try:
        header = json.loads(metadata[METADATA_KEY])
        assert header["format"] == FORMAT_NAME
    except (KeyError, ValueError, TypeError, AssertionError):
        raise ModelFileError(f"{str(path)!r} is a safetensors file but not a wordexperts model file") from None
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} has model format version {header.get('format_version')!r}; this wordexperts "
            f"reads version {FORMAT_VERSION}"
        )
    expected = header.get("sha256", {})
    if set(expected) != set(tensors):
        raise ModelFileError(f"{str(path)!r} has been altered: its tensors do not match its table of contents")
    for name, tensor in tensors.items():
        if _digest(tensor) != expected[name]:
            raise ModelFileError(f"{str(path)!r} has been altered: tensor {name!r} fails its SHA-256 check")
    if header.get("document_sha256") != _document_digest(header.get("document")):
        raise ModelFileError(f"{str(path)!r} has been altered: its JSON document fails its SHA-256 check")
    return tensors, header["document"]


TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _table_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise DataError(f"{str(path)!r}: unknown table format {suffix!r}; use .csv or .parquet")
    return TABLE_FORMATS[suffix]


def read_table(path: str | os.PathLike) -> "pd.DataFrame":
    """Read a CSV or Parquet file (by extension) into a DataFrame; empty cells are missing (in a
    one-column CSV, a blank line is a row whose cell is missing)."""
    import pandas as pd

    path = Path(path)
    kind = _table_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if kind == "csv":
        header = _check_csv_header(path)
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        # In a one-column CSV a missing cell is a blank line (pandas writes it so): keep it as a row.
        return pd.read_csv(path, skip_blank_lines=len(header) != 1)
    except pd.errors.EmptyDataError:
        raise DataError(f"{str(path)!r} is empty") from None
    except (pd.errors.ParserError, OSError, ValueError) as error:
        raise DataError(f"could not read {str(path)!r} as {kind}: {error}") from None


def _check_csv_header(path: Path) -> list[str]:
    """The CSV's header; pandas renames duplicate columns (``a``, ``a.1``): refuse them instead, by name."""
    import csv
    from collections import Counter

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f), [])
    duplicated = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicated:
        raise DataError(f"{str(path)!r} has duplicate column names {duplicated}; column names must be unique")
    return header


def write_table(frame: "pd.DataFrame", path: str | os.PathLike, *, index: bool = False) -> Path:
    """Write ``frame`` as CSV or Parquet (by extension), atomically."""
    import io

    path = Path(path)
    if _table_format(path) == "csv":
        return atomic_write_text(path, frame.to_csv(index=index))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=index)
    return atomic_write_bytes(path, buffer.getvalue())
