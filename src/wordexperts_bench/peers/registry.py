"""The peers' registry (:data:`PEERS`) and the two estimators that front them all.

A :class:`Peer` names a library (its pip package, what to import), its configurations (the
package docstring's grids: the library's defaults first), its Optuna search space
(:mod:`.space`) and two builders, one for classification and one for regression, that make
the library's estimator from a configuration, a seed, a thread count and the fitted
:class:`~.encoding.PeerEncoding`. :class:`PeerClassifier` is the scikit-learn classifier
around it: it fits the encoding, hands the peer's view of the table to the library's
estimator and lines its probabilities up with the labels. :class:`PeerRegressor` does the
same for a numeric target, which it standardises with the training mean and standard
deviation before the library sees it (and maps the predictions back): tree ensembles do not
care, the neural networks train better. Every peer regresses (majority: the training mean;
lr: ``Ridge`` on the same one-hot view, ``C`` read as ``alpha = 1 / C``).

Threads: every library is limited to ``threads`` (``n_jobs``, ``thread_count``, torch), and
every fit and prediction runs under ``threadpoolctl.threadpool_limits(threads)`` (BLAS, and
OpenMP for hgb). With ``threads=1`` a peer is deterministic for a given seed.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from threadpoolctl import threadpool_limits

from wordexperts.checks import check_positive_int, is_int
from wordexperts.errors import MissingExtraError
from wordexperts.tabular.encoding import as_frame, match_columns

from .encoding import PeerEncoding
from .space import Dimension
from .transformers import FTTransformerPeer, TabTransformerPeer, TransformerClassifier

HGB_MAX_LEVELS = 255  # HistGradientBoosting's limit on a categorical column's levels
NO_CONFIG: Mapping[str, Any] = MappingProxyType({})


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the warnings that repeat on every fit and say nothing new.

    sklearn's ConvergenceWarning: MLPClassifier's defaults (200 adam epochs) end most fits on
    it, and tuning would print it once a configuration. pytabkit's (PyTorch Lightning's
    deprecation notes, its own notes on the target's dtype) repeat on every fit as well.
    Errors are never touched.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", module=r"(pytorch_)?lightning.*|pytabkit.*|torchmetrics.*")
        warnings.filterwarnings("ignore", message=r".*(LeafSpec|TreeSpec|num_workers|does not have many workers).*")
        yield


def _build_majority(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.dummy import DummyClassifier

    # "prior": the majority class as the prediction, the training frequencies as probabilities (finite log-loss)
    return DummyClassifier(**{"strategy": "prior", "random_state": seed, **config})


def _build_lr(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"max_iter": 1000, "random_state": seed, **config})


def _build_rf(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**{"n_jobs": threads, "random_state": seed, **config})


def _build_hgb(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**{"categorical_features": "from_dtype", "random_state": seed, **config})


def _build_xgboost(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(
        **{"enable_categorical": True, "tree_method": "hist", "n_jobs": threads, "random_state": seed, **config}
    )


def _build_lightgbm(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**{"n_jobs": threads, "random_state": seed, "verbose": -1, **config})


def _build_catboost(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from catboost import CatBoostClassifier

    return CatBoostClassifier(
        **{
            "cat_features": encoding.categorical_positions(), "thread_count": threads, "random_seed": seed,
            "verbose": False, "allow_writing_files": False, **config,
        }
    )


def _build_mlp(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(**{"random_state": seed, **config})


def _build_ft_transformer(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    return FTTransformerPeer(config, seed=seed, threads=threads)


def _build_tab_transformer(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    return TabTransformerPeer(config, seed=seed, threads=threads)


class PyTabKitModel:
    """A pytabkit estimator, fitted and used with the caller's torch RNG left as it was and its notes silenced.

    pytabkit seeds torch from ``random_state`` and limits torch to ``n_threads`` itself (and
    restores the thread count); this wrapper forks torch's global RNG around fit and predict,
    so a benchmark's other models draw the same numbers whether or not a pytabkit peer ran.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> PyTabKitModel:
        import torch

        with torch.random.fork_rng(devices=[]), _quiet():
            self.estimator.fit(X, y)
        self.classes_ = getattr(self.estimator, "classes_", None)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        import torch

        with torch.random.fork_rng(devices=[]), _quiet():
            return np.asarray(self.estimator.predict_proba(X), dtype=np.float64)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import torch

        with torch.random.fork_rng(devices=[]), _quiet():
            return np.asarray(self.estimator.predict(X), dtype=np.float64)


def _build_pytabkit(name: str, config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    import pytabkit

    estimator = getattr(pytabkit, name)(**{"random_state": seed, "n_threads": threads, "device": "cpu", **config})
    return PyTabKitModel(estimator)


# ---- the regressors: the same libraries, the same fixed settings ----


def _regress_majority(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.dummy import DummyRegressor

    return DummyRegressor(**{"strategy": "mean", **config})  # the training mean, whatever the row


def _regress_lr(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.linear_model import Ridge

    config = dict(config)
    if "C" in config:  # the classifier's inverse regularisation, read as Ridge's alpha
        config["alpha"] = 1.0 / config.pop("C")
    return Ridge(**{"random_state": seed, **config})


def _regress_rf(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**{"n_jobs": threads, "random_state": seed, **config})


def _regress_hgb(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(**{"categorical_features": "from_dtype", "random_state": seed, **config})


def _regress_xgboost(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from xgboost import XGBRegressor

    return XGBRegressor(
        **{"enable_categorical": True, "tree_method": "hist", "n_jobs": threads, "random_state": seed, **config}
    )


def _regress_lightgbm(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from lightgbm import LGBMRegressor

    return LGBMRegressor(**{"n_jobs": threads, "random_state": seed, "verbose": -1, **config})


def _regress_catboost(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from catboost import CatBoostRegressor

    return CatBoostRegressor(
        **{
            "cat_features": encoding.categorical_positions(), "thread_count": threads, "random_seed": seed,
            "verbose": False, "allow_writing_files": False, **config,
        }
    )


def _regress_mlp(config: dict, seed: int, threads: int, encoding: PeerEncoding) -> Any:
    from sklearn.neural_network import MLPRegressor

    return MLPRegressor(**{"random_state": seed, **config})


@dataclass(frozen=True, kw_only=True)
class Peer:
    """One peer library: where it comes from, its configurations, and how to make it.

    ``configurations[0]`` is the library's defaults (``{}``), then the tuning grid in a
    fixed order (package docstring); ``space`` is the Optuna search space (:mod:`.space`).
    ``make`` returns an unfitted :class:`PeerClassifier`, or with ``kind="regression"`` a
    :class:`PeerRegressor` (``regress`` builds the library's regressor; ``None``: the peer
    classifies only, and :meth:`refusal` says so).
    """

    key: str
    name: str
    package: str  # the pip distribution, e.g. "xgboost-cpu"
    configurations: tuple[Mapping[str, Any], ...]
    module: str = field(repr=False)  # what to import
    encoding: str = field(repr=False)  # PeerEncoding.view kind
    build: Callable[[dict, int, int, PeerEncoding], Any] = field(repr=False)
    max_levels: int | None = field(default=None, repr=False)
    regress: Callable[[dict, int, int, PeerEncoding], Any] | None = field(default=None, repr=False)
    space: tuple[Dimension, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.configurations or dict(self.configurations[0]):
            raise ValueError(f"{self.key}: configuration 0 must be the library defaults, {{}}")

    def available(self) -> str | None:
        """``None`` if the library imports, else a one-line reason naming the pip package."""
        try:
            with warnings.catch_warnings():  # pytabkit's import warns of torch.jit.script's deprecation
                warnings.simplefilter("ignore", DeprecationWarning)
                importlib.import_module(self.module)
        except ImportError as error:
            return f"{self.name} needs the pip package {self.package!r} (pip install {self.package}): {error}"
        return None

    def refusal(self, kind: str) -> str | None:
        """``None`` if this peer handles a ``kind`` of task, else why not."""
        if kind == "regression" and self.regress is None:
            return f"{self.name} is classification-only here"
        return None

    def version(self) -> str | None:
        """The installed version of ``package``, or ``None``."""
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def make(
        self,
        config: Mapping[str, Any] = NO_CONFIG,
        *,
        seed: int = 0,
        threads: int = 1,
        categorical: Sequence[str] | None = None,
        kind: str = "classification",
    ) -> PeerClassifier | PeerRegressor:
        """An unfitted classifier (or regressor) with ``config`` laid over the library defaults."""
        reason = self.refusal(kind)
        if reason is not None:
            raise ValueError(reason)
        estimator = PeerRegressor if kind == "regression" else PeerClassifier
        return estimator(peer=self.key, config=dict(config), random_state=seed, n_threads=threads, categorical=categorical)


def _grid(outer: Sequence[Mapping[str, Any]], inner: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Every ``outer`` setting with every ``inner`` one, ``outer`` slowest; ``{}`` entries are defaults."""
    return tuple({**o, **i} for o in outer for i in inner)


def _rate(default: float, low: float, high: float, **kwargs: Any) -> Dimension:
    return Dimension(name=kwargs.pop("name", "learning_rate"), low=low, high=high, log=True, default=default, **kwargs)


def _count(name: str, default: int, low: int, high: int, log: bool = True) -> Dimension:
    return Dimension(name=name, low=low, high=high, log=log, integer=True, default=default)


PEERS: Mapping[str, Peer] = MappingProxyType(
    {
        peer.key: peer
        for peer in (
            Peer(
                key="majority", name="majority class", package="scikit-learn",
                configurations=({},),
                module="sklearn", encoding="one_hot", build=_build_majority, regress=_regress_majority,
            ),
            Peer(
                key="lr", name="logistic regression", package="scikit-learn",
                configurations=tuple({} if c == 1.0 else {"C": c} for c in (1.0, 0.1, 10.0, 0.01, 100.0, 0.001)),
                module="sklearn", encoding="one_hot", build=_build_lr, regress=_regress_lr,
                space=(_rate(1.0, 1e-3, 1e2, name="C"),),
            ),
            Peer(
                key="rf", name="random forest", package="scikit-learn",
                configurations=_grid(
                    [{}, {"min_samples_leaf": 3}, {"min_samples_leaf": 10}], [{}, {"max_features": 0.5}]
                ),
                module="sklearn", encoding="one_hot", build=_build_rf, regress=_regress_rf,
                space=(
                    _count("min_samples_leaf", 1, 1, 30),
                    Dimension(name="max_features", choices=("sqrt", 0.33, 0.5, 1.0), default="sqrt", regression_default=1.0),
                ),
            ),
            Peer(
                key="hgb", name="HistGradientBoosting", package="scikit-learn",
                configurations=_grid(
                    [{}, {"learning_rate": 0.03, "max_iter": 300}],
                    [{}, {"max_leaf_nodes": 7}, {"max_leaf_nodes": 63}],
                ),
                module="sklearn", encoding="category", build=_build_hgb, max_levels=HGB_MAX_LEVELS,
                regress=_regress_hgb,
                space=(
                    _rate(0.1, 0.01, 0.3), _count("max_iter", 100, 50, 500), _count("max_leaf_nodes", 31, 7, 127),
                    _count("min_samples_leaf", 20, 5, 100),
                ),
            ),
            Peer(
                key="xgboost", name="XGBoost", package="xgboost-cpu",
                configurations=_grid(
                    [{}, {"learning_rate": 0.1, "n_estimators": 300}], [{}, {"max_depth": 3}, {"max_depth": 8}]
                ),
                module="xgboost", encoding="category", build=_build_xgboost, regress=_regress_xgboost,
                space=(
                    _rate(0.3, 0.01, 0.3), _count("n_estimators", 100, 50, 500), _count("max_depth", 6, 2, 10, log=False),
                    _rate(1.0, 1.0, 20.0, name="min_child_weight"),
                ),
            ),
            Peer(
                key="lightgbm", name="LightGBM", package="lightgbm",
                configurations=_grid(
                    [{}, {"learning_rate": 0.03, "n_estimators": 300}], [{}, {"num_leaves": 7}, {"num_leaves": 63}]
                ),
                module="lightgbm", encoding="category", build=_build_lightgbm, regress=_regress_lightgbm,
                space=(
                    _rate(0.1, 0.01, 0.3), _count("n_estimators", 100, 50, 500), _count("num_leaves", 31, 7, 127),
                    _count("min_child_samples", 20, 5, 100),
                ),
            ),
            Peer(
                key="catboost", name="CatBoost", package="catboost",
                configurations=_grid([{}, {"iterations": 300, "learning_rate": 0.1}], [{}, {"depth": 4}, {"depth": 8}]),
                module="catboost", encoding="text", build=_build_catboost, regress=_regress_catboost,
                space=(_count("depth", 6, 4, 10, log=False), _rate(3.0, 1.0, 10.0, name="l2_leaf_reg")),
            ),
            Peer(
                key="mlp", name="MLP", package="scikit-learn",
                configurations=_grid(
                    [{}, {"hidden_layer_sizes": (100, 100)}], [{}, {"alpha": 1e-2}, {"alpha": 1.0}]
                ),
                module="sklearn", encoding="one_hot", build=_build_mlp, regress=_regress_mlp,
                space=(_rate(1e-4, 1e-5, 1.0, name="alpha"), _rate(1e-3, 1e-4, 1e-2, name="learning_rate_init")),
            ),
            Peer(
                key="ft-transformer", name="FT-Transformer", package="rtdl-revisiting-models",
                configurations=_grid([{}, {"lr": 3e-4}], [{}, {"n_blocks": 1}, {"n_blocks": 2}]),
                module="rtdl_revisiting_models", encoding="codes", build=_build_ft_transformer,
                regress=_build_ft_transformer,
                space=(
                    _rate(1e-4, 3e-5, 1e-3, name="lr"), _count("n_blocks", 3, 1, 4, log=False),
                    _rate(1e-5, 1e-6, 1e-3, name="weight_decay"),
                ),
            ),
            Peer(
                key="tab-transformer", name="TabTransformer", package="tab-transformer-pytorch",
                configurations=_grid([{}, {"lr": 3e-4}], [{}, {"depth": 1}, {"depth": 3}]),
                module="tab_transformer_pytorch", encoding="codes", build=_build_tab_transformer,
                regress=_build_tab_transformer,
                space=(
                    _rate(1e-3, 1e-4, 3e-3, name="lr"), _count("depth", 6, 1, 6, log=False),
                    _rate(0.01, 1e-4, 0.1, name="weight_decay"),
                ),
            ),
            Peer(
                key="realmlp", name="RealMLP (pytabkit, tuned defaults)", package="pytabkit",
                configurations=_grid([{}, {"lr": 0.01}], [{}, {"p_drop": 0.0}, {"p_drop": 0.3}]),
                module="pytabkit", encoding="imputed",
                build=functools.partial(_build_pytabkit, "RealMLP_TD_Classifier"),
                regress=functools.partial(_build_pytabkit, "RealMLP_TD_Regressor"),
                space=(
                    _rate(0.04, 0.005, 0.3, name="lr", regression_default=0.2),
                    Dimension(name="p_drop", low=0.0, high=0.4, default=0.15),
                    _rate(0.02, 1e-4, 0.1, name="wd"),
                ),
            ),
            Peer(
                key="tabm", name="TabM (pytabkit, tuned defaults)", package="pytabkit",
                configurations=_grid([{}, {"lr": 5e-4}], [{}, {"d_block": 128}, {"dropout": 0.3}]),
                module="pytabkit", encoding="imputed",
                build=functools.partial(_build_pytabkit, "TabM_D_Classifier"),
                regress=functools.partial(_build_pytabkit, "TabM_D_Regressor"),
                space=(
                    _rate(2e-3, 3e-4, 5e-3, name="lr"), Dimension(name="dropout", low=0.0, high=0.4, default=0.1),
                    Dimension(name="d_block", choices=(128, 256, 512), default=512),
                ),
            ),
        )
    }
)
"""The peers, in report order: ``{key: Peer}``."""

SIMULATION_CONFIGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "lr": MappingProxyType({"max_iter": 2000}),
        "hgb": MappingProxyType({}),
        "xgboost": MappingProxyType({"n_estimators": 200, "max_depth": 4}),
        "lightgbm": MappingProxyType({"n_estimators": 200}),
        "catboost": MappingProxyType({"iterations": 300}),
    }
)
"""The fixed settings of paper.md §2's run of the gradient-boosting libraries (and LR) on the
simulation, for ``PEERS[key].make(SIMULATION_CONFIGS[key])``; pass ``categorical=`` the bin
columns so that every library reads them as categorical (CatBoost natively, as there)."""


def as_peer(peer: Peer | str) -> Peer:
    """``peer`` itself, or the registry entry of that key; a ValueError lists the peers."""
    if isinstance(peer, Peer):
        return peer
    if peer not in PEERS:
        raise ValueError(f"unknown peer {peer!r}; the peers are {list(PEERS)}")
    return PEERS[peer]


class _PeerEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, checks, the encoding, the column rule."""

    def __init__(
        self,
        peer: str = "lr",
        config: Mapping[str, Any] | None = None,
        *,
        random_state: int = 0,
        n_threads: int = 1,
        categorical: Sequence[str] | None = None,
    ) -> None:
        self.peer = peer
        self.config = config
        self.random_state = random_state
        self.n_threads = n_threads
        self.categorical = categorical

    def _start(self, X: Any, y: Any) -> tuple[Peer, pd.DataFrame, np.ndarray]:
        """Check everything, fit the encoding; the peer, the table and ``y`` as 1-D."""
        peer = as_peer(self.peer)
        reason = peer.available()
        if reason is not None:
            raise MissingExtraError(reason)
        if not is_int(self.random_state):
            raise TypeError(f"random_state must be an int seed, got {self.random_state!r}")
        check_positive_int("n_threads", self.n_threads)
        frame, named = as_frame(X, what="X", ensure_2d=True)
        y = column_or_1d(np.asarray(y), warn=True)
        if len(y) != len(frame):
            raise ValueError(f"X has {len(frame)} rows but y has {len(y)}")
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.names_given_ = named
        self.encoding_ = PeerEncoding(categorical=self.categorical, max_levels=peer.max_levels).fit(frame)
        return peer, frame, y

    def _frame(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "encoding_")
        frame, named = as_frame(X, what="X", ensure_2d=True)
        columns = list(self.feature_names_in_)
        return match_columns(frame, named=named, columns=columns, names_at_fit=self.names_given_, fitted_by=type(self).__name__)


class PeerClassifier(ClassifierMixin, _PeerEstimator):
    """A peer library's classifier over a pandas table, behind scikit-learn's interface.

    Parameters:
        peer: a key of :data:`PEERS`.
        config: settings laid over the library's defaults (see the package docstring).
        random_state: the seed (an int).
        n_threads: threads for the library, torch and BLAS / OpenMP.
        categorical: columns to treat as categorical even if numeric.

    Attributes (after fit):
        classes_: the sorted labels; ``predict_proba``'s columns follow them.
        encoding_: the fitted :class:`PeerEncoding`.
        model_: the library's fitted estimator (``None`` when training saw one class only:
            then every row is that class, probability 1).
        fit_seconds_: wall time of the library's fit.
        n_features_in_, feature_names_in_; names_given_: whether X named its columns at fit.

    Columns at predict follow the library's one rule (:func:`~wordexperts.tabular.encoding.match_columns`):
    the fitted names in the fitted order (errors name what is missing, unexpected or moved).

    Shape:
        fit: X (n_rows, n_columns) DataFrame (arrays become columns ``x0 ..``), y (n_rows,).
        predict_proba: X (n_rows', n_columns) -> float64 (n_rows', n_classes), rows sum to 1.
    """

    def fit(self, X: Any, y: Any) -> PeerClassifier:
        peer, frame, y = self._start(X, y)
        check_classification_targets(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        seed, threads = int(self.random_state), int(self.n_threads)
        self.model_ = None
        started = time.perf_counter()
        if len(self.classes_) > 1:
            model = peer.build(dict(self.config or {}), seed, threads, self.encoding_)
            view = self.encoding_.view(peer.encoding, frame)
            with threadpool_limits(limits=threads), _quiet():
                if isinstance(model, TransformerClassifier):
                    model.fit(view, y_codes, len(self.classes_))
                else:
                    model.fit(view, y_codes)
            self.model_ = model
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        frame = self._frame(X)
        n_classes = len(self.classes_)
        if self.model_ is None:
            return np.ones((len(frame), 1))
        view = self.encoding_.view(as_peer(self.peer).encoding, frame)
        with threadpool_limits(limits=int(self.n_threads)), _quiet():
            proba = np.asarray(self.model_.predict_proba(view), dtype=np.float64)
        known = getattr(self.model_, "classes_", None)  # the library's order of the codes 0 .. K-1
        if known is not None and not np.array_equal(np.asarray(known), np.arange(n_classes)):
            aligned = np.zeros((len(frame), n_classes))
            aligned[:, np.asarray(known, dtype=np.int64)] = proba
            proba = aligned
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class PeerRegressor(RegressorMixin, _PeerEstimator):
    """A peer library's regressor over a pandas table, behind scikit-learn's interface.

    Parameters as :class:`PeerClassifier`. The library fits the target standardised with the
    training mean and standard deviation (a constant target: scale 1); ``predict`` maps its
    output back to the target's units.

    Attributes (after fit):
        target_mean_, target_scale_: the standardisation.
        encoding_, model_, fit_seconds_, n_features_in_, feature_names_in_, names_given_:
            as :class:`PeerClassifier` (``model_`` is never ``None``).

    Shape:
        fit: X (n_rows, n_columns), y (n_rows,) numbers, finite.
        predict: X (n_rows', n_columns) -> float64 (n_rows',).

    Examples:
        >>> X = pd.DataFrame({"colour": ["red", "blue"] * 20, "size": [float(i % 7) for i in range(40)]})
        >>> y = [10.0 * (c == "red") + s for c, s in zip(X["colour"], X["size"])]
        >>> model = PEERS["lr"].make(seed=0, kind="regression").fit(X, y)
        >>> round(model.score(X, y), 2)
        1.0
    """

    def fit(self, X: Any, y: Any) -> PeerRegressor:
        peer, frame, y = self._start(X, y)
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"a regression target must be numbers, got dtype {y.dtype}") from error
        if not np.isfinite(y).all():
            raise ValueError("a regression target must be finite (no NaN or infinity)")
        self.target_mean_ = float(y.mean())
        scale = float(y.std())
        self.target_scale_ = scale if np.isfinite(scale) and scale > 0 else 1.0
        z = (y - self.target_mean_) / self.target_scale_
        seed, threads = int(self.random_state), int(self.n_threads)
        started = time.perf_counter()
        model = peer.regress(dict(self.config or {}), seed, threads, self.encoding_)
        view = self.encoding_.view(peer.encoding, frame)
        with threadpool_limits(limits=threads), _quiet():
            if isinstance(model, TransformerClassifier):
                model.fit(view, z, 1, regression=True)
            else:
                model.fit(view, z)
        self.model_ = model
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def predict(self, X: Any) -> np.ndarray:
        frame = self._frame(X)
        view = self.encoding_.view(as_peer(self.peer).encoding, frame)
        with threadpool_limits(limits=int(self.n_threads)), _quiet():
            z = np.asarray(self.model_.predict(view), dtype=np.float64).reshape(len(frame))
        return z * self.target_scale_ + self.target_mean_
