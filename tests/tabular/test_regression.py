"""Regression: bins that keep their count on skewed targets, within-bin means, intervals; the imputer's fills."""

import numpy as np
import pandas as pd
import pytest

from wordexperts import WordExpertsImputer, WordExpertsRegressor, load
from wordexperts.tabular.encoding import TableEncoder, _quantile_edges, split_tied_edges


def zero_inflated(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A count that is 0 in 60% of rows (group a) and has a long tail: group d (3%) counts near 80."""
    rng = np.random.default_rng(seed)
    group = rng.choice(list("abcd"), n, p=[0.6, 0.25, 0.12, 0.03])
    X = pd.DataFrame({"group": group, "x": rng.normal(size=n), "noise": rng.normal(size=n)})
    rate = pd.Series(group).map({"a": 0.0, "b": 3.0, "c": 15.0, "d": 80.0}).to_numpy() * np.exp(0.2 * X["x"])
    return X, rng.poisson(rate).astype(float)


def test_tied_values_keep_the_bin_count():
    _, y = zero_inflated(3000, 0)
    assert len(_quantile_edges(y, 10)) - 1 < 8  # what quantiles alone give
    edges = split_tied_edges(y, 10)
    assert len(edges) == 11 and np.all(np.diff(edges) > 0)
    encoder = TableEncoder(n_bins=10, split_ties=["y"]).fit(pd.DataFrame({"y": y}))
    counts = encoder.bin_counts_["y"]
    assert len(counts) == 10 and counts.min() > 0 and counts[0] == (y == 0).sum()
    again = TableEncoder.from_dict(encoder.to_dict())
    np.testing.assert_array_equal(again.bin_edges_["y"], encoder.bin_edges_["y"])
    assert len(split_tied_edges(np.array([0.0, 0.0, 1.0]), 10)) == 3  # two values: two bins, no more


def test_zero_inflated_long_tail_predicts_past_the_top_bins_mean():
    X, y = zero_inflated(4000, 0)
    train, test = slice(0, 2000), slice(2000, None)
    model = WordExpertsRegressor(random_state=0, epochs=60).fit(X[train], y[train])
    assert len(model.encoder_.bin_means_["<target>"]) == 10
    top_mean = model.encoder_.bin_means_["<target>"][-1]
    prediction = model.predict(X[test])
    there = y[test] > top_mean
    assert there.sum() > 30
    assert (prediction[there] > top_mean).mean() > 0.5, (prediction[there] > top_mean).mean()
    without = WordExpertsRegressor(random_state=0, epochs=60, within_bin=False).fit(X[train], y[train])
    assert without.predict(X[test]).max() <= top_mean + 1e-9  # a mixture of bin means cannot pass the top one
    assert model.score(X[test], y[test]) > without.score(X[test], y[test])


def test_within_bin_models_survive_the_file(tmp_path):
    X, y = zero_inflated(600, 1)
    model = WordExpertsRegressor(random_state=0, epochs=5, n_members=2).fit(X, y)
    assert model.within_coef_.shape == (2, len(model.encoder_.bin_means_["<target>"]), 32)
    path = model.save(tmp_path / "m.safetensors")
    np.testing.assert_allclose(load(path).predict(X), model.predict(X), rtol=1e-6)
    paper = WordExpertsRegressor(preset="paper", epochs=2, random_state=0).fit(X, y)
    assert not paper.within_bin_  # the paper's recipe stays the paper's
    np.testing.assert_allclose(load(paper.save(tmp_path / "p.safetensors")).predict(X), paper.predict(X), rtol=1e-6)


def test_prediction_intervals_cover_about_what_they_say():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 2))
    y = X[:, 0] + rng.normal(scale=0.7, size=4000)
    model = WordExpertsRegressor(random_state=0, epochs=40).fit(X[:3000], y[:3000])
    for coverage in (0.5, 0.9):
        bounds = model.predict_interval(X[3000:], coverage=coverage)
        inside = ((y[3000:] >= bounds[:, 0]) & (y[3000:] <= bounds[:, 1])).mean()
        assert abs(inside - coverage) < 0.08, (coverage, inside)
    with pytest.raises(ValueError, match="coverage must be a number in"):
        model.predict_interval(X[:3], coverage=1.5)


def test_imputer_keeps_integer_columns_integer_and_fills_heavy_tails_with_the_median():
    rng = np.random.default_rng(0)
    n = 3000
    age = rng.integers(18, 90, n).astype(float)
    income = np.exp(rng.normal(10, 1.2, n)) * (1 + (age - 18) / 100)  # heavy right tail
    X = pd.DataFrame({"age": age, "income": income, "group": rng.choice(list("abc"), n)})
    truth = X.copy()
    hidden = rng.random(n) < 0.15
    X.loc[hidden, "age"] = np.nan
    X.loc[hidden, "income"] = np.nan
    imputer = WordExpertsImputer(random_state=0, epochs=20).fit(X)
    assert imputer.integer_columns_ == ["age"] and imputer.heavy_tailed_columns_ == ["income"]
    filled = imputer.transform(X)
    assert filled["age"].dtype == np.int64
    median_error = np.abs(filled.loc[hidden, "income"] - truth.loc[hidden, "income"]).mean()
    mean_filled = imputer.set_params(numeric_fill="mean").transform(X)
    mean_error = np.abs(mean_filled.loc[hidden, "income"] - truth.loc[hidden, "income"]).mean()
    assert median_error < mean_error
    column_median = np.abs(X["income"].median() - truth.loc[hidden, "income"]).mean()
    assert median_error < 1.05 * column_median  # no worse than the column's median, the robust baseline
    as_floats = imputer.set_params(round_integers=False).transform(X)
    assert as_floats["age"].dtype == np.float64 and (as_floats.loc[hidden, "age"] % 1 != 0).any()
    with pytest.raises(ValueError, match="numeric_fill must be"):
        imputer.set_params(numeric_fill="mode").transform(X)


def test_files_and_pickles_of_0_5_still_load(tmp_path):
    import pickle

    from wordexperts import files

    X, y = zero_inflated(300, 2)
    regressor = WordExpertsRegressor(random_state=0, epochs=2, within_bin=False).fit(X, y)
    imputer = WordExpertsImputer(random_state=0, epochs=2).fit(X.assign(x=X["x"].round()))
    for model in (regressor, imputer):
        path = model.save(tmp_path / "new.safetensors")
        tensors, document = files.read_model_file(path)
        document["encoder"]["params"].pop("split_ties")  # what 0.5 wrote
        for key in ("within_bin", "integer_columns", "heavy_tailed_columns"):
            document["fitted"].pop(key, None)
        old = files.write_model_file(tmp_path / "old.safetensors", tensors, document)
        again = load(old)
        if model is regressor:
            assert not again.within_bin_
            np.testing.assert_allclose(again.predict(X), model.predict(X), rtol=1e-6)
        else:
            assert again.integer_columns_ == [] and np.isfinite(again.transform(X)["x"]).all()
        state = model.__getstate__()
        for name in ("verbose", "within_bin", "round_integers", "numeric_fill"):
            state.pop(name, None)  # parameters 0.5 did not have
        unpickled = pickle.loads(pickle.dumps(model))
        unpickled.__dict__.clear()
        unpickled.__setstate__(state)
        assert unpickled.get_params()["verbose"] == 0
