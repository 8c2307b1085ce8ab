"""Sample and class weights, feature importances, verbose: what scikit-learn users reach for."""

import numpy as np
import pandas as pd
import pytest

from wordexperts import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor


def shifted_labels(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.choice(list("pqrs"), n), "b": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = np.where((X["a"].isin(["p", "q"])) ^ (X["b"] > 0.5), "yes", "no")
    return X, y


def test_zero_weights_equal_fitting_on_the_remaining_rows():
    X, y = shifted_labels(600, 0)
    test_X, test_y = shifted_labels(2000, 1)
    junk = X.copy()  # rows whose labels are flipped: if read, they would ruin the model
    X_all = pd.concat([X, junk], ignore_index=True)
    y_all = np.r_[y, np.where(y == "yes", "no", "yes")]
    weights = np.r_[np.ones(len(X)), np.zeros(len(junk))]
    settings = dict(epochs=40, patience=40)
    weighted = [
        WordExpertsClassifier(random_state=s, **settings).fit(X_all, y_all, sample_weight=weights).score(test_X, test_y)
        for s in range(3)
    ]
    plain = [WordExpertsClassifier(random_state=s, **settings).fit(X, y).score(test_X, test_y) for s in range(3)]
    spread = max(np.ptp(plain), 0.01)
    assert min(plain) > 0.75  # the task is learnable (chance is 0.5), so reading the junk rows would show
    assert abs(np.mean(weighted) - np.mean(plain)) <= 2 * spread, (weighted, plain)


def test_weights_move_the_model_toward_the_heavy_rows():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.choice(["u", "v"], 400)})
    y = rng.choice(["left", "right"], 400)  # no signal: the prior is all there is
    w = np.where(y == "left", 5.0, 1.0)
    proba = WordExpertsClassifier(epochs=20, random_state=0).fit(X, y, sample_weight=w).predict_proba(X)
    assert proba[:, 0].mean() > 0.7  # "left" weighs 5 to 1


def test_class_weight_balanced_raises_minority_recall():
    rng = np.random.default_rng(0)
    n = 1500
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    y = np.where(X["x"] + rng.normal(scale=1.0, size=n) > 1.9, "rare", "common")  # about 9% rare
    assert 0.03 < (y == "rare").mean() < 0.15
    recall = {}
    for weight in (None, "balanced"):
        model = WordExpertsClassifier(class_weight=weight, random_state=0, epochs=30).fit(X, y)
        recall[weight] = (model.predict(X)[y == "rare"] == "rare").mean()
    assert recall["balanced"] > recall[None] + 0.2, recall


@pytest.mark.parametrize(
    "weight, message",
    [
        (np.zeros(50), "every sample_weight is zero"),
        (-np.ones(50), "row 0"),
        (np.ones(49), r"one weight per row: shape \(50,\)"),
        (np.r_[np.ones(49), np.nan], "row 49"),
    ],
)
def test_bad_sample_weight_is_named(weight, message):
    X, y = shifted_labels(50, 0)
    with pytest.raises(ValueError, match=message):
        WordExpertsClassifier(epochs=1).fit(X, y, sample_weight=weight)


def test_bad_class_weight_is_named():
    X, y = shifted_labels(50, 0)
    with pytest.raises(ValueError, match="'maybe'"):
        WordExpertsClassifier(epochs=1, class_weight={"maybe": 2.0}).fit(X, y)
    with pytest.raises(ValueError, match="class_weight must be"):
        WordExpertsClassifier(epochs=1, class_weight="heavy").fit(X, y)


def test_imputer_and_regressor_take_sample_weight():
    X, _ = shifted_labels(200, 0)
    w = np.r_[np.ones(150), np.zeros(50)]
    WordExpertsImputer(epochs=2, random_state=0).fit(X, sample_weight=w)
    model = WordExpertsRegressor(epochs=2, random_state=0).fit(X[["a", "noise"]], X["b"], sample_weight=w)
    assert np.isfinite(model.predict(X[["a", "noise"]])).all()


def test_feature_importances_find_the_columns_that_matter():
    X, y = shifted_labels(1500, 0)
    X["id"] = [f"row{i}" for i in range(len(X))]  # ignored as an identifier
    with pytest.warns(UserWarning, match="'id'"):
        model = WordExpertsClassifier(random_state=0, epochs=40).fit(X, y)
    importances = pd.Series(model.feature_importances_, index=model.feature_names_in_)
    assert importances.shape == (4,) and model.feature_importances_std_.shape == (4,)
    assert importances["id"] == 0.0
    assert min(importances["a"], importances["b"]) > 5 * max(abs(importances["noise"]), 0.005), importances


def test_regressor_has_feature_importances_and_the_imputer_none():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    model = WordExpertsRegressor(epochs=20, random_state=0).fit(X, 2 * X[:, 1] + rng.normal(scale=0.1, size=400))
    assert model.feature_importances_.argmax() == 1
    assert not hasattr(WordExpertsImputer(epochs=1).fit(X), "feature_importances_")


def test_verbose_prints_a_line_per_fit_and_per_epoch(capsys):
    X, y = shifted_labels(100, 0)
    WordExpertsClassifier(epochs=3, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "WordExpertsClassifier: 100 rows" in out
    WordExpertsClassifier(epochs=3, verbose=2).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["epoch 1", "epoch 2", "epoch 3"]
    with pytest.raises(ValueError, match="verbose must be an int >= 0"):
        WordExpertsClassifier(epochs=1, verbose=-1).fit(X, y)


def test_an_unknown_parameter_names_the_public_class():
    with pytest.raises(TypeError, match=r"WordExpertsRegressor\.__init__\(\) got an unexpected keyword argument"):
        WordExpertsRegressor(colour=1)
    with pytest.raises(ValueError, match=r"Invalid parameter 'colour' for estimator WordExpertsClassifier"):
        WordExpertsClassifier().set_params(colour=1)
