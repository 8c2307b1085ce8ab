"""Tables to tokens: as_frame's inputs and errors, TableEncoder's bins, categories, layouts, JSON."""

import json
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from wordexperts.tabular.encoding import TableEncoder, as_frame

# ---------------------------------------------------------------------------------------------
# as_frame
# ---------------------------------------------------------------------------------------------


def test_as_frame_returns_a_named_frame_as_is():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    out, named = as_frame(frame)
    assert out is frame and named is True


def test_as_frame_numpy_has_no_feature_names():
    out, named = as_frame(np.arange(6.0).reshape(3, 2))
    assert named is False
    assert list(out.columns) == ["x0", "x1"]
    assert out["x1"].tolist() == [1.0, 3.0, 5.0]

    out, named = as_frame(np.array([3, 1, 2]))
    assert (list(out.columns), named, out.shape) == (["x0"], False, (3, 1))


def test_as_frame_object_array_infers_column_types():
    out, _ = as_frame(np.array([[1, "a"], [2, "b"]], dtype=object))
    assert out["x0"].dtype == np.int64
    assert out["x1"].tolist() == ["a", "b"]


def test_as_frame_lists():
    out, named = as_frame([[1, "a", 0.5], [2, "b", None]])
    assert named is False and list(out.columns) == ["x0", "x1", "x2"]
    assert out["x0"].dtype == np.int64
    assert out["x2"].isna().tolist() == [False, True]

    out, named = as_frame(["a", "b", "c"])
    assert out.shape == (3, 1) and out["x0"].tolist() == ["a", "b", "c"]

    with pytest.raises(ValueError, match=r"rows of different lengths: \[1, 2\]"):
        as_frame([[1, 2], [3]])
    with pytest.raises(ValueError, match="3-D"):
        as_frame([[[1], [2]], [[3], [4]]])


def test_as_frame_series():
    out, named = as_frame(pd.Series([1, 2, 3], name="age"))
    assert (list(out.columns), named) == (["age"], True)
    out, named = as_frame(pd.Series([1, 2, 3]))
    assert (list(out.columns), named) == (["x0"], False)


def test_as_frame_pyarrow_table_and_to_pandas_objects():
    table = pa.table({"n": [1, 2, 3], "s": ["a", "b", None]})
    out, named = as_frame(table)
    assert named is True and list(out.columns) == ["n", "s"]
    assert out["s"].isna().tolist() == [False, False, True]

    class PolarsLike:  # anything with to_pandas(), as polars.DataFrame
        def to_pandas(self):
            return pd.DataFrame({"z": [1.5, 2.5]})

    out, named = as_frame(PolarsLike())
    assert named is True and out["z"].tolist() == [1.5, 2.5]


def test_as_frame_dataframe_interchange_protocol():
    table = pa.table({"n": [1, 2, 3], "s": ["a", "b", "c"]})

    class InterchangeOnly:  # only __dataframe__, no to_pandas
        def __dataframe__(self, nan_as_null=False, allow_copy=True):
            return table.__dataframe__(nan_as_null=nan_as_null, allow_copy=allow_copy)

    out, named = as_frame(InterchangeOnly())
    assert named is True and list(out.columns) == ["n", "s"]
    assert out["n"].tolist() == [1, 2, 3] and out["s"].tolist() == ["a", "b", "c"]


def test_as_frame_arrow_pycapsule_stream():
    table = pa.table({"n": [1, 2], "s": ["a", None]})

    class StreamOnly:  # only __arrow_c_stream__, as polars, duckdb and others export
        def __arrow_c_stream__(self, requested_schema=None):
            return table.__arrow_c_stream__(requested_schema)

    out, named = as_frame(StreamOnly())
    assert named is True and out["n"].tolist() == [1, 2] and out["s"].isna().tolist() == [False, True]


def test_as_frame_column_names_follow_scikit_learn():
    out, named = as_frame(pd.DataFrame([[1, 2]], columns=[0, 1]))
    assert (list(out.columns), named) == (["x0", "x1"], False)
    with pytest.raises(ValueError, match=r"not strings: \[1\]"):
        as_frame(pd.DataFrame([[1, 2]], columns=["a", 1]))
    with pytest.raises(ValueError, match=r"duplicate column names: \['a'\]"):
        as_frame(pd.DataFrame([[1, 2, 3]], columns=["a", "a", "b"]))


def test_as_frame_errors():
    with pytest.raises(ValueError, match=r"X is empty: found array with 0 sample\(s\) \(shape=\(0, 3\)\)"):
        as_frame(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(2, 0\)\) while a minimum of 1 is required"):
        as_frame(pd.DataFrame(index=[0, 1]))
    with pytest.raises(ValueError, match="y is empty"):
        as_frame([], what="y")
    with pytest.raises(ValueError, match="1-D or 2-D, got a 3-D array"):
        as_frame(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="dense"):
        as_frame(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(TypeError, match="dense"):
        as_frame(pd.DataFrame({"a": pd.arrays.SparseArray([0, 1, 0])}))
    with pytest.raises(TypeError, match="got dict"):
        as_frame({"a": [1, 2]})
    with pytest.raises(ValueError, match=r"Complex data not supported: X has complex columns \['x1'\]"):
        as_frame([[1, 1j], [2, 2j]])


def test_as_frame_ensure_2d_rejects_one_dimensional_input():
    for one_d in (np.array([1.0, 2.0]), [1.0, 2.0], pd.Series([1.0, 2.0], name="a")):
        assert as_frame(one_d)[0].shape == (2, 1)
        with pytest.raises(
            ValueError, match=r"Expected 2D array, got 1D array instead: X has shape \(2,\)\. Reshape your data"
        ):
            as_frame(one_d, ensure_2d=True)
    assert as_frame([[1.0], [2.0]], ensure_2d=True)[0].shape == (2, 1)


# ---------------------------------------------------------------------------------------------
# TableEncoder: kinds, categories, bins
# ---------------------------------------------------------------------------------------------


def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "colour": pd.Categorical(["red", "blue", "red", None, "green", "red"], categories=["red", "green", "blue"]),
            "city": np.array(["Oslo", "Rome", None, "Oslo", "Lima", "Rome"], dtype=object),
            "word": pd.Series(["b", "a", "b", "c", pd.NA, "a"], dtype="string"),
            "flag": [True, False, True, True, False, False],
            "count": [3, 1, 4, 1, 5, 9],
            "price": [0.5, np.nan, 2.5, 1.5, 3.5, 4.5],
        }
    )


def test_mixed_frame_kinds_categories_and_exact_tokens():
    encoder = TableEncoder(n_bins=2).fit(mixed_frame())
    assert encoder.kinds_ == {
        "colour": "categorical",
        "city": "categorical",
        "word": "categorical",
        "flag": "categorical",
        "count": "numeric",
        "price": "numeric",
    }
    # category dtype keeps its declared order; the others are sorted
    assert encoder.categories_ == {
        "colour": ["red", "green", "blue"],
        "city": ["Lima", "Oslo", "Rome"],
        "word": ["a", "b", "c"],
        "flag": [False, True],
    }
    assert encoder.category_types_ == {"colour": "str", "city": "str", "word": "str", "flag": "bool"}
    assert encoder.category_counts_["city"].tolist() == [1, 2, 2]
    assert encoder.bin_edges_["count"].tolist() == [1.0, 3.5, 9.0]
    assert encoder.bin_counts_["count"].tolist() == [3, 3]
    assert encoder.bin_means_["count"].tolist() == pytest.approx([5 / 3, 6.0])
    assert encoder.bin_edges_["price"].tolist() == [0.5, 2.5, 4.5]
    assert encoder.bin_means_["price"].tolist() == pytest.approx([1.5, 4.0])

    # layout: values, then missing, then unknown, one range per column
    assert encoder.n_values_.tolist() == [3, 3, 3, 2, 2, 2]
    assert encoder.n_tokens_.tolist() == [5, 5, 5, 4, 4, 4]
    assert encoder.offsets_.tolist() == [0, 5, 10, 15, 19, 23]
    assert encoder.vocab_size_ == 27
    tokens = encoder.transform(mixed_frame())
    assert tokens.dtype == np.int64 and tokens.shape == (6, 6)
    assert tokens.tolist() == [
        [0, 6, 11, 16, 19, 23],
        [2, 7, 10, 15, 19, 25],  # price NaN -> missing token 23 + 2
        [0, 8, 11, 16, 20, 23],  # city None -> missing 5 + 3
        [3, 6, 12, 16, 19, 23],  # colour None -> missing 0 + 3
        [1, 5, 13, 15, 20, 24],  # word pd.NA -> missing 10 + 3
        [0, 7, 10, 15, 20, 24],
    ]


def test_decode_inverts_transform():
    frame = mixed_frame()
    encoder = TableEncoder(n_bins=2).fit(frame)
    tokens = encoder.transform(frame)
    assert encoder.decode("city", tokens[:, 1]).tolist() == ["Oslo", "Rome", None, "Oslo", "Lima", "Rome"]
    assert encoder.decode("flag", tokens[:, 3]).tolist() == frame["flag"].tolist()
    assert encoder.decode(3, tokens[:, 3]).tolist() == frame["flag"].tolist()
    price = encoder.decode("price", tokens[:, 5])
    np.testing.assert_allclose(price, [1.5, np.nan, 1.5, 1.5, 4.0, 4.0])
    assert encoder.decode("city", [encoder.unknown_token("city")]).tolist() == [None]
    with pytest.raises(ValueError, match="token 0 is not a token of column 'city'"):
        encoder.decode("city", [0])


def test_fitted_on_training_rows_only():
    train = pd.DataFrame({"city": ["Oslo", "Rome", "Oslo"], "x": [1.0, 2.0, 3.0]})
    test = pd.DataFrame({"city": ["Paris", "Rome", None], "x": [-100.0, 2.6, 1e6]})
    encoder = TableEncoder(n_bins=10).fit(train)
    tokens = encoder.transform(test)
    assert encoder.categories_["city"] == ["Oslo", "Rome"]
    assert tokens[:, 0].tolist() == [encoder.unknown_token("city"), 1, encoder.missing_token("city")]
    # x: three distinct values -> three bins; out-of-range values go to the edge bins
    assert tokens[:, 1].tolist() == [4, 6, 6]
    assert encoder.column_tokens("x").tolist() == [4, 5, 6]


def test_quantile_bins_have_equal_counts_and_match_qcut():
    x = np.random.default_rng(0).normal(size=1000)
    encoder = TableEncoder(n_bins=10).fit(pd.DataFrame({"x": x}))
    assert encoder.bin_counts_["x"].tolist() == [100] * 10
    edges = encoder.bin_edges_["x"]
    assert len(edges) == 11 and edges[0] == x.min() and edges[-1] == x.max()
    codes = encoder.transform(pd.DataFrame({"x": x}))[:, 0]
    np.testing.assert_array_equal(codes, pd.qcut(x, 10, labels=False))
    np.testing.assert_allclose(encoder.bin_means_["x"], pd.Series(x).groupby(codes).mean().to_numpy())


def test_low_cardinality_numeric_gets_one_bin_per_value():
    cylinders = pd.DataFrame({"cylinders": [4, 4, 4, 4, 4, 4, 4, 6, 8, 8]})
    encoder = TableEncoder(n_bins=3).fit(cylinders)
    assert encoder.bin_edges_["cylinders"].tolist() == [4.0, 5.0, 7.0, 8.0]
    assert encoder.bin_means_["cylinders"].tolist() == [4.0, 6.0, 8.0]
    assert encoder.bin_counts_["cylinders"].tolist() == [7, 1, 2]
    assert encoder.transform(pd.DataFrame({"cylinders": [8, 6, 4, 5, 3, 12]}))[:, 0].tolist() == [2, 1, 0, 0, 0, 2]


def test_bins_without_training_values_are_merged():
    # np.quantile puts an inner edge at 7.5, leaving (6, 7.5] empty; it is dropped
    x = [3, 3, 6, 6, 6, 6, 6, 9, 9, 14, 14, 17, 17, 18]
    encoder = TableEncoder(n_bins=4).fit(pd.DataFrame({"x": x}))
    assert encoder.bin_edges_["x"].tolist() == [3.0, 6.0, 14.0, 18.0]
    assert encoder.bin_counts_["x"].tolist() == [7, 4, 3]


def test_bins_override_per_column():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    encoder = TableEncoder(n_bins=10, bins={"b": 4}).fit(frame)
    assert encoder.n_values_.tolist() == [10, 4]
    assert encoder.bin_counts_["b"].tolist() == [50, 50, 50, 50]
    positional = TableEncoder(n_bins=10, bins={1: 4}).fit(frame)
    assert positional.n_values_.tolist() == [10, 4]


def test_categorical_parameter_and_int_categories_arriving_as_float():
    train = pd.DataFrame({"cyl": [4, 6, 8, 6], "x": [1.0, 2.0, 3.0, 4.0]})
    encoder = TableEncoder(categorical=["cyl"]).fit(train)
    assert encoder.kinds_["cyl"] == "categorical" and encoder.categories_["cyl"] == [4, 6, 8]
    # with a missing value pandas reads the column as float: 6.0 is category 6, 5.0 is unknown
    test = pd.DataFrame({"cyl": [6.0, np.nan, 5.0], "x": [1.0, 1.0, 1.0]})
    assert encoder.transform(test)[:, 0].tolist() == [1, 3, 4]


def test_category_dtype_drops_unobserved_categories():
    column = pd.Categorical(["lo", "hi", "lo"], categories=["lo", "mid", "hi"], ordered=True)
    encoder = TableEncoder().fit(pd.DataFrame({"level": column}))
    assert encoder.categories_["level"] == ["lo", "hi"]
    test = pd.Categorical(["mid", "hi", None], categories=["lo", "mid", "hi"])
    assert encoder.transform(pd.DataFrame({"level": test}))[:, 0].tolist() == [3, 1, 2]


def test_max_categories_keeps_most_frequent_ties_by_sorted_order():
    frame = pd.DataFrame({"c": ["d", "d", "d", "b", "b", "c", "c", "a", "e"]})
    encoder = TableEncoder(max_categories=3).fit(frame)
    # d (3), then b and c (2 each); a and e (1 each) are dropped
    assert encoder.categories_["c"] == ["b", "c", "d"]
    assert encoder.category_counts_["c"].tolist() == [2, 2, 3]
    encoder = TableEncoder(max_categories=2).fit(frame)
    assert encoder.categories_["c"] == ["b", "d"]  # b beats c on the tie: it sorts first
    assert encoder.transform(pd.DataFrame({"c": ["c", "a", "b"]}))[:, 0].tolist() == [3, 3, 0]


def test_max_categories_on_100k_distinct_values_is_fast():
    n = 100_000
    ids = np.array([f"id{i:06d}" for i in np.random.default_rng(0).permutation(n)], dtype=object)
    frame = pd.DataFrame({"id": ids, "v": np.arange(n, dtype=float)})
    start = time.perf_counter()
    encoder = TableEncoder(max_categories=1000).fit(frame)
    tokens = encoder.transform(frame)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert encoder.categories_["id"] == [f"id{i:06d}" for i in range(1000)]  # all tied: first 1000 sorted
    assert (tokens[:, 0] == encoder.unknown_token("id")).sum() == n - 1000
    assert encoder.vocab_size_ == 1002 + 12


def test_transform_100k_rows_is_fast():
    rng = np.random.default_rng(0)
    n = 100_000
    frame = pd.DataFrame(
        {
            "cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "obj": rng.choice(["x", "y", "z"], n).astype(object),
            "str": pd.Series(rng.choice(["p", "q"], n), dtype="str"),
            "flag": rng.random(n) > 0.5,
            "int": rng.integers(0, 100, n),
            "float": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        }
    )
    encoder = TableEncoder().fit(frame)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        tokens = encoder.transform(frame)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.1
    assert tokens.shape == (n, 6)
    assert (tokens[:, 5] == encoder.missing_token("float")).mean() == pytest.approx(0.1, abs=0.01)


# ---------------------------------------------------------------------------------------------
# shared vocabulary: the paper's encoding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [False, True])
def test_shared_vocabulary_reproduces_paper_tokens(declared):
    rng = np.random.default_rng(2023)
    data = rng.integers(0, 10, size=(500, 6))
    frame = pd.DataFrame(data, columns=[f"f{j}" for j in range(5)] + ["y"])
    categorical = list(frame.columns) if declared else None
    encoder = TableEncoder(n_bins=10, shared_vocabulary=True, categorical=categorical).fit(frame)
    np.testing.assert_array_equal(encoder.transform(frame), data)
    assert encoder.vocab_size_ == 12
    assert encoder.missing_token("y") == 10 and encoder.unknown_token("f0") == 11
    assert encoder.offsets_.tolist() == [0] * 6
    assert encoder.column_tokens("y").tolist() == list(range(10))


def test_shared_vocabulary_columns_of_different_widths():
    frame = pd.DataFrame({"a": ["u", "v", None], "b": [1.0, 2.0, 3.0], "c": [True, False, True]})
    encoder = TableEncoder(n_bins=10, shared_vocabulary=True).fit(frame)
    assert encoder.n_values_.tolist() == [2, 3, 2]
    assert encoder.transform(frame).tolist() == [[0, 0, 1], [1, 1, 0], [3, 2, 1]]
    assert encoder.column_tokens("a").tolist() == [0, 1]
    with pytest.raises(ValueError, match="token 2 is not a token of column 'a'"):
        encoder.decode("a", [2])
    assert encoder.decode("b", [2, 3, 4]).tolist()[:1] == [3.0]


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------


def typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "s": ["a", "b", None, "a"],
            "i": np.array([1, 2, 2, 3], dtype=object),  # object ints stay categorical
            "f": [0.5, 1.5, np.nan, 0.5],
            "b": [True, False, True, True],
            "n": [10.0, 20.0, 30.0, 40.0],
            "k": pd.array([7, None, 8, 7], dtype="Int64"),
        }
    )


@pytest.mark.parametrize("shared", [False, True])
def test_json_round_trip_is_identical(shared):
    frame = typed_frame()
    encoder = TableEncoder(n_bins=2, categorical=["f", 5], bins={"n": 3}, shared_vocabulary=shared).fit(frame)
    d = encoder.to_dict()
    assert d["format"] == 1
    restored = TableEncoder.from_dict(json.loads(json.dumps(d)))
    assert restored.get_params() == encoder.get_params()
    assert restored.categories_ == {"s": ["a", "b"], "i": [1, 2, 3], "f": [0.5, 1.5], "b": [False, True], "k": [7, 8]}
    for name in ("i", "f", "b", "k"):
        assert [type(v) for v in restored.categories_[name]] == [type(v) for v in encoder.categories_[name]]
    test = pd.DataFrame(
        {"s": ["b", "z"], "i": [3, 4], "f": [1.5, 2.5], "b": [False, None], "n": [25.0, 99.0], "k": [8, 9]}
    )
    np.testing.assert_array_equal(restored.transform(frame), encoder.transform(frame))
    np.testing.assert_array_equal(restored.transform(test), encoder.transform(test))
    for j, name in enumerate(encoder.columns_):
        tokens = encoder.transform(test)[:, j]
        np.testing.assert_array_equal(restored.decode(name, tokens), encoder.decode(name, tokens))
    assert restored.vocab_size_ == encoder.vocab_size_


def test_from_dict_rejects_malformed_input():
    d = TableEncoder().fit(typed_frame()).to_dict()
    with pytest.raises(ValueError, match="format must be 1"):
        TableEncoder.from_dict({**d, "format": 2})
    with pytest.raises(ValueError, match="expected a dict"):
        TableEncoder.from_dict([d])
    broken = json.loads(json.dumps(d))
    broken["columns"][4]["bin_means"].pop()
    with pytest.raises(ValueError, match="column 'n': .* bin edges need"):
        TableEncoder.from_dict(broken)
    broken = json.loads(json.dumps(d))
    broken["columns"][1]["categories"][0] = "1"
    with pytest.raises(ValueError, match="column 'i': categories must all be int"):
        TableEncoder.from_dict(broken)
    broken = json.loads(json.dumps(d))
    broken["columns"][0]["kind"] = "text"
    with pytest.raises(ValueError, match="column 's' has kind 'text'"):
        TableEncoder.from_dict(broken)


# ---------------------------------------------------------------------------------------------
# errors name the column
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "found"),
    [
        ([1, "a", 2], r"\['int', 'str'\]"),
        ([True, 1, False], r"\['bool', 'int'\]"),
        ([1, 1.0, "1"], r"\['float', 'int', 'str'\]"),
    ],
)
def test_mixed_types_in_one_column_are_an_error(values, found):
    frame = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "bad": np.array(values, dtype=object)})
    with pytest.raises(ValueError, match=f"column 'bad' mixes value types {found}"):
        TableEncoder().fit(frame)


def test_infinite_numbers_are_missing_in_numeric_columns_and_an_error_in_categorical_ones():
    data = pd.DataFrame({"x": [1.0, np.inf, 2.0, 3.0], "c": [0.5, 1.5, 0.5, 1.5]})
    encoder = TableEncoder().fit(data)
    assert data["x"].iloc[1] == np.inf  # the caller's frame is left as it was
    tokens = encoder.transform(pd.DataFrame({"x": [-np.inf, np.inf, np.nan, 2.0], "c": [0.5] * 4}))
    assert list(tokens[:3, 0]) == [encoder.missing_token("x")] * 3
    assert tokens[3, 0] != encoder.missing_token("x")
    assert encoder.bin_edges_["x"][-1] == 3.0  # inf took no part in the bins
    encoder = TableEncoder(categorical=["c"]).fit(pd.DataFrame({"x": [1.0, 2.0], "c": [0.5, 1.5]}))
    with pytest.raises(ValueError, match="column 'c' holds 1 infinite"):
        encoder.transform(pd.DataFrame({"x": [1.0, 2.0], "c": [np.inf, 0.5]}))


def test_numeric_column_holding_strings_is_an_error():
    encoder = TableEncoder().fit(pd.DataFrame({"age": [30, 40, 50]}))
    with pytest.raises(ValueError, match=r"column 'age' was numeric at fit but now holds str values \(e.g. 'forty'\)"):
        encoder.transform(pd.DataFrame({"age": np.array([30, "forty", 50], dtype=object)}))
    # numbers stored as objects are fine
    tokens = encoder.transform(pd.DataFrame({"age": np.array([30, None, 50.0], dtype=object)}))
    assert tokens[:, 0].tolist() == [0, 3, 2]


def test_categorical_column_holding_another_type_is_an_error():
    encoder = TableEncoder().fit(pd.DataFrame({"city": ["Oslo", "Rome"]}))
    with pytest.raises(ValueError, match=r"column 'city' held str values at fit but now holds int values \(e.g. 3\)"):
        encoder.transform(pd.DataFrame({"city": np.array(["Oslo", 3], dtype=object)}))


def test_columns_must_match_fit():
    encoder = TableEncoder().fit(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": [True, False]}))
    with pytest.raises(ValueError, match=r"columns are in a different order than at fit: expected \['a', 'b', 'c'\]"):
        encoder.transform(pd.DataFrame({"b": ["x"], "a": [1.0], "c": [True]}))
    with pytest.raises(ValueError, match=r"missing columns \['c'\]; unexpected columns \['d'\]"):
        encoder.transform(pd.DataFrame({"a": [1.0], "b": ["x"], "d": [True]}))
    with pytest.raises(ValueError, match=r"missing columns \['b'\]"):
        encoder.transform(pd.DataFrame({"a": [1.0], "c": [True]}))
    with pytest.raises(ValueError, match=r"X has no column names, but TableEncoder was fitted with columns \['a', 'b', 'c'\]"):
        encoder.transform(np.array([[1.0, 2.0, 3.0]]))
    by_position = TableEncoder().fit(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    with pytest.raises(ValueError, match="X has 2 features, but TableEncoder is expecting 3 features as input"):
        by_position.transform(np.array([[1.0, 2.0]]))


def test_arrays_match_columns_by_position():
    train = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    encoder = TableEncoder(categorical=[1]).fit(train)
    assert encoder.columns_ == ["x0", "x1"] and encoder.names_given_ is False
    assert encoder.kinds_ == {"x0": "numeric", "x1": "categorical"}
    named = pd.DataFrame({"p": [3.0], "q": [20.0]})
    assert encoder.transform(named).tolist() == [[2, 6]]


def test_bad_parameters_and_columns_are_named():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    with pytest.raises(ValueError, match="n_bins must be a positive int, got 0"):
        TableEncoder(n_bins=0).fit(frame)
    with pytest.raises(ValueError, match="categorical names column 'z', which is not in the data"):
        TableEncoder(categorical=["z"]).fit(frame)
    with pytest.raises(ValueError, match=r"bins\['a'\] must be a positive int"):
        TableEncoder(bins={"a": 0}).fit(frame)
    with pytest.raises(ValueError, match="bin count for column 'b', which is categorical"):
        TableEncoder(bins={"b": 3}).fit(frame)
    with pytest.raises(ValueError, match="column 'a' has no non-missing values"):
        TableEncoder().fit(pd.DataFrame({"a": [np.nan, np.nan], "b": ["x", "y"]}))
    with pytest.raises(ValueError, match="column 'b' has no non-missing values"):
        TableEncoder().fit(pd.DataFrame({"a": [1.0, 2.0], "b": [None, None]}))
    with pytest.raises(TypeError, match="column 't' has dtype datetime64"):
        TableEncoder().fit(pd.DataFrame({"t": pd.to_datetime(["2020-01-01", "2021-01-01"])}))
    with pytest.raises(ValueError, match="unknown column 'z'"):
        TableEncoder().fit(frame).column_tokens("z")
    with pytest.raises(NotFittedError):
        TableEncoder().transform(frame)


def test_failed_refit_leaves_the_encoder_unfitted():
    encoder = TableEncoder().fit(pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="column 'a' holds 1 infinite"):
        encoder.fit(pd.DataFrame({"a": pd.Series([1.0, np.inf], dtype=object)}))
    with pytest.raises(NotFittedError):
        encoder.transform(pd.DataFrame({"a": [1.0]}))


def test_is_a_scikit_learn_estimator():
    encoder = TableEncoder(n_bins=5, bins={"a": 2})
    copy = clone(encoder)
    assert copy.get_params() == encoder.get_params() and copy is not encoder
    assert "n_bins=5" in repr(encoder)
    with pytest.raises(TypeError):
        TableEncoder(5)  # keyword-only
