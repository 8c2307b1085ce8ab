"""Pieces every measured report shares: intervals over seeds, markdown tables, PNG bytes.

The benchmark and reproduction commands (``bench/``, ``analogy/experiments.py``) compute
DataFrames; these helpers turn them into the text and images of ``report.md``. Writing the
files (atomically) stays with each report's writer.
"""

from __future__ import annotations

import io
import math

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
