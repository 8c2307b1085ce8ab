"""The scikit-learn estimators: API contract, input handling, files, explain, bad input."""

from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import wordexperts
from wordexperts.files import ModelFileError
from wordexperts.tabular import (
    WordExpertsClassifier,
    WordExpertsImputer,
    WordExpertsRegressor,
    load,
)
from wordexperts.tabular.encoding import IdentifierWarning
from wordexperts.tabular.estimators import MAX_AUTO_EPOCHS, PRESETS, STEP_BUDGET, epoch_budget

FAST = dict(epochs=40, lr=1e-2, lr_schedule="constant", random_state=0)  # few epochs, a larger constant step: fast tests


def mixed_table(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Category, string, bool, int and float columns with missing cells; y depends on two of them."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    X = pd.DataFrame(
        {
            "colour": pd.Series(colour, dtype=object),
            "size": size,
            "flag": rng.random(n) < 0.5,
            "count": rng.integers(0, 5, n),
            "shape": pd.Categorical(rng.choice(["round", "square"], n)),
        }
    )
    y = np.where((colour == "red") | (size > 1.0), "yes", "no")
    X.loc[::17, "colour"] = None
    X.loc[::13, "size"] = np.nan
    return X, y


@pytest.fixture(scope="module")
def fitted_classifier() -> tuple[WordExpertsClassifier, pd.DataFrame, np.ndarray]:
    X, y = mixed_table()
    return WordExpertsClassifier(**FAST).fit(X, y), X, y


# ---- learning ----


def test_classifier_learns_a_mixed_dtype_table(fitted_classifier):
    model, X, y = fitted_classifier
    X_test, y_test = mixed_table(400, seed=1)
    assert model.score(X_test, y_test) > 0.85
    proba = model.predict_proba(X_test)
    assert proba.shape == (400, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert list(model.classes_) == ["no", "yes"]
    assert list(model.feature_names_in_) == list(X.columns)


def test_same_seed_same_model_different_seed_different():
    X, y = mixed_table(200)
    a = WordExpertsClassifier(epochs=5, random_state=3).fit(X, y).predict_proba(X)
    b = WordExpertsClassifier(epochs=5, random_state=3).fit(X, y).predict_proba(X)
    c = WordExpertsClassifier(epochs=5, random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4


def test_training_history_and_early_stopping():
    X, _ = mixed_table(300)
    y = np.random.default_rng(12345).choice(["a", "b"], 300)  # noise (another seed than X's): validation loss soon rises
    model = WordExpertsClassifier(epochs=600, patience=3, lr=1e-2, lr_schedule="constant", random_state=0).fit(X, y)
    history = model.history_
    assert len(history["loss"]) == len(history["val_loss"]) == len(history["seconds"]) == model.n_epochs_
    assert model.n_epochs_ < 600  # stopped early
    assert model.n_epochs_ - model.best_epoch_ == 3  # patience means what it says: 3 epochs without improvement
    assert history["loss"][-1] < history["loss"][0] - 0.05  # it kept fitting the training noise
    assert min(history["val_loss"]) == pytest.approx(history["val_loss"][model.best_epoch_ - 1])
    paper = WordExpertsClassifier(preset="paper", epochs=4, random_state=0).fit(X, y)
    assert paper.n_epochs_ == 4 and paper.history_["val_loss"] == []  # the paper trains without early stopping


def test_auto_epoch_budget_follows_the_table_size():
    X, y = mixed_table(300)
    model = WordExpertsClassifier(early_stopping=False, random_state=0).fit(X, y)  # 270 rows: 3 steps an epoch
    assert model.n_epochs_ == epoch_budget("auto", n_rows=300, batch_size=128) == MAX_AUTO_EPOCHS
    assert epoch_budget("auto", n_rows=128 * STEP_BUDGET // 20, batch_size=128) == 20  # large tables: fewer epochs
    with pytest.raises(ValueError, match="epochs"):
        WordExpertsClassifier(epochs="many").fit(X, y)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        WordExpertsClassifier(lr_schedule="linear").fit(X, y)


def test_validation_rows_are_stratified_by_class():
    X, _ = mixed_table(400)
    y = np.array(["rare"] * 40 + ["common"] * 360)
    model = WordExpertsClassifier(epochs=1, random_state=0)
    frame = X.assign(t=y)
    train, valid = model._validation_split(frame, "t", model.resolved_params(), seed=5)
    assert len(valid) == 40 and (y[valid] == "rare").sum() == 4  # 10% of each class
    assert len(np.intersect1d(train, valid)) == 0 and len(train) + len(valid) == 400


def test_presets_resolve_and_explicit_parameters_win():
    paper = WordExpertsClassifier(preset="paper").resolved_params()
    assert (paper["d_model"], paper["n_heads"], paper["d_ff"], paper["epochs"], paper["batch_size"]) == (20, 5, 5, 200, 128)
    assert paper["early_stopping"] is False and paper["shared_vocabulary"] is True and paper["init"] == "keras"
    assert WordExpertsClassifier(preset="paper", d_model=40).resolved_params()["d_model"] == 40
    with pytest.raises(ValueError, match="preset must be one of"):
        WordExpertsClassifier(preset="papr").resolved_params()


def test_regressor_predicts_in_original_units_and_gives_bin_distributions():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.choice(["u", "v"], 500)})
    y = 100 + 20 * X["a"].to_numpy() + np.where(X["b"] == "u", 10.0, -10.0)
    model = WordExpertsRegressor(**FAST).fit(X, y)
    prediction = model.predict(X)
    mse = np.mean((prediction - y) ** 2)
    assert mse < 0.2 * np.var(y)
    distribution = model.predict_distribution(X.head(5))
    assert distribution.probabilities.shape == (5, 10) and distribution.edges.shape == (11,)
    np.testing.assert_allclose(distribution.probabilities.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(distribution.expectation(), prediction[:5])
    assert np.all(np.diff(distribution.edges) > 0) and np.all(np.diff(distribution.means) > 0)
    assert distribution.edges[0] == pytest.approx(y.min()) and distribution.edges[-1] == pytest.approx(y.max())
    assert model.bin_mse(X, y) < 1.0
    assert model.predict_bin(X).max() <= 9


def test_imputer_fills_every_missing_cell_and_iterates():
    rng = np.random.default_rng(0)
    n = 600
    a = rng.choice(["x", "y", "z"], n)
    X = pd.DataFrame(
        {
            "a": a,
            "b": pd.Series(np.char.add("b-", a), dtype=object),
            "c": np.where(a == "x", 1.0, 5.0) + rng.normal(scale=0.1, size=n),
        }
    )
    holes = X.copy()
    holes.loc[:99, "b"] = None
    holes.loc[50:149, "c"] = np.nan  # rows 50-99 miss two cells
    imputer = WordExpertsImputer(**FAST).fit(holes)
    filled = imputer.transform(holes)
    assert not filled.isna().any().any()
    assert (filled.loc[:99, "b"] == X.loc[:99, "b"]).mean() > 0.95
    assert np.abs(filled.loc[50:149, "c"] - X.loc[50:149, "c"]).mean() < 0.5
    assert filled.loc[150:].equals(holes.loc[150:])  # observed cells untouched
    again = clone(imputer).set_params(rounds=3).fit(holes).transform(holes)
    assert not again.isna().any().any()
    array_out = WordExpertsImputer(**FAST).fit(holes[["c"]].to_numpy()).transform(holes[["c"]].to_numpy())
    assert array_out.dtype == np.float64 and not np.isnan(array_out).any()


# ---- explain ----


def test_explain_puts_the_gates_on_the_column_that_decides_the_target():
    rng = np.random.default_rng(0)
    n = 500
    X = pd.DataFrame({f"noise{j}": rng.choice(list("abcd"), n) for j in range(3)})
    X.insert(1, "source", rng.choice(list("pqrs"), n))
    y = X["source"].map({"p": "P", "q": "Q", "r": "R", "s": "S"}).to_numpy()
    model = WordExpertsClassifier(epochs=60, random_state=0, early_stopping=False).fit(X, y)
    gates = model.explain(X.head(20))
    H = model.model_.config.n_heads
    assert gates.shape == (20, (H + 1) * 5)
    for h in range(H):
        np.testing.assert_allclose(gates[f"head {h}"].sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(gates["sum"].sum(axis=1), H, atol=1e-5)
    summary = model.explain_summary(X)
    assert list(summary.index) == [*X.columns, "target"]
    assert list(summary.columns) == [f"head {h}" for h in range(H)] + ["sum"]
    assert summary["sum"].idxmax() == "source"
    assert model.score(X, y) == 1.0


def test_explain_of_an_imputer_needs_a_column():
    X, _ = mixed_table(200)
    imputer = WordExpertsImputer(epochs=3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="column="):
        imputer.explain(X)
    assert imputer.explain(X, column="size").shape[0] == 200
    with pytest.raises(ValueError, match="'nope' is not one of"):
        imputer.explain(X, column="nope")


# ---- scikit-learn integration ----


def test_pipeline_grid_search_cross_validation_and_clone():
    X, y = mixed_table(300)
    pipeline = make_pipeline(FunctionTransformer(lambda frame: frame), WordExpertsClassifier(**FAST))
    assert cross_val_score(pipeline, X, y, cv=3).mean() > 0.7
    search = GridSearchCV(WordExpertsClassifier(**FAST), {"d_model": [16, 32]}, cv=2).fit(X, y)
    assert search.best_params_["d_model"] in (16, 32)
    copy = clone(WordExpertsRegressor(target_bins=7, n_heads=2))
    assert copy.get_params()["target_bins"] == 7 and copy.get_params()["n_heads"] == 2
    assert "rounds" in WordExpertsImputer().get_params()


# Parameters of every estimator that no preset sets, with their defaults; then each one's own.
NOT_PRESET = dict(
    preset=None, bins=None, max_categories=300, categorical=None, random_state=None, device="cpu", n_threads=1,
    progress=False, id_columns="auto", verbose=0,
)
OWN = {
    WordExpertsClassifier: {"class_weight": None},
    WordExpertsRegressor: {"target_bins": None, "within_bin": None},
    WordExpertsImputer: {"rounds": 1, "round_integers": True, "numeric_fill": "auto"},
}


@pytest.mark.parametrize("cls", list(OWN), ids=lambda cls: cls.__name__)
def test_each_estimator_spells_out_its_keyword_only_parameters(cls):
    parameters = dict(inspect.signature(cls.__init__).parameters)
    del parameters["self"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    for preset in PRESETS.values():
        assert set(parameters) == set(preset) | set(NOT_PRESET) | set(OWN[cls])
    assert {name: parameters[name].default for name in PRESETS[None]} == dict.fromkeys(PRESETS[None])  # the preset decides
    assert {name: parameters[name].default for name in [*NOT_PRESET, *OWN[cls]]} == {**NOT_PRESET, **OWN[cls]}
    settings = {
        **PRESETS["paper"], "preset": "paper", "bins": {"a": 3}, "max_categories": 50, "categorical": ["b"],
        "random_state": 7, "device": "auto", "n_threads": 2, "progress": True, "id_columns": ["a"], "verbose": 1,
        **{name: 5 for name in OWN[cls]},
    }
    assert set(settings) == set(parameters)
    assert clone(cls(**settings)).get_params() == settings
    assert cls().get_params() == {**dict.fromkeys(PRESETS[None]), **NOT_PRESET, **OWN[cls]}
    with pytest.raises(TypeError, match=rf"^{cls.__name__}\.__init__\(\) got an unexpected keyword argument 'n_epochs'"):
        cls(n_epochs=3)


def test_pickle_round_trip(fitted_classifier):
    model, X, _ = fitted_classifier
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_inputs_numpy_pyarrow_and_interchange(fitted_classifier):
    import pyarrow as pa

    model, X, y = fitted_classifier
    expected = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict_proba(pa.Table.from_pandas(X, preserve_index=False)), expected)
    numeric = X[["size", "count"]].to_numpy()
    array_model = WordExpertsClassifier(epochs=3, random_state=0).fit(numeric, y)
    assert not hasattr(array_model, "feature_names_in_") and array_model.n_features_in_ == 2
    assert array_model.predict(numeric[:3]).shape == (3,)


# ---- files ----


def test_save_load_gives_identical_outputs(tmp_path, fitted_classifier):
    model, X, _ = fitted_classifier
    path = model.save(tmp_path / "model.safetensors")
    again = wordexperts.load(path)
    assert type(again) is WordExpertsClassifier
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.get_params() == model.get_params()
    assert again.history_ == model.history_
    pd.testing.assert_frame_equal(again.explain(X.head(5)), model.explain(X.head(5)))


@pytest.mark.parametrize("cls", [WordExpertsRegressor, WordExpertsImputer])
def test_save_load_regressor_and_imputer(tmp_path, cls):
    X, _ = mixed_table(200)
    y = np.arange(200, dtype=float)
    model = cls(epochs=3, random_state=0).fit(X, y) if cls is WordExpertsRegressor else cls(epochs=3, random_state=0).fit(X)
    again = load(model.save(tmp_path / "m.safetensors"))
    if cls is WordExpertsRegressor:
        np.testing.assert_array_equal(again.predict(X), model.predict(X))
    else:
        pd.testing.assert_frame_equal(again.transform(X), model.transform(X))


def test_tampered_truncated_and_foreign_files_are_refused(tmp_path, fitted_classifier):
    model, _, _ = fitted_classifier
    path = model.save(tmp_path / "model.safetensors")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelFileError, match="truncated"):
        load(truncated)
    tampered = tmp_path / "tampered.safetensors"
    flipped = bytearray(data)
    flipped[-5] ^= 0xFF  # a byte inside the last tensor
    tampered.write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load(tampered)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ModelFileError, match="not a wordexperts model"):
        load(foreign)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "absent.safetensors")


def test_save_is_atomic(tmp_path, fitted_classifier, monkeypatch):
    model, _, _ = fitted_classifier
    path = model.save(tmp_path / "model.safetensors")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("wordexperts.files.os.replace", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


# ---- bad input ----


def test_empty_one_row_one_class_and_missing_target():
    X, y = mixed_table(50)
    with pytest.raises(ValueError, match="empty|0 rows"):
        WordExpertsClassifier().fit(X.iloc[:0], y[:0])
    with pytest.raises(ValueError, match="at least 2 samples"):
        WordExpertsClassifier().fit(X.iloc[:1], y[:1])
    with pytest.raises(ValueError, match="only one class"):
        WordExpertsClassifier().fit(X, np.full(50, "a"))
    y_nan = np.where(np.arange(50) == 7, None, y).astype(object)
    with pytest.raises(ValueError, match="missing value.*row 7"):
        WordExpertsClassifier().fit(X, y_nan)
    y_float = np.arange(50, dtype=float)
    y_float[3] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        WordExpertsRegressor().fit(X, y_float)
    with pytest.raises(ValueError, match="must be numeric"):
        WordExpertsRegressor().fit(X, y.astype(object))
    with pytest.raises(ValueError, match="Unknown label type"):
        WordExpertsClassifier().fit(X, np.linspace(0, 1, 50))


def test_predict_checks_columns(fitted_classifier):
    model, X, _ = fitted_classifier
    with pytest.raises(ValueError, match=r"missing columns \['flag'\]"):
        model.predict(X.drop(columns=["flag"]))
    with pytest.raises(ValueError, match=r"unexpected columns \['extra'\]"):
        model.predict(X.assign(extra=1))
    with pytest.raises(ValueError, match="different order"):
        model.predict(X[X.columns[::-1]])
    with pytest.raises(ValueError, match="no column names"):
        model.predict(X.to_numpy())


def test_missing_and_unseen_values_at_predict_time(fitted_classifier):
    model, X, _ = fitted_classifier
    odd = X.head(4).copy()
    odd["colour"] = ["purple", None, "red", "red"]  # unseen category, missing
    odd["size"] = [np.nan, np.inf, -1e9, 0.0]  # missing, infinite (= missing), far outside the training range
    proba = model.predict_proba(odd)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


def test_many_distinct_values_mixed_types_duplicates_and_odd_names():
    rng = np.random.default_rng(0)
    n = 100_000
    X = pd.DataFrame({"id": [f"user{i}" for i in range(n)], "a": rng.choice(["u", "v"], n)})
    y = np.where(X["a"] == "u", 0, 1)
    model = WordExpertsClassifier(epochs=1, random_state=0, max_categories=50).fit(X, y)
    assert model.encoder_.vocab_size_ < 100  # rare ids share the unknown token instead of 100,000 embeddings
    mixed = pd.DataFrame({"m": pd.Series([1, "a", 2.5, "b"] * 5, dtype=object), "k": range(20)})
    with pytest.raises(ValueError, match="'m'"):
        WordExpertsClassifier(epochs=1).fit(mixed, np.arange(20) % 2)
    duplicated = pd.DataFrame(np.zeros((10, 2)), columns=["a", "a"])
    with pytest.raises(ValueError, match="duplicate"):
        WordExpertsClassifier(epochs=1).fit(duplicated, np.arange(10) % 2)
    numbered = pd.DataFrame(rng.normal(size=(40, 2)), columns=[0, 1])
    model = WordExpertsClassifier(epochs=1, random_state=0).fit(numbered, np.arange(40) % 2)
    assert not hasattr(model, "feature_names_in_")  # all-non-string names are treated like an array's
    half = pd.DataFrame(rng.normal(size=(40, 2)), columns=["a", 1])
    with pytest.raises((TypeError, ValueError), match="1"):
        WordExpertsClassifier(epochs=1).fit(half, np.arange(40) % 2)


def test_nan_inside_features_is_the_missing_token_not_a_nan_prediction(fitted_classifier):
    model, X, _ = fitted_classifier
    blank = X.head(3).astype(object).copy()
    blank.iloc[:, :] = None  # every cell missing: each column's missing token
    blank["size"] = np.nan
    blank["count"] = np.nan
    blank["shape"] = pd.Categorical([None] * 3, categories=X["shape"].cat.categories)
    proba = model.predict_proba(blank)
    assert np.isfinite(proba).all() and proba.shape == (3, 2)


# ---- found in review: each of these once failed ----


def test_a_blank_categorical_column_at_predict_time_is_all_missing(fitted_classifier):
    model, X, _ = fitted_classifier
    blank = X.head(5).assign(colour=np.nan)  # a blank CSV column reads as float NaN
    assert np.isfinite(model.predict_proba(blank)).all()


def test_a_gpu_fitted_file_opens_on_a_cpu_machine(tmp_path, fitted_classifier, monkeypatch):
    model, X, _ = fitted_classifier
    gpu = clone(model).set_params(device="cuda")
    gpu.__dict__.update({k: v for k, v in vars(model).items() if k.endswith("_")})
    path = gpu.save(tmp_path / "gpu.safetensors")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    again = load(path)
    assert next(again.model_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_reserved_and_colliding_names():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "<target>": rng.choice(["p", "q"], 60)})
    with pytest.raises(ValueError, match="'<target>' is reserved"):
        WordExpertsClassifier(epochs=1).fit(X, X["<target>"])
    X = pd.DataFrame({"target": rng.choice(["p", "q"], 60), "b": rng.normal(size=60)})
    model = WordExpertsClassifier(epochs=2, random_state=0).fit(X, X["target"].to_numpy())
    summary = model.explain_summary(X)
    assert list(summary.index) == ["target", "b", "target (target)"]


def test_numpy_integers_from_a_grid_and_bad_settings():
    X, y = mixed_table(120)
    search = GridSearchCV(WordExpertsClassifier(random_state=0), {"epochs": np.arange(1, 3), "d_model": np.array([8, 16])}, cv=2)
    assert search.fit(X, y).best_params_["epochs"] in (1, 2)
    for bad, match in [
        (dict(validation_fraction=1.5), "validation_fraction"),
        (dict(lr=float("nan")), "lr"),
        (dict(patience=0), "patience"),
        (dict(early_stopping="no"), "early_stopping"),
        (dict(d_model=10, n_heads=3), "multiple of n_heads"),
        (dict(batching="columns"), "batching"),
    ]:
        with pytest.raises(ValueError, match=match):
            WordExpertsClassifier(**bad).fit(X, y)


def test_a_failed_refit_leaves_the_estimator_unfitted(fitted_classifier):
    from sklearn.exceptions import NotFittedError

    _, X, y = fitted_classifier
    model = WordExpertsClassifier(epochs=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="only one class"):
        model.fit(X, np.full(len(X), "a"))
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_the_json_document_is_checked_too(tmp_path, fitted_classifier):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    model, _, _ = fitted_classifier
    path = model.save(tmp_path / "model.safetensors")
    with safe_open(str(path), framework="pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    header = json.loads(metadata["wordexperts"])
    header["document"]["fitted"]["target_position"] = 0  # a careless edit
    save_file(tensors, str(tmp_path / "edited.safetensors"), metadata={"wordexperts": json.dumps(header)})
    with pytest.raises(ModelFileError, match="JSON document fails its SHA-256"):
        load(tmp_path / "edited.safetensors")


def test_written_files_get_the_usual_permissions(tmp_path, fitted_classifier):
    import os

    model, _, _ = fitted_classifier
    old = os.umask(0o022)
    try:
        path = model.save(tmp_path / "model.safetensors")
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_parameters_with_numpy_values_and_int_keys_survive_save_and_load(tmp_path):
    X = np.random.default_rng(0).normal(size=(80, 2))
    y = (X[:, 0] > 0).astype(int)
    model = WordExpertsClassifier(epochs=2, random_state=np.int64(3), bins={0: np.int64(3)}).fit(X, y)
    again = load(model.save(tmp_path / "m.safetensors"))
    assert again.get_params()["bins"] == {0: 3} and again.get_params()["random_state"] == 3
    assert clone(again).fit(X, y).encoder_.bin_edges_["x0"].shape == (4,)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.classes_.dtype == model.classes_.dtype


def test_imputer_keeps_nullable_dtypes():
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame(
        {
            "i": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "b": pd.array(rng.random(n) < 0.5, dtype="boolean"),
            "c": pd.Categorical(rng.choice(["p", "q"], n)),
        }
    )
    for column in X:
        X.loc[:9, column] = None
    filled = WordExpertsImputer(epochs=3, random_state=0).fit_transform(X)
    assert filled.dtypes.astype(str).to_dict() == {"i": "Int64", "b": "boolean", "c": "category"}
    assert not filled.isna().any().any()


def test_bin_mse_uses_the_encoders_bins():
    X = np.random.default_rng(0).normal(size=(300, 2))
    y = np.arange(300) % 31  # ties on every bin edge
    model = WordExpertsRegressor(epochs=3, random_state=0).fit(X, y)
    tokens = model.encoder_.transform(pd.DataFrame(X, columns=["x0", "x1"]).assign(**{"<target>": y.astype(float)}))
    true_bin = tokens[:, -1] - model.encoder_.column_tokens("<target>")[0]
    assert model.bin_mse(X, y) == pytest.approx(np.mean((model.predict_bin(X) - true_bin) ** 2))


def test_an_id_like_column_is_named_in_a_warning_and_ignored():
    X, y = mixed_table(300)
    X["customer"] = [f"c{i:04d}" for i in range(300)]
    with pytest.warns(IdentifierWarning, match=r"column 'customer' looks like a row identifier \(300 distinct values in 300 rows\)"):
        model = WordExpertsClassifier(**FAST).fit(X, y)
    assert model.encoder_.n_values_[model.encoder_.columns_.index("customer")] == 1
    renamed = X.assign(customer=[f"new{i}" for i in range(300)])  # other IDs, same predictions: the column is not read
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(renamed))
    assert load_roundtrip(model).encoder_.ignore == ["customer"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentifierWarning)  # named by the user: no warning, and it is read
        kept = WordExpertsClassifier(**FAST, id_columns=[]).fit(X, y)
    assert kept.encoder_.n_values_[kept.encoder_.columns_.index("customer")] == 300


def load_roundtrip(model):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return load(model.save(f"{folder}/model.safetensors"))


def test_an_ensemble_averages_its_members_and_saves_them_all(tmp_path):
    X, y = mixed_table(300)
    model = WordExpertsClassifier(**FAST, n_members=3).fit(X, y)
    assert len(model.models_) == 3 and model.model_ is model.models_[0]
    first = [p.detach().clone() for p in model.models_[0].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(first, model.models_[1].parameters()))  # members differ
    proba = model.predict_proba(X)
    alone = []
    for member in model.models_:  # each member as a model of its own
        single = clone(model).set_params(n_members=1)
        single.__dict__.update({k: v for k, v in vars(model).items() if k.endswith("_")})
        single.models_, single.model_ = [member], member
        alone.append(single.predict_proba(X))
    np.testing.assert_allclose(proba, np.mean(alone, axis=0), atol=1e-12)
    gates = model.explain(X.head(20))
    each = [model.explain(X.head(20), member=i) for i in range(3)]
    np.testing.assert_allclose(gates.to_numpy(), np.mean([g.to_numpy() for g in each], axis=0), atol=1e-12)
    with pytest.raises(ValueError, match=r"member must be None or an int in \[0, 3\)"):
        model.explain(X.head(2), member=3)
    loaded = load(model.save(tmp_path / "ensemble.safetensors"))
    assert len(loaded.models_) == 3
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    # Without early stopping, member 0 is the single model, step for step (same start, shuffles, dropout)
    settings = {**FAST, "early_stopping": False, "epochs": 5}
    single = WordExpertsClassifier(**settings).fit(X, y)
    packed = WordExpertsClassifier(**settings, n_members=2).fit(X, y)
    for a, b in zip(single.model_.parameters(), packed.models_[0].parameters(), strict=True):
        assert torch.equal(a, b)


def test_id_columns_name_features_only_and_an_imputer_leaves_ids_missing():
    X, y = mixed_table(300)
    X["customer"] = [f"c{i:04d}" for i in range(300)]
    last = WordExpertsClassifier(**FAST, id_columns=[-1]).fit(X, y)  # the last *feature*, never the target
    assert last.encoder_.ignored_columns() == {"customer"} and len(last.classes_) == 2
    with pytest.raises(ValueError, match=r"id_columns names 'nope', which is not a feature column"):
        WordExpertsClassifier(**FAST, id_columns=["nope"]).fit(X, y)
    with pytest.raises(ValueError, match="id_columns names 6"):
        WordExpertsClassifier(**FAST, id_columns=[6]).fit(X, y)  # 6 features: position 6 would be the target
    array = X[["size", "customer"]].to_numpy()
    with pytest.warns(IdentifierWarning, match="column 'x1'"):
        WordExpertsClassifier(**FAST, categorical=[1]).fit(array, y)  # categorical by position is checked too
    X.loc[[3, 5], "customer"] = None
    with pytest.warns(IdentifierWarning, match="an imputer leaves its missing cells missing"):
        imputer = WordExpertsImputer(**FAST).fit(X)
    filled = imputer.transform(X)
    assert filled.loc[[3, 5], "customer"].isna().all() and filled["colour"].notna().all()


def test_target_share_is_checked_against_batching_and_can_be_uniform():
    X, y = mixed_table(200)
    with pytest.raises(ValueError, match="target_share=0.3 weighs the target's column, which batching='copies' cannot"):
        WordExpertsClassifier(batching="copies", epochs=1).fit(X, y)
    WordExpertsClassifier(batching="copies", target_share="uniform", epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="target_share must be 'uniform' or a number in"):
        WordExpertsClassifier(target_share=1.0).fit(X, y)


def test_regressor_early_stopping_does_not_depend_on_the_target_scale():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = 3 * X[:, 0] + rng.normal(scale=0.1, size=600)
    small = WordExpertsRegressor(random_state=0).fit(X, y * 1e-4)
    plain = WordExpertsRegressor(random_state=0).fit(X, y)
    assert small.best_epoch_ == plain.best_epoch_ and small.score(X, y * 1e-4) == pytest.approx(plain.score(X, y), abs=1e-3)


def test_an_estimator_pickled_by_0_4_still_predicts():
    X, y = mixed_table(200)
    model = WordExpertsClassifier(**FAST).fit(X, y)
    state = dict(pickle.loads(pickle.dumps(model)).__getstate__())  # a copy: the live model keeps its own
    del state["models_"]  # 0.4 pickles had one model and no models_
    del state["encoder_"].__dict__["_ignored_names"]
    state["encoder_"].__dict__.pop("ignore")
    old = WordExpertsClassifier.__new__(WordExpertsClassifier)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))


def test_shared_vocabulary_auto_shares_where_the_columns_share_their_values():
    rng = np.random.default_rng(0)
    scale = ["never", "sometimes", "often"]
    survey = pd.DataFrame({f"q{i}": pd.Categorical(rng.choice(scale, 120), categories=scale) for i in range(4)})
    y = rng.choice(["a", "b"], 120)
    assert WordExpertsClassifier(epochs=1).fit(survey, y).shared_vocabulary_ is True
    assert WordExpertsClassifier(epochs=1, shared_vocabulary=False).fit(survey, y).shared_vocabulary_ is False
    mixed = survey.assign(age=rng.normal(size=120))
    assert WordExpertsClassifier(epochs=1).fit(mixed, y).shared_vocabulary_ is False
    other = survey.assign(q3=rng.choice(["yes", "no"], 120))
    assert WordExpertsClassifier(epochs=1).fit(other, y).shared_vocabulary_ is False
    with pytest.raises(ValueError, match="shared_vocabulary must be True, False or 'auto'"):
        WordExpertsClassifier(epochs=1, shared_vocabulary="sometimes").fit(survey, y)


def test_a_larger_batch_without_a_rate_takes_the_square_root_rule():
    """docs/reproduction/large-batch: sqrt(B/128) kept accuracy to batch 8192; the linear rule did not."""
    assert WordExpertsClassifier().resolved_params()["lr"] == 3e-3
    assert WordExpertsClassifier(batch_size=2048).resolved_params()["lr"] == pytest.approx(0.012)
    assert WordExpertsRegressor(batch_size=32).resolved_params()["lr"] == pytest.approx(1.5e-3)
    assert WordExpertsClassifier(batch_size=2048, lr=0.01).resolved_params()["lr"] == 0.01  # a rate set is kept
    assert WordExpertsClassifier(preset="paper", batch_size=512).resolved_params()["lr"] == pytest.approx(2e-3)
