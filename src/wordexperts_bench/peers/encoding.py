"""What a peer sees of the table: :class:`PeerEncoding`, fitted on the training rows only.

One fitted map, five views (the package docstring's table says which peer reads which):
``one_hot`` (standardised numbers, 0/1 levels, missing indicators), ``category`` (pandas
``category`` dtype over the training levels), ``text`` (strings, missing as ``"<missing>"``),
``codes`` (a :class:`CodedTable` of standardised numbers and integer level codes, for the
transformers) and ``imputed`` (standardised numbers and missing indicators beside ``category``
columns, for pytabkit, which refuses missing numbers). Column kinds follow :func:`wordexperts.tabular.encoding.column_kind`; levels
are compared as text (``1``, ``1.0`` and ``"1"`` are one level).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from scipy import sparse
from sklearn.base import BaseEstimator

from wordexperts.tabular.encoding import column_kind

MISSING_TEXT = "<missing>"  # catboost's level for a missing categorical cell
DENSE_ONE_HOT_MAX = 1024  # one-hot widths up to this are dense arrays, wider ones sparse CSR


def _text(value: object) -> str:
    """A level's text: ``True``, ``3`` for 3 and 3.0, ``abc``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_text(series: pd.Series) -> np.ndarray:
    """A column's cells as text, ``None`` where missing: object ``(n_rows,)``."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)  # missing -> -1
    texts = np.array([_text(v) for v in uniques] + [None], dtype=object)
    return texts[codes]  # -1 picks the trailing None


@dataclass(frozen=True)
class CodedTable:
    """A table as the transformers read it.

    Shape:
        ``numeric`` float32 ``(n_rows, n_numeric + n_indicators)``; ``codes`` int64
        ``(n_rows, n_categorical)``, 0 for unknown or missing; ``cardinalities[j]`` is
        column j's number of codes (training levels + 1).
    """

    numeric: np.ndarray
    codes: np.ndarray
    cardinalities: tuple[int, ...]


class PeerEncoding(BaseEstimator):
    """Fitted map from a table to what a peer reads (see the table in :mod:`wordexperts_bench.peers`).

    Parameters:
        categorical: columns to treat as categorical even if numeric.
        max_levels: keep a categorical column's ``max_levels`` most frequent training levels
            (ties to the earlier in text order); the rest count as unknown. ``None``: all.

    Attributes (after fit):
        columns_, categorical_, numeric_: column names, in the table's order.
        levels_: ``{column: sorted training levels, as text}``.
        median_, mean_, scale_: numeric columns' training statistics (NaN ignored; a
            constant column has scale 1, an all-missing one median and mean 0).
        indicated_: numeric columns that had missing cells in training (they get an indicator).

    Examples:
        >>> frame = pd.DataFrame({"colour": ["red", "blue", None, "red"], "size": [1.0, 2.0, np.nan, 5.0]})
        >>> encoding = PeerEncoding().fit(frame)
        >>> encoding.levels_, encoding.indicated_
        ({'colour': ['blue', 'red']}, ['size'])
        >>> encoding.codes(pd.DataFrame({"colour": ["red", "green"], "size": [2.0, None]})).codes.tolist()
        [[2], [0]]
    """

    def __init__(self, *, categorical: Sequence[str] | None = None, max_levels: int | None = None) -> None:
        self.categorical = categorical
        self.max_levels = max_levels

    def fit(self, X: pd.DataFrame, y: None = None) -> PeerEncoding:
        listed = set(self.categorical or ())
        unknown = listed - set(X.columns)
        if unknown:
            raise ValueError(f"categorical names columns the table does not have: {sorted(unknown, key=str)}")
        self.columns_ = list(X.columns)
        kinds = {c: column_kind(c, X[c].dtype, c in listed) for c in self.columns_}
        self.categorical_ = [c for c in self.columns_ if kinds[c] == "categorical"]
        self.numeric_ = [c for c in self.columns_ if kinds[c] == "numeric"]
        self.levels_ = {c: self._fit_levels(_as_text(X[c])) for c in self.categorical_}
        values = self._numeric(X)  # (N, n_numeric)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: NaN statistics, replaced below
            median, mean, scale = np.nanmedian(values, axis=0), np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        self.median_ = np.nan_to_num(median, nan=0.0)
        self.mean_ = np.nan_to_num(mean, nan=0.0)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.indicated_ = [c for c, gap in zip(self.numeric_, np.isnan(values).any(axis=0), strict=True) if gap]
        return self

    def _fit_levels(self, text: np.ndarray) -> list[str]:
        present = pd.Series(text[text != None]).value_counts()
        levels = sorted(present.index)
        if self.max_levels is not None and len(levels) > self.max_levels:
            ranked = sorted(levels, key=lambda level: (-present[level], level))
            levels = sorted(ranked[: self.max_levels])
        return levels

    def _numeric(self, X: pd.DataFrame) -> np.ndarray:
        if not self.numeric_:
            return np.zeros((len(X), 0))
        try:
            return np.column_stack([X[c].astype("float64").to_numpy() for c in self.numeric_])
        except (TypeError, ValueError) as error:
            bad = next(c for c in self.numeric_ if not is_numeric_dtype(X[c].dtype))
            raise ValueError(f"column {bad!r} was numeric at fit but has dtype {X[bad].dtype} now") from error

    # ---- the four views ----

    def level_codes(self, X: pd.DataFrame) -> np.ndarray:
        """int64 ``(n_rows, n_categorical)``: 0 unknown or missing, ``i + 1`` for level ``i``."""
        columns = [pd.Index(self.levels_[c]).get_indexer(_as_text(X[c])) + 1 for c in self.categorical_]
        return np.column_stack(columns).astype(np.int64) if columns else np.zeros((len(X), 0), dtype=np.int64)

    def standardised(self, X: pd.DataFrame) -> np.ndarray:
        """float64 ``(n_rows, n_numeric + n_indicators)``: imputed, standardised, then the indicators."""
        values = self._numeric(X)
        missing = np.isnan(values)
        filled = np.where(missing, self.median_, values)
        indicators = missing[:, [self.numeric_.index(c) for c in self.indicated_]].astype(np.float64)
        return np.hstack([(filled - self.mean_) / self.scale_, indicators])

    def one_hot(self, X: pd.DataFrame) -> np.ndarray | sparse.csr_matrix:
        """Standardised numeric columns, then one 0/1 column per level: ``(n_rows, width)``.

        Dense when the one-hot part is at most ``DENSE_ONE_HOT_MAX`` wide, sparse CSR beyond.
        """
        codes = self.level_codes(X)  # (N, C)
        widths = [len(self.levels_[c]) for c in self.categorical_]
        offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64) if widths else np.zeros(0, np.int64)
        rows, cols = np.nonzero(codes)
        matrix = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, offsets[cols] + codes[rows, cols] - 1)), shape=(len(X), int(sum(widths)))
        )
        numeric = self.standardised(X)
        if sum(widths) <= DENSE_ONE_HOT_MAX:
            return np.hstack([numeric, matrix.toarray()])
        return sparse.hstack([sparse.csr_matrix(numeric), matrix], format="csr")

    def category_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns ``f0, f1, ...``: ``category`` dtype over the training levels, or float64."""
        columns = {}
        for j, c in enumerate(self.columns_):
            if c in self.levels_:
                levels = pd.Index(self.levels_[c])
                columns[f"f{j}"] = pd.Categorical.from_codes(levels.get_indexer(_as_text(X[c])), categories=levels)
            else:
                columns[f"f{j}"] = X[c].astype("float64").to_numpy()
        return pd.DataFrame(columns, index=pd.RangeIndex(len(X)))

    def text_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns ``f0, f1, ...``: categorical ones as strings (missing ``"<missing>"``), numeric float64."""
        columns = {}
        for j, c in enumerate(self.columns_):
            if c in self.levels_:
                text = _as_text(X[c])
                columns[f"f{j}"] = np.where(text == None, MISSING_TEXT, text).astype(object)
            else:
                columns[f"f{j}"] = X[c].astype("float64").to_numpy()
        return pd.DataFrame(columns, index=pd.RangeIndex(len(X)))

    def imputed_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns ``n0, n1, ...``: :meth:`standardised` (imputed, then the indicators), float64;
        then ``c0, c1, ...``: the categorical columns, ``category`` dtype over the training levels
        (unknown or missing: NaN)."""
        numeric = self.standardised(X)
        columns = {f"n{j}": numeric[:, j] for j in range(numeric.shape[1])}
        for j, c in enumerate(self.categorical_):
            levels = pd.Index(self.levels_[c])
            columns[f"c{j}"] = pd.Categorical.from_codes(levels.get_indexer(_as_text(X[c])), categories=levels)
        return pd.DataFrame(columns, index=pd.RangeIndex(len(X)))

    def codes(self, X: pd.DataFrame) -> CodedTable:
        """The transformers' view: standardised numeric columns (float32) and level codes."""
        return CodedTable(
            numeric=self.standardised(X).astype(np.float32),
            codes=self.level_codes(X),
            cardinalities=tuple(len(self.levels_[c]) + 1 for c in self.categorical_),
        )

    def categorical_positions(self) -> list[int]:
        """Positions of the categorical columns in ``category_frame`` / ``text_frame``."""
        return [self.columns_.index(c) for c in self.categorical_]

    def view(self, kind: str, X: pd.DataFrame) -> object:
        """The view named ``kind``: ``"one_hot"``, ``"category"``, ``"text"``, ``"codes"`` or ``"imputed"``."""
        views = {
            "one_hot": self.one_hot, "category": self.category_frame, "text": self.text_frame, "codes": self.codes,
            "imputed": self.imputed_frame,
        }
        return views[kind](X)
