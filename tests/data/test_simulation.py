import numpy as np
import pandas as pd
import pytest

from wordexperts.data import CONFIGURATIONS, PAPER_SEEDS, SimulationConfig, simulate

SEED = PAPER_SEEDS[0]


def test_paper_seeds_are_numpys_draw_from_2023():
    state = np.random.get_state()
    try:
        np.random.seed(2023)
        expected = np.random.randint(10000, size=20)
    finally:
        np.random.set_state(state)
    assert PAPER_SEEDS == tuple(int(s) for s in expected)
    assert all(type(s) is int for s in PAPER_SEEDS)


def test_configurations_are_the_papers_twelve_in_order():
    assert len(CONFIGURATIONS) == 12 == len(set(CONFIGURATIONS))
    assert CONFIGURATIONS[0] == (1, 0.1, 0.0) and CONFIGURATIONS[-1] == (5, 0.9, 1.5)
    assert CONFIGURATIONS[9] == (5, 0.9, 0.0)


def test_config_names_match_the_authors_files():
    names = [SimulationConfig(num_core=k, corr=c, x_noise=s).name for k, c, s in CONFIGURATIONS]
    assert names[:3] == ["1_0.1_0_True_10", "1_0.1_0.5_True_10", "1_0.1_1.5_True_10"]
    assert SimulationConfig(num_core=5, corr=0.9, x_noise=0, shift=False).name == "5_0.9_0_False_10"
    config = SimulationConfig(num_core=5, corr=0.9, x_noise=0)
    assert config.key == (5, 0.9, 0.0) and config.columns == ["x0", "x1", "x2", "x3", "x4", "y"]
    assert (config.n, config.d, config.y_noise, config.n_cat) == (2000, 5, 2.0, 10)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_core": 6, "corr": 0.5, "x_noise": 0}, ValueError, "num_core=6 exceeds"),
        ({"num_core": 0, "corr": 0.5, "x_noise": 0}, ValueError, "num_core"),
        ({"num_core": 1, "corr": 1.5, "x_noise": 0}, ValueError, "corr must be in"),
        ({"num_core": 1, "corr": 0.5, "x_noise": -1}, ValueError, "x_noise"),
        ({"num_core": 1, "corr": 0.5, "x_noise": 0, "n_cat": 1}, ValueError, "n_cat"),
        ({"num_core": 1, "corr": 0.5, "x_noise": 0, "shift": "yes"}, TypeError, "shift"),
    ],
)
def test_config_rejects_bad_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        SimulationConfig(**kwargs)


def test_simulate_rejects_bad_arguments():
    config = SimulationConfig(num_core=1, corr=0.1, x_noise=0)
    with pytest.raises(TypeError, match="not both"):
        simulate(config, seed=1, corr=0.2)
    with pytest.raises(ValueError, match="binning"):
        simulate(config, seed=1, binning="train")
    with pytest.raises(ValueError, match="seed"):
        simulate(config, seed=-1)


@pytest.mark.parametrize("binning", ["pooled", "none"])
def test_shapes_and_dtypes(binning):
    sim = simulate(num_core=1, corr=0.1, x_noise=0.5, seed=SEED, binning=binning)
    for frame in (sim.train, sim.test):
        assert frame.shape == (2000, 6)
        assert list(frame.columns) == ["x0", "x1", "x2", "x3", "x4", "y"]
        assert list(frame.index) == list(range(2000))
        assert (frame.dtypes == (np.int64 if binning == "pooled" else np.float64)).all()
    if binning == "pooled":
        values = np.concatenate([sim.train.to_numpy(), sim.test.to_numpy()])
        assert values.min() == 0 and values.max() == 9
    assert sim.coef.shape == (1,) and sim.seed == SEED and sim.binning == binning


def test_same_seed_same_data_and_other_seed_other_data():
    config = SimulationConfig(num_core=5, corr=0.9, x_noise=0.5)
    first, again, other = (simulate(config, seed=s, binning="none") for s in (SEED, SEED, PAPER_SEEDS[1]))
    pd.testing.assert_frame_equal(first.train, again.train)
    pd.testing.assert_frame_equal(first.test, again.test)
    assert not np.allclose(first.train.to_numpy(), other.train.to_numpy())
    assert not np.allclose(first.test.to_numpy(), other.test.to_numpy())
    state = np.random.get_state()[1].copy()
    simulate(config, seed=SEED)
    assert (np.random.get_state()[1] == state).all()  # numpy's global generator is left alone


def test_draw_order_matches_the_authors():
    sim = simulate(num_core=5, corr=0.9, x_noise=0.5, seed=SEED, binning="none")
    state = np.random.get_state()
    try:
        np.random.seed(SEED)  # the authors' way: global draws after np.random.seed
        for _ in range(2):
            np.random.multivariate_normal(np.zeros(5), np.eye(5), size=2000)  # x_true train, test
        np.random.normal(size=[2000, 5]), np.random.normal(size=[2000, 5])  # x noise train, test
        coef = np.random.uniform(size=5) * 10
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(sim.coef, coef)
    # x_noise scales draws that are made anyway: the other draws do not move with it.
    quiet = simulate(num_core=5, corr=0.9, x_noise=0, seed=SEED, binning="none")
    np.testing.assert_array_equal(quiet.coef, sim.coef)
    pd.testing.assert_series_equal(quiet.train["y"], sim.train["y"])
    pd.testing.assert_series_equal(quiet.test["y"], sim.test["y"])


def test_without_noise_y_is_linear_in_the_core_features():
    sim = simulate(num_core=5, corr=0.1, x_noise=0, seed=SEED, binning="none")
    x, y = sim.train[["x0", "x1", "x2", "x3", "x4"]].to_numpy(), sim.train["y"].to_numpy()
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    assert np.abs(coef - sim.coef).max() < 0.15  # y_noise 2 over 2000 rows
    assert abs(np.std(y - x @ sim.coef) - 2.0) < 0.1


@pytest.mark.parametrize("corr", [0.1, 0.9])
def test_correlations_flip_between_train_and_test(corr):
    sim = simulate(num_core=1, corr=corr, x_noise=0, seed=SEED, binning="none")
    sign = np.array([-1, -1, 1, 1, 1])
    expected_sign = np.outer(sign, sign)[~np.eye(5, dtype=bool)]
    for frame, target in ((sim.train, corr), (sim.test, 1 - corr)):
        r = frame[["x0", "x1", "x2", "x3", "x4"]].corr().to_numpy()[~np.eye(5, dtype=bool)]  # (20,)
        assert np.abs(r * expected_sign - target).max() < 0.06
    assert (np.sign(sim.train.corr().loc["x0", "x2"]), np.sign(sim.train.corr().loc["x2", "x3"])) == (-1, 1)
    without_shift = simulate(num_core=1, corr=corr, x_noise=0, seed=SEED, binning="none", shift=False)
    r = without_shift.test[["x3", "x4"]].corr().iloc[0, 1]
    assert abs(r - corr) < 0.06


def test_pooled_bins_are_qcut_of_train_and_test_together():
    config = SimulationConfig(num_core=5, corr=0.9, x_noise=0)
    binned = simulate(config, seed=SEED)
    raw = simulate(config, seed=SEED, binning="none")
    pooled = pd.concat([binned.train, binned.test], ignore_index=True)  # (4000, 6)
    raw_pooled = pd.concat([raw.train, raw.test], ignore_index=True)
    for column in config.columns:
        expected = pd.qcut(raw_pooled[column], 10, labels=False)
        np.testing.assert_array_equal(pooled[column].to_numpy(), expected.to_numpy())
        counts = pooled[column].value_counts()
        assert sorted(counts.index) == list(range(10)) and counts.min() >= 398 and counts.max() <= 402
    # The leak: bins equal on the pool are unequal on train alone. With x0, x1 sign-flipped, y's
    # terms partly cancel where the x's are strongly correlated (train), so y spreads less there.
    train_counts = binned.train["y"].value_counts()
    assert train_counts[0] + train_counts[9] < 200  # 400 if the bins were train's own
