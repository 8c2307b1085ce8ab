"""Files a user looks at: the gates of a fitted estimator as CSV tables and a PNG heatmap.

The masked column's own slot: in the mixture form the masked position reads, besides every
other column, its own mask token at its own position, an expert vector that is the same for
every row. Its gate weight (typically 0.1-0.3) is the share of the answer taken from that
row-independent prior rather than from any column; the figure and :func:`describe_gates`
label it ``"<name> (masked: its own prior)"``.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from ..reporting import write_report

LABEL_WIDTH = 32  # characters per line of a column name on the figure; longer names wrap
MASK_SLOT_NOTE = (
    "the share of the answer read from the mask token itself, a prior that is the same for every row "
    "rather than any column"
)


def masked_label(name: str) -> str:
    """How the figure and the summary text name the masked column's own slot."""
    return f"{name} (masked: its own prior)"


def wrap_label(text: str, width: int = LABEL_WIDTH) -> str:
    """``text`` on lines of at most ``width`` characters, broken after ``_``, ``-``, ``.``, ``/`` or spaces
    where it can be and inside a word where it must.

    Examples:
        >>> print(wrap_label("customer_lifetime_value_in_euros_after_tax", 20))
        customer_lifetime_
        value_in_euros_
        after_tax
    """
    lines: list[str] = []
    line = ""
    for piece in re.findall(r"[^ _\-./]*[ _\-./]?", text):
        if not piece:
            continue
        if len(line) + len(piece.rstrip()) > width and line:
            lines.append(line.rstrip())
            line = ""
        while len(piece) > width:  # one piece longer than a line: cut it
            lines.append(piece[:width])
            piece = piece[width:]
        line += piece
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines) or text


def _labels(names, masked: str | None) -> list[str]:
    return [wrap_label(masked_label(str(n)) if masked is not None and str(n) == masked else str(n)) for n in names]


def _label_width_inches(figure, axes) -> float:
    """The widest y tick label of ``axes``, in inches, as the Agg renderer draws it."""
    renderer = figure.canvas.get_renderer()
    return max((t.get_window_extent(renderer).width for t in axes.get_yticklabels()), default=0.0) / figure.dpi


def gates_figure(
    summary: pd.DataFrame, rows: pd.DataFrame | None = None, *, title: str = "", masked: str | None = None
):
    """Heatmaps of mean gate weight (columns x heads) and, if given, of ``rows``' summed gates.

    ``summary`` is :meth:`explain_summary`'s output; ``rows`` the ``"sum"`` block of
    :meth:`explain` for a few rows; ``masked`` the masked column, whose own slot is labelled
    ``"<masked> (masked: its own prior)"`` and explained under the panels. Long column names
    wrap (:func:`wrap_label`) and the figure widens to hold its labels. Returns a matplotlib
    Figure on an Agg canvas (no display).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = 1 if rows is None else 2
    labels = _labels(summary.index, masked)
    lines = [label.count("\n") + 1 for label in labels]
    height = sum(max(0.45, 0.2 * n + 0.15) for n in lines) + 2.2
    figure = Figure(figsize=(4.5 * panels, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    heads = [c for c in summary.columns if c != "sum"]
    image = axes[0].imshow(summary[heads].to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    axes[0].set_xticks(range(len(heads)), heads, rotation=45, ha="right")
    axes[0].set_yticks(range(len(summary)), labels)
    axes[0].set_title("mean gate per head")
    for i in range(len(summary)):
        for h in range(len(heads)):
            value = summary[heads[h]].iloc[i]
            axes[0].text(h, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w" if value < 0.6 else "k")
    figure.colorbar(image, ax=axes[0], shrink=0.8)
    if rows is not None:
        image = axes[1].imshow(rows.to_numpy().T, aspect="auto", cmap="magma", vmin=0)
        axes[1].set_yticks(range(rows.shape[1]), _labels(rows.columns, masked))
        axes[1].set_xlabel("row")
        axes[1].set_title("gates summed over heads, row by row")
        figure.colorbar(image, ax=axes[1], shrink=0.8)
    # Each panel: its labels, a heatmap of at least 2.2 inches and a colour bar.
    width = sum(_label_width_inches(figure, ax) + 3.3 for ax in axes) + 0.3
    figure.set_size_inches(max(4.5 * panels, width), height)
    characters = int(figure.get_figwidth() * 9)  # a line of 12-point text that fits the width
    if title:
        figure.suptitle(wrap_label(title, characters))
    if masked is not None:
        note = f"{masked_label(masked)}: {MASK_SLOT_NOTE}."
        figure.supxlabel(wrap_label(note, int(characters * 1.4)), fontsize=8)
    return figure


def gate_shares(summary: pd.DataFrame) -> pd.Series:
    """Each column's share of the answer: the summed gate over the heads divided by their number
    (each head's gates sum to one, so the shares do too)."""
    heads = [c for c in summary.columns if c != "sum"]
    return summary["sum"] / max(len(heads), 1)


def describe_gates(summary: pd.DataFrame, masked: str | None, k: int = 3) -> str:
    """Two lines for a person: the ``k`` columns read most, and the masked column's own slot.

    Examples:
        >>> summary = pd.DataFrame({"head 0": [0.6, 0.3, 0.1], "sum": [0.6, 0.3, 0.1]}, index=["a", "b", "y"])
        >>> first, second = describe_gates(summary, "y", k=2).splitlines()
        >>> first
        'read mostly from: a 0.60, b 0.30 (gate shares, mean of 1 head)'
        >>> second.startswith("y (masked: its own prior) 0.10: the share of the answer read from the mask token itself")
        True
    """
    shares = gate_shares(summary)
    heads = len(summary.columns) - 1
    top = ", ".join(f"{name} {value:.2f}" for name, value in top_columns(summary.assign(sum=shares), k, masked=masked))
    text = f"read mostly from: {top} (gate shares, mean of {heads} head{'s' * (heads != 1)})"
    if masked is not None and masked in shares.index:
        text += f"\n{masked_label(masked)} {shares[masked]:.2f}: {MASK_SLOT_NOTE}"
    return text


def write_explanation(
    estimator, X: object, out: str | os.PathLike, *, column: str | None = None, rows: int = 50
) -> dict[str, str]:
    """Write ``gates.csv`` (every row), ``summary.csv`` and ``gates.png`` to ``out``; return ``{file name: path}``."""
    gates = estimator.explain(X, column=column)  # computed first: a failure leaves no folder behind
    summary = estimator.explain_summary(X, column=column)
    flat = gates.copy()
    flat.columns = [f"{head}/{name}" for head, name in gates.columns]
    masked = column or estimator.target_name_
    figure = gates_figure(summary, gates["sum"].iloc[:rows], title=f"gates of the masked {masked!r}", masked=masked)
    return write_report(
        out,
        tables={"gates": flat, "summary": summary.rename_axis("column")},
        figures={"gates": figure},
        index=True,
    )


def top_columns(summary: pd.DataFrame, k: int = 5, *, masked: str | None = None) -> list[tuple[str, float]]:
    """The ``k`` columns with the largest summed mean gate, largest first, the ``masked`` one left out.

    (The masked position's weight sits on its own mask token: a row-independent prior, not a
    column read from; :func:`describe_gates` names it.)
    """
    total = summary["sum"].drop(index=[masked] if masked in summary.index else []).sort_values(ascending=False)
    return [(str(name), float(value)) for name, value in total.head(k).items() if np.isfinite(value)]
