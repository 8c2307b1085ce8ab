"""One way to write a report, and the pieces every report shares.

A function that computes returns data (DataFrames, dicts); a report is that data rendered as
markdown (:func:`report_header`, :func:`markdown_table`, :func:`mean_interval`) and written
by :func:`write_report`: ``report.md`` (or another markdown name), ``<name>.csv`` per table,
``<name>.png`` per matplotlib figure and ``<name>.json`` per dict, each written atomically
into one folder. Every report of the library and of the experiments goes through it.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd


def mean_interval(values: pd.Series | np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of the mean: ``(mean, low, high)``; NaN bounds for one value.

    Non-finite values are dropped first.

    Examples:
        >>> [round(v, 3) for v in mean_interval([1.0, 2.0, 3.0])]
        [2.0, -0.484, 4.484]
    """
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, math.nan, math.nan)
    half = float(t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return (mean, mean - half, mean + half)


def interval_table(
    frame: pd.DataFrame,
    keys: list[str],
    values: list[str],
    bounds: dict | None = None,
    *,
    std: bool = False,
) -> pd.DataFrame:
    """Mean and 95% interval over seeds of ``values`` per ``keys``; intervals clipped to ``bounds``.

    One row per group (in order of appearance) with ``seeds`` (distinct values of the
    ``seed`` column), and per value ``v``: ``v``, ``v_low``, ``v_high`` (and ``v_std``, the
    sample standard deviation, with ``std=True``).

    Examples:
        >>> runs = pd.DataFrame({"model": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "acc": [0.5, 0.7, 0.4, 0.4]})
        >>> interval_table(runs, ["model"], ["acc"])[["model", "seeds", "acc"]].to_dict("records")
        [{'model': 'a', 'seeds': 2, 'acc': 0.6}, {'model': 'b', 'seeds': 2, 'acc': 0.4}]
    """
    bounds = bounds or {}
    rows = []
    for key, group in frame.groupby(keys, sort=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["seeds"] = int(group["seed"].nunique())
        for v in values:
            mean, low, high = mean_interval(group[v])
            lowest, highest = bounds.get(v, (-math.inf, math.inf))
            row[v], row[f"{v}_low"], row[f"{v}_high"] = (
                mean,
                max(low, lowest),
                min(high, highest),
            )
            if std:
                row[f"{v}_std"] = float(group[v].std(ddof=1)) if len(group) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table (numbers to 3 decimals, large ones as integers).

    Examples:
        >>> print(markdown_table(pd.DataFrame({"model": ["a|b"], "acc": [0.51234]})))
        | model | acc |
        |---|---|
        | a\\|b | 0.512 |
    """
    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "|" + "---|" * len(frame.columns),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def png_bytes(figure, dpi: int = 120) -> bytes:
    """A matplotlib Figure rendered to PNG bytes (written atomically by the caller)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def report_header(title: str, command: str | None) -> list[str]:
    """The first lines of a ``report.md``: the title and the command that produced it."""
    lines = [f"# {title}", ""]
    if command:
        lines += ["Produced by:", "", "```", command, "```", ""]
    return lines


def write_report(
    out: str | os.PathLike,
    markdown: str | None = None,
    *,
    markdown_name: str = "report",
    tables: Mapping[str, pd.DataFrame] | None = None,
    figures: Mapping[str, object] | None = None,
    data: Mapping[str, object] | None = None,
    index: bool = False,
) -> dict[str, str]:
    """Write a report into the folder ``out`` (created if needed); return ``{file name: path}``.

    ``markdown`` becomes ``<markdown_name>.md``; each table ``<name>.csv`` (its index kept with
    ``index=True``), each matplotlib figure ``<name>.png``, each dict ``<name>.json``. Every
    file is written to a temporary name and renamed, so a failure leaves no half-written file.

    Examples:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> paths = write_report(folder, "# Title\\n", tables={"runs": pd.DataFrame({"a": [1]})}, data={"result": {"x": 1}})
        >>> sorted(paths)
        ['report.md', 'result.json', 'runs.csv']
    """
    from .files import atomic_write_bytes, atomic_write_text, write_table

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if markdown is not None:
        written.append(atomic_write_text(folder / f"{markdown_name}.md", markdown))
    for name, table in (tables or {}).items():
        written.append(write_table(table, folder / f"{name}.csv", index=index))
    for name, figure in (figures or {}).items():
        written.append(atomic_write_bytes(folder / f"{name}.png", png_bytes(figure)))
    for name, value in (data or {}).items():
        written.append(atomic_write_text(folder / f"{name}.json", json.dumps(value, indent=2, default=str) + "\n"))
    return {path.name: str(path) for path in written}
