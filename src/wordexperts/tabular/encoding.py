"""Tables as sentences: every column a word position, every cell a token (paper.md §2).

:func:`as_frame` turns whatever the user passed (DataFrame, Series, numpy array, lists,
polars / pyarrow tables, dataframe-interchange objects) into a pandas DataFrame with string
column names. :class:`TableEncoder` is fitted on training rows only and maps a frame to an
int64 token matrix, one column per word position:

    column kind     real-value tokens                      special tokens
    categorical     one per kept category (sorted)         missing, unknown
    numeric         one per quantile bin (lowest first)    missing, unknown (never emitted)

Vocabulary layouts:

    per-column (default)   column j owns tokens offsets_[j] .. offsets_[j] + n_tokens_[j] - 1:
                           its values, then its missing token, then its unknown token
    shared (the paper's)   value code c is token c in every column; one shared missing token
                           max(n_values_) and one shared unknown token max(n_values_) + 1;
                           columns are told apart by position only

The mask token is not the encoder's business: by the model's convention it is ``vocab_size_``.

Decisions worth knowing (each is tested):

- Numeric bins are quantile bins of the training values (``np.quantile``, linear, as
  ``pd.qcut``), duplicate edges dropped, intervals closed on the right like ``pd.qcut``,
  applied to new data with ``np.searchsorted`` so values outside the training range land in
  the first or last bin. An inner edge that would leave a bin without training values (ties,
  or interpolated edges a rounding error apart) is dropped too, so every bin has a mean.
  A column with at most ``n_bins`` distinct training values gets one bin per distinct
  value, with inner edges at the midpoints, so 4/6/8 cylinders give 3 bins and integer
  codes 0..n-1 give tokens 0..n-1 (in the shared layout: the paper's pre-binned data).
- Missing means ``pd.isna``: NaN, None, ``pd.NA``, NaT; in a numeric column ``±inf`` too (no
  bin can stand for it: it takes the missing token, at fit and at transform). In a
  categorical column of numbers ``±inf`` is an error naming the column.
- A categorical column holds values of one type: str, int, float or bool. Any two of these
  in one column is an error (bool and int too: ``True == 1`` would merge them silently).
  Categories are sorted, except for pandas ``category`` columns, which keep their declared
  order (unobserved categories dropped). ``max_categories`` keeps the most frequent ones,
  ties going to the earlier one in that order; the rest map to the unknown token.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_complex_dtype,
    is_numeric_dtype,
    is_object_dtype,
    is_string_dtype,
)
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..checks import check_positive_int, is_int
from ..errors import ConfigError, ConfigTypeError, DataError, DataTypeError

FORMAT_VERSION = 1
KINDS = ("categorical", "numeric")
VALUE_TYPES = ("str", "int", "float", "bool")

# Codes a column's values take before they become tokens: 0..n_values-1 for real values.
_MISSING = -1
_UNKNOWN = -2

# pandas.api.types.infer_dtype(skipna=True) -> the one value type it stands for.
_INFERRED = {"string": "str", "integer": "int", "floating": "float", "boolean": "bool"}
# Inferred types a fitted categorical column accepts at transform. Ints and floats mix
# because an int column read with missing values arrives as float (4 -> 4.0).
_ACCEPTS = {
    "str": {"string", "empty"},
    "int": {"integer", "floating", "mixed-integer-float", "empty"},
    "float": {"integer", "floating", "mixed-integer-float", "empty"},
    "bool": {"boolean", "empty"},
}
_CASTS = {"str": str, "int": int, "float": float, "bool": bool}
# bin_codes counts up to this many inner edges one by one (into uint8); more take a binary search.
_COUNTED_EDGES = 64


# ---------------------------------------------------------------------------------------------
# as_frame
# ---------------------------------------------------------------------------------------------


def _is_sparse(X: object) -> bool:
    try:
        from scipy import sparse
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        return False
    return sparse.issparse(X)


def _reject_1d(what: str, shape: tuple) -> None:
    raise DataError(
        f"Expected 2D array, got 1D array instead: {what} has shape {shape}. Reshape your data with "
        f".reshape(-1, 1) if it is one column, or .reshape(1, -1) if it is one row"
    )


def _frame_from_rows(X: list | tuple, what: str, ensure_2d: bool) -> pd.DataFrame:
    rows = list(X)
    nested = [isinstance(r, (list, tuple, np.ndarray)) for r in rows]
    if not any(nested):
        if ensure_2d:
            _reject_1d(what, (len(rows),))
        return pd.DataFrame({0: rows})
    if not all(nested):
        raise DataError(f"{what} mixes rows (lists) and single values; pass a list of rows or a flat list")
    lengths = {len(r) for r in rows}
    if len(lengths) > 1:
        raise DataError(f"{what} has rows of different lengths: {sorted(lengths)}")
    if any(isinstance(v, (list, tuple, np.ndarray)) for r in rows for v in r):
        raise DataError(f"{what} must be 1-D or 2-D, got rows whose cells are sequences (3-D)")
    return pd.DataFrame(rows)


def positional_names(n_columns: int) -> list[str]:
    """The names of columns that came without any: ``["x0", "x1", ...]`` (scikit-learn's convention)."""
    return [f"x{j}" for j in range(n_columns)]


def match_columns(
    frame: pd.DataFrame, *, named: bool, columns: list[str], names_at_fit: bool, fitted_by: str
) -> pd.DataFrame:
    """The one column rule of the encoder, the estimators and the peers: ``frame`` with the fitted ``columns``.

    After a fit on named columns (``names_at_fit``), ``frame`` must name the same columns in
    the same order; the error names the columns missing, unexpected or moved, and a frame
    without names (``named=False``, an array) is an error. After a fit without names, columns
    go by position and only their number must match (in scikit-learn's words). ``fitted_by``
    names what was fitted (a class name).

    Examples:
        >>> frame = pd.DataFrame({"b": [1], "a": [2]})
        >>> try:
        ...     match_columns(frame, named=True, columns=["a", "b"], names_at_fit=True, fitted_by="TableEncoder")
        ... except DataError as error:
        ...     print(error)
        X's columns are in a different order than at fit: expected ['a', 'b'], got ['b', 'a']
        >>> list(match_columns(frame, named=True, columns=["x0", "x1"], names_at_fit=False, fitted_by="TableEncoder").columns)
        ['x0', 'x1']
    """
    given = list(frame.columns)
    if not names_at_fit:
        if len(given) != len(columns):
            raise DataError(
                f"X has {len(given)} features, but {fitted_by} is expecting {len(columns)} features as input"
            )
        return frame if given == list(columns) else frame.set_axis(list(columns), axis=1)
    if not named:
        raise DataError(f"X has no column names, but {fitted_by} was fitted with columns {list(columns)}")
    if given == list(columns):
        return frame
    missing = [c for c in columns if c not in set(given)]
    unexpected = [c for c in given if c not in set(columns)]
    if not missing and not unexpected:
        raise DataError(f"X's columns are in a different order than at fit: expected {list(columns)}, got {given}")
    problems = [f"missing columns {missing}" if missing else "", f"unexpected columns {unexpected}" if unexpected else ""]
    raise DataError(
        f"X's columns differ from those {fitted_by} was fitted with: " + "; ".join(p for p in problems if p)
    )


def as_frame(X: Any, *, what: str = "X", ensure_2d: bool = False) -> tuple[pd.DataFrame, bool]:
    """``X`` as a pandas DataFrame with string column names, and whether ``X`` named its columns.

    Accepted: a DataFrame (returned as is when its names are strings), a Series (one
    column), a 1-D or 2-D numpy array (object arrays too; object columns get their types
    inferred), a list of rows or a flat list, anything with ``to_pandas()`` (polars, pyarrow
    Table), anything with ``__arrow_c_stream__`` (the Arrow PyCapsule interface) and anything
    with ``__dataframe__`` (the dataframe interchange protocol, read through pyarrow because
    pandas deprecates its own reader). With ``ensure_2d=True`` one-dimensional input (1-D
    array, flat list, Series) is an error, as scikit-learn's ``check_array`` makes it.

    Column names follow scikit-learn. Input without names (arrays, lists, a Series without a
    string name, a frame whose column names are *all* non-strings, e.g. ``0, 1, 2``) gets the
    names ``"x0" .. "x{k-1}"`` and the flag ``False``, so an estimator sets
    ``feature_names_in_`` only when the flag is ``True``. A frame that mixes string and
    non-string names is an error, as in scikit-learn.

    Shape:
        X: (n_rows, n_columns), or (n_rows,) for one column.
        Returns: a frame (n_rows, n_columns) with ``n_rows, n_columns >= 1``, and a bool.

    Raises:
        DataTypeError (a ``TypeError``): sparse input, or an unsupported input type.
        DataError (a ``ValueError``): 0 rows or 0 columns, more than 2 dimensions (or 1 with ``ensure_2d``),
            ragged rows, complex numbers, duplicate column names, a mix of string and
            non-string column names. Messages for empty, 1-D and complex input contain
            scikit-learn's wording, so its estimator checks recognise them.

    Examples:
        >>> frame, named = as_frame(np.array([[1, 2.5], [3, 4.0]]))
        >>> list(frame.columns), named
        (['x0', 'x1'], False)
        >>> frame, named = as_frame(pd.DataFrame({"age": [30, 40]}))
        >>> list(frame.columns), named
        (['age'], True)
    """
    if isinstance(X, pd.DataFrame):
        frame = X
    elif isinstance(X, pd.Series):
        if ensure_2d:
            _reject_1d(what, X.shape)
        frame = X.to_frame()  # name None -> column 0 -> no feature names
    elif _is_sparse(X):
        raise DataTypeError(f"{what} is a sparse matrix; pass dense data (e.g. X.toarray())")
    elif hasattr(X, "to_pandas") and not isinstance(X, np.ndarray):
        converted = X.to_pandas()
        if not isinstance(converted, (pd.DataFrame, pd.Series)):
            raise DataTypeError(f"{what}.to_pandas() returned {type(converted).__name__}, not a DataFrame or Series")
        return as_frame(converted, what=what, ensure_2d=ensure_2d)
    elif hasattr(X, "__arrow_c_stream__") or hasattr(X, "__dataframe__"):
        # Arrow PyCapsule stream first; pandas deprecates its own interchange reader, pyarrow's stays.
        import pyarrow as pa
        import pyarrow.interchange

        table = pa.table(X) if hasattr(X, "__arrow_c_stream__") else pyarrow.interchange.from_dataframe(X)
        return as_frame(table.to_pandas(), what=what, ensure_2d=ensure_2d)
    elif isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise DataError(
                f"{what} is empty: found array with 0 sample(s) (shape=(0,)) while a minimum of 1 is required."
            )
        frame = _frame_from_rows(X, what, ensure_2d)
    elif isinstance(X, np.ndarray) or hasattr(X, "__array__"):
        array = np.asarray(X)
        if array.ndim == 0:
            raise DataError(f"{what} must be 1-D or 2-D, got a scalar")
        if array.ndim > 2:
            raise DataError(f"{what} must be 1-D or 2-D, got a {array.ndim}-D array of shape {array.shape}")
        if array.ndim == 1:
            if ensure_2d:
                _reject_1d(what, array.shape)
            array = array.reshape(-1, 1)
        frame = pd.DataFrame(array)
        if array.dtype == object:
            frame = frame.infer_objects()
    else:
        raise DataTypeError(
            f"{what} must be a DataFrame, Series, numpy array or list (or have to_pandas()), got {type(X).__name__}"
        )

    n_rows, n_columns = frame.shape
    if n_rows == 0 or n_columns == 0:
        which = "sample(s)" if n_rows == 0 else "feature(s)"
        raise DataError(
            f"{what} is empty: found array with 0 {which} (shape={frame.shape}) while a minimum of 1 is required."
        )
    sparse_columns = [c for c, dtype in zip(frame.columns, frame.dtypes) if isinstance(dtype, pd.SparseDtype)]
    if sparse_columns:
        raise DataTypeError(f"{what} has sparse columns {sparse_columns}; pass dense data (e.g. X.sparse.to_dense())")

    names = list(frame.columns)
    is_str = [isinstance(name, str) for name in names]
    named = all(is_str)
    if not any(is_str):
        frame = frame.set_axis(positional_names(n_columns), axis=1)
    elif not named:
        offending = [name for name, ok in zip(names, is_str) if not ok]
        raise DataError(
            f"{what} has column names that are not strings: {offending}; column names must be all "
            f"strings (or all non-strings, then they are ignored), so rename them"
        )
    duplicates = sorted(name for name, count in Counter(frame.columns).items() if count > 1)
    if duplicates:
        raise DataError(f"{what} has duplicate column names: {duplicates}")
    complex_columns = [c for c, dtype in zip(frame.columns, frame.dtypes) if is_complex_dtype(dtype)]
    if complex_columns:
        raise DataError(f"Complex data not supported: {what} has complex columns {complex_columns}")
    return frame, named


# ---------------------------------------------------------------------------------------------
# helpers for TableEncoder
# ---------------------------------------------------------------------------------------------


def _first(values: np.ndarray, where: np.ndarray) -> object:
    """The first element of ``values`` where ``where`` holds, as a python scalar."""
    value = values[int(np.argmax(where))]
    return value.item() if isinstance(value, np.generic) else value


def _check_finite(name: str, x: np.ndarray) -> None:
    infinite = np.isinf(x)
    if infinite.any():
        raise DataError(
            f"column {name!r} holds {int(infinite.sum())} infinite value(s) (e.g. {_first(x, infinite)}); "
            f"replace them with NaN (missing) or a finite value"
        )


def _value_types_found(values: np.ndarray) -> list[str]:
    """Names of the python types among non-missing ``values`` (numpy scalars by python name)."""
    found = set()
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        found.add(type(v).__name__)
    return sorted(found)


def _value_type(name: str, series: pd.Series) -> str:
    """The one value type ("str", "int", "float", "bool") of a categorical column's values."""
    inferred = infer_dtype(series, skipna=True)
    if inferred in _INFERRED:
        return _INFERRED[inferred]
    if inferred == "empty":
        raise DataError(f"column {name!r} has no non-missing values in the training data")
    values = series[~series.isna()].to_numpy(dtype=object)
    found = _value_types_found(values)
    if len(found) > 1:
        raise DataError(
            f"column {name!r} mixes value types {found}; a categorical column must hold one of "
            f"str, int, float or bool (convert it, e.g. with .astype(str))"
        )
    raise DataTypeError(f"column {name!r} holds {found[0]} values; categories must be str, int, float or bool")


def _numeric_values(name: str, series: pd.Series) -> np.ndarray:
    """A numeric column's values as float64 with NaN for missing; strings etc. are errors."""
    dtype = series.dtype
    if is_numeric_dtype(dtype) and not is_bool_dtype(dtype) and not is_complex_dtype(dtype):
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        series = series.astype(object)  # category columns too: their values, not "categorical"
        inferred = infer_dtype(series, skipna=True)
        if inferred not in ("integer", "floating", "mixed-integer-float", "empty"):
            values = series.to_numpy(dtype=object)
            bad = np.array(
                [
                    not pd.isna(v) and (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)))
                    for v in values
                ]
            )
            example = _first(values, bad) if bad.any() else values[0]
            raise DataError(
                f"column {name!r} was numeric at fit but now holds {type(example).__name__} values (e.g. {example!r})"
            )
        x = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isinf(x), np.nan, x)  # a new array: the caller's data stay as they were


def _quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin edges of the training ``values`` (finite, non-empty); outer edges are min and max."""
    distinct = np.unique(values)
    if len(distinct) <= n_bins:
        # One bin per distinct value, inner edges at the midpoints. lo + (hi - lo) / 2 can round
        # up to hi (adjacent floats) or overflow; lo is then an edge that still separates them.
        lo, hi = distinct[:-1], distinct[1:]
        with np.errstate(over="ignore", invalid="ignore"):
            middle = lo + (hi - lo) / 2
        middle = np.where(np.isfinite(middle) & (middle < hi), middle, lo)
        return np.concatenate([distinct[:1], middle, distinct[-1:]])
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)))
    edges[0], edges[-1] = distinct[0], distinct[-1]
    # Drop inner edges that leave a bin without training values (ties can cause this).
    while True:
        counts = np.bincount(np.searchsorted(edges[1:-1], values, side="left"), minlength=len(edges) - 1)
        empty = np.flatnonzero(counts == 0)
        if len(empty) == 0:
            return edges
        edges = np.delete(edges, empty[0] + 1 if empty[0] < len(counts) - 1 else empty[0])


def split_tied_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """:func:`_quantile_edges`, then the fullest bins that hold more than one value split in two
    until there are ``n_bins`` (or every bin holds a single value).

    Quantile edges collapse where values tie: a count with 60% zeros gets one bin for the zeros
    and its tail shares what is left (10 bins asked, 5 made). Here the zeros keep their bin and
    the tail is cut finer, so a regressor's top bin, and what it can predict, reaches further.

    Examples:
        >>> y = np.r_[np.zeros(60), np.arange(1, 41)]
        >>> len(_quantile_edges(y, 10)) - 1, len(split_tied_edges(y, 10)) - 1
        (5, 10)
    """
    edges = _quantile_edges(values, n_bins)
    while len(edges) - 1 < n_bins:
        codes = bin_codes(edges, values)
        counts = np.bincount(codes, minlength=len(edges) - 1)
        splittable = [k for k in np.argsort(-counts, kind="stable") if np.ptp(values[codes == k]) > 0]
        if not splittable:
            return edges
        inside = np.sort(values[codes == splittable[0]])
        distinct, first = np.unique(inside, return_index=True)
        i = np.argmin(np.abs(first[1:] - len(inside) / 2))  # split below distinct[i + 1], nearest the middle
        lo, hi = distinct[i], distinct[i + 1]
        with np.errstate(over="ignore", invalid="ignore"):
            middle = lo + (hi - lo) / 2  # between them, as the edges of one bin per value are
        edges = np.sort(np.append(edges, middle if np.isfinite(middle) and lo <= middle < hi else lo))
    return edges


def bin_codes(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bin index of every value: right-closed intervals as ``pd.qcut``, out of range -> edge bins.

    The index is the number of inner edges below the value (``np.searchsorted(inner, x,
    side="left")``; NaN sorts last). With a few edges it is counted one edge at a time into
    bytes: about 10x faster than the binary search of every value, same codes.

    Shape:
        edges (n_bins + 1,), x (N,) float -> int64 (N,), values in ``0 .. n_bins - 1`` (NaN: ``n_bins - 1``).

    Examples:
        >>> bin_codes(np.array([0.0, 1.0, 2.0, 3.0]), np.array([-5.0, 1.0, 1.5, 9.0, np.nan])).tolist()
        [0, 0, 1, 2, 2]
    """
    inner, x = edges[1:-1], np.asarray(x)
    if len(inner) > _COUNTED_EDGES:
        return np.searchsorted(inner, x, side="left").astype(np.int64)
    at_or_above = np.zeros(x.shape, dtype=np.uint8)  # inner edges at or above each value (none for NaN)
    for edge in inner:
        at_or_above += x <= edge
    return len(inner) - at_or_above.astype(np.int64)


def _top_categories(counts: np.ndarray, max_categories: int | None) -> np.ndarray:
    """Positions of the kept categories, in order: the most frequent, ties to the earlier one."""
    if max_categories is None or len(counts) <= max_categories:
        return np.arange(len(counts))
    return np.sort(np.argsort(-counts, kind="stable")[:max_categories])


def _resolve(key: object, columns: list[str], param: str) -> str:
    if isinstance(key, str):
        if key not in columns:
            raise ConfigError(f"{param} names column {key!r}, which is not in the data; columns are {columns}")
        return key
    if is_int(key):
        if not -len(columns) <= key < len(columns):
            raise ConfigError(f"{param} has column position {key}, but the data has {len(columns)} columns")
        return columns[key]
    raise ConfigTypeError(f"{param} entries must be column names (str) or positions (int), got {key!r}")


# ---------------------------------------------------------------------------------------------
# TableEncoder
# ---------------------------------------------------------------------------------------------


ID_LIKE_FRACTION = 0.9  # a categorical column with distinct values in at least this share of its rows is an ID
ID_LIKE_MIN_ROWS = 50  # fewer non-missing rows decide nothing


class IdentifierWarning(UserWarning):
    """A column looks like a row identifier; the warning names it and says what was done."""


def id_like_columns(frame: pd.DataFrame, *, categorical: list | tuple = ()) -> dict[str, str]:
    """Columns of ``frame`` that look like row identifiers, each with the evidence: ``{column: why}``.

    A categorical column (strings, or listed in ``categorical``) is one when its distinct
    values number at least ``ID_LIKE_FRACTION`` of its non-missing rows; a numeric column
    when its values are distinct integers filling most of a range (at most twice as wide as
    the rows): a row number. Columns with fewer than ``ID_LIKE_MIN_ROWS`` non-missing values
    are never flagged. An identifier tells a model nothing about new rows, and as tokens it
    costs a vocabulary as large as the table.

    Examples:
        >>> frame = pd.DataFrame({"id": [f"r{i}" for i in range(60)], "x": ["a", "b"] * 30, "n": range(60)})
        >>> id_like_columns(frame)
        {'id': '60 distinct values in 60 rows', 'n': 'distinct integers 0..59 in 60 rows'}
    """
    found: dict[str, str] = {}
    listed = set(categorical)
    for name in frame.columns:
        series = frame[name].dropna()
        n = len(series)
        if n < ID_LIKE_MIN_ROWS:
            continue
        kind = column_kind(name, series.dtype, name in listed)
        if kind != "numeric":
            distinct = series.nunique()
            if distinct >= ID_LIKE_FRACTION * n:
                found[name] = f"{distinct} distinct values in {n} rows"
            continue
        if is_bool_dtype(series.dtype):
            continue
        x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(x).all() or (x != np.round(x)).any():
            continue
        low, high = x.min(), x.max()
        if len(np.unique(x)) == n and high - low + 1 <= 2 * n:
            found[name] = f"distinct integers {low:.0f}..{high:.0f} in {n} rows"
    return found


def same_categories(frame: pd.DataFrame, *, categorical: list | tuple = ()) -> bool:
    """Whether every column of ``frame`` (at least two) is categorical with one and the same set
    of values (a ``category`` column's declared categories, else its distinct non-missing values).

    Such columns speak one language (a Likert scale in every answer, the paper's binned
    features), so one vocabulary for all of them is the right prior: the estimators'
    ``shared_vocabulary="auto"`` asks here.

    Examples:
        >>> same_categories(pd.DataFrame({"a": ["lo", "hi"], "b": ["hi", "lo"]}))
        True
        >>> same_categories(pd.DataFrame({"a": ["lo", "hi"], "b": [1.0, 2.0]}))
        False
    """
    if frame.shape[1] < 2:
        return False
    listed = {str(c) for c in categorical}
    sets = []
    for name in frame.columns:
        series = frame[name]
        if column_kind(str(name), series.dtype, str(name) in listed) != "categorical":
            return False
        if isinstance(series.dtype, pd.CategoricalDtype):
            sets.append(frozenset(series.cat.categories.tolist()))
        else:
            sets.append(frozenset(series.dropna().unique().tolist()))
    return len(set(sets)) == 1


def column_kind(name: str, dtype: object, listed: bool) -> str:
    """``"categorical"`` or ``"numeric"``: how a column of ``dtype`` is read (``listed``: named categorical).

    Category, bool, text and object columns are categorical; numbers are numeric unless listed.
    The estimators' encoder and the benchmark's peers (:mod:`wordexperts_bench.peers`) both ask here.

    Examples:
        >>> column_kind("age", np.dtype("float64"), False), column_kind("bin", np.dtype("int64"), True)
        ('numeric', 'categorical')
    """
    if isinstance(dtype, pd.CategoricalDtype) or is_bool_dtype(dtype):
        return "categorical"
    if is_complex_dtype(dtype):
        raise DataError(f"Complex data not supported: column {name!r} has dtype {dtype}")
    if is_numeric_dtype(dtype):
        return "categorical" if listed else "numeric"
    if is_object_dtype(dtype) or is_string_dtype(dtype):
        return "categorical"
    raise DataTypeError(
        f"column {name!r} has dtype {dtype}, which is neither numbers nor categories; convert it to numbers or strings"
    )


class TableEncoder(BaseEstimator):
    """Fitted map from a table to a token matrix: columns are word positions, cells are tokens.

    Column kinds: ``bool``, ``category``, object and string columns are categorical; int and
    float columns are numeric (quantile-binned) unless listed in ``categorical``. Other dtypes
    (datetimes, complex) are an error: convert them first. Every column gets a missing token
    and an unknown token (see the module docstring for the two vocabulary layouts):

        column j, per-column layout:  | values 0..n_values_[j]-1 | missing | unknown |
                                      ^ offsets_[j]

    Parameters:
        n_bins: quantile bins per numeric column.
        bins: per-column override of ``n_bins``, ``{column: n}``.
        shared_vocabulary: the paper's layout (token = bin index / category code in every
            column, one shared missing and unknown token) instead of one range per column.
        max_categories: a categorical column keeps its ``max_categories`` most frequent
            training categories (ties to the earlier in category order: sorted, or a
            ``category`` column's declared order); the rest, like values
            never seen in training, map to the column's unknown token. ``None``: keep all.
        categorical: columns to treat as categorical even if numeric.
        ignore: columns whose values the model should not read, such as identifiers
            (:func:`id_like_columns`): each keeps a single value (its most frequent category,
            or one bin), so every row holds the same token there (or the missing token).
        split_ties: numeric columns whose bins keep their count where ties would merge quantile
            bins (:func:`split_tied_edges`); a regressor's target is one.

    Columns in ``bins``, ``categorical`` and ``ignore`` are names, or int positions (needed for arrays,
    whose columns are named ``"x0" .. "x{k-1}"`` by :func:`as_frame`).

    Attributes (after fit):
        columns_, n_columns_: column names in order, and their number.
        names_given_: whether the training data named its columns (see :func:`as_frame`);
            if it did not, or the data to transform does not, columns match by position.
        kinds_: ``{column: "categorical" | "numeric"}``.
        categories_, category_counts_, category_types_: categorical columns' kept categories
            (python scalars), their training counts, and their type ("str", "int", "float",
            "bool").
        bin_edges_, bin_means_, bin_counts_: numeric columns' bin edges (one more than the
            bins, which are at most ``n_bins``; the outer edges are the training min and max),
            training mean of the raw values in each bin, and training count of each bin.
        n_values_: real-value tokens per column (categories or bins).
        offsets_, n_tokens_: per-column layout: column j's tokens are
            ``offsets_[j] .. offsets_[j] + n_tokens_[j] - 1`` (n_values + 2). Shared layout:
            ``offsets_`` is all 0 and ``n_tokens_[j]`` counts the column's tokens all the same.
        vocab_size_: number of token ids.

    Shape:
        fit: X (n_rows, n_columns), any input :func:`as_frame` accepts.
        transform: X (n_rows', n_columns) -> int64 (n_rows', n_columns), values in
            ``0 .. vocab_size_ - 1``.

    Examples:
        >>> frame = pd.DataFrame({"colour": ["red", "blue", None, "red"], "size": [1.0, 2.0, 3.0, 4.0]})
        >>> encoder = TableEncoder(n_bins=2).fit(frame)
        >>> encoder.categories_["colour"], encoder.bin_edges_["size"].tolist()
        (['blue', 'red'], [1.0, 2.5, 4.0])
        >>> encoder.transform(frame)  # colour: blue 0, red 1, missing 2, unknown 3; size from 4
        array([[1, 4],
               [0, 4],
               [2, 5],
               [1, 5]])
        >>> encoder.transform(pd.DataFrame({"colour": ["green"], "size": [99.0]})).tolist()
        [[3, 5]]
        >>> encoder.decode("size", [4, 5]).tolist()
        [1.5, 3.5]
    """

    def __init__(
        self,
        *,
        n_bins: int = 10,
        bins: dict | None = None,
        shared_vocabulary: bool = False,
        max_categories: int | None = 1000,
        categorical: list | None = None,
        ignore: list | None = None,
        split_ties: list | None = None,
    ) -> None:
        self.n_bins = n_bins
        self.bins = bins
        self.shared_vocabulary = shared_vocabulary
        self.max_categories = max_categories
        self.categorical = categorical
        self.ignore = ignore
        self.split_ties = split_ties

    # -- fit -----------------------------------------------------------------------------------

    def _ignored(self, columns: list[str]) -> set[str]:
        if self.ignore is not None and isinstance(self.ignore, (str, dict)):
            raise ConfigTypeError(f"ignore must be a list of columns, got {self.ignore!r}")
        return {_resolve(key, columns, "ignore") for key in (self.ignore or [])}

    def _check_params(self, columns: list[str]) -> tuple[dict[str, int], set[str]]:
        check_positive_int("n_bins", self.n_bins)
        check_positive_int("max_categories", self.max_categories, optional=True)
        if not isinstance(self.shared_vocabulary, (bool, np.bool_)):
            raise ConfigTypeError(f"shared_vocabulary must be a bool, got {self.shared_vocabulary!r}")
        if self.categorical is not None and isinstance(self.categorical, (str, dict)):
            raise ConfigTypeError(f"categorical must be a list of columns, got {self.categorical!r}")
        categorical = {_resolve(key, columns, "categorical") for key in (self.categorical or [])}
        if self.bins is not None and not isinstance(self.bins, dict):
            raise ConfigTypeError(f"bins must be a dict {{column: n_bins}}, got {type(self.bins).__name__}")
        bins: dict[str, int] = {}
        for key, n in (self.bins or {}).items():
            name = _resolve(key, columns, "bins")
            n = check_positive_int(f"bins[{key!r}]", n)
            if name in bins and bins[name] != n:
                raise ConfigError(f"bins gives column {name!r} two bin counts: {bins[name]} and {n}")
            if name in categorical:
                raise ConfigError(f"column {name!r} is in categorical and has a bin count in bins; pick one")
            bins[name] = n
        return bins, categorical

    def fit(self, X: Any, y: None = None) -> TableEncoder:
        """Learn columns, kinds, categories and bin edges from the training rows ``X``."""
        self.__dict__.pop("vocab_size_", None)  # a failed refit leaves the encoder unfitted
        frame, named = as_frame(X)
        columns = list(frame.columns)
        bins, categorical = self._check_params(columns)
        ignored = self._ignored(columns)
        if self.split_ties is not None and isinstance(self.split_ties, (str, dict)):
            raise ConfigTypeError(f"split_ties must be a list of columns, got {self.split_ties!r}")
        split = {_resolve(key, columns, "split_ties") for key in (self.split_ties or [])}

        self.columns_ = columns
        self.n_columns_ = len(columns)
        self.names_given_ = bool(named)
        self.kinds_, self.categories_, self.category_counts_, self.category_types_ = {}, {}, {}, {}
        self.bin_edges_, self.bin_means_, self.bin_counts_ = {}, {}, {}
        for name in columns:
            series = frame[name]
            kind = column_kind(name, series.dtype, name in categorical)
            if name in bins and kind != "numeric":
                raise ConfigError(f"bins gives a bin count for column {name!r}, which is categorical")
            if kind == "numeric":
                n = 1 if name in ignored else bins.get(name, self.n_bins)
                self._fit_numeric(name, series, n, split=name in split)
            else:
                self._fit_categorical(name, series, 1 if name in ignored else self.max_categories)
        self._build_layout()
        return self

    def _fit_numeric(self, name: str, series: pd.Series, n_bins: int, *, split: bool = False) -> None:
        x = _numeric_values(name, series)
        x = x[~np.isnan(x)]
        if len(x) == 0:
            raise DataError(f"column {name!r} has no non-missing values in the training data")
        edges = (split_tied_edges if split else _quantile_edges)(x, n_bins)
        codes = bin_codes(edges, x)
        counts = np.bincount(codes, minlength=len(edges) - 1)
        if len(np.unique(x)) <= n_bins:
            means = np.unique(x)  # exact: one bin per distinct value
        else:
            means = np.bincount(codes, weights=x, minlength=len(edges) - 1) / counts
        self.kinds_[name] = "numeric"
        self.bin_edges_[name] = edges
        self.bin_means_[name] = means
        self.bin_counts_[name] = counts.astype(np.int64)

    def _fit_categorical(self, name: str, series: pd.Series, max_categories: int | None) -> None:
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            # Declared order, unobserved categories dropped.
            codes = series.cat.codes.to_numpy()
            counts = np.bincount(codes[codes >= 0], minlength=len(dtype.categories))
            observed = np.flatnonzero(counts > 0)
            if len(observed) == 0:
                raise DataError(f"column {name!r} has no non-missing values in the training data")
            values = dtype.categories[observed]
            value_type = _value_type(name, pd.Series(values))
            counts = counts[observed]
        else:
            value_type = _value_type(name, series)
            tally = series.value_counts(dropna=True, sort=False)
            if value_type == "str":
                keys = tally.index.to_numpy(dtype=object)
                order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
                values, counts = pd.Index(keys[order], dtype=object), tally.to_numpy()[order]
            else:
                tally = tally.sort_index()
                values, counts = tally.index, tally.to_numpy()
        if value_type == "float":
            _check_finite(name, np.asarray(values, dtype=np.float64))
        keep = _top_categories(np.asarray(counts), max_categories)
        cast = _CASTS[value_type]
        self.kinds_[name] = "categorical"
        self.categories_[name] = [cast(v.item() if isinstance(v, np.generic) else v) for v in values[keep]]
        self.category_counts_[name] = np.asarray(counts, dtype=np.int64)[keep]
        self.category_types_[name] = value_type

    def _build_layout(self) -> None:
        self._ignored_names = self._ignored(self.columns_)
        self._lookup: dict[str, pd.Index] = {}
        n_values = []
        for name in self.columns_:
            if self.kinds_[name] == "numeric":
                n_values.append(len(self.bin_edges_[name]) - 1)
            else:
                cats = self.categories_[name]
                dtype = {"str": object, "int": np.int64, "float": np.float64, "bool": bool}
                self._lookup[name] = pd.Index(np.array(cats, dtype=dtype[self.category_types_[name]]))
                n_values.append(len(cats))
        self.n_values_ = np.array(n_values, dtype=np.int64)
        self.n_tokens_ = self.n_values_ + 2
        if self.shared_vocabulary:
            self.offsets_ = np.zeros(self.n_columns_, dtype=np.int64)
            width = int(self.n_values_.max())
            self._missing = np.full(self.n_columns_, width, dtype=np.int64)
            self.vocab_size_ = width + 2
        else:
            self.offsets_ = np.concatenate([[0], np.cumsum(self.n_tokens_)[:-1]]).astype(np.int64)
            self._missing = self.offsets_ + self.n_values_
            self.vocab_size_ = int(self.n_tokens_.sum())
        self._unknown = self._missing + 1

    # -- transform -----------------------------------------------------------------------------

    def _aligned(self, X: Any, absent: set[str] = frozenset()) -> pd.DataFrame:
        check_is_fitted(self, "vocab_size_")
        frame, named = as_frame(X)
        columns = [name for name in self.columns_ if name not in absent]
        return match_columns(
            frame, named=named, columns=columns, names_at_fit=self.names_given_, fitted_by="TableEncoder"
        )

    def _codes_numeric(self, name: str, series: pd.Series) -> np.ndarray:
        x = _numeric_values(name, series)
        codes = bin_codes(self.bin_edges_[name], x)
        codes[np.isnan(x)] = _MISSING
        return codes

    def _codes_categorical(self, name: str, series: pd.Series) -> np.ndarray:
        lookup, value_type = self._lookup[name], self.category_types_[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            # Look the declared categories up once; pandas' code -1 (missing) takes the last entry.
            declared = series.dtype.categories
            self._check_type(name, pd.Series(declared), value_type)
            if value_type in ("int", "float"):
                _check_finite(name, np.asarray(declared, dtype=np.float64))
            found = lookup.get_indexer(declared)
            table = np.append(np.where(found == -1, _UNKNOWN, found), _MISSING).astype(np.int64)
            codes = table[series.cat.codes.to_numpy()]
        else:
            self._check_type(name, series, value_type)
            if value_type in ("int", "float"):
                _check_finite(name, series.to_numpy(dtype=np.float64, na_value=np.nan))
            missing = series.isna().to_numpy()
            found = lookup.get_indexer(series.to_numpy())
            codes = np.where(missing, _MISSING, np.where(found == -1, _UNKNOWN, found)).astype(np.int64)
        if name in self.ignored_columns():  # every value is the one kept: the model cannot tell rows apart here
            codes = np.where(codes == _MISSING, _MISSING, 0)
        return codes

    @staticmethod
    def _check_type(name: str, series: pd.Series, value_type: str) -> None:
        inferred = infer_dtype(series, skipna=True)
        if inferred in _ACCEPTS[value_type]:
            return
        values = series[~series.isna()].to_numpy(dtype=object)
        if values.size == 0:  # all missing (a blank CSV column reads as float NaN): nothing to check
            return
        want = {"str": (str,), "bool": (bool, np.bool_)}.get(value_type)
        if want is None:  # int or float: any real number but bool
            bad = [isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)) for v in values]
        else:
            bad = [not isinstance(v, want) for v in values]
        example = _first(values, np.array(bad)) if any(bad) else values[0]
        raise DataError(
            f"column {name!r} held {value_type} values at fit but now holds "
            f"{type(example).__name__} values (e.g. {example!r})"
        )

    def _tokens(self, j: int, codes: np.ndarray) -> np.ndarray:
        """Column ``j``'s tokens of its codes ``(N,)``, by one lookup: ``(N,)``."""
        first = 0 if self.shared_vocabulary else self.offsets_[j]
        # Indexed by code - _UNKNOWN: the unknown code (-2), the missing code (-1), then the values.
        table = np.r_[self._unknown[j], self._missing[j], first : first + self.n_values_[j]]
        return table[codes - _UNKNOWN]

    def transform(self, X: Any, *, missing: list | tuple = ()) -> np.ndarray:
        """Token matrix of ``X``: same columns as at fit, in the same order.

        ``missing`` names fitted columns (or their positions) that ``X`` leaves out: each takes
        its missing token in every row, as an estimator's target does when it is predicted.
        ``X`` holds the other columns, in the fitted order.

        Shape:
            X: (n_rows, n_columns - len(missing)) -> int64 (n_rows, n_columns).

        Examples:
            >>> encoder = TableEncoder().fit(pd.DataFrame({"a": ["x", "y"], "b": ["u", "v"]}))
            >>> encoder.transform(pd.DataFrame({"a": ["y"]}), missing=["b"]).tolist()  # b's missing token is 6
            [[1, 6]]
        """
        absent = {self.columns_[self._index(column)] for column in missing}
        frame = self._aligned(X, absent)
        tokens = np.empty((len(frame), self.n_columns_), dtype=np.int64)
        given = iter(range(frame.shape[1]))  # X's columns, the absent ones skipped
        for j, name in enumerate(self.columns_):
            if name in absent:
                tokens[:, j] = self._missing[j]
                continue
            series = frame.iloc[:, next(given)]
            if self.kinds_[name] == "numeric":
                codes = self._codes_numeric(name, series)
            else:
                codes = self._codes_categorical(name, series)
            tokens[:, j] = self._tokens(j, codes)
        return tokens

    def fit_transform(self, X: Any, y: None = None) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    # -- tokens and decoding -------------------------------------------------------------------

    def _index(self, column: str | int) -> int:
        check_is_fitted(self, "vocab_size_")
        if isinstance(column, str):
            if column not in self.columns_:
                raise ConfigError(f"unknown column {column!r}; columns are {self.columns_}")
            return self.columns_.index(column)
        if is_int(column) and -self.n_columns_ <= column < self.n_columns_:
            return int(column) % self.n_columns_
        raise ConfigError(
            f"column must be a name in {self.columns_} or a position below {self.n_columns_}, got {column!r}"
        )

    def ignored_columns(self) -> set[str]:
        """Names of the columns whose values the model does not read (``ignore``)."""
        check_is_fitted(self, "vocab_size_")
        if not hasattr(self, "_ignored_names"):  # an encoder pickled before ``ignore`` existed
            self.ignore = getattr(self, "ignore", None)
            self._ignored_names = self._ignored(self.columns_)
        return self._ignored_names

    def token_levels(self, n_levels: int) -> np.ndarray:
        """Each token's weights on ``n_levels`` shared quantile levels: ``(vocab_size_, n_levels)``.

        Bin ``b`` of a numeric column with ``n`` bins sits at ``b / (n - 1)`` of the way from
        level 0 to level ``n_levels - 1``, split linearly between the two levels around it; so
        every column's lowest bin is level 0 and its highest the last level. Categories, the
        missing and unknown tokens, and single-bin columns have no level (a zero row). The
        model adds the levels' learned vectors to its words' own (``AttentionConfig.n_levels``).

        Examples:
            >>> encoder = TableEncoder(n_bins=3).fit(pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}))
            >>> encoder.token_levels(2).round(2).tolist()  # x: bins 0, 1, 2, missing, unknown; then c
            [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
        """
        check_is_fitted(self, "vocab_size_")
        n_levels = check_positive_int("n_levels", n_levels)
        levels = np.zeros((self.vocab_size_, n_levels))
        if self.shared_vocabulary:
            return levels  # one token serves many columns: there is no column's own bin to place
        for j, name in enumerate(self.columns_):
            n = int(self.n_values_[j])
            if self.kinds_[name] != "numeric" or n < 2 or n_levels < 2:
                continue
            place = np.arange(n) / (n - 1) * (n_levels - 1)  # (n,)
            low = np.minimum(np.floor(place).astype(np.int64), n_levels - 2)
            share = place - low
            rows = self.offsets_[j] + np.arange(n)
            levels[rows, low] = 1.0 - share
            levels[rows, low + 1] = share
        return levels

    def column_tokens(self, column: str | int) -> np.ndarray:
        """Token ids of the column's real values (categories or bins), without missing/unknown.

        Shape:
            Returns (n_values_[j],) int64, in category / bin order.
        """
        j = self._index(column)
        return np.arange(self.n_values_[j], dtype=np.int64) + self.offsets_[j]

    def missing_token(self, column: str | int) -> int:
        """Token id of a missing value in ``column``."""
        return int(self._missing[self._index(column)])

    def unknown_token(self, column: str | int) -> int:
        """Token id of a value never seen in training (or dropped by max_categories) in ``column``."""
        return int(self._unknown[self._index(column)])

    def decode(self, column: str | int, tokens: Any) -> np.ndarray:
        """Values of ``column``'s tokens: categories, or bin means for numeric columns.

        Missing and unknown tokens decode to None (categorical) or NaN (numeric). A token
        that does not belong to the column is an error.

        Shape:
            tokens (...) -> (...): object array (categorical) or float64 (numeric).
        """
        j = self._index(column)
        name = self.columns_[j]
        tokens = np.asarray(tokens)
        if tokens.dtype.kind not in "iu":
            raise DataTypeError(f"tokens must be integers, got dtype {tokens.dtype}")
        codes = tokens.astype(np.int64) - self.offsets_[j]
        special = (tokens == self._missing[j]) | (tokens == self._unknown[j])
        bad = ~special & ((codes < 0) | (codes >= self.n_values_[j]))
        if bad.any():
            raise DataError(
                f"token {_first(tokens, bad)} is not a token of column {name!r} "
                f"(its values are {self.column_tokens(j).min()}..{self.column_tokens(j).max()}, "
                f"missing {self._missing[j]}, unknown {self._unknown[j]})"
            )
        safe = np.where(special, 0, codes)
        if self.kinds_[name] == "numeric":
            return np.where(special, np.nan, self.bin_means_[name][safe])
        values = np.empty(len(self.categories_[name]) + 1, dtype=object)
        values[:-1] = self.categories_[name]
        values[-1] = None
        return values[np.where(special, len(values) - 1, safe)]

    # -- JSON ----------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The fitted encoder as plain JSON types (``json.dumps`` works), ``{"format": 1, ...}``."""
        check_is_fitted(self, "vocab_size_")
        columns = []
        for name in self.columns_:
            if self.kinds_[name] == "numeric":
                columns.append(
                    {
                        "name": name,
                        "kind": "numeric",
                        "bin_edges": [float(v) for v in self.bin_edges_[name]],
                        "bin_means": [float(v) for v in self.bin_means_[name]],
                        "bin_counts": [int(v) for v in self.bin_counts_[name]],
                    }
                )
            else:
                columns.append(
                    {
                        "name": name,
                        "kind": "categorical",
                        "value_type": self.category_types_[name],
                        "categories": list(self.categories_[name]),
                        "category_counts": [int(v) for v in self.category_counts_[name]],
                    }
                )
        bins = None if self.bins is None else [[_plain(k), _plain(v)] for k, v in self.bins.items()]
        categorical = None if self.categorical is None else [_plain(k) for k in self.categorical]
        return {
            "format": FORMAT_VERSION,
            "type": "TableEncoder",
            "params": {
                "n_bins": _plain(self.n_bins),
                "bins": bins,
                "shared_vocabulary": bool(self.shared_vocabulary),
                "max_categories": _plain(self.max_categories),
                "categorical": categorical,
                "ignore": None if self.ignore is None else [_plain(k) for k in self.ignore],
                "split_ties": None if self.split_ties is None else [_plain(k) for k in self.split_ties],
            },
            "names_given": self.names_given_,
            "columns": columns,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TableEncoder:
        """A fitted encoder from :meth:`to_dict`'s output (also after a JSON round trip)."""

        def need(ok: bool, problem: str) -> None:
            if not ok:
                raise DataError(f"malformed TableEncoder dict: {problem}")

        need(isinstance(d, dict), f"expected a dict, got {type(d).__name__}")
        need(d.get("format") == FORMAT_VERSION, f"format must be {FORMAT_VERSION}, got {d.get('format')!r}")
        for key, kind in (("params", dict), ("columns", list), ("names_given", bool)):
            need(isinstance(d.get(key), kind), f"{key!r} must be a {kind.__name__}, got {d.get(key)!r}")
        params = d["params"]
        known = {"n_bins", "bins", "shared_vocabulary", "max_categories", "categorical"}
        # 0.4 files lack ignore, 0.5 files split_ties
        versions = (known, known | {"ignore"}, known | {"ignore", "split_ties"})
        need(set(params) in versions, f"params has keys {sorted(params)}")
        bins = params["bins"]
        need(
            bins is None or (isinstance(bins, list) and all(isinstance(p, list) and len(p) == 2 for p in bins)),
            "params.bins must be null or a list of [column, n] pairs",
        )
        need(
            bins is None or all(isinstance(k, (str, int)) and not isinstance(k, bool) for k, _ in bins),
            "params.bins columns must be names (str) or positions (int)",
        )
        need(
            params["categorical"] is None or isinstance(params["categorical"], list),
            "params.categorical must be null or a list",
        )
        encoder = cls(
            n_bins=params["n_bins"],
            bins=None if bins is None else {k: v for k, v in bins},
            shared_vocabulary=params["shared_vocabulary"],
            max_categories=params["max_categories"],
            categorical=params["categorical"],
            ignore=params.get("ignore"),
            split_ties=params.get("split_ties"),
        )
        need(
            encoder.ignore is None or isinstance(encoder.ignore, list), "params.ignore must be null or a list"
        )
        need(len(d["columns"]) > 0, "columns is empty")
        names = [c.get("name") if isinstance(c, dict) else None for c in d["columns"]]
        need(all(isinstance(n, str) for n in names), f"every column needs a str 'name', got {names}")
        need(len(set(names)) == len(names), f"duplicate column names {names}")
        try:
            encoder._check_params(names)
            encoder._ignored(names)
        except (TypeError, ValueError) as error:
            raise DataError(f"malformed TableEncoder dict: {error}") from None

        encoder.columns_, encoder.n_columns_, encoder.names_given_ = names, len(names), d["names_given"]
        encoder.kinds_, encoder.categories_, encoder.category_counts_, encoder.category_types_ = {}, {}, {}, {}
        encoder.bin_edges_, encoder.bin_means_, encoder.bin_counts_ = {}, {}, {}
        for entry in d["columns"]:
            name, kind = entry["name"], entry.get("kind")
            need(kind in KINDS, f"column {name!r} has kind {kind!r}, expected one of {KINDS}")
            if kind == "numeric":
                need(
                    set(entry) == {"name", "kind", "bin_edges", "bin_means", "bin_counts"},
                    f"column {name!r} has keys {sorted(entry)}",
                )
                edges, means, counts = entry["bin_edges"], entry["bin_means"], entry["bin_counts"]
                need(
                    all(isinstance(v, list) for v in (edges, means, counts)) and len(edges) >= 2,
                    f"column {name!r}: bin_edges, bin_means, bin_counts must be lists, with at least 2 edges",
                )
                need(
                    len(means) == len(counts) == len(edges) - 1,
                    f"column {name!r}: {len(edges)} bin edges need {len(edges) - 1} bin means and counts, "
                    f"got {len(means)} and {len(counts)}",
                )
                need(
                    all(_is_number(v) and math.isfinite(v) for v in edges + means)
                    and all(is_int(v) and v >= 0 for v in counts),
                    f"column {name!r}: bin edges and means must be finite numbers, counts non-negative ints",
                )
                need(all(a <= b for a, b in itertools.pairwise(edges)), f"column {name!r}: bin edges must be sorted")
                encoder.kinds_[name] = "numeric"
                encoder.bin_edges_[name] = np.array(edges, dtype=np.float64)
                encoder.bin_means_[name] = np.array(means, dtype=np.float64)
                encoder.bin_counts_[name] = np.array(counts, dtype=np.int64)
            else:
                need(
                    set(entry) == {"name", "kind", "value_type", "categories", "category_counts"},
                    f"column {name!r} has keys {sorted(entry)}",
                )
                value_type, cats, counts = entry["value_type"], entry["categories"], entry["category_counts"]
                need(
                    value_type in VALUE_TYPES,
                    f"column {name!r} has value_type {value_type!r}, expected one of {VALUE_TYPES}",
                )
                need(isinstance(cats, list) and len(cats) > 0, f"column {name!r}: categories must be a non-empty list")
                need(
                    isinstance(counts, list)
                    and len(counts) == len(cats)
                    and all(is_int(v) and v >= 0 for v in counts),
                    f"column {name!r}: category_counts must be one non-negative int per category",
                )
                ok = {
                    "str": lambda v: isinstance(v, str),
                    "bool": lambda v: isinstance(v, bool),
                    "int": is_int,
                    # JSON writes 2.0 as 2.0, but other writers may drop the ".0".
                    "float": lambda v: _is_number(v) and math.isfinite(v),
                }[value_type]
                need(all(ok(v) for v in cats), f"column {name!r}: categories must all be {value_type}")
                cats = [_CASTS[value_type](v) for v in cats]
                need(len(set(cats)) == len(cats), f"column {name!r}: duplicate categories")
                encoder.kinds_[name] = "categorical"
                encoder.category_types_[name] = value_type
                encoder.categories_[name] = cats
                encoder.category_counts_[name] = np.array(counts, dtype=np.int64)
        encoder._build_layout()
        return encoder


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: object) -> object:
    """numpy scalars -> python scalars, for JSON."""
    return value.item() if isinstance(value, np.generic) else value
