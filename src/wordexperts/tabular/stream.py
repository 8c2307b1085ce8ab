"""Tables larger than memory: Parquet read in batches, encoded to a token file, predicted in chunks.

A table that does not fit in memory lives on disk as Parquet (one file, or a folder of
files). These steps take it through the library, each in one pass over the files:

    open_dataset(source)                      the files as one pyarrow Dataset, checked
    sample_rows(dataset, SAMPLE_ROWS)         a uniform sample, in one streaming pass
    TableEncoder().fit(sample)                bins and vocabularies from the sample
    encode_dataset(encoder, dataset, path)    every row's tokens, in an .npy file (N, L)
    predict_to_parquet(model, source, out)    predictions, written batch by batch

Why a sample of ``SAMPLE_ROWS`` = 1,000,000 rows is enough to fit the encoder on:

- Bin edges are quantiles. The q-quantile of a uniform sample of n rows sits at rank
  q +- ``sqrt(q (1 - q) / n)`` in the full table (one standard deviation; at most
  ``0.5 / sqrt(n)`` = 5e-4 for n = 10**6, so within ~1e-3), and a bin meant to hold a
  share p holds p +- ``sqrt(p (1 - p) / n)`` of the full table: 10% +- 0.03% for 10 bins
  (``wordexperts_bench.stream_memory`` measures it). Values outside the sample's range land
  in the first or last bin, as any value outside the training range does. A column with
  at most ``n_bins`` distinct values in the sample gets one bin per value; a value the
  sample missed then shares the bin of its nearer neighbour.
- Categories come from the rows sampled. A category seen nowhere in the sample (one with a
  frequency well below 1 / n, under one row in a million) is, to the fitted encoder, a value
  never seen in training: it takes its column's unknown token, as the encoder maps every
  unseen value. ``max_categories`` (the encoder's default 1,000; the estimators' 300) then
  keeps the most frequent categories *of the sample*; a category whose count is near the
  cut-off's may swap places with one just below it (a count of c in the sample is c +- sqrt(c)),
  so the kept set is the full table's top up to categories of near-equal frequency.

Memory: encoding and prediction hold one batch of ``BATCH_ROWS`` rows (and the row group it
is read from); sampling holds about 1.25 times the sample, and twice the sample while it
becomes a DataFrame. Measured (``wordexperts_bench.stream_memory``, 20,000,000 rows x 16
columns, 868 MB of Parquet, 2 cores): a peak of 835 MB for the whole process, of which 364 MB
is the imports (torch) and the rest the 1,000,000-row sample; encoding held 235 MB above what
it started with, at about 720,000 rows a second, into a 610 MB token file.

Columns are matched by name: the fitted columns are read from the files, any other columns
(a target, an identifier) are left unread. Every file's own schema is checked first, because
a Parquet dataset reads a column one file lacks as all missing, silently.

Examples:
    >>> import tempfile
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> from wordexperts.tabular.encoding import TableEncoder
    >>> folder = Path(tempfile.mkdtemp())
    >>> pq.write_table(pa.table({"colour": ["red", "blue"] * 50, "size": np.arange(100.0)}), folder / "a.parquet")
    >>> dataset = open_dataset(folder / "a.parquet")
    >>> encoder = TableEncoder(n_bins=4).fit(sample_rows(dataset, 1_000, seed=0))
    >>> tokens = encode_dataset(encoder, dataset, folder / "tokens.npy")
    >>> tokens.shape, tokens.dtype, tokens[:2].tolist()
    ((100, 2), dtype('uint8'), [[1, 4], [0, 4]])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from sklearn.utils.validation import check_is_fitted

from ..checks import check_positive_int, is_int
from ..errors import ConfigError, ConfigTypeError, DataError, DataNotFoundError
from ..files import new_file_mode
from .encoding import TableEncoder

__all__ = [
    "BATCH_ROWS",
    "SAMPLE_ROWS",
    "DataNotFoundError",
    "check_columns",
    "encode_dataset",
    "open_dataset",
    "answer_dataset",
    "predict_to_parquet",
    "sample_rows",
    "select_columns",
    "token_dtype",
]

SAMPLE_ROWS = 1_000_000  # rows the encoder is fitted on: bin edges within ~1e-3 in rank (module docstring)
BATCH_ROWS = 131_072  # rows read, encoded or predicted at a time: 64 of the estimators' PREDICT_CHUNK
# Batches Dataset.to_batches decodes ahead of the one being worked on (its default, 16 batches of
# 4 files at once, holds up to 64 batches in memory), for datasets that are not plain Parquet files.
_BATCH_READAHEAD = 2
_FRAGMENT_READAHEAD = 1
# The sample keeps up to this share of n beyond n before dropping the rows with the largest keys.
_SAMPLE_SLACK = 0.25
_PARQUET_MAGIC = b"PAR1"


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------


def _is_parquet(path: Path) -> bool:
    """Whether ``path`` starts and ends with Parquet's magic bytes (no footer read)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(0, os.SEEK_END)
            if f.tell() < 12:  # magic, footer length, magic
                return False
            f.seek(-4, os.SEEK_END)
            return head == _PARQUET_MAGIC and f.read(4) == _PARQUET_MAGIC
    except OSError:
        return False


def _data_files(folder: Path) -> list[Path]:
    """The files of a dataset folder, sorted, skipping names that start with ``.`` or ``_``
    (pyarrow's convention: ``_SUCCESS``, ``_metadata``, hidden temporary files) at any depth."""
    found = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if path.is_file() and not any(p.startswith((".", "_")) for p in parts):
            found.append(path)
    return sorted(found)


def open_dataset(source: str | os.PathLike | ds.Dataset) -> ds.Dataset:
    """``source`` as a pyarrow Dataset: a Parquet file, a folder of Parquet files, or a Dataset.

    A folder's files are read in the order of their sorted paths, at any depth; names that
    start with ``.`` or ``_`` are skipped (``_SUCCESS``, ``_metadata``, hidden files), and
    every other file must be Parquet. A Dataset passes through, checked for rows.

    Raises:
        DataNotFoundError (a DataError and a FileNotFoundError): ``source`` does not exist.
        DataError: a file that is not Parquet (named), a folder without data files, no rows.

    Examples:
        >>> import tempfile
        >>> import pyarrow as pa, pyarrow.parquet as pq
        >>> folder = Path(tempfile.mkdtemp())
        >>> for i in range(2):
        ...     pq.write_table(pa.table({"x": [i, i]}), folder / f"part-{i}.parquet")
        >>> open_dataset(folder).count_rows()
        4
        >>> (folder / "notes.txt").write_text("hello")
        5
        >>> open_dataset(folder)
        Traceback (most recent call last):
        ...
        wordexperts.errors.DataError: '.../notes.txt' is not a Parquet file (a dataset folder holds Parquet files only; names starting with '.' or '_' are skipped)
    """
    if isinstance(source, ds.Dataset):
        dataset = source
        where = "the dataset"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataNotFoundError(f"data {str(path)!r} does not exist")
        if path.is_dir():
            files = _data_files(path)
            if not files:
                raise DataError(
                    f"folder {str(path)!r} holds no data files (names starting with '.' or '_' are skipped)"
                )
            hint = " (a dataset folder holds Parquet files only; names starting with '.' or '_' are skipped)"
        else:
            files, hint = [path], "; convert it first, e.g. pandas.read_csv(...).to_parquet(...)"
        for file in files:
            if not _is_parquet(file):
                raise DataError(f"{str(file)!r} is not a Parquet file{hint}")
        try:
            dataset = ds.dataset([str(f) for f in files], format="parquet")
        except (pa.ArrowInvalid, OSError) as error:
            raise DataError(f"could not read {str(path)!r} as Parquet: {error}") from None
        where = repr(str(path))
    else:
        raise ConfigTypeError(
            f"source must be a path to a Parquet file or folder, or a pyarrow Dataset, got {type(source).__name__}"
        )
    if dataset.count_rows() == 0:
        raise DataError(f"{where} has no rows")
    return dataset


def _fragments(dataset: ds.Dataset) -> Iterator[tuple[str, pa.Schema]]:
    """Each file of ``dataset`` (or ``"the dataset"`` for one in memory) with its own schema."""
    for fragment in dataset.get_fragments():
        where = getattr(fragment, "path", None)
        try:
            schema = fragment.physical_schema
        except (pa.ArrowInvalid, OSError) as error:
            raise DataError(f"could not read the schema of {where!r}: {error}") from None
        yield (repr(where) if where else "the dataset"), schema


def _accepts(kind: str, value_type: str | None, arrow_type: pa.DataType) -> bool:
    """Whether a column of ``arrow_type`` reads (through pandas) into a fitted column of ``kind``."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_null(arrow_type):
        return True  # every value missing
    number = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    if kind == "numeric" or value_type in ("int", "float"):
        return number
    if value_type == "bool":
        return pa.types.is_boolean(arrow_type)
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type)


def _expected(encoder: TableEncoder, name: str) -> str:
    if encoder.kinds_[name] == "numeric":
        return "numbers (a numeric column)"
    value_type = encoder.category_types_[name]
    return f"{value_type} values (a categorical column)" + (
        "; ints and floats both read as ints or floats" if value_type in ("int", "float") else ""
    )


def _check_files(dataset: ds.Dataset, needs: list[tuple[str, str, Any]]) -> None:
    """Every file of ``dataset`` has each needed column: ``(name, label, rule)`` where ``rule`` is
    ``None`` (any type) or ``(kind, value_type, expected)`` for :func:`_accepts`."""
    for where, schema in _fragments(dataset):
        names = set(schema.names)
        for name, label, rule in needs:
            if name not in names:
                raise DataError(f"column {label} is missing from {where}, whose columns are {schema.names}")
            arrow_type = schema.field(name).type
            if rule is not None and not _accepts(rule[0], rule[1], arrow_type):
                raise DataError(
                    f"column {label} in {where} has type {arrow_type}, but the encoder reads {rule[2]} there"
                )


def _rules(encoder: TableEncoder, names: list[str]) -> list[Any]:
    return [(encoder.kinds_[c], encoder.category_types_.get(c), _expected(encoder, c)) for c in names]


def check_columns(
    dataset: ds.Dataset, encoder: TableEncoder, *, rename: dict[str, str] | None = None, extra: list[str] = ()
) -> list[str]:
    """Check that every file of ``dataset`` holds the encoder's columns, with types it can read.

    Looks at each file's own schema (its footer, no rows read). A fitted column is read from
    the dataset column of the same name, or from the one ``rename`` maps to it
    (``{dataset name: fitted name}``, e.g. ``{"y": "<target>"}``); ``extra`` names further
    columns that must be there, of any type (an identifier to carry along). The encoder must
    have been fitted on named columns.

    Type rules, by the fitted column: numeric and int / float categories read integer and
    floating columns; str categories read string columns; bool categories boolean columns;
    dictionary-encoded columns go by their values; an all-null column fits any.

    Returns:
        The dataset columns to read, in the encoder's column order, then ``extra``.

    Raises:
        ConfigError: an encoder fitted without column names, or ``rename`` naming a column
            the encoder does not have.
        DataError: naming the column and the file, for a column missing or of a type the
            encoder cannot read.

    Examples:
        >>> from wordexperts.tabular.encoding import TableEncoder
        >>> encoder = TableEncoder().fit(pd.DataFrame({"age": [30.0, 40.0], "city": ["a", "b"]}))
        >>> dataset = ds.dataset(pa.table({"city": ["a"], "age": ["old"]}))
        >>> check_columns(dataset, encoder)
        Traceback (most recent call last):
        ...
        wordexperts.errors.DataError: column 'age' in the dataset has type string, but the encoder reads numbers (a numeric column) there
    """
    check_is_fitted(encoder, "vocab_size_")
    if not encoder.names_given_:
        raise ConfigError(
            "the encoder was fitted without column names (an array?); fit it on a frame whose columns are the "
            "dataset's, e.g. sample_rows(dataset, ...)"
        )
    source_of = {fitted: name for name, fitted in (rename or {}).items()}
    unknown = sorted(set(source_of) - set(encoder.columns_))
    if unknown:
        raise ConfigError(f"rename maps to columns {unknown}, which the encoder was not fitted on: {encoder.columns_}")
    read = [source_of.get(name, name) for name in encoder.columns_]
    labels = [repr(r) if r == c else f"{r!r} (read as {c!r})" for r, c in zip(read, encoder.columns_)]
    extra = [c for c in extra if c not in read]
    needs = [*zip(read, labels, _rules(encoder, encoder.columns_)), *((c, repr(c), None) for c in extra)]
    _check_files(dataset, needs)
    return [*read, *extra]


def _plain_parquet(dataset: ds.Dataset) -> bool:
    """Whether ``dataset`` is Parquet files and nothing more: no partition columns, no filter."""
    partitioning = getattr(dataset, "partitioning", None)
    return (
        isinstance(dataset, ds.FileSystemDataset)
        and isinstance(dataset.format, ds.ParquetFileFormat)
        and (partitioning is None or len(partitioning.schema) == 0)
        and not getattr(dataset, "_scan_options", None)
    )


def _cast(batch: pa.RecordBatch, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """``batch`` with the dataset's column types (a file may store a column differently)."""
    arrays = []
    for field in schema:
        column = batch.column(field.name)
        try:
            arrays.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise DataError(
                f"column {field.name!r} in {where!r} has type {column.type}, which does not convert to the "
                f"dataset's {field.type} (the first file's): {error}"
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _file_batches(dataset: ds.Dataset, names: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The dataset's batches as the reader gives them (sizes follow the files' row groups)."""
    if not _plain_parquet(dataset):
        yield from dataset.to_batches(
            columns=names,
            batch_size=batch_rows,
            batch_readahead=_BATCH_READAHEAD,
            fragment_readahead=_FRAGMENT_READAHEAD,
        )
        return
    schema = pa.schema([dataset.schema.field(name) for name in names])
    for path in dataset.files:
        with dataset.filesystem.open_input_file(path) as f:
            for batch in pq.ParquetFile(f, pre_buffer=False).iter_batches(batch_size=batch_rows, columns=names):
                if batch.schema.names != names:
                    batch = batch.select(names)
                yield batch if batch.schema.equals(schema) else _cast(batch, schema, path)


def _batches(dataset: ds.Dataset, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """``dataset``'s rows in order, with the dataset's column types, in batches of exactly
    ``batch_rows`` rows (the last one fewer): batch k holds rows ``k * batch_rows`` up to
    ``(k + 1) * batch_rows``, whatever the files' row groups are.

    Plain Parquet files are read one after the other with ``ParquetFile.iter_batches``, which
    holds about one batch and the row group it comes from. ``Dataset.to_batches`` decodes
    ahead in background threads, and behind a consumer slower than the reading (the encoder,
    a model) it held more the slower the consumer: encoding 4,000,000 rows x 16 columns it
    took 470-590 MB above the start against 190-210 MB this way (see also apache/arrow#39808).
    Other datasets (partitioned, filtered, in memory) go through ``to_batches`` with its
    read-ahead turned down.
    """
    names = list(dataset.schema.names if columns is None else columns)
    waiting: list[pa.RecordBatch] = []
    count = 0
    for batch in _file_batches(dataset, names, batch_rows):
        if count == 0 and batch.num_rows == batch_rows:
            yield batch  # the common case: no copy
            continue
        waiting.append(batch)
        count += batch.num_rows
        while count >= batch_rows:
            table = pa.Table.from_batches(waiting)
            yield _one_batch(table.slice(0, batch_rows))
            rest = table.slice(batch_rows)
            waiting, count = ([_one_batch(rest)] if rest.num_rows else []), rest.num_rows
    if count:
        yield _one_batch(pa.Table.from_batches(waiting))


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    """``table``'s rows (at least one) as one record batch: chunks joined, dictionaries unified."""
    return table.combine_chunks().to_batches()[0]


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------


def sample_rows(
    source: str | os.PathLike | ds.Dataset,
    n: int = SAMPLE_ROWS,
    *,
    seed: int = 0,
    columns: list[str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> pd.DataFrame:
    """A uniform random sample of ``min(n, N)`` of the dataset's N rows, read in one pass.

    Every row draws a key, uniform in [0, 1), from one ``numpy.random.default_rng(seed)``
    stream in row order; the sample is the n rows with the smallest keys (bottom-k sampling:
    every set of n rows is equally likely). Rows whose key cannot make the n smallest are
    dropped as they are read; when ``1.25 n`` rows wait, those beyond the n smallest keys
    go, piece by piece. Memory is bounded by about ``1.25 n`` rows and a few batches,
    whatever N is, and at the end by the sample twice over while it becomes a DataFrame. The
    keys follow rows, not batches: the same seed and files give the same sample at any
    ``batch_rows``. With ``n >= N`` the sample is the whole table.

    Shape:
        Returns ``(min(n, N), n_columns)``, rows in the dataset's order; the index (named
        ``"row"``) holds each row's position in the dataset.

    Examples:
        >>> dataset = ds.dataset(pa.table({"x": np.arange(10)}))
        >>> sample = sample_rows(dataset, 4, seed=1)
        >>> sample["x"].tolist() == sample.index.tolist(), len(sample)
        (True, 4)
        >>> sample.equals(sample_rows(dataset, 4, seed=1, batch_rows=3))
        True
    """
    dataset = open_dataset(source)
    n = check_positive_int("n", n)
    batch_rows = check_positive_int("batch_rows", batch_rows)
    if not is_int(seed):
        raise ConfigTypeError(f"seed must be an int, got {seed!r}")
    if columns is not None:
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise DataError(f"columns {missing} are not in the dataset, whose columns are {dataset.schema.names}")
    names = list(dataset.schema.names if columns is None else columns)
    _check_files(dataset, [(name, repr(name), None) for name in names])  # a file without one reads it as missing
    rng = np.random.default_rng(seed)
    limit = n + max(1, int(_SAMPLE_SLACK * n))
    # Rows kept so far, in the dataset's order, piece by piece: a batch's rows, its rows' keys and positions.
    pieces: list[pa.RecordBatch] = []
    keys: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    threshold, kept, start = np.inf, 0, 0
    schema = None

    def compact() -> None:
        """Keep the n smallest keys, piece by piece: no piece is copied whole, order stays."""
        nonlocal threshold, kept
        everything = np.concatenate(keys)  # (kept,) 8 bytes a row
        keep = np.zeros(len(everything), dtype=bool)
        keep[np.argpartition(everything, n - 1)[:n]] = True
        cut = np.cumsum([len(k) for k in keys])[:-1]
        for i, mask in enumerate(np.split(keep, cut)):
            pieces[i] = pieces[i].filter(pa.array(mask))
            keys[i], positions[i] = keys[i][mask], positions[i][mask]
        threshold, kept = float(everything[keep].max()), n  # n keys below it: a larger one never makes the sample

    for batch in _batches(dataset, names, batch_rows):
        schema = batch.schema
        drawn = rng.random(batch.num_rows)  # (rows,)
        chosen = drawn < threshold
        if chosen.all():
            pieces.append(batch)
            keys.append(drawn)
            positions.append(start + np.arange(batch.num_rows))
        elif chosen.any():
            pieces.append(batch.filter(pa.array(chosen)))
            keys.append(drawn[chosen])
            positions.append(start + np.flatnonzero(chosen))
        kept += int(chosen.sum())
        start += batch.num_rows
        if kept > limit:
            compact()
    if schema is None:
        raise DataError("the dataset has no rows")
    if kept > n:
        compact()
    index = pd.Index(np.concatenate(positions), name="row")
    table = pa.Table.from_batches(pieces, schema=schema)
    pieces.clear()  # the table holds the only reference: its columns are freed as they convert
    del batch
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    frame.index = index
    return frame


# ---------------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------------


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest of uint8, int16, int32 that holds tokens ``0 .. vocab_size`` (the mask token too).

    Examples:
        >>> token_dtype(255), token_dtype(256), token_dtype(40_000)
        (dtype('uint8'), dtype('int16'), dtype('int32'))
    """
    vocab_size = check_positive_int("vocab_size", vocab_size)
    for dtype in (np.uint8, np.int16, np.int32):
        if vocab_size <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ConfigError(f"vocab_size {vocab_size} does not fit in int32")


def _temporary_beside(path: Path) -> Path:
    """A new empty file in ``path``'s folder (hidden, so a dataset folder skips it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(name, new_file_mode())  # mkstemp makes 0600; the finished file gets the usual mode
    return Path(name)


def _batch_frame(batch: pa.RecordBatch, read: list[str], fitted: list[str]) -> pd.DataFrame:
    frame = batch.select(read).to_pandas()
    return frame if read == fitted else frame.set_axis(fitted, axis=1)


def encode_dataset(
    encoder: TableEncoder,
    source: str | os.PathLike | ds.Dataset,
    path: str | os.PathLike | None = None,
    *,
    batch_rows: int = BATCH_ROWS,
    rename: dict[str, str] | None = None,
) -> np.memmap:
    """Every row's tokens, encoded batch by batch into an ``.npy`` file, opened as a memmap.

    The columns are checked first (:func:`check_columns`, every file). Each batch becomes a
    frame and goes through ``encoder.transform``, so the tokens equal those of the whole
    table encoded at once. They are written with plain file writes behind the ``.npy``
    header, not through the map, so the process holds one batch (the written pages sit in
    the page cache, which the kernel may drop, not in this process's memory).

    The file is written as a hidden temporary file beside ``path`` and renamed into place
    when complete: an error or KeyboardInterrupt midway leaves no file (and any old one as
    it was). ``path=None``: a temporary file, deleted as soon as it is mapped, so it lives
    as long as the returned array (for use in this process only).

    Reading it back: ``numpy.load(path, mmap_mode="r")``. A batch of rows by index is
    ``tokens[np.sort(rows)]`` (an in-memory copy; sorted indices read the file in order),
    then ``.astype(np.int64)`` for ``torch.as_tensor(..., dtype=torch.long)``.

    Shape:
        Returns a read-only memmap ``(N, L)``, ``L = encoder.n_columns_``, of
        :func:`token_dtype` ``(encoder.vocab_size_)``, rows in the dataset's order.

    Raises:
        DataError: a column missing from a file or of the wrong type (naming both), a value
            the encoder refuses (naming the column), a row count that changed while reading.

    Examples:
        >>> from wordexperts.tabular.encoding import TableEncoder
        >>> table = pa.table({"city": ["a", "b", None], "age": [30.0, 40.0, 50.0]})
        >>> encoder = TableEncoder(n_bins=2).fit(table.to_pandas())
        >>> tokens = encode_dataset(encoder, ds.dataset(table), batch_rows=2)
        >>> tokens.tolist() == encoder.transform(table.to_pandas()).tolist()
        True
    """
    dataset = open_dataset(source)
    batch_rows = check_positive_int("batch_rows", batch_rows)
    read = check_columns(dataset, encoder, rename=rename)
    n_rows, n_columns = dataset.count_rows(), encoder.n_columns_
    dtype = token_dtype(int(encoder.vocab_size_))
    final = None if path is None else Path(path)
    if final is None:
        fd, name = tempfile.mkstemp(prefix="wordexperts-tokens-", suffix=".npy")
        os.close(fd)
        temporary = Path(name)
    else:
        temporary = _temporary_beside(final)
    try:
        header = np.lib.format.open_memmap(temporary, mode="w+", dtype=dtype, shape=(n_rows, n_columns))
        offset = header.offset
        del header  # the header is written and the file sized; the rows go in by plain writes
        written = 0
        with open(temporary, "r+b") as f:
            f.seek(offset)
            for batch in _batches(dataset, read, batch_rows):
                if written + batch.num_rows > n_rows:
                    raise DataError(f"the dataset grew while it was read: more than {n_rows} rows")
                tokens = encoder.transform(_batch_frame(batch, read, encoder.columns_))  # (rows, L) int64
                f.write(np.ascontiguousarray(tokens, dtype=dtype).tobytes())
                written += batch.num_rows
        if written != n_rows:
            raise DataError(f"the dataset shrank while it was read: {written} rows of {n_rows}")
        if final is not None:
            os.replace(temporary, final)
            return np.lib.format.open_memmap(final, mode="r")
        tokens = np.lib.format.open_memmap(temporary, mode="r")
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the map keeps the file's pages; the name can go
        temporary.unlink()
    return tokens


# ---------------------------------------------------------------------------------------------
# prediction
# ---------------------------------------------------------------------------------------------


def _prediction_columns(estimator: Any, proba: bool, name: str = "prediction") -> list[str]:
    return [name, *(f"proba_{c}" for c in estimator.classes_)] if proba else [name]


def select_columns(source: str | os.PathLike | ds.Dataset, names: list[str]) -> ds.Dataset:
    """The dataset read as only its columns ``names`` (a projection; nothing is read now).

    Examples:
        >>> table = pa.table({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})
        >>> select_columns(ds.dataset(table), ["c", "a"]).to_table().column_names
        ['c', 'a']
    """
    dataset = open_dataset(source)
    missing = [n for n in names if n not in dataset.schema.names]
    if missing:
        raise DataError(f"columns {missing} are not in the data; its columns are {dataset.schema.names}")
    schema = pa.schema([dataset.schema.field(n) for n in names])
    if isinstance(dataset, ds.FileSystemDataset):
        return ds.dataset(dataset.files, format=dataset.format, filesystem=dataset.filesystem, schema=schema)
    return ds.dataset(dataset.to_table(columns=names))


def _fitted_features(estimator: Any) -> list[str]:
    """The feature columns a fitted estimator reads by name; an error for one fitted without names."""
    check_is_fitted(estimator)
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise ConfigError(
            f"{type(estimator).__name__} was fitted without column names (an array?); fit it on a frame whose "
            f"columns are the dataset's to predict from Parquet"
        )
    return [str(c) for c in names]


def answer_dataset(
    estimator: Any, source: str | os.PathLike | ds.Dataset, method: str, *, batch_rows: int = BATCH_ROWS
) -> np.ndarray | pd.DataFrame:
    """``getattr(estimator, method)`` over every row of a dataset, ``batch_rows`` at a time: the answers
    of the batches concatenated, rows in the dataset's order (a frame where ``method`` gives frames).

    The estimator's feature columns are read by name and checked first, as in
    :func:`predict_to_parquet`, whose notes on bitwise equality with one call hold here too.
    Memory holds the answers and one batch, not the table.
    """
    names = _fitted_features(estimator)
    batch_rows = check_positive_int("batch_rows", batch_rows)
    dataset = open_dataset(source)
    features = names
    encoder = getattr(estimator, "encoder_", None)
    rules = _rules(encoder, features) if isinstance(encoder, TableEncoder) else [None] * len(features)
    _check_files(dataset, list(zip(features, map(repr, features), rules)))
    answers = [getattr(estimator, method)(batch.to_pandas()) for batch in _batches(dataset, features, batch_rows)]
    if isinstance(answers[0], pd.DataFrame):
        return pd.concat(answers, ignore_index=True)
    return np.concatenate(answers)


def predict_to_parquet(
    estimator: Any,
    source: str | os.PathLike | ds.Dataset,
    out_path: str | os.PathLike,
    *,
    batch_rows: int = BATCH_ROWS,
    columns: list[str] | None = None,
    proba: bool = False,
    prediction_name: str = "prediction",
) -> Path:
    """Predict every row of a dataset batch by batch and write the answers to a Parquet file.

    ``estimator`` is a fitted classifier or regressor (anything with ``predict`` and
    ``feature_names_in_``): its feature columns are read from the dataset by name, each
    batch goes through ``estimator.predict`` (or ``predict_proba`` with ``proba=True``), and
    the answers are appended to the file. Output columns: ``columns`` (copied as they are,
    e.g. an identifier), then ``prediction_name`` (``"prediction"``), and with ``proba`` one
    ``"proba_{class}"`` column per class in the order of ``classes_``. Rows keep the dataset's order.

    The answers are those of ``predict`` on the whole table at once, bit for bit, when
    ``batch_rows`` is a multiple of the estimators' ``PREDICT_CHUNK`` (2048; the default
    131,072 is): the model then runs on the same chunks of rows. Other batch sizes agree to
    float32 rounding (about 1e-7 in a probability), since a matrix product's rounding may
    depend on how many rows it takes at once.

    Every file's columns are checked before any prediction (:func:`check_columns`). The file
    is written as a hidden temporary file in ``out_path``'s folder and renamed into place at
    the end: an error or KeyboardInterrupt midway leaves no file (an old one stays as it was).

    Raises:
        ConfigError: an estimator fitted without column names, without ``predict_proba``
            (``proba=True``), or a carried column named like an output column.
        DataError: a feature or carried column missing from a file, or of a type the
            fitted encoder cannot read, naming the column and the file.

    Returns:
        ``out_path`` as a Path.

    Examples:
        >>> import tempfile
        >>> from wordexperts.tabular import WordExpertsClassifier
        >>> table = pa.table({"id": np.arange(40), "x": ["a", "b"] * 20, "y": ["u", "v"] * 20})
        >>> frame = table.to_pandas()
        >>> model = WordExpertsClassifier(epochs=2, random_state=0).fit(frame[["x"]], frame["y"])
        >>> out = predict_to_parquet(model, ds.dataset(table), Path(tempfile.mkdtemp()) / "p.parquet", columns=["id"])
        >>> written = pq.read_table(out).to_pandas()
        >>> list(written.columns), written["prediction"].tolist() == model.predict(frame[["x"]]).tolist()
        (['id', 'prediction'], True)
    """
    names = _fitted_features(estimator)
    method = "predict_proba" if proba else "predict"
    if not callable(getattr(estimator, method, None)):
        raise ConfigError(f"{type(estimator).__name__} has no {method}")
    batch_rows = check_positive_int("batch_rows", batch_rows)
    if columns is not None and isinstance(columns, str):
        raise ConfigTypeError(f"columns must be a list of column names, got {columns!r}")
    carried = list(columns or [])
    outputs = _prediction_columns(estimator, proba, prediction_name)
    clash = sorted(set(carried) & set(outputs))
    if clash:
        raise ConfigError(f"columns {clash} would clash with the output columns {outputs}; rename them first")
    dataset = open_dataset(source)
    features = names
    encoder = getattr(estimator, "encoder_", None)  # ours; another library's estimator: names only
    rules = _rules(encoder, features) if isinstance(encoder, TableEncoder) else [None] * len(features)
    extra = [c for c in carried if c not in features]
    _check_files(dataset, [*zip(features, map(repr, features), rules), *((c, repr(c), None) for c in extra)])
    read = [*features, *extra]
    out = Path(out_path)
    temporary = _temporary_beside(out)
    writer = None
    try:
        for batch in _batches(dataset, read, batch_rows):
            answers = np.asarray(getattr(estimator, method)(batch.select(features).to_pandas()))
            arrays = [batch.column(c) for c in carried]
            if proba:  # the label as the classifier's predict gives it, then each class's probability
                arrays.append(pa.array(np.asarray(estimator.classes_)[answers.argmax(axis=1)]))
                arrays += [pa.array(answers[:, k]) for k in range(answers.shape[1])]  # (rows,) each
            else:
                arrays.append(pa.array(answers))
            table = pa.Table.from_arrays(arrays, names=[*carried, *outputs])
            if writer is None:
                writer = pq.ParquetWriter(temporary, table.schema)
            writer.write_table(table.cast(writer.schema))
        writer.close()
        writer = None
        os.replace(temporary, out)
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        temporary.unlink(missing_ok=True)
        raise
    return out
