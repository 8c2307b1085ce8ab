"""Files a user reads after an analogy evaluation: a markdown report, a CSV and a bar plot.

:func:`write_eval_report` lays several models side by side as paper.md's Tables 1-2 (rows
semantic / syntactic / all, one column per model), then per category, then the settings each
model was evaluated under, through :func:`wordexperts.reporting.write_report`; nothing is printed.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from ..reporting import report_header, write_report
from .evaluate import ALL, SEMANTIC, SYNTACTIC, AnalogyResult

AGGREGATE_ROWS = (SEMANTIC, SYNTACTIC, ALL)


def results_table(results: dict[str, AnalogyResult]) -> pd.DataFrame:
    """Every model's summary stacked: one row per (model, category), aggregates included."""
    _check(results)
    frames = [result.summary.reset_index().assign(model=name) for name, result in results.items()]
    table = pd.concat(frames, ignore_index=True)
    return table[["model", *[c for c in table.columns if c != "model"]]]


def write_eval_report(results: dict[str, AnalogyResult], out_dir: str | os.PathLike, *, command: str | None = None) -> dict[str, str]:
    """Write ``report.md``, ``results.csv`` and ``accuracy.png`` to ``out_dir``; return ``{file name: path}``.

    ``results`` maps a model name (a column of the tables) to its :class:`AnalogyResult`; for
    the paper's comparison, evaluate each on a common question set first
    (:func:`~wordexperts.analogy.evaluate.answerable_intersection`). ``command``, when given,
    is quoted in the report as the command that produced it.
    """
    table = results_table(results)  # validates before anything is written
    markdown = report_markdown(results, command=command)
    return write_report(out_dir, markdown, tables={"results": table}, figures={"accuracy": accuracy_figure(results)})


def report_markdown(results: dict[str, AnalogyResult], *, command: str | None = None) -> str:
    """The markdown of ``report.md`` (see :func:`write_eval_report`)."""
    _check(results)
    names = list(results)
    lines = report_header("Word analogies: top-1 accuracy and mean cos(f, d)", command)
    lines += [
        (
            "Top-1 accuracy over the answered questions; mean cosine between the query f (the protocol's "
            "b - a + c) and the expected word d over the answerable ones (paper.md §3, Tables 1-2)."
        ),
        "",
        _row(["", *names]),
        _row(["---"] * (len(names) + 1)),
    ]
    for key in AGGREGATE_ROWS:
        counts = [int(r.summary.loc[key, "answered"]) for r in results.values()]
        shared = len(set(counts)) == 1
        label = f"top-1, {key}" + (f" ({counts[0]:,})" if shared else "")
        cells = [_number(r.summary.loc[key, "accuracy"]) + ("" if shared else f" ({n:,})") for r, n in zip(results.values(), counts)]
        lines.append(_row([label, *cells]))
    lines.append(_row(["mean cosine, all", *[_number(r.summary.loc[ALL, "mean_cos"]) for r in results.values()]]))

    lines += ["", "## Per category", "", "Top-1 accuracy (answered questions).", ""]
    lines += [_row(["category", "section", *names]), _row(["---"] * (len(names) + 2))]
    categories = list(dict.fromkeys(c for r in results.values() for c in r.summary.index if c not in AGGREGATE_ROWS))
    for category in [*categories, *AGGREGATE_ROWS]:
        section = next(r.summary.loc[category, "section"] for r in results.values() if category in r.summary.index)
        cells = []
        for r in results.values():
            if category in r.summary.index:
                row = r.summary.loc[category]
                cells.append(f"{_number(row['accuracy'])} ({int(row['answered']):,})")
            else:
                cells.append("–")
        lines.append(_row([f"**{category}**" if category in AGGREGATE_ROWS else category, section, *cells]))

    lines += ["", "## Settings", ""]
    keys = list(dict.fromkeys(k for r in results.values() for k in r.settings))
    lines += [_row(["setting", *names]), _row(["---"] * (len(names) + 1))]
    for key in keys:
        lines.append(_row([key, *[str(r.settings.get(key, "–")) for r in results.values()]]))
    lines.append(_row(["questions (in set)", *[f"{int(r.summary.loc[ALL, 'questions']):,}" for r in results.values()]]))
    lines.append(_row(["not answerable (OOV)", *[f"{r.oov:,}" for r in results.values()]]))
    lines.append(_row(["zero rows left out", *[f"{r.excluded_rows.get('zero_norm', 0):,}" for r in results.values()]]))
    lines.append(_row(["skipped lines", *[_skipped(r.skipped_lines) for r in results.values()]]))
    return "\n".join(lines) + "\n"


def accuracy_figure(results: dict[str, AnalogyResult]):
    """Horizontal grouped bars of top-1 accuracy per category and aggregate, one colour per model.

    Returns a matplotlib Figure (Agg canvas, no pyplot state).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _check(results)
    names = list(results)
    rows = list(dict.fromkeys(c for r in results.values() for c in r.summary.index if c not in AGGREGATE_ROWS))
    rows += list(AGGREGATE_ROWS)
    figure = Figure(figsize=(7.5, 0.32 * len(rows) * max(1, math.ceil(len(names) / 2)) + 1.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    height = 0.8 / len(names)
    positions = np.arange(len(rows))
    for k, (name, result) in enumerate(results.items()):
        accuracy = result.summary["accuracy"].reindex(rows).to_numpy(dtype=float)
        axes.barh(positions + (k - (len(names) - 1) / 2) * height, np.nan_to_num(accuracy), height=height, label=name)
    axes.set_yticks(positions, rows)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("top-1 accuracy (answered questions)")
    axes.axhline(len(rows) - len(AGGREGATE_ROWS) - 0.5, color="0.6", linewidth=0.8)
    axes.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=min(3, len(names)), fontsize=8)
    axes.set_title("word analogies per category")
    return figure


def _check(results) -> None:
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict {model name: AnalogyResult}")
    for name, result in results.items():
        if not isinstance(result, AnalogyResult):
            raise TypeError(f"results[{name!r}] is a {type(result).__name__}, not an AnalogyResult")


def _row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _number(value) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{float(value):.3f}"


def _skipped(skipped: dict[str, int]) -> str:
    parts = [f"{n} {kind}" for kind, n in skipped.items() if n]
    return ", ".join(parts) if parts else "none"
