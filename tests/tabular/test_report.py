"""The explain files: figures that hold long column names, and the masked column's own slot named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wordexperts.tabular import WordExpertsClassifier
from wordexperts.tabular.report import (
    MASK_SLOT_NOTE,
    describe_gates,
    gate_shares,
    gates_figure,
    masked_label,
    wrap_label,
    write_explanation,
)

LONG = "customer_lifetime_value_in_euros_after_tax_and_refunds_2024"  # 60 characters


def _summary(names: list[str], heads: int = 4, seed: int = 0) -> pd.DataFrame:
    gates = np.random.default_rng(seed).dirichlet(np.ones(len(names)), size=heads).T  # (L, H), each head sums to 1
    summary = pd.DataFrame(gates, index=names, columns=[f"head {h}" for h in range(heads)])
    return summary.assign(sum=summary.sum(axis=1))


def _texts_outside(figure) -> list[str]:
    """Every tick label and title whose drawn extent leaves the figure (1 pixel of slack)."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    box = figure.bbox
    texts = [figure._suptitle, figure._supxlabel]
    for axes in figure.axes:
        texts += [*axes.get_yticklabels(), *axes.get_xticklabels(), axes.title]
    outside = []
    for text in texts:
        if text is None or not text.get_text() or not text.get_visible():
            continue
        extent = text.get_window_extent(renderer)
        if extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1 or extent.y1 > box.y1 + 1:
            outside.append(text.get_text())
    return outside


def test_wrap_label_breaks_at_separators_and_keeps_every_character():
    wrapped = wrap_label(LONG)
    assert max(len(line) for line in wrapped.split("\n")) <= 32
    assert wrapped.replace("\n", "") == LONG
    assert wrap_label("short") == "short"
    assert wrap_label("x" * 70, 30).split("\n") == ["x" * 30, "x" * 30, "x" * 10]


@pytest.mark.parametrize("with_rows", [False, True])
def test_a_60_character_column_name_lies_inside_the_figure(with_rows):
    names = ["age", LONG, "income", "y"]
    summary = _summary(names)
    rows = pd.DataFrame(np.random.default_rng(1).random((20, 4)), columns=names) if with_rows else None
    figure = gates_figure(summary, rows, title=f"gates of the masked {LONG!r}", masked="y")
    assert _texts_outside(figure) == []
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[1].replace("\n", "") == LONG  # wrapped, not cut
    assert labels[3] == "y (masked: its own prior)"


def test_the_masked_slot_is_labelled_and_explained_in_the_figure():
    figure = gates_figure(_summary(["a", "b", "label"]), masked="label")
    assert "label (masked: its own prior)" in [t.get_text() for t in figure.axes[0].get_yticklabels()]
    note = figure._supxlabel.get_text().replace("\n", " ")
    assert "mask token itself" in note and "same for every row" in note


def test_describe_gates_names_the_masked_slot_and_gives_shares():
    summary = _summary(["a", "b", "c", "y"], heads=4)
    shares = gate_shares(summary)
    assert shares.sum() == pytest.approx(1.0)
    text = describe_gates(summary, "y", k=2)
    first, second = text.split("\n")
    best = shares.drop("y").sort_values(ascending=False)
    assert first.startswith(f"read mostly from: {best.index[0]} {best.iloc[0]:.2f}, {best.index[1]} {best.iloc[1]:.2f}")
    assert second == f"{masked_label('y')} {shares['y']:.2f}: {MASK_SLOT_NOTE}"
    assert "\n" not in describe_gates(summary, None)


def test_write_explanation_with_a_long_column_name(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame({LONG: rng.choice(["a", "b"], n), "noise": rng.normal(size=n)})
    y = np.where(X[LONG] == "a", "yes", "no")
    model = WordExpertsClassifier(epochs=3, early_stopping=False, random_state=0).fit(X, y)
    figures = []
    from wordexperts.tabular import report

    def keep(*args, **kwargs):
        figures.append(gates_figure(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(report, "gates_figure", keep)
    paths = write_explanation(model, X, tmp_path / "why", rows=10)
    assert sorted(paths) == ["gates.csv", "gates.png", "summary.csv"]
    assert _texts_outside(figures[0]) == []
    labels = [t.get_text() for t in figures[0].axes[0].get_yticklabels()]
    assert labels[-1] == masked_label(model.target_name_)
    summary = pd.read_csv(tmp_path / "why" / "summary.csv", index_col="column")
    assert list(summary.index) == [LONG, "noise", model.target_name_]  # the CSV keeps the plain names
