"""Property-based tests (hypothesis) of the encoder, the estimators and the command line.

Generated tables mix every dtype a user hands in (int, float, bool, str, category, nullable
ints, pandas strings, object columns that mix types, datetimes), with NaN/None/±inf, empty
strings, unicode, huge and tiny numbers, constant, all-missing and duplicated columns; at
predict time they bring unseen categories and shuffled, missing, extra or renamed columns.
Every case must end in a correct result (int tokens in range; one finite prediction per row;
probabilities summing to 1; no missing cell left in a column the imputer fitted) or in a user
error whose message names the problem, never in anything else (issue 14, item 5).

CI runs a fixed, derandomized set of cases (``derandomize=True``: the same cases on every
run of the same code). The long run multiplies every test's cases and draws new ones each time::

    WORDEXPERTS_HYPOTHESIS_SCALE=25 .venv/bin/python -m pytest -q tests/test_properties.py   # make test-long

(docs/reliability.md has the counts and times.)
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from scipy import sparse

from wordexperts.cli import main as cli_main
from wordexperts.tabular import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor
from wordexperts.tabular.encoding import TableEncoder

# ---- what counts as a user error --------------------------------------------------------------
#
# The goal (issue 14, item 2) is that every problem a user can fix raises a
# wordexperts.errors.WordExpertsError. While the library's raise sites are being converted to it,
# a plain ValueError or TypeError still counts as a user error here: USER_ERRORS is the one place
# that says so. WORDEXPERTS_STRICT_ERRORS=1 accepts WordExpertsError alone (what these tests
# should use once the conversion has landed); WORDEXPERTS_ERROR_LOG=FILE appends every accepted
# error that is not yet a WordExpertsError to FILE, one "Type: message" line each.
try:
    from wordexperts.errors import WordExpertsError
except ImportError:  # before errors.py existed
    WordExpertsError = None

STRICT = os.environ.get("WORDEXPERTS_STRICT_ERRORS") == "1" and WordExpertsError is not None
USER_ERRORS: tuple[type[BaseException], ...] = (
    (WordExpertsError,) if STRICT else tuple(e for e in (WordExpertsError, ValueError, TypeError) if e is not None)
)
ERROR_LOG = os.environ.get("WORDEXPERTS_ERROR_LOG")

# ---- how many cases -------------------------------------------------------------------------------

SCALE = int(os.environ.get("WORDEXPERTS_HYPOTHESIS_SCALE", "1"))  # the long run: 25 or more
LONG = SCALE > 1


CASES: list[int] = []  # each property's CI cases, as budget() hands them out


def budget(n: int) -> settings:
    """``n`` cases (times the scale), no deadline (a first fit warms torch up), derandomized in CI
    so every run checks the same cases; the long run draws new ones (``print_blob`` says how to
    replay a failure). No example database: nothing is written to the checkout."""
    CASES.append(n)
    return settings(
        max_examples=n * SCALE,
        deadline=None,
        derandomize=not LONG,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


TINY = {"epochs": 1, "d_model": 8, "n_heads": 2, "d_ff": 8, "random_state": 0}  # a fit in tens of milliseconds


def user_error(error: BaseException, columns=(), words=()) -> None:
    """``error`` is one a user can act on: of ``USER_ERRORS``, with a message. A WordExpertsError (any
    error, with WORDEXPERTS_STRICT_ERRORS=1) must also name the problem: one of ``columns`` (quoted,
    as the library quotes names) or one of ``words`` (whole words), when either is given."""
    if not isinstance(error, USER_ERRORS):
        raise error
    columns, words = [str(c) for c in columns], list(words)
    message = str(error)
    assert message.strip(), f"{type(error).__name__} without a message"
    converted = WordExpertsError is not None and isinstance(error, WordExpertsError)
    if (columns or words) and (converted or STRICT):
        named = any(repr(str(c)) in message for c in columns) or any(
            re.search(rf"(?<!\w){re.escape(w)}(?!\w)", message) for w in words
        )
        assert named, f"{type(error).__name__}({message!r}) names none of {columns} or {words}"
    event(f"user error: {type(error).__name__}")
    if ERROR_LOG and not converted:
        with open(ERROR_LOG, "a", encoding="utf-8") as log:
            log.write(f"{type(error).__name__}: {message.splitlines()[0][:160]}\n")


@contextlib.contextmanager
def quiet():
    """No warnings (identifier notes, pandas' dtype warnings) and no output from a case."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield


# ---- strategies: values ---------------------------------------------------------------------------

HUGE_AND_TINY = [
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1e-300,
    1e300,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    2.0**53 + 1,
    -(2.0**63),
]
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HUGE_AND_TINY),
    st.sampled_from([math.inf, -math.inf, math.nan]),
    st.integers(-3, 3).map(float),
)
INTS = st.one_of(st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1), st.sampled_from([2**63 - 1, -(2**63)]))
ODD_TEXT = ["", " ", "a", "A", "ä", "日本", "😀", "nan", "None", "1", "1.0", "True", "\t", "a,b", '"q"', "x\ny"]
TEXT = st.one_of(st.text(max_size=6), st.sampled_from(ODD_TEXT))
MIXED = st.one_of(INTS, FLOATS, TEXT, st.booleans())

# Column kinds: how a column's values are drawn, and the pandas dtype they are handed in as.
KINDS = (
    "int",
    "float",
    "bool",
    "bool_or_none",
    "str",
    "category",
    "int_category",
    "nullable_int",
    "string",
    "mixed",
    "all_missing",
    "datetime",
)
VALUES = {
    "int": INTS,
    "float": FLOATS,
    "bool": st.booleans(),
    "bool_or_none": st.booleans(),
    "str": TEXT,
    "category": TEXT,
    "int_category": st.integers(-3, 3),
    "nullable_int": st.integers(-(2**40), 2**40),
    "string": TEXT,
    "mixed": MIXED,
    "all_missing": st.nothing(),
    "datetime": st.integers(0, 2**32),
}
MISSING_ALLOWED = {
    "int",
    "float",
    "bool_or_none",
    "str",
    "category",
    "int_category",
    "nullable_int",
    "string",
    "mixed",
    "datetime",
}


@dataclass(frozen=True)
class ColumnSpec:
    """A column's kind and the few values it draws from (repeats are what make categories)."""

    kind: str
    pool: tuple
    missing: bool
    declared: tuple = ()  # a category column's unobserved declared categories

    def series(self, values: list) -> pd.Series:
        kind = self.kind
        if kind == "int":
            return pd.Series(values, dtype="float64" if None in values else "int64")
        if kind == "float":
            return pd.Series([math.nan if v is None else v for v in values], dtype="float64")
        if kind == "bool":  # None (new rows' missing cells) makes it an object column, as pandas would
            return pd.Series(values, dtype=object if None in values else bool)
        if kind in ("bool_or_none", "str", "mixed", "all_missing"):
            return pd.Series(values, dtype=object)
        if kind in ("category", "int_category"):
            observed = [v for v in dict.fromkeys(values) if v is not None]
            declared = list(dict.fromkeys([*observed, *self.declared]))
            return pd.Series(pd.Categorical(values, categories=declared))
        if kind == "nullable_int":
            return pd.Series(pd.array(values, dtype="Int64"))
        if kind == "string":
            return pd.Series(pd.array(values, dtype="string"))
        if kind == "datetime":
            return pd.Series(pd.to_datetime([None if v is None else v for v in values], unit="s"))
        raise AssertionError(kind)


RARE = {"mixed", "all_missing", "datetime"}  # kinds that are mostly an error: one column in ten


@st.composite
def column_specs(draw, kinds=KINDS) -> ColumnSpec:
    common, rare = [k for k in kinds if k not in RARE], [k for k in kinds if k in RARE]
    kind = draw(st.sampled_from(rare if rare and draw(st.integers(0, 9)) == 0 else common))
    if kind == "all_missing":
        return ColumnSpec(kind, (), True)
    values = VALUES[kind]
    pool = tuple(draw(st.lists(values, min_size=1, max_size=4, unique_by=lambda v: (type(v), repr(v)))))
    missing = kind in MISSING_ALLOWED and draw(st.booleans())
    declared = ()
    if kind in ("category", "int_category"):
        extra = draw(st.lists(values, max_size=2))
        declared = tuple(v for v in extra if not (isinstance(v, float) and math.isnan(v)))
    return ColumnSpec(kind, pool, missing, declared)


def column_values(spec: ColumnSpec, n: int, *, unseen: tuple = ()) -> st.SearchStrategy[list]:
    choices = [*spec.pool, *unseen, *([None] if spec.missing or not spec.pool else [])]
    return st.lists(st.sampled_from(choices), min_size=n, max_size=n)


NAMES = st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(["a", "b", "x0", "Unnamed: 0", " ", "é", "0"]))


@dataclass
class Table:
    """A generated table and how its columns were drawn (to draw new rows like them)."""

    frame: pd.DataFrame
    specs: dict[str, ColumnSpec]


@st.composite
def tables(draw, *, min_rows=1, max_rows=20, max_columns=5, kinds=KINDS, names=NAMES) -> Table:
    n = draw(st.integers(min_rows, max_rows))
    columns = draw(st.lists(names, min_size=1, max_size=max_columns, unique=True))
    data, specs = {}, {}
    for name in columns:
        if data and draw(st.integers(0, 9)) == 0:  # a duplicated column, under another name
            source = draw(st.sampled_from(sorted(data)))
            data[name], specs[name] = data[source].copy(), specs[source]
            continue
        spec = draw(column_specs(kinds))
        data[name], specs[name] = spec.series(draw(column_values(spec, n))), spec
    return Table(pd.DataFrame(data), specs)


@st.composite
def new_rows(draw, table: Table, *, max_rows=8) -> pd.DataFrame:
    """Rows to transform or predict: each column from its training pool plus unseen values of its
    kind and missing cells; now and then a column of another kind altogether."""
    n = draw(st.integers(1, max_rows))
    data = {}
    for name, spec in table.specs.items():
        if draw(st.integers(0, 19)) == 0:
            other = draw(column_specs())
            data[name] = other.series(draw(column_values(other, n)))
            continue
        unseen = tuple(draw(st.lists(VALUES[spec.kind], max_size=2))) if spec.kind != "all_missing" else ()
        values = draw(column_values(ColumnSpec(spec.kind, spec.pool, True, spec.declared), n, unseen=unseen))
        data[name] = ColumnSpec(spec.kind, spec.pool, True, spec.declared).series(values)
    return pd.DataFrame(data, columns=list(table.specs))


def encoder_params(columns: list[str]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {},
        optional={
            "n_bins": st.integers(1, 12),
            "shared_vocabulary": st.booleans(),
            "max_categories": st.one_of(st.none(), st.integers(1, 5)),
            "categorical": st.lists(st.sampled_from(columns), max_size=2, unique=True),
            "ignore": st.lists(st.sampled_from(columns), max_size=1),
        },
    )


def is_missing(series: pd.Series) -> np.ndarray:
    """Missing as the encoder reads it: ``pd.isna``, and ±inf in a column of numbers."""
    missing = series.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        missing = missing | np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan))
    return missing


# ---- the encoder ----------------------------------------------------------------------------------


def check_tokens(encoder: TableEncoder, tokens: np.ndarray, n_rows: int) -> None:
    assert tokens.dtype == np.int64
    assert tokens.shape == (n_rows, encoder.n_columns_)
    assert tokens.min() >= 0 and tokens.max() < encoder.vocab_size_


@given(data=st.data())
@budget(900)
def test_encoder_gives_tokens_in_range_and_round_trips(data):
    """fit/transform: int64 tokens of shape (rows, columns) in 0..vocab_size_-1; the JSON round
    trip transforms alike; categories decode back to the values they came from; new rows (unseen
    categories, missing cells, other kinds) give tokens in range or a user error."""
    table = data.draw(tables())
    columns = list(table.frame.columns)
    encoder = TableEncoder(**data.draw(encoder_params(columns)))
    try:
        with quiet():
            tokens = encoder.fit_transform(table.frame)
    except Exception as error:  # noqa: BLE001 - user_error re-raises anything else
        user_error(error, columns, words=("n_bins", "bins", "max_categories", "categorical", "ignore"))
        return
    check_tokens(encoder, tokens, len(table.frame))
    if any(kind == "categorical" and not encoder.categories_[c] for c, kind in encoder.kinds_.items()):
        return  # a known bug: test_a_listed_categorical_column_without_values_is_refused_at_fit below
    if not all(np.isfinite(means).all() for means in encoder.bin_means_.values()):
        return  # a known bug: test_bin_means_of_huge_values_stay_finite below
    copy = TableEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    np.testing.assert_array_equal(copy.transform(table.frame), tokens)
    for j, name in enumerate(columns):
        series = table.frame[name]
        missing = is_missing(series)
        assert (tokens[missing, j] == encoder.missing_token(name)).all()
        if encoder.kinds_[name] == "categorical" and name not in encoder.ignored_columns():
            decoded = encoder.decode(name, tokens[:, j])
            kept = ~missing & (tokens[:, j] != encoder.unknown_token(name))
            original = series.astype(object).to_numpy()
            assert all(a == b for a, b in zip(decoded[kept], original[kept], strict=True)), name

    rows = data.draw(new_rows(table))
    try:
        new = encoder.transform(rows)
    except Exception as error:  # noqa: BLE001
        user_error(error, columns)
        return
    check_tokens(encoder, new, len(rows))
    np.testing.assert_array_equal(copy.transform(rows), new)
    for j, name in enumerate(columns):
        assert (new[is_missing(rows[name]), j] == encoder.missing_token(name)).all()
        if encoder.kinds_[name] == "categorical" and name not in encoder.ignored_columns():
            values = rows[name].astype(object).to_numpy()
            seen = set(map(repr, encoder.categories_[name]))
            for value, token in zip(values, new[:, j], strict=True):
                if not pd.isna(value) and repr(value) not in seen and type(value) is str:
                    assert token == encoder.unknown_token(name), (name, value)


@pytest.mark.xfail(strict=True, reason="library bug: fit accepts it, from_dict (and so load) refuses it")
def test_a_listed_categorical_column_without_values_is_refused_at_fit():
    """Found by the property above: a numeric column with no values, listed in ``categorical``, fits
    with no categories (an unlisted one is refused, naming it), and the model file saved from it
    does not load ("categories must be a non-empty list")."""
    X = pd.DataFrame({"a": [np.nan] * 4, "b": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(USER_ERRORS, match="'a'"):
        TableEncoder(categorical=["a"]).fit(X)


@pytest.mark.xfail(strict=True, reason="library bug: a bin's mean is summed in float64 and overflows")
def test_bin_means_of_huge_values_stay_finite():
    """Found by the long property run: a bin holding values near the float64 maximum gets the mean
    inf (their sum overflows), so its model file is refused on load ("bin edges and means must be
    finite numbers")."""
    encoder = TableEncoder(n_bins=1).fit(pd.DataFrame({"x": [1e308, 1e308, 0.0]}))
    assert np.isfinite(encoder.bin_means_["x"]).all()
    TableEncoder.from_dict(encoder.to_dict())


@st.composite
def column_changes(draw, columns: list[str]) -> tuple[list[str], set[str]]:
    """A different column list than ``columns``, and the names an error about it should mention."""
    change = draw(st.sampled_from(["shuffle", "drop", "extra", "rename"][len(columns) == 1 :]))
    if change == "shuffle":
        order = list(draw(st.permutations(columns)))
        if order == columns:
            order = [*columns[1:], columns[0]]
        return order, set(columns)
    if change == "drop":
        gone = draw(st.sampled_from(columns))
        return [c for c in columns if c != gone], {gone}
    new = draw(NAMES)
    while new in columns:
        new += "+"
    if change == "extra":
        at = draw(st.integers(0, len(columns)))
        return [*columns[:at], new, *columns[at:]], {new}
    old = draw(st.sampled_from(columns))
    return [new if c == old else c for c in columns], {new, old}


def with_columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame``'s rows with ``columns``: its own where it has them, a column of 1.5 where not."""
    return pd.DataFrame({c: frame.get(c, 1.5) for c in columns}, columns=columns, index=frame.index)


@given(data=st.data())
@budget(400)
def test_encoder_refuses_shuffled_missing_extra_and_renamed_columns_by_name(data):
    table = data.draw(tables(min_rows=2, kinds=("int", "float", "str", "bool")))
    columns = list(table.frame.columns)
    try:
        encoder = TableEncoder().fit(table.frame)
    except Exception as error:  # noqa: BLE001
        user_error(error, columns)
        return
    changed, named = data.draw(column_changes(columns))
    frame = with_columns(table.frame, changed)
    if not changed:  # the only column dropped
        with pytest.raises(USER_ERRORS):
            encoder.transform(pd.DataFrame(index=range(3)))
        return
    with pytest.raises(USER_ERRORS) as caught:
        encoder.transform(frame)
    user_error(caught.value, named)
    # Positions, not names, after a fit on an array: only the count is checked, and it is named.
    positional = TableEncoder().fit(np.arange(2 * len(columns), dtype=float).reshape(2, -1))
    with pytest.raises(USER_ERRORS) as caught:
        positional.transform(np.zeros((1, len(columns) + 1)))
    user_error(caught.value, words=[str(len(columns))])


# ---- the estimators -------------------------------------------------------------------------------

ESTIMATOR_KINDS = (
    "int",
    "float",
    "bool",
    "bool_or_none",
    "str",
    "category",
    "int_category",
    "nullable_int",
    "string",
    "mixed",
    "all_missing",
)
LABELS = [st.text(max_size=3), st.integers(-2, 2), st.booleans()]


@st.composite
def labels(draw, n: int) -> np.ndarray | pd.Series:
    """Labels of one type, 2 or 3 of them (both in the first rows), as an array or a Series; one case
    in ten is a mistake: one class, a missing label, or types mixed."""
    kind = draw(st.sampled_from(LABELS))
    pool = draw(st.lists(kind, min_size=2, max_size=3, unique=True)) if kind is not LABELS[2] else [True, False]
    values = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    values[:2] = pool[: min(2, n)]
    mistake = draw(st.integers(0, 9)) == 0 and draw(st.sampled_from(["one class", "missing", "mixed"]))
    if mistake == "one class":
        values = [pool[0]] * n
    elif mistake == "missing":
        values[-1] = None
    elif mistake == "mixed":
        values[-1] = draw(st.one_of(*(s for s in LABELS if s is not kind)))
    dtype = object if mistake or kind is LABELS[0] else None
    return pd.Series(values, dtype=dtype) if draw(st.booleans()) else np.array(values, dtype=dtype)


@st.composite
def targets(draw, n: int) -> np.ndarray:
    pool = draw(st.lists(FLOATS, min_size=1, max_size=4))
    return np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)), dtype=np.float64)


FIT_WORDS = ("y", "target", "class", "classes", "sample", "samples", "row", "rows")  # what else a fit error names


def fit_or_user_error(estimator, X: pd.DataFrame, *y) -> bool:
    try:
        with quiet():
            estimator.fit(X, *y)
    except Exception as error:  # noqa: BLE001
        user_error(error, X.columns, FIT_WORDS)
        return False
    if not all(np.isfinite(means).all() for means in estimator.encoder_.bin_means_.values()):
        event("known bug: a bin mean overflowed")  # test_bin_means_of_huge_values_stay_finite
        return False
    event("fitted")
    return True


def predict_or_user_error(method, X: pd.DataFrame):
    try:
        with quiet():
            return method(X)
    except Exception as error:  # noqa: BLE001
        user_error(error, X.columns)
        return None


@given(data=st.data())
@budget(200)
def test_classifier_gives_one_label_and_probabilities_summing_to_one_per_row(data):
    table = data.draw(tables(min_rows=2, max_rows=16, max_columns=4, kinds=ESTIMATOR_KINDS))
    y = data.draw(labels(len(table.frame)))
    model = WordExpertsClassifier(**TINY)
    if not fit_or_user_error(model, table.frame, y):
        return
    assert len(model.classes_) >= 2
    for X in (table.frame, data.draw(new_rows(table))):
        proba = predict_or_user_error(model.predict_proba, X)
        if proba is None:
            continue
        assert proba.shape == (len(X), len(model.classes_))
        assert np.isfinite(proba).all() and (proba >= 0).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        predicted = model.predict(X)
        assert predicted.shape == (len(X),)
        assert set(predicted.tolist()) <= set(model.classes_.tolist())


@given(data=st.data())
@budget(160)
def test_regressor_gives_one_finite_prediction_per_row(data):
    table = data.draw(tables(min_rows=2, max_rows=16, max_columns=4, kinds=ESTIMATOR_KINDS))
    y = data.draw(targets(len(table.frame)))
    model = WordExpertsRegressor(**TINY)
    if not fit_or_user_error(model, table.frame, y):
        return
    for X in (table.frame, data.draw(new_rows(table))):
        predicted = predict_or_user_error(model.predict, X)
        if predicted is None:
            continue
        assert predicted.shape == (len(X),) and np.isfinite(predicted).all()
        bounds = model.predict_interval(X, coverage=0.8)
        assert bounds.shape == (len(X), 2) and np.isfinite(bounds).all()
        assert (bounds[:, 0] <= bounds[:, 1]).all()


@given(data=st.data())
@budget(160)
def test_imputer_leaves_no_missing_cell_in_a_column_it_fitted(data):
    table = data.draw(tables(min_rows=2, max_rows=16, max_columns=4, kinds=ESTIMATOR_KINDS))
    columns = list(table.frame.columns)
    ids = data.draw(st.one_of(st.just("auto"), st.just([]), st.lists(st.sampled_from(columns), max_size=1)))
    model = WordExpertsImputer(**TINY, id_columns=ids)
    if not fit_or_user_error(model, table.frame):
        return
    ignored = model.encoder_.ignored_columns()
    for X in (table.frame, data.draw(new_rows(table))):
        filled = predict_or_user_error(model.transform, X)
        if filled is None:
            continue
        assert isinstance(filled, pd.DataFrame) and filled.shape == X.shape
        assert list(filled.columns) == columns
        for name in columns:
            if name in ignored:
                continue
            assert not is_missing(filled[name]).any(), f"column {name!r} still has missing cells"
            kept = ~is_missing(X[name])  # cells that were there stay as they were
            assert (filled[name].astype(object)[kept] == X[name].astype(object)[kept]).all(), name


def test_imputer_keeps_observed_fractions():
    """Found by the property above (since fixed): a column of whole numbers at fit (0.0, 1.0, 2.0) was
    cast to int64 at transform whenever none of its cells was left missing, so *observed* values
    0.5 and 2.7 came back as 0 and 2 (truncated)."""
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 1.0, 0.0, 2.0], "b": list("xyzxyz")})
    with quiet():
        filled = WordExpertsImputer(**TINY).fit(X).transform(pd.DataFrame({"a": [0.5, 2.7], "b": ["x", "y"]}))
    assert filled["a"].tolist() == [0.5, 2.7]


def test_imputer_keeps_integers_beyond_int64():
    """Found by the property above (since fixed): a whole-number float column with a value past
    int64 (a missing cell made an int column float) had its *observed* values wrapped to -2**63."""
    X = pd.DataFrame({"a": [9.3e18, np.nan, 1.0]})
    with quiet():
        filled = WordExpertsImputer(**TINY).fit_transform(X)
    assert float(filled["a"].iloc[0]) == 9.3e18


# Mistakes a user makes, each with the words its error must contain. Cheap: they fail before training.
MISTAKES = {
    "y one short": lambda X, y: ({"y": y[:-1]}, ["y"]),
    "y with a missing label": lambda X, y: ({"y": np.r_[y[:-1], None]}, ["missing"]),
    "no y": lambda X, y: ({"y": None}, ["y"]),
    "one class": lambda X, y: ({"y": np.full(len(y), "a", dtype=object)}, ["class"]),
    "negative weight": lambda X, y: ({"sample_weight": np.r_[-1.0, np.ones(len(y) - 1)]}, ["sample_weight"]),
    "weights all zero": lambda X, y: ({"sample_weight": np.zeros(len(y))}, ["sample_weight", "zero"]),
    "weights one short": lambda X, y: ({"sample_weight": np.ones(len(y) - 1)}, ["sample_weight"]),
    "nan weight": lambda X, y: ({"sample_weight": np.r_[np.nan, np.ones(len(y) - 1)]}, ["sample_weight"]),
    "heads do not divide": lambda X, y: ({"params": {"d_model": 9, "n_heads": 2}}, ["d_model", "n_heads"]),
    "zero epochs": lambda X, y: ({"params": {"epochs": 0}}, ["epochs"]),
    "bad preset": lambda X, y: ({"params": {"preset": "fastest"}}, ["preset"]),
    "bad dropout": lambda X, y: ({"params": {"dropout": 1.5}}, ["dropout"]),
    "bad lr": lambda X, y: ({"params": {"lr": -1.0}}, ["lr"]),
    "bad validation fraction": lambda X, y: ({"params": {"validation_fraction": 1.0}}, ["validation_fraction"]),
    "bad schedule": lambda X, y: ({"params": {"lr_schedule": "linear"}}, ["lr_schedule"]),
    "bad batching": lambda X, y: ({"params": {"batching": "columns"}}, ["batching"]),
    "bad n_bins": lambda X, y: ({"params": {"n_bins": 0}}, ["n_bins"]),
    "bad threads": lambda X, y: ({"params": {"n_threads": 0}}, ["n_threads"]),
    "bad device": lambda X, y: ({"params": {"device": "tpu"}}, ["device"]),
    "bad id_columns": lambda X, y: ({"params": {"id_columns": "all"}}, ["id_columns"]),
    "unknown categorical": lambda X, y: ({"params": {"categorical": ["no such column"]}}, ["no such column"]),
    "unknown id column": lambda X, y: ({"params": {"id_columns": ["no such column"]}}, ["no such column"]),
    "reserved name": lambda X, y: ({"X": X.rename(columns={X.columns[0]: "<target>"})}, ["<target>"]),
    "duplicate names": lambda X, y: ({"X": pd.concat([X, X.iloc[:, :1]], axis=1)}, ["duplicate"]),
    "mixed name types": lambda X, y: ({"X": pd.concat([X, X.iloc[:, :1].set_axis([7], axis=1)], axis=1)}, ["7"]),
    "one row": lambda X, y: ({"X": X.iloc[:1], "y": y[:1]}, ["2"]),
    "no rows": lambda X, y: ({"X": X.iloc[:0], "y": y[:0]}, ["0"]),
    "3-D input": lambda X, y: ({"X": np.zeros((len(y), 2, 2))}, ["3"]),
    "scalar input": lambda X, y: ({"X": 3.0}, []),
    "sparse input": lambda X, y: ({"X": sparse.csr_matrix(np.ones((len(y), 2)))}, ["sparse"]),
    "complex column": lambda X, y: ({"X": X.assign(z=np.ones(len(y)) * 1j)}, ["Complex", "complex"]),
    "class weight for no class": lambda X, y: ({"params": {"class_weight": {"nope": 2.0}}}, ["nope"]),
}


@given(data=st.data())
@budget(400)
def test_mistakes_raise_a_user_error_that_names_them(data):
    """A table that would fit, and one mistake: a user error naming it, before any training."""
    table = data.draw(tables(min_rows=4, max_rows=12, max_columns=3, kinds=("int", "float", "str", "category")))
    X = table.frame
    try:
        TableEncoder().fit(X)  # a table that fits (an all-missing column does not), so the mistake is the problem
    except USER_ERRORS:
        assume(False)
    assume("<target>" not in X.columns)
    y = np.array(data.draw(st.lists(st.sampled_from(["a", "b"]), min_size=len(X), max_size=len(X))), dtype=object)
    y[:2] = ["a", "b"]
    cls = data.draw(st.sampled_from([WordExpertsClassifier, WordExpertsRegressor, WordExpertsImputer]))
    if cls is WordExpertsRegressor:
        y = np.arange(len(X), dtype=float)
    name = data.draw(st.sampled_from(sorted(MISTAKES)))
    if cls is not WordExpertsClassifier and name in ("one class", "class weight for no class"):
        name = "bad preset"
    if cls is WordExpertsImputer and name.startswith(("y ", "no y")):
        name = "bad lr"
    change, words = MISTAKES[name](X, y)
    params = {**TINY, **change.pop("params", {})}
    X, y = change.pop("X", X), change.pop("y", y)
    model = cls(**params)
    args = (X,) if cls is WordExpertsImputer else (X, y)
    with quiet(), pytest.raises(USER_ERRORS) as caught:
        model.fit(*args, **change)
    user_error(caught.value, words=words)


@pytest.fixture(scope="module")
def fitted() -> dict[str, object]:
    """One fitted model of each kind on a mixed table, for the column-rule properties."""
    rng = np.random.default_rng(0)
    n = 40
    X = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "cat": rng.choice(["p", "q", "r"], n),
            "flag": rng.random(n) < 0.5,
            "count": rng.integers(0, 4, n),
        }
    )
    with quiet():
        return {
            "X": X,
            "classifier": WordExpertsClassifier(**TINY).fit(X, rng.choice(["u", "v"], n)),
            "regressor": WordExpertsRegressor(**TINY).fit(X, rng.normal(size=n)),
            "imputer": WordExpertsImputer(**TINY).fit(X),
        }


@given(data=st.data())
@budget(400)
def test_predict_refuses_changed_columns_by_name_and_takes_any_values(data, fitted):
    X = fitted["X"]
    kind = data.draw(st.sampled_from(["classifier", "regressor", "imputer"]))
    model = fitted[kind]
    method = model.transform if kind == "imputer" else model.predict
    columns = list(X.columns)
    if data.draw(st.booleans()):
        changed, named = data.draw(column_changes(columns))
        frame = with_columns(X, changed).head(5)
        with quiet(), pytest.raises(USER_ERRORS) as caught:
            method(frame)
        user_error(caught.value, named)
        return
    rows = data.draw(
        new_rows(
            Table(
                X,
                {
                    "num": ColumnSpec("float", tuple(X["num"].head(4)), True),
                    "cat": ColumnSpec("str", ("p", "q", "r"), True),
                    "flag": ColumnSpec("bool", (True, False), False),
                    "count": ColumnSpec("int", (0, 1, 2, 3), True),
                },
            )
        )
    )
    out = predict_or_user_error(method, rows)
    if out is None:
        return
    if kind == "imputer":
        assert out.shape == rows.shape and not any(is_missing(out[c]).any() for c in columns)
    elif kind == "regressor":
        assert out.shape == (len(rows),) and np.isfinite(out).all()
    else:
        proba = model.predict_proba(rows)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert set(out.tolist()) <= {"u", "v"}


# ---- the command line -----------------------------------------------------------------------------

CSV_NAMES = st.one_of(
    st.text(min_size=1, max_size=5).filter(lambda s: s.strip() == s and "\x00" not in s),
    st.sampled_from(["a", "b", "é", "日本", "x y"]),
)


def run_cli(*argv: str, counted: bool = True) -> tuple[int, str]:
    """``wordexperts ARGV``: its exit status (it must return one, never raise) and its stderr; inside a
    property, counted as a hypothesis event (``counted=False`` outside one)."""
    err = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        code = cli_main(list(argv))
    if counted:
        event(f"{argv[0]}: exit {code}")
    return code, err.getvalue()


def check_exit(code: int, stderr: str, command: str) -> None:
    assert code in (0, 2), f"wordexperts {command} exited {code}: {stderr[-2000:]}"
    assert "Traceback" not in stderr, stderr
    if code == 2:
        errors = [line for line in stderr.splitlines() if line.startswith(f"wordexperts {command}: error: ")]
        assert len(errors) == 1, stderr


CLI_KINDS = ("int", "float", "bool", "bool_or_none", "str", "category", "mixed", "all_missing")


@given(data=st.data())
@budget(120)
def test_cli_fit_predict_impute_exit_0_or_2_on_generated_csvs(data):
    """``wordexperts fit``, then ``predict`` or ``impute`` on new rows: every command returns 0 or 2
    (one ``error:`` line), never raises and never reports a bug."""
    table = data.draw(tables(min_rows=1, max_rows=14, max_columns=4, kinds=CLI_KINDS, names=CSV_NAMES))
    columns = list(table.frame.columns)
    task = data.draw(st.sampled_from(["impute", "auto", "classification", "regression"]))
    frame, target = table.frame, None
    if task != "impute":  # a target column: labels or numbers (one case in ten a mistake), or one of the columns
        n = len(frame)
        if data.draw(st.integers(0, 9)) == 0:
            target = data.draw(st.sampled_from(columns))
        else:
            target = data.draw(CSV_NAMES)
            while target in columns:
                target += "+"
            if task == "regression" or (task == "auto" and data.draw(st.booleans())):
                pool = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=5, unique=True))
                values = data.draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
                values[:2] = pool[: min(2, n)]
                if data.draw(st.integers(0, 9)) == 0:
                    values[-1] = data.draw(st.sampled_from([math.inf, math.nan, "text"]))
                y = pd.Series(values, dtype=object)
            else:
                y = pd.Series(data.draw(labels(n)))
            frame = frame.assign(**{target: y.to_numpy()})
    with tempfile.TemporaryDirectory() as tmp:
        train, rows, model = Path(tmp, "train.csv"), Path(tmp, "rows.csv"), Path(tmp, "model.safetensors")
        frame.to_csv(train, index=False)
        argv = ["fit", str(train), "--out", str(model), "--epochs", "1", "--quiet"]
        if task == "impute":
            argv += ["--task", "impute"]
        else:
            argv += [f"--target={target}"] + ([] if task == "auto" else ["--task", task])  # a name may start with -
        code, stderr = run_cli(*argv)
        check_exit(code, stderr, "fit")
        if code != 0:
            return
        new = data.draw(new_rows(table))
        if data.draw(st.booleans()):
            changed, _ = data.draw(column_changes(columns))
            new = with_columns(new, changed)
            if new.shape[1] == 0:
                new = pd.DataFrame({"other": [1.0]})
        new.to_csv(rows, index=False)
        out = Path(tmp, "out.csv")
        if task == "impute":
            code, stderr = run_cli("impute", str(model), str(rows), "--out", str(out))
            check_exit(code, stderr, "impute")
        else:
            options = {"classification": [[], ["--proba"]], "regression": [[], ["--interval", "0.8"]]}
            extra = data.draw(st.sampled_from(options.get(task, [[], ["--proba"], ["--interval", "0.8"]])))
            code, stderr = run_cli("predict", str(model), str(rows), "--out", str(out), *extra)
            check_exit(code, stderr, "predict")
        if code == 0:
            # One answer per row of the file as written: pandas writes a carriage return inside a
            # value unquoted, and reads it back as a line break, so the file can hold more rows.
            rows_in_file = len(pd.read_csv(rows, skip_blank_lines=False))
            assert len(pd.read_csv(out, skip_blank_lines=False)) == rows_in_file


def test_cli_keeps_blank_rows_of_a_one_column_table(tmp_path):
    """Found by the CLI property: in a one-column CSV a missing cell is a blank line, which pandas
    skips, so ``wordexperts impute`` (and ``predict``) silently answer fewer rows than the file has."""
    pd.DataFrame({"c": ["p", "q", "p", "q"]}).to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "rows.csv").write_text("c\np\n\nq\n")
    model, out = str(tmp_path / "m.safetensors"), tmp_path / "out.csv"
    fit = ["fit", str(tmp_path / "train.csv"), "--task", "impute", "--out", model, "--epochs", "1"]
    assert run_cli(*fit, counted=False)[0] == 0
    assert run_cli("impute", model, str(tmp_path / "rows.csv"), "--out", str(out), counted=False)[0] == 0
    assert len(pd.read_csv(out, skip_blank_lines=False)) == 3


def test_properties_run_at_least_2000_cases_in_ci():
    """The CI budget the issue asks for: at least 2,000 generated cases per run."""
    assert sum(CASES) >= 2000, CASES
