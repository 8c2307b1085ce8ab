"""The peers: one interface over twelve libraries, classifiers and regressors, deterministic, fairly tuned."""
import dataclasses
import math
import random
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import ParameterGrid

from wordexperts_bench.peers import (
    PEERS,
    SIMULATION_CONFIGS,
    PaperOneHot,
    Peer,
    PeerClassifier,
    PeerEncoding,
    PeerRegressor,
    TrainingSettings,
    paper_baselines,
    tune,
    tune_optuna,
    validation_split,
)
from wordexperts_bench.scores import log_loss

# Small settings so that every peer fits 200 rows in well under a second.
FAST = {
    "majority": {},
    "lr": {},
    "rf": {"n_estimators": 20},
    "hgb": {"max_iter": 20},
    "xgboost": {"n_estimators": 20},
    "lightgbm": {"n_estimators": 20},
    "catboost": {"iterations": 20},
    "mlp": {"max_iter": 50},
    "ft-transformer": {"n_blocks": 1, "d_block": 16, "max_epochs": 3},
    "tab-transformer": {"dim": 8, "depth": 1, "heads": 2, "max_epochs": 3},
    # pytabkit: a few epochs of a small net (the defaults train 256 epochs, or until patience runs out)
    "realmlp": {"n_epochs": 3, "hidden_sizes": [16, 16]},
    "tabm": {"n_epochs": 3, "d_block": 16, "n_blocks": 1, "tabm_k": 4},
}
LEARNERS = [key for key in PEERS if key != "majority"]
NEURAL = ("ft-transformer", "tab-transformer", "realmlp", "tabm")  # a few epochs teach these little


def installed(key):
    """Skip the test when the peer's package is missing (pytabkit is the optional one)."""
    reason = PEERS[key].available()
    if reason is not None:
        pytest.skip(reason)


def table(n=200, seed=0):
    """2 numeric + 2 categorical columns (one str, one category), NaN in a numeric one; labels a/b/c."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    X = pd.DataFrame({
        "size": size,
        "weight": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "colour": colour,
        "shape": pd.Categorical(rng.choice(["round", "square", "star", "oval"], n)),
    })
    label = np.where(colour == "red", "a", np.where(size > 0, "b", "c"))
    flip = rng.random(n) < 0.05
    y = np.where(flip, rng.choice(["a", "b", "c"], n), label)
    return X, y


def fitted(key, X, y, seed=0, threads=1, **kwargs):
    installed(key)
    return PEERS[key].make(FAST[key], seed=seed, threads=threads, **kwargs).fit(X, y)


def numbers(n=200, seed=0):
    """``table()``'s features with a numeric target in the hundreds: 100 + 30 size + 20 [red] + noise."""
    X, _ = table(n, seed)
    noise = np.random.default_rng(seed + 1).normal(size=n)
    return X, 100 + 30 * X["size"].to_numpy() + 20 * (X["colour"] == "red").to_numpy() + noise


def test_registry_lists_every_peer_with_defaults_first_and_six_configurations():
    assert list(PEERS) == list(FAST)
    for key, peer in PEERS.items():
        assert peer.key == key and (peer.available() is None and peer.version() or peer.package == "pytabkit")
        assert dict(peer.configurations[0]) == {}
        expected = 1 if key == "majority" else 6
        assert len(peer.configurations) == expected
        distinct = {tuple(sorted(c.items())) for c in peer.configurations}
        assert len(distinct) == len(peer.configurations)
    assert PEERS["xgboost"].package == "xgboost-cpu"
    assert PEERS["hgb"].configurations[3] == {"learning_rate": 0.03, "max_iter": 300}


@pytest.mark.parametrize("key", list(PEERS))
def test_every_peer_predicts_probabilities_over_its_classes(key):
    X, y = table()
    model = fitted(key, X, y)
    assert isinstance(model, PeerClassifier)
    assert model.classes_.tolist() == ["a", "b", "c"]
    proba = model.predict_proba(X)
    assert proba.shape == (200, 3) and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    predicted = model.predict(X)
    assert np.array_equal(predicted, model.classes_[proba.argmax(axis=1)])
    accuracy = np.mean(predicted == y)
    if key == "majority":
        assert accuracy == np.mean(y == pd.Series(y).mode()[0])
    elif key not in NEURAL:  # 3 epochs teach the neural nets little
        assert accuracy >= 0.8, accuracy


@pytest.mark.parametrize("key", list(PEERS))
def test_unknown_category_and_missing_numbers_at_predict_time(key):
    X, y = table()
    model = fitted(key, X, y)
    new = pd.DataFrame({
        "size": [0.5, np.nan, -1.0],
        "weight": [np.nan, 0.0, np.nan],
        "colour": ["purple", "red", None],
        "shape": pd.Categorical(["hexagon", "round", "star"]),
    })
    proba = model.predict_proba(new)
    assert proba.shape == (3, 3) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="different order than at fit"):  # the library's column rule, as scikit-learn's
        model.predict(new[list(reversed(new.columns))])


@pytest.mark.parametrize("key", ["xgboost", "catboost", "lightgbm", "ft-transformer"])
def test_int_labels_keep_their_values(key):
    X, y = table()
    labels = np.select([y == "a", y == "b"], [7, 3], 12)
    model = fitted(key, X, labels)
    assert model.classes_.tolist() == [3, 7, 12]
    assert set(model.predict(X).tolist()) <= {3, 7, 12}


@pytest.mark.parametrize(
    "key",
    ["lr", "hgb", "lightgbm", "catboost", "xgboost", "rf", "mlp", "ft-transformer", "tab-transformer", "realmlp", "tabm"],
)
def test_same_seed_gives_identical_probabilities(key):
    X, y = table()
    first = fitted(key, X, y, seed=3).predict_proba(X)
    second = fitted(key, X, y, seed=3).predict_proba(X)
    assert np.array_equal(first, second)


def test_transformer_seed_matters_and_leaves_global_rng_alone():
    X, y = table()
    torch.manual_seed(123)
    random.seed(123)
    before = torch.rand(1), random.random()
    torch.manual_seed(123)
    random.seed(123)
    a = fitted("ft-transformer", X, y, seed=0)
    assert (torch.rand(1), random.random()) == before  # fit seeded the RNGs and gave them back
    b = fitted("ft-transformer", X, y, seed=1)
    assert not np.array_equal(a.predict_proba(X), b.predict_proba(X))
    record = a.model_.record_
    assert len(record.train_loss) == 3 and len(record.validation_loss) == 3 and 1 <= record.best_epoch <= 3


def test_transformer_early_stopping_keeps_the_best_epoch():
    X, y = table()
    model = PEERS["ft-transformer"].make(
        {"n_blocks": 1, "d_block": 16, "max_epochs": 60, "patience": 2, "lr": 3e-2}, seed=0
    ).fit(X, y)
    record = model.model_.record_
    assert len(record.train_loss) < 60  # stopped early
    assert len(record.validation_loss) == record.best_epoch + 2
    assert record.validation_loss[record.best_epoch - 1] == min(record.validation_loss)


def test_transformers_read_tables_with_one_kind_of_column():
    X, y = table()
    only_categorical = X[["colour", "shape"]]
    one_categorical = X[["size", "colour"]]
    for key, frame in [("ft-transformer", only_categorical), ("tab-transformer", one_categorical),
                       ("tab-transformer", X[["size", "weight"]])]:
        proba = fitted(key, frame, y).predict_proba(frame)
        assert proba.shape == (200, 3) and np.isfinite(proba).all()


def test_listed_int_columns_are_categorical():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x0": rng.integers(0, 10, 300), "x1": rng.integers(0, 10, 300)})
    y = (X["x0"] % 3 == 0).astype(int).to_numpy()  # not monotone in x0: needs the levels
    encoding = PeerEncoding(categorical=["x0", "x1"]).fit(X)
    assert encoding.categorical_ == ["x0", "x1"] and encoding.numeric_ == []
    assert encoding.levels_["x0"] == [str(i) for i in range(10)]
    assert encoding.level_codes(pd.DataFrame({"x0": [3.0, 11], "x1": [0, np.nan]})).tolist() == [[4, 1], [0, 0]]
    lr_levels = PEERS["lr"].make(categorical=["x0", "x1"]).fit(X, y)
    lr_numbers = PEERS["lr"].make().fit(X, y)
    assert lr_levels.score(X, y) == 1.0 and lr_numbers.score(X, y) < 0.8
    for key in SIMULATION_CONFIGS:
        model = PEERS[key].make({**SIMULATION_CONFIGS[key], **FAST[key]}, categorical=["x0", "x1"]).fit(X, y)
        assert model.score(X, y) == 1.0, key


def test_encoding_one_hot_standardises_and_flags_missing():
    X, _ = table()
    encoding = PeerEncoding().fit(X)
    assert encoding.categorical_ == ["colour", "shape"] and encoding.indicated_ == ["weight"]
    matrix = encoding.one_hot(X)
    assert matrix.shape == (200, 2 + 1 + 3 + 4)
    np.testing.assert_allclose(matrix[:, 0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(matrix[:, 0].std(), 1.0, atol=1e-12)
    assert np.array_equal(matrix[:, 2], X["weight"].isna().to_numpy().astype(float))
    assert np.array_equal(matrix[:, 3:].sum(axis=1), np.full(200, 2.0))
    unknown = encoding.one_hot(pd.DataFrame({"size": [0.0], "weight": [np.nan], "colour": ["x"], "shape": ["y"]}))
    assert unknown[0, 3:].sum() == 0.0 and unknown[0, 2] == 1.0


def test_tune_tries_the_budget_and_refits_the_best_on_all_rows():
    X, y = table()
    one = tune("lr", X, y, seed=0, budget=1)
    assert one.index == 0 and one.config == {} and len(one.validation_scores) == 1
    assert math.isnan(one.validation_scores[0].accuracy)
    assert one.fit_seconds_total == one.refit_seconds > 0

    three = tune(PEERS["lr"], X, y, seed=0, budget=3)
    assert len(three.validation_scores) == 3 and 0 <= three.index < 3
    scores = three.validation_scores
    assert [s.config for s in scores] == [dict(c) for c in PEERS["lr"].configurations[:3]]
    assert all(0 <= s.accuracy <= 1 and s.log_loss > 0 for s in scores)
    best = max(s.accuracy for s in scores)
    assert scores[three.index].accuracy == best
    assert scores[three.index].log_loss == min(s.log_loss for s in scores if s.accuracy == best)
    assert three.model.config == three.config and three.model.n_features_in_ == 4
    assert three.fit_seconds_total == pytest.approx(sum(s.fit_seconds for s in scores) + three.refit_seconds)
    # The majority class has one configuration: any budget tries it alone.
    assert len(tune("majority", X, y, seed=0, budget=6).validation_scores) == 1
    with pytest.raises(ValueError, match="budget"):
        tune("lr", X, y, seed=0, budget=0)


@pytest.mark.parametrize(
    "key, setting",
    [("rf", "n_jobs"), ("xgboost", "n_jobs"), ("lightgbm", "n_jobs"), ("catboost", "thread_count")],
)
def test_threads_reach_the_library(key, setting):
    X, y = table()
    model = fitted(key, X, y, threads=2)
    assert model.model_.get_params()[setting] == 2


def test_threads_reach_torch_and_are_restored(monkeypatch):
    X, y = table()
    calls = []
    original = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), original(n)))
    before = torch.get_num_threads()
    fitted("tab-transformer", X, y, threads=2)
    assert calls[0] == 2 and torch.get_num_threads() == before


def test_missing_package_is_a_reason_not_a_crash(monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)  # import xgboost now raises ImportError
    reason = PEERS["xgboost"].available()
    assert reason is not None and "xgboost-cpu" in reason and "\n" not in reason
    model = PEERS["xgboost"].make()  # making is fine; fitting says why not
    X, y = table(n=20)
    with pytest.raises(ImportError, match="pip install xgboost-cpu"):
        model.fit(X, y)


def test_one_class_predicts_it_with_certainty():
    X, _ = table(n=30)
    model = fitted("xgboost", X, np.full(30, "only"))
    assert model.predict(X).tolist() == ["only"] * 30 and np.array_equal(model.predict_proba(X), np.ones((30, 1)))


def test_bad_settings_name_themselves():
    X, y = table(n=40)
    with pytest.raises(ValueError, match="n_layers"):
        PEERS["ft-transformer"].make({"n_layers": 2}).fit(X, y)
    with pytest.raises(ValueError, match="unknown peer"):
        tune("svm", X, y, seed=0, budget=1)
    with pytest.raises(ValueError, match="colour"):
        fitted("lr", X, y).predict(X.drop(columns="colour"))


def test_paper_baselines_are_the_papers_grids():
    models = paper_baselines(seed=5)
    assert list(models) == ["LR", "RF", "GB", "MLP"]
    assert models["LR"].named_steps["model"].get_params()["max_iter"] == 2000
    sizes = {key: len(ParameterGrid(models[key].named_steps["model"].param_grid)) for key in ("RF", "GB", "MLP")}
    assert sizes == {"RF": 18, "GB": 27, "MLP": 18}
    assert models["RF"].named_steps["model"].cv.n_splits == 5
    assert models["MLP"].named_steps["model"].estimator.learning_rate_init == 0.01
    assert models["GB"].named_steps["model"].estimator.random_state == 5
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x0": rng.integers(0, 4, 80), "x1": rng.integers(0, 4, 80)})
    y = X["x0"].to_numpy()
    lr = models["LR"].fit(X, y)
    assert lr.score(X, y) == 1.0 and lr.classes_.tolist() == [0, 1, 2, 3]


def test_paper_one_hot_drops_the_first_level_and_ignores_new_ones():
    encoder = PaperOneHot().fit(pd.DataFrame({"x0": [2, 0, 1, 0], "x1": ["b", "a", "a", "c"]}))
    out = encoder.transform(pd.DataFrame({"x0": [0, 2, 9], "x1": ["c", "z", "b"]}))
    assert out.tolist() == [[0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]


def test_transformer_without_validation_split_keeps_the_last_epoch():
    X, y = table()
    model = PEERS["ft-transformer"].make({**FAST["ft-transformer"], "validation_fraction": 0.0}, seed=0).fit(X, y)
    record = model.model_.record_
    assert len(record.train_loss) == 3 and record.validation_loss == [] and record.best_epoch == 3


@pytest.mark.parametrize("setting", ["patience", "batch_size", "max_epochs"])
def test_training_settings_must_be_positive_ints(setting):
    with pytest.raises(ValueError, match=f"{setting} must be a positive int, got 0"):
        TrainingSettings(lr=1e-3, weight_decay=0.0, **{setting: 0})
    with pytest.raises(ValueError, match=f"{setting} must be a positive int, got 2.0"):
        TrainingSettings(lr=1e-3, weight_decay=0.0, **{setting: 2.0})


def test_threads_and_budget_must_be_positive_ints():
    X, y = table(n=40)
    with pytest.raises(ValueError, match="n_threads must be a positive int, got 0"):
        PEERS["lr"].make(threads=0).fit(X, y)
    with pytest.raises(ValueError, match="budget must be a positive int, got 2.5"):
        tune("lr", X, y, seed=0, budget=2.5)


def test_tune_scores_each_configuration_on_the_seeded_split():
    X, y = table()
    result = tune("lr", X, y, seed=4, budget=2)
    train, valid = validation_split(y, 0.2, 4)
    assert len(valid) == 40 and set(y[valid]) == set(y)  # stratified: every class held out
    for score in result.validation_scores:
        model = PEERS["lr"].make(score.config, seed=4).fit(X.iloc[train], y[train])
        proba = model.predict_proba(X.iloc[valid])
        assert score.log_loss == log_loss(y[valid], proba, model.classes_)
        assert score.accuracy == np.mean(model.predict(X.iloc[valid]) == y[valid])


def test_peer_registry_is_keyword_only_and_frozen():
    lr = PEERS["lr"]
    with pytest.raises(TypeError):
        Peer("lr", "logistic regression", "scikit-learn", ({},), "sklearn", "one_hot", lr.build)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lr.key = "other"
    copy = Peer(
        key="lr", name=lr.name, package=lr.package, configurations=lr.configurations,
        module=lr.module, encoding=lr.encoding, build=lr.build, regress=lr.regress, space=lr.space,
    )
    assert copy == lr and copy.max_levels is None and PEERS["hgb"].max_levels == 255
    classifier_only = dataclasses.replace(lr, regress=None)
    assert classifier_only.refusal("regression") == "logistic regression is classification-only here"
    assert classifier_only.refusal("classification") is None
    with pytest.raises(ValueError, match="classification-only"):
        classifier_only.make(kind="regression")
    with pytest.raises(ValueError, match="configuration 0"):
        dataclasses.replace(lr, configurations=({"C": 2.0},))


@pytest.mark.parametrize("key", list(PEERS))
def test_every_peer_regresses_in_the_targets_units(key):
    X, y = numbers()
    installed(key)
    model = PEERS[key].make(FAST[key], seed=0, kind="regression").fit(X, y)
    assert isinstance(model, PeerRegressor)
    assert model.target_mean_ == pytest.approx(y.mean()) and model.target_scale_ == pytest.approx(y.std())
    predicted = model.predict(X)
    assert predicted.shape == (200,) and np.isfinite(predicted).all()
    again = PEERS[key].make(FAST[key], seed=0, kind="regression").fit(X, y).predict(X)
    assert np.array_equal(predicted, again)  # one thread, one seed: the same numbers
    r2 = model.score(X, y)
    if key == "majority":
        np.testing.assert_allclose(predicted, y.mean())
    elif key not in NEURAL:
        assert r2 > 0.85, r2
    new = pd.DataFrame({
        "size": [0.5, np.nan], "weight": [np.nan, 0.0], "colour": ["purple", None],
        "shape": pd.Categorical(["hexagon", "round"]),
    })
    assert np.isfinite(model.predict(new)).all()


def test_regression_refuses_labels_and_the_transformers_stop_on_the_squared_error():
    X, y = numbers()
    with pytest.raises(ValueError, match="must be numbers"):
        PEERS["lr"].make(kind="regression").fit(X, np.array(["a"] * 200))
    with pytest.raises(ValueError, match="finite"):
        PEERS["lr"].make(kind="regression").fit(X, np.r_[np.nan, y[1:]])
    model = PEERS["ft-transformer"].make({**FAST["ft-transformer"], "max_epochs": 4}, seed=0, kind="regression")
    record = model.fit(X, y).model_.record_
    assert len(record.validation_loss) == 4 and min(record.validation_loss) < 2  # MSE of a standardised target
    ridge = PEERS["lr"].make({"C": 0.1}, kind="regression").fit(X, y).model_
    assert ridge.alpha == pytest.approx(10.0)  # C read as alpha = 1 / C


def test_grid_tuning_of_a_regressor_chooses_by_validation_r2():
    X, y = numbers()
    result = tune("lr", X, y, seed=0, budget=3, kind="regression")
    scores = result.validation_scores
    assert all(np.isnan(s.accuracy) and 0 < s.r2 <= 1 and s.rmse > 0 for s in scores)
    assert scores[result.index].r2 == max(s.r2 for s in scores)
    assert isinstance(result.model, PeerRegressor) and result.model.n_features_in_ == 4


def test_optuna_tries_the_defaults_first_then_refits_the_best_on_all_rows():
    pytest.importorskip("optuna")
    X, y = table()
    result = tune_optuna("hgb", X, y, seed=0, budget=2)
    scores = result.validation_scores
    assert [s.index for s in scores] == [0, 1]
    assert scores[0].config == {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "min_samples_leaf": 20}
    assert scores[1].config != scores[0].config
    best = min(scores, key=lambda s: s.rank_key())
    assert result.index == best.index and result.config == best.config
    assert result.model.config == result.config and len(result.model.encoding_.columns_) == 4
    # refitted on all 200 rows: the model saw the validation rows too
    assert result.fit_seconds_total == pytest.approx(sum(s.fit_seconds for s in scores) + result.refit_seconds)
    again = tune_optuna("hgb", X, y, seed=0, budget=2)
    assert [s.config for s in again.validation_scores] == [s.config for s in scores]  # TPE seeded
    one = tune_optuna("lr", X, y, seed=0, budget=1)
    assert one.config == {} and len(one.validation_scores) == 1 and np.isnan(one.validation_scores[0].accuracy)


def test_optuna_tunes_our_regressor_through_its_estimator_parameters():
    pytest.importorskip("optuna")
    from wordexperts.tabular import WordExpertsRegressor
    from wordexperts_bench.runs import OURS

    X, y = numbers(n=120)
    spec = OURS["wordexperts-paper"]
    result = tune_optuna(spec, X, y, seed=0, budget=2, kind="regression")
    assert result.validation_scores[0].config == {"lr": 1e-3, "epochs": 200, "dropout": 0.1, "n_bins": 10}
    assert isinstance(result.model, WordExpertsRegressor) and result.model.preset == "paper"
    assert result.model.lr == result.config["lr"] and all(np.isfinite(s.r2) for s in result.validation_scores)


def test_every_search_space_starts_at_the_library_defaults():
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    from wordexperts_bench.peers.space import defaults

    assert all(PEERS[key].space for key in PEERS if key != "majority") and PEERS["majority"].space == ()
    for key, estimator in [("lr", LogisticRegression()), ("hgb", HistGradientBoostingClassifier()),
                           ("mlp", MLPClassifier())]:  # fmt: skip
        params = estimator.get_params()
        assert all(params[name] == value for name, value in defaults(PEERS[key].space, "classification").items()), key
    assert defaults(PEERS["rf"].space, "regression")["max_features"] == RandomForestRegressor().max_features
    assert defaults(PEERS["realmlp"].space, "regression")["lr"] == 0.2  # pytabkit's regression default
    assert defaults(PEERS["realmlp"].space, "classification")["lr"] == 0.04


def test_pytabkit_peers_are_reported_missing_without_their_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytabkit", None)
    for key in ("realmlp", "tabm"):
        reason = PEERS[key].available()
        assert reason is not None and "pip install pytabkit" in reason
        with pytest.raises(ImportError, match="pip install pytabkit"):
            PEERS[key].make().fit(*table(n=20))


def test_pytabkit_peers_leave_the_global_torch_rng_alone():
    installed("realmlp")
    X, y = table()
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    fitted("realmlp", X, y)
    assert torch.rand(1) == before


@pytest.mark.parametrize("key", ["realmlp", "tabm"])
def test_pytabkit_peers_get_the_threads_seed_and_cpu(key):
    X, y = table()
    estimator = fitted(key, X, y, seed=7, threads=2).model_.estimator
    assert (estimator.n_threads, estimator.random_state, estimator.device) == (2, 7, "cpu")
    assert torch.get_num_threads() == 1  # pytabkit gives the thread count back
