"""A table larger than memory, end to end without the model: memory and rows per second.

:func:`stream_memory` writes a Parquet dataset of ``rows`` x 16 columns (8 numeric, 8
categorical; :func:`write_dataset`, one chunk of rows at a time), then runs the steps of
:mod:`wordexperts.tabular.stream` and measures each:

    sample    sample_rows(dataset, SAMPLE_ROWS): one pass over the files
    fit       TableEncoder.fit on the sample
    encode    encode_dataset to a token file (N, 16)
    check     the full table's share of rows in each bin against the sample's (read from the
              token file with plain reads)

For every phase: seconds, rows per second, and the peak resident memory of the process
during that phase (Linux: the peak is reset between phases through ``/proc/self/clear_refs``;
elsewhere it is the peak so far). ``baseline_mb`` is the memory after the imports (torch
among them, through :mod:`wordexperts.tabular`). Run it under ``/usr/bin/time -v`` for the
whole process's peak::

    /usr/bin/time -v python -m wordexperts_bench.stream_memory --rows 20000000 --no-reset

(``--no-reset``: the per-phase peaks reset the one ``time`` reads.) ``--quick`` (200,000
rows, a 20,000-row sample) is the CI form.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from wordexperts.checks import check_positive_int
from wordexperts.tabular.encoding import TableEncoder
from wordexperts.tabular.stream import BATCH_ROWS, SAMPLE_ROWS, encode_dataset, open_dataset, sample_rows

ROWS_PER_FILE = 1_000_000
N_BINS = 10
MAX_CATEGORIES = 300  # the estimators' default
# Categorical columns: name -> number of levels (Zipf-like frequencies), "c6" holds ints.
LEVELS = {"c1": 3, "c2": 12, "c3": 50, "c4": 1_000, "c5": 20_000, "c6": 31, "c7": 8}


def _peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (``ru_maxrss`` is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _current_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return _peak_mb()


def _release_memory() -> None:
    """Hand freed memory back to the system (Python's garbage, Arrow's pool, glibc's heap), so
    a phase's peak is not flattered or inflated by what the phase before kept cached."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak() -> bool:
    """Reset the peak resident memory to the current one (Linux >= 4.0); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _zipf_codes(rng: np.random.Generator, levels: int, n: int) -> np.ndarray:
    """``n`` codes in ``0 .. levels - 1``, code k drawn with weight 1 / (k + 1)."""
    weights = 1.0 / np.arange(1, levels + 1)
    return np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(n), side="right").clip(0, levels - 1)


def _strings(codes: np.ndarray, prefix: str, missing: np.ndarray | None = None) -> pa.Array:
    """Plain string column from codes (built as a dictionary array, then cast: no python strings per row)."""
    levels = int(codes.max()) + 1
    dictionary = pa.array([f"{prefix}{k}" for k in range(levels)])
    indices = pa.array(codes.astype(np.int32), mask=missing)
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def generate_chunk(rows: int, seed: int) -> pa.Table:
    """``rows`` rows of the benchmark's 16 columns, from ``seed``.

    Numeric: ``n0`` normal, ``n1`` lognormal (2% missing), ``n2`` Poisson(3) ints (few
    values: one bin each), ``n3`` ints up to a million, ``n4`` float32 uniform, ``n5``
    exponential (10% missing), ``n6`` int32 ages 18-90, ``n7`` 60% zeros then a long tail.
    Categorical: ``c0`` bool, ``c1``-``c5`` strings of 3 to 20,000 levels (``c2`` 5% missing),
    ``c6`` int codes (listed as categorical), ``c7`` a dictionary-encoded string column.

    Examples:
        >>> table = generate_chunk(5, seed=0)
        >>> table.num_columns, table.num_rows, str(table.schema.field("c7").type)
        (16, 5, 'dictionary<values=string, indices=int32, ordered=0>')
    """
    rng = np.random.default_rng(seed)
    lognormal = rng.lognormal(size=rows)
    lognormal[rng.random(rows) < 0.02] = np.nan
    exponential = rng.exponential(size=rows)
    exponential[rng.random(rows) < 0.1] = np.nan
    tail = np.where(rng.random(rows) < 0.6, 0.0, rng.pareto(2.0, rows))
    columns = {
        "n0": rng.normal(size=rows),
        "n1": lognormal,
        "n2": rng.poisson(3.0, rows),
        "n3": rng.integers(0, 1_000_000, rows),
        "n4": rng.random(rows, dtype=np.float32),
        "n5": exponential,
        "n6": rng.integers(18, 91, rows).astype(np.int32),
        "n7": tail,
        "c0": rng.random(rows) < 0.3,
    }
    for name in ("c1", "c2", "c3", "c4", "c5"):
        missing = rng.random(rows) < 0.05 if name == "c2" else None
        columns[name] = _strings(_zipf_codes(rng, LEVELS[name], rows), f"{name}_", missing)
    columns["c6"] = _zipf_codes(rng, LEVELS["c6"], rows).astype(np.int64)
    columns["c7"] = _strings(_zipf_codes(rng, LEVELS["c7"], rows), "c7_").dictionary_encode()
    return pa.table(columns)


def write_dataset(
    folder: str | os.PathLike,
    *,
    rows: int,
    rows_per_file: int = ROWS_PER_FILE,
    row_group_rows: int | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write ``rows`` generated rows as Parquet files of ``rows_per_file`` rows into ``folder``.

    One chunk is in memory at a time; file ``k`` holds chunk ``k`` (:func:`generate_chunk`
    with seed ``seed * 1_000_003 + k``), named so that sorted order is row order. Row groups
    of ``row_group_rows`` rows (``None``: pyarrow's default, 1,048,576): a reader holds
    about one row group's columns at a time.

    Examples:
        >>> import tempfile
        >>> paths = write_dataset(tempfile.mkdtemp(), rows=25, rows_per_file=10)
        >>> [p.name for p in paths], pq.read_metadata(paths[-1]).num_rows
        (['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet'], 5)
    """
    rows = check_positive_int("rows", rows)
    rows_per_file = check_positive_int("rows_per_file", rows_per_file)
    row_group_rows = check_positive_int("row_group_rows", row_group_rows, optional=True)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, start in enumerate(range(0, rows, rows_per_file)):
        path = folder / f"part-{k:05d}.parquet"
        chunk = generate_chunk(min(rows_per_file, rows - start), seed * 1_000_003 + k)
        pq.write_table(chunk, path, **({"row_group_size": row_group_rows} if row_group_rows else {}))
        paths.append(path)
    return paths


def _bin_share_error(path: Path, encoder: TableEncoder, *, chunk_rows: int = 1_000_000) -> dict:
    """Per numeric column, the largest gap between a bin's share of the full table and its
    share of the sample the encoder was fitted on; per categorical column, the full table's
    share of unknown tokens. Read with plain file reads, so the token file is never mapped."""
    tokens = np.load(path, mmap_mode="r")
    n_rows, n_columns = tokens.shape
    dtype, offset = tokens.dtype, tokens.offset
    del tokens
    counts = np.zeros(int(encoder.vocab_size_), dtype=np.int64)
    with open(path, "rb") as f:
        f.seek(offset)
        for start in range(0, n_rows, chunk_rows):
            rows = min(chunk_rows, n_rows - start)
            block = np.fromfile(f, dtype=dtype, count=rows * n_columns)  # (rows * L,)
            counts += np.bincount(block, minlength=len(counts))
    bins, unknown = {}, {}
    for name in encoder.columns_:
        values = counts[encoder.column_tokens(name)]
        if encoder.kinds_[name] == "numeric":
            sample = encoder.bin_counts_[name] / encoder.bin_counts_[name].sum()
            full = values / values.sum()
            bins[name] = float(np.abs(full - sample).max())
        else:
            unknown[name] = float(counts[encoder.unknown_token(name)] / n_rows)
    return {"max_bin_share_gap": bins, "unknown_share": unknown}


def stream_memory(
    *,
    rows: int = 20_000_000,
    folder: str | os.PathLike | None = None,
    generate: bool = True,
    n_sample: int = SAMPLE_ROWS,
    batch_rows: int = BATCH_ROWS,
    row_group_rows: int | None = None,
    seed: int = 0,
    keep: bool = False,
    reset_peaks: bool = True,
) -> dict:
    """Generate (unless ``generate=False``: ``folder`` holds the dataset already), sample, fit,
    encode and check a ``rows`` x 16 table; seconds, rows per second and peak memory by phase.

    ``folder`` (default: a temporary folder) receives ``data/`` (the Parquet files) and
    ``tokens.npy``; what this run wrote is deleted at the end unless ``keep``.

    Before each phase, freed memory goes back to the system and (with ``reset_peaks``, on
    Linux) the peak is reset, so ``start_mb`` is what the phase found and ``peak_mb`` the most
    it held. Resetting the peak also resets the one ``/usr/bin/time -v`` reports at exit, so
    run with ``reset_peaks=False`` (``--no-reset``) for the process's true peak.

    Returns:
        ``{"rows", "columns", "files", "parquet_mb", "tokens_mb", "token_dtype", "vocab_size",
        "n_sample", "batch_rows", "row_group_rows", "baseline_mb", "phases": {phase:
        {"seconds", "rows_per_s", "start_mb", "peak_mb"}}, "peak_reset", "peak_mb",
        "quality": {"max_bin_share_gap": {column: gap}, "unknown_share": {column: share}},
        "machine"}``.

    Examples:
        >>> result = stream_memory(rows=3_000, n_sample=1_000, batch_rows=500)
        >>> result["rows"], result["columns"], result["token_dtype"], list(result["phases"])
        (3000, 16, 'int16', ['generate', 'sample', 'fit', 'encode', 'check'])
    """
    rows = check_positive_int("rows", rows)
    own = folder is None
    root = Path(tempfile.mkdtemp(prefix="wordexperts-stream-") if own else folder)
    data, token_path = root / "data", root / "tokens.npy"
    phases: dict[str, dict] = {}
    _release_memory()
    baseline = _current_mb()
    peak_reset = reset_peaks and _reset_peak()

    def measure(name: str, n: int, work):
        _release_memory()
        if peak_reset:
            _reset_peak()
        start_mb = _current_mb()
        started = time.perf_counter()
        out = work()
        seconds = time.perf_counter() - started
        phases[name] = {
            "seconds": round(seconds, 3),
            "rows_per_s": round(n / seconds),
            "start_mb": round(start_mb, 1),
            "peak_mb": round(_peak_mb(), 1),
        }
        return out

    try:
        if generate:
            measure("generate", rows, lambda: write_dataset(data, rows=rows, row_group_rows=row_group_rows, seed=seed))
        dataset = open_dataset(data)
        n_rows = dataset.count_rows()
        sample = measure("sample", n_rows, lambda: sample_rows(dataset, n_sample, seed=seed, batch_rows=batch_rows))
        encoder = TableEncoder(n_bins=N_BINS, max_categories=MAX_CATEGORIES, categorical=["c6"])
        measure("fit", len(sample), lambda: encoder.fit(sample))
        sample = None  # its memory goes back before the encoding's peak is measured
        tokens = measure("encode", n_rows, lambda: encode_dataset(encoder, dataset, token_path, batch_rows=batch_rows))
        shape, dtype = tokens.shape, tokens.dtype
        del tokens
        quality = measure("check", n_rows, lambda: _bin_share_error(token_path, encoder))
        result = {
            "rows": int(n_rows),
            "columns": int(shape[1]),
            "files": len(dataset.files),
            "parquet_mb": round(sum(os.path.getsize(f) for f in dataset.files) / 2**20, 1),
            "tokens_mb": round(os.path.getsize(token_path) / 2**20, 1),
            "token_dtype": str(dtype),
            "vocab_size": int(encoder.vocab_size_),
            "n_sample": int(min(n_sample, n_rows)),
            "batch_rows": int(batch_rows),
            "row_group_rows": row_group_rows,
            "baseline_mb": round(baseline, 1),
            "phases": phases,
            "peak_reset": peak_reset,
            "peak_mb": round(max(p["peak_mb"] for p in phases.values()), 1),
            "quality": quality,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        }
    finally:
        if not keep:  # what this run wrote; files it was given (generate=False) stay
            token_path.unlink(missing_ok=True)
            if own:
                shutil.rmtree(root, ignore_errors=True)
            elif generate:
                shutil.rmtree(data, ignore_errors=True)
    return result


def stream_report(result: dict) -> str:
    """``result`` of :func:`stream_memory` as a markdown table and a line on quality."""
    summary = (
        f"{result['rows']:,} rows x {result['columns']} columns in {result['files']} Parquet files "
        f"({result['parquet_mb']:,} MB); tokens {result['token_dtype']} ({result['tokens_mb']:,} MB, vocabulary "
        f"{result['vocab_size']}); sample {result['n_sample']:,} rows; batches of {result['batch_rows']:,} rows; "
        f"row groups of {result['row_group_rows'] or 1_048_576:,} rows; {result['machine']}; "
        f"memory after imports {result['baseline_mb']:,} MB; peak {result['peak_mb']:,} MB."
    )
    lines = [
        summary,
        "",
        "| phase | seconds | rows/s | memory at start (MB) | peak memory (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, phase in result["phases"].items():
        lines.append(
            f"| {name} | {phase['seconds']:,} | {phase['rows_per_s']:,} | {phase['start_mb']:,} | {phase['peak_mb']:,} |"
        )
    gaps = result["quality"]["max_bin_share_gap"]
    worst = max(gaps, key=gaps.get)
    lines += [
        "",
        f"Largest gap between a bin's share of the full table and of the sample: {gaps[worst]:.5f} ({worst}).",
        "Unknown-token share by categorical column: "
        + ", ".join(f"{k} {v:.5f}" for k, v in result["quality"]["unknown_share"].items())
        + ".",
    ]
    if not result["peak_reset"]:
        lines.append("(The peak memory was not reset between phases: each phase's peak is the peak so far.)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wordexperts_bench.stream_memory",
        description="Memory and speed of a table larger than memory: generate Parquet, sample, fit the encoder, encode.",
    )
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows to generate (default 20,000,000)")
    parser.add_argument(
        "--folder", help="where the Parquet files (data/) and tokens.npy go (default: a temporary folder)"
    )
    parser.add_argument("--reuse", action="store_true", help="use the Parquet files already in FOLDER/data")
    parser.add_argument("--sample", type=int, default=SAMPLE_ROWS, help=f"sample rows (default {SAMPLE_ROWS:,})")
    parser.add_argument("--batch-rows", type=int, default=BATCH_ROWS, help=f"rows per batch (default {BATCH_ROWS:,})")
    parser.add_argument("--row-group-rows", type=int, help="Parquet row group size when generating (default pyarrow's)")
    parser.add_argument(
        "--no-reset", action="store_true", help="keep the peak memory across phases (for /usr/bin/time -v)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the Parquet files and tokens.npy")
    parser.add_argument("--quick", action="store_true", help="200,000 rows and a 20,000-row sample")
    parser.add_argument("--out", help="write the result as JSON to this file")
    args = parser.parse_args(argv)
    if args.reuse and not args.folder:
        parser.error("--reuse needs --folder")
    rows, n_sample = (200_000, 20_000) if args.quick else (args.rows, args.sample)
    result = stream_memory(
        rows=rows,
        folder=args.folder,
        generate=not args.reuse,
        n_sample=n_sample,
        batch_rows=args.batch_rows,
        row_group_rows=args.row_group_rows,
        seed=args.seed,
        keep=args.keep,
        reset_peaks=not args.no_reset,
    )
    print(stream_report(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
