"""Files a user looks at: the gates of a fitted estimator as CSV tables and a PNG heatmap."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..reporting import write_report


def gates_figure(summary: pd.DataFrame, rows: pd.DataFrame | None = None, *, title: str = ""):
    """Heatmaps of mean gate weight (columns x heads) and, if given, of ``rows``' summed gates.

    ``summary`` is :meth:`explain_summary`'s output; ``rows`` the ``"sum"`` block of
    :meth:`explain` for a few rows. Returns a matplotlib Figure (Agg backend, no display).
    """
    from matplotlib.figure import Figure

    panels = 1 if rows is None else 2
    figure = Figure(figsize=(4.5 + 4.5 * (panels - 1), 0.45 * len(summary) + 1.8), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    heads = [c for c in summary.columns if c != "sum"]
    image = axes[0].imshow(summary[heads].to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    axes[0].set_xticks(range(len(heads)), heads, rotation=45, ha="right")
    axes[0].set_yticks(range(len(summary)), [str(c) for c in summary.index])
    axes[0].set_title("mean gate per head")
    for i in range(len(summary)):
        for h in range(len(heads)):
            value = summary[heads[h]].iloc[i]
            axes[0].text(h, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w" if value < 0.6 else "k")
    figure.colorbar(image, ax=axes[0], shrink=0.8)
    if rows is not None:
        image = axes[1].imshow(rows.to_numpy().T, aspect="auto", cmap="magma", vmin=0)
        axes[1].set_yticks(range(rows.shape[1]), [str(c) for c in rows.columns])
        axes[1].set_xlabel("row")
        axes[1].set_title("gates summed over heads, row by row")
        figure.colorbar(image, ax=axes[1], shrink=0.8)
    if title:
        figure.suptitle(title)
    return figure


def write_explanation(estimator, X: object, out: str | os.PathLike, *, column: str | None = None, rows: int = 50) -> dict:
    """Write ``gates.csv`` (every row), ``summary.csv`` and ``gates.png`` to ``out``; return ``{file name: path}``."""
    gates = estimator.explain(X, column=column)  # computed first: a failure leaves no folder behind
    summary = estimator.explain_summary(X, column=column)
    flat = gates.copy()
    flat.columns = [f"{head}/{name}" for head, name in gates.columns]
    title = f"gates of the masked {column or estimator.target_name_!r}"
    return write_report(
        out,
        tables={"gates": flat, "summary": summary.rename_axis("column")},
        figures={"gates": gates_figure(summary, gates["sum"].iloc[:rows], title=title)},
        index=True,
    )


def top_columns(summary: pd.DataFrame, k: int = 5, *, masked: str | None = None) -> list[tuple[str, float]]:
    """The ``k`` columns with the largest summed mean gate, largest first, the ``masked`` one left out.

    (The masked position's weight sits on its own mask token: a bias, not a column read from.)
    """
    total = summary["sum"].drop(index=[masked] if masked in summary.index else []).sort_values(ascending=False)
    return [(str(name), float(value)) for name, value in total.head(k).items() if np.isfinite(value)]
