"""The command line's column rules: names checked with a suggestion, a table matched to a model by name.

Kept here, as :mod:`.tasks` keeps the task rules, so that the CLI only parses and prints. Each
function returns data, or raises a :class:`~wordexperts.errors.DataError` (a ``ValueError``)
phrased in the command line's words (flags and file names, never Python's): the estimators stay
strict, and the CLI catches a user's common mistakes before they reach them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

MAX_LISTED = 20  # columns named in a message before "... and N more"


def listing(names: Iterable[object], limit: int = MAX_LISTED) -> str:
    """Names as ``'a', 'b', 'c'``, cut after ``limit`` with how many more.

    Examples:
        >>> listing(["a", "b", "c"]), listing(range(5), limit=2)
        ("'a', 'b', 'c'", '0, 1 and 3 more')
    """
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def closest(name: str, choices: Sequence[str]) -> str | None:
    """The choice ``name`` was probably meant to be: the same name in another case, else the closest
    by :func:`difflib.get_close_matches`, else ``None``.

    Examples:
        >>> closest("lable", ["label", "size"]), closest("SIZE", ["label", "size"]), closest("zzz", ["label"])
        ('label', 'size', None)
    """
    folded = [c for c in choices if str(c).lower() == str(name).lower()]
    if folded:
        return folded[0]
    found = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return found[0] if found else None


def not_found(name: str, choices: Sequence[str], *, what: str, where: str) -> str:
    """``what 'name' is not in where (did you mean ...?); its columns are: ...``: one line.

    Examples:
        >>> not_found("lable", ["size", "label"], what="--target column", where="train.csv")
        "--target column 'lable' is not in train.csv (did you mean 'label'?); its columns are: 'size', 'label'"
    """
    guess = closest(name, choices)
    hint = f" (did you mean {guess!r}?)" if guess is not None else ""
    return f"{what} {name!r} is not in {where}{hint}; its columns are: {listing(choices)}"


def require_columns(names: Iterable[str], columns: Sequence[str], *, flag: str, where: str) -> None:
    """Raise :func:`not_found`'s error for the first of ``names`` (given with ``flag``) not in ``columns``."""
    present = set(columns)
    for name in names:
        if name not in present:
            raise DataError(not_found(name, columns, what=f"{flag} column", where=where))


def all_missing_columns(frame: pd.DataFrame) -> list[str]:
    """Columns with no value at all: every cell missing (``±inf`` counts as missing in a numeric column).

    Examples:
        >>> all_missing_columns(pd.DataFrame({"a": [1.0, np.nan], "b": [np.nan, np.inf], "c": [None, None]}))
        ['b', 'c']
    """
    empty = []
    for name in frame.columns:
        series = frame[name]
        missing = series.isna().to_numpy()
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            missing = missing | ~np.isfinite(series.to_numpy(dtype=np.float64, na_value=np.nan))
        if missing.all():
            empty.append(str(name))
    return empty


@dataclass(frozen=True)
class MatchedColumns:
    """A table laid out as a model's features: ``frame`` holds exactly ``features``, in their order.

    ``extra``: the table's columns the model does not read (other than those set ``aside``, e.g. the
    target and an identifier); ``missing``: features the table lacks, added with every cell missing.
    """

    frame: pd.DataFrame
    extra: list[str]
    missing: list[str]


def match_features(table: pd.DataFrame, features: Sequence[str], *, aside: Iterable[str] = ()) -> MatchedColumns:
    """Match ``table``'s columns to a model's ``features`` by name: any order; extra columns left out;
    a missing feature added as all-missing (the model reads its missing token there).

    Examples:
        >>> table = pd.DataFrame({"b": [1, 2], "id": ["r1", "r2"], "note": ["x", "y"]})
        >>> matched = match_features(table, ["a", "b"], aside=["id"])
        >>> list(matched.frame.columns), matched.extra, matched.missing, int(matched.frame["a"].isna().sum())
        (['a', 'b'], ['note'], ['a'], 2)
    """
    wanted, aside = set(features), set(aside)
    present = set(table.columns)
    missing = [c for c in features if c not in present]
    extra = [str(c) for c in table.columns if c not in wanted and c not in aside]
    frame = table.reindex(columns=list(features))  # a missing column arrives as float NaN
    return MatchedColumns(frame=frame, extra=extra, missing=missing)


def target_problem(target: pd.Series, task: str, *, max_classes: int) -> str | None:
    """What stops ``target`` (a column named in ``--target``) from being learned as ``task``, in the
    CLI's words, or ``None`` when nothing does.

    Examples:
        >>> target_problem(pd.Series(["1.5", "abc"], name="x"), "regression", max_classes=300)
        "--task regression needs a numeric target, and column 'x' holds text such as 'abc'; use --task classification"
        >>> target_problem(pd.Series([0.5, 1.25, 2.0], name="y"), "classification", max_classes=300) is not None
        True
        >>> target_problem(pd.Series([1, 2, 1], name="y"), "classification", max_classes=300) is None
        True
    """
    name = str(target.name)
    missing = target.isna().to_numpy()
    if missing.all():
        return f"target column {name!r} has no values (every cell is missing); choose another --target"
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        return (
            f"target column {name!r} has {int(missing.sum())} missing value(s), the first in data row {first + 1}; "
            "drop those rows (or fill them with `wordexperts impute`) before fitting"
        )
    if task == "regression":
        if pd.api.types.is_bool_dtype(target.dtype):
            return None
        numbers = pd.to_numeric(target, errors="coerce")
        text = target[numbers.isna()]
        if len(text):
            return (
                f"--task regression needs a numeric target, and column {name!r} holds text such as "
                f"{str(text.iloc[0])!r}; use --task classification"
            )
        values = numbers.to_numpy(dtype=np.float64)
        infinite = ~np.isfinite(values)
        if infinite.any():
            first = int(np.flatnonzero(infinite)[0])
            return (
                f"target column {name!r} holds {int(infinite.sum())} infinite value(s), the first in data row "
                f"{first + 1}; a regression target must be finite: drop those rows"
            )
        return None
    classes = target.nunique()
    if pd.api.types.is_float_dtype(target.dtype):
        values = target.to_numpy(dtype=np.float64)
        fractional = values[np.isfinite(values) & (values != np.round(values))]
        if len(fractional) or not np.isfinite(values).all():
            example = fractional[0] if len(fractional) else values[~np.isfinite(values)][0]
            return (
                f"--task classification needs class labels, and target column {name!r} holds numbers such as "
                f"{example:g} ({classes} distinct values); use --task regression"
            )
    if classes < 2:
        return (
            f"target column {name!r} holds one class only ({target.iloc[0]!r}); a classifier needs at least 2: "
            "choose another --target"
        )
    if classes > max_classes:
        hint = (
            "use --task regression, or group the rare classes"
            if pd.api.types.is_numeric_dtype(target.dtype)
            else ("group the rare classes, or choose another --target")
        )
        return f"target column {name!r} has {classes} classes, more than the {max_classes} a classifier takes; {hint}"
    return None


def weight_problem(weights: pd.Series) -> str | None:
    """What stops ``weights`` (a column named in ``--weight``) from being row weights, in the CLI's
    words, or ``None``: they must be numbers, finite, ``>= 0``, none missing, not all zero.

    Examples:
        >>> weight_problem(pd.Series([1.0, 0.5, 0.0], name="w")) is None
        True
        >>> weight_problem(pd.Series([1.0, -2.0], name="w"))
        "--weight column 'w' holds -2 in data row 2; row weights must be finite numbers >= 0 (0 leaves a row out)"
    """
    name = str(weights.name)
    if pd.api.types.is_bool_dtype(weights.dtype):
        weights = weights.astype(np.float64)
    numbers = pd.to_numeric(weights, errors="coerce")
    text = weights[numbers.isna() & weights.notna()]
    if len(text):
        return f"--weight column {name!r} holds text such as {str(text.iloc[0])!r}; row weights must be numbers >= 0"
    values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        return (
            f"--weight column {name!r} has {int(missing.sum())} missing value(s), the first in data row {first + 1}; "
            "give every row a weight (0 leaves a row out)"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        return (
            f"--weight column {name!r} holds {values[bad[0]]:g} in data row {bad[0] + 1}; row weights must be "
            "finite numbers >= 0 (0 leaves a row out)"
        )
    if not (values > 0).any():
        return f"every weight in --weight column {name!r} is 0: no row is left to fit on"
    return None
