"""Peer tabular classifiers: the well-kept libraries our model is benchmarked against.

Every peer is a :class:`Peer` in :data:`PEERS`; ``PEERS[key].make(config, seed=, threads=)``
returns an unfitted :class:`PeerClassifier`, a scikit-learn classifier over a pandas table
(numeric columns mixed with ``object`` / ``str`` / ``category`` / ``bool`` ones, NaN allowed)
and 1-D labels (str or int). :func:`tune` is the fair-tuning protocol, :func:`paper_baselines`
the paper's four baselines with their grids (paper.md §2).

What each peer sees of the table (:class:`PeerEncoding`, fitted on training rows only):

==================  ======================================================================
encoding            used by; categorical columns / numeric columns
==================  ======================================================================
``one_hot``         majority, lr, rf, mlp: one 0/1 column per training level (unknown or
                    missing: all zeros) / median-imputed, standardised with training
                    statistics, plus a 0/1 missing indicator for each column that had NaN
``category``        hgb, xgboost, lightgbm: pandas ``category`` dtype with the training
                    levels (unknown becomes missing), the library's native categorical
                    splits / raw floats, NaN left to the library
``text``            catboost: strings, missing as ``"<missing>"`` (``cat_features``; unknown
                    strings pass through, CatBoost scores unseen values itself) / raw floats
``codes``           ft-transformer, tab-transformer: integer codes, 0 for unknown or missing,
                    1..k for the training levels (an embedding of k + 1 rows) / as one_hot
==================  ======================================================================

Column kinds follow :class:`~wordexperts.tabular.encoding.TableEncoder`: ``bool``,
``category``, object and string columns are categorical; int and float columns are numeric
unless listed in ``categorical=`` (e.g. the simulation's bins 0..9). Levels are compared as
text (``1``, ``1.0`` and ``"1"`` are one level). hgb keeps a column's 255 most frequent
levels (its limit); the rest count as missing.

The grids. Configuration 0 is the library's defaults (``{}``), then the grid in this fixed
order, so ``tune(budget=k)`` tries the first ``k`` and budgets 1..6 mean the same for every
peer. Every configuration also gets the fixed settings (seed, threads, quiet logs):

===============  =========================================  ====================================================
peer             fixed settings                             configurations 0..5 (changes from library defaults)
===============  =========================================  ====================================================
majority         ``strategy="prior"``                       0 only
lr               ``max_iter=1000`` (lbfgs stops at 100)     C = 1, 0.1, 10, 0.01, 100, 0.001
rf               ``n_jobs``, ``random_state``               (max_features, min_samples_leaf) = (sqrt, 1),
                                                            (0.5, 1), (sqrt, 3), (0.5, 3), (sqrt, 10), (0.5, 10)
hgb              ``random_state``                           (learning_rate, max_iter) in (0.1, 100), (0.03, 300)
                                                            x max_leaf_nodes 31, 7, 63
xgboost          ``enable_categorical``, ``n_jobs``         (learning_rate, n_estimators) in (0.3, 100),
                                                            (0.1, 300) x max_depth 6, 3, 8
lightgbm         ``n_jobs``, ``verbose=-1``                 (learning_rate, n_estimators) in (0.1, 100),
                                                            (0.03, 300) x num_leaves 31, 7, 63
catboost         ``cat_features``, ``thread_count``,        (iterations, learning_rate) in (1000, auto),
                 ``verbose=False``, no files                (300, 0.1) x depth 6, 4, 8
mlp              ``random_state`` (hidden ReLU, adam)       hidden_layer_sizes in (100,), (100, 100)
                                                            x alpha 1e-4, 1e-2, 1
ft-transformer   AdamW, batch 128, <= 200 epochs,           lr in 1e-4, 3e-4 x n_blocks 3, 1, 2 (width and
                 early stopping (below)                     dropouts: rtdl's defaults for that depth:
                                                            d_block 192 / 96 / 128, ...)
tab-transformer  as ft-transformer                          lr in 1e-3, 3e-4 x depth 6, 1, 3
===============  =========================================  ====================================================

"(a, b) in P, Q x c in u, v, w" lists the outer axis slowest: P-u, P-v, P-w, Q-u, Q-v, Q-w.
Tree grids pair a smaller learning rate with more trees; the library defaults come first.

The two transformers share one training loop (:func:`train_transformer`): AdamW, batches of
128 rows, at most 200 epochs, early stopping on the cross-entropy of a seeded stratified 10%
validation split of the training rows (patience 16 epochs; the best epoch's weights are kept),
``torch.manual_seed(seed)`` in a forked RNG (and ``random.seed(seed)``, restored after: the
TabTransformer's hyper-connections draw from Python's RNG at init) and
``torch.set_num_threads(threads)`` (restored after). Their configurations take the architecture's keyword arguments and the training keys
``lr, weight_decay, batch_size, max_epochs, patience, validation_fraction``.

- ft-transformer (``rtdl_revisiting_models.FTTransformer``): configuration 0 is
  ``FTTransformer.get_default_kwargs()`` (3 blocks of width 192, ReGLU) with the optimizer of
  ``make_default_optimizer`` (lr 1e-4, weight decay 1e-5, none on embeddings, norms, biases).
- tab-transformer (``tab_transformer_pytorch.TabTransformer``): the library has no defaults;
  configuration 0 is its README's and the TabTransformer paper's (dim 32, depth 6, 8 heads,
  dropouts 0.1, MLP head x4, x2) with ``torch.optim.AdamW``'s defaults (lr 1e-3, weight decay
  0.01). Two quirks of version 0.6.1 worked around here: ``mlp_act=None`` (its default) crashes
  the head, so ``nn.ReLU()`` is passed (the MLP's own default); fewer than two categorical
  columns crash the shared embedding, so constant columns (one code) pad them to two.

Threads: every library is limited to ``threads`` (``n_jobs``, ``thread_count``, torch), and
every fit and prediction runs under ``threadpoolctl.threadpool_limits(threads)`` (BLAS, and
OpenMP for hgb). With ``threads=1`` a peer is deterministic for a given seed.

Examples:
    >>> import pandas as pd
    >>> X = pd.DataFrame({"colour": ["red", "blue"] * 20, "size": [float(i % 7) for i in range(40)]})
    >>> y = ["warm" if c == "red" else "cold" for c in X["colour"]]
    >>> model = PEERS["lr"].make(seed=0).fit(X, y)
    >>> model.classes_.tolist()
    ['cold', 'warm']
    >>> model.predict(pd.DataFrame({"colour": ["red", "green"], "size": [1.0, None]})).tolist()[0]
    'warm'
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_numeric_dtype
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from threadpoolctl import threadpool_limits
from torch import nn

from wordexperts.tabular.encoding import as_frame, column_kind
from wordexperts.train import torch_threads

MISSING_TEXT = "<missing>"  # catboost's level for a missing categorical cell
DENSE_ONE_HOT_MAX = 1024  # one-hot widths up to this are dense arrays, wider ones sparse CSR
HGB_MAX_LEVELS = 255  # HistGradientBoosting's limit on a categorical column's levels
PREDICT_CHUNK = 4096  # rows per forward pass when a transformer predicts
NO_CONFIG: Mapping[str, Any] = MappingProxyType({})


# ---- what a peer sees of the table ----


def _text(value: object) -> str:
    """A level's text: ``True``, ``3`` for 3 and 3.0, ``abc``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_text(series: pd.Series) -> np.ndarray:
    """A column's cells as text, ``None`` where missing: object ``(n_rows,)``."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)  # missing -> -1
    texts = np.array([_text(v) for v in uniques] + [None], dtype=object)
    return texts[codes]  # -1 picks the trailing None


@dataclass(frozen=True)
class CodedTable:
    """A table as the transformers read it.

    Shape:
        ``numeric`` float32 ``(n_rows, n_numeric + n_indicators)``; ``codes`` int64
        ``(n_rows, n_categorical)``, 0 for unknown or missing; ``cardinalities[j]`` is
        column j's number of codes (training levels + 1).
    """

    numeric: np.ndarray
    codes: np.ndarray
    cardinalities: tuple[int, ...]


class PeerEncoding(BaseEstimator):
    """Fitted map from a table to what a peer reads (see the module docstring's table).

    Parameters:
        categorical: columns to treat as categorical even if numeric.
        max_levels: keep a categorical column's ``max_levels`` most frequent training levels
            (ties to the earlier in text order); the rest count as unknown. ``None``: all.

    Attributes (after fit):
        columns_, categorical_, numeric_: column names, in the table's order.
        levels_: ``{column: sorted training levels, as text}``.
        median_, mean_, scale_: numeric columns' training statistics (NaN ignored; a
            constant column has scale 1, an all-missing one median and mean 0).
        indicated_: numeric columns that had missing cells in training (they get an indicator).

    Examples:
        >>> frame = pd.DataFrame({"colour": ["red", "blue", None, "red"], "size": [1.0, 2.0, np.nan, 5.0]})
        >>> encoding = PeerEncoding().fit(frame)
        >>> encoding.levels_, encoding.indicated_
        ({'colour': ['blue', 'red']}, ['size'])
        >>> encoding.codes(pd.DataFrame({"colour": ["red", "green"], "size": [2.0, None]})).codes.tolist()
        [[2], [0]]
    """

    def __init__(self, *, categorical: Sequence[str] | None = None, max_levels: int | None = None) -> None:
        self.categorical = categorical
        self.max_levels = max_levels

    def fit(self, X: pd.DataFrame, y: None = None) -> PeerEncoding:
        listed = set(self.categorical or ())
        unknown = listed - set(X.columns)
        if unknown:
            raise ValueError(f"categorical names columns the table does not have: {sorted(unknown, key=str)}")
        self.columns_ = list(X.columns)
        kinds = {c: column_kind(c, X[c].dtype, c in listed) for c in self.columns_}
        self.categorical_ = [c for c in self.columns_ if kinds[c] == "categorical"]
        self.numeric_ = [c for c in self.columns_ if kinds[c] == "numeric"]
        self.levels_ = {c: self._fit_levels(_as_text(X[c])) for c in self.categorical_}
        values = self._numeric(X)  # (N, n_numeric)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: NaN statistics, replaced below
            median, mean, scale = np.nanmedian(values, axis=0), np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        self.median_ = np.nan_to_num(median, nan=0.0)
        self.mean_ = np.nan_to_num(mean, nan=0.0)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.indicated_ = [c for c, gap in zip(self.numeric_, np.isnan(values).any(axis=0), strict=True) if gap]
        return self

    def _fit_levels(self, text: np.ndarray) -> list[str]:
        present = pd.Series(text[text != None]).value_counts()
        levels = sorted(present.index)
        if self.max_levels is not None and len(levels) > self.max_levels:
            ranked = sorted(levels, key=lambda level: (-present[level], level))
            levels = sorted(ranked[: self.max_levels])
        return levels

    def _numeric(self, X: pd.DataFrame) -> np.ndarray:
        if not self.numeric_:
            return np.zeros((len(X), 0))
        try:
            return np.column_stack([X[c].astype("float64").to_numpy() for c in self.numeric_])
        except (TypeError, ValueError) as error:
            bad = next(c for c in self.numeric_ if not is_numeric_dtype(X[c].dtype))
            raise ValueError(f"column {bad!r} was numeric at fit but has dtype {X[bad].dtype} now") from error

    # ---- the four views ----

    def level_codes(self, X: pd.DataFrame) -> np.ndarray:
        """int64 ``(n_rows, n_categorical)``: 0 unknown or missing, ``i + 1`` for level ``i``."""
        columns = [pd.Index(self.levels_[c]).get_indexer(_as_text(X[c])) + 1 for c in self.categorical_]
        return np.column_stack(columns).astype(np.int64) if columns else np.zeros((len(X), 0), dtype=np.int64)

    def standardised(self, X: pd.DataFrame) -> np.ndarray:
        """float64 ``(n_rows, n_numeric + n_indicators)``: imputed, standardised, then the indicators."""
        values = self._numeric(X)
        missing = np.isnan(values)
        filled = np.where(missing, self.median_, values)
        indicators = missing[:, [self.numeric_.index(c) for c in self.indicated_]].astype(np.float64)
        return np.hstack([(filled - self.mean_) / self.scale_, indicators])

    def one_hot(self, X: pd.DataFrame) -> np.ndarray | sparse.csr_matrix:
        """Standardised numeric columns, then one 0/1 column per level: ``(n_rows, width)``.

        Dense when the one-hot part is at most ``DENSE_ONE_HOT_MAX`` wide, sparse CSR beyond.
        """
        codes = self.level_codes(X)  # (N, C)
        widths = [len(self.levels_[c]) for c in self.categorical_]
        offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64) if widths else np.zeros(0, np.int64)
        rows, cols = np.nonzero(codes)
        matrix = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, offsets[cols] + codes[rows, cols] - 1)), shape=(len(X), int(sum(widths)))
        )
        numeric = self.standardised(X)
        if sum(widths) <= DENSE_ONE_HOT_MAX:
            return np.hstack([numeric, matrix.toarray()])
        return sparse.hstack([sparse.csr_matrix(numeric), matrix], format="csr")

    def category_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns ``f0, f1, ...``: ``category`` dtype over the training levels, or float64."""
        columns = {}
        for j, c in enumerate(self.columns_):
            if c in self.levels_:
                levels = pd.Index(self.levels_[c])
                columns[f"f{j}"] = pd.Categorical.from_codes(levels.get_indexer(_as_text(X[c])), categories=levels)
            else:
                columns[f"f{j}"] = X[c].astype("float64").to_numpy()
        return pd.DataFrame(columns, index=pd.RangeIndex(len(X)))

    def text_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns ``f0, f1, ...``: categorical ones as strings (missing ``"<missing>"``), numeric float64."""
        columns = {}
        for j, c in enumerate(self.columns_):
            if c in self.levels_:
                text = _as_text(X[c])
                columns[f"f{j}"] = np.where(text == None, MISSING_TEXT, text).astype(object)
            else:
                columns[f"f{j}"] = X[c].astype("float64").to_numpy()
        return pd.DataFrame(columns, index=pd.RangeIndex(len(X)))

    def codes(self, X: pd.DataFrame) -> CodedTable:
        """The transformers' view: standardised numeric columns (float32) and level codes."""
        return CodedTable(
            numeric=self.standardised(X).astype(np.float32),
            codes=self.level_codes(X),
            cardinalities=tuple(len(self.levels_[c]) + 1 for c in self.categorical_),
        )

    def categorical_positions(self) -> list[int]:
        """Positions of the categorical columns in ``category_frame`` / ``text_frame``."""
        return [self.columns_.index(c) for c in self.categorical_]

    def view(self, kind: str, X: pd.DataFrame) -> object:
        """The view named ``kind``: ``"one_hot"``, ``"category"``, ``"text"`` or ``"codes"``."""
        views = {"one_hot": self.one_hot, "category": self.category_frame, "text": self.text_frame, "codes": self.codes}
        return views[kind](X)


# ---- the transformers' shared training loop ----


@dataclass(frozen=True)
class TrainingSettings:
    """How :func:`train_transformer` trains: AdamW, batches, epochs, early stopping."""

    lr: float
    weight_decay: float
    batch_size: int = 128
    max_epochs: int = 200
    patience: int = 16  # epochs without a better validation loss before stopping
    validation_fraction: float = 0.1

    KEYS = ("lr", "weight_decay", "batch_size", "max_epochs", "patience", "validation_fraction")

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.weight_decay >= 0):
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        for name in ("batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")


@dataclass
class TrainingRecord:
    """What one training run did: losses per epoch, the epoch whose weights were kept."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 1-based; the last epoch when there was no validation split


def _split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(train rows, validation rows)``: stratified when every class can be, else plain."""
    rows = np.arange(len(y))
    n_valid = round(fraction * len(y))
    if n_valid < 1 or len(y) - n_valid < 1:
        return rows, rows[:0]
    try:
        train, valid = train_test_split(rows, test_size=n_valid, random_state=seed, stratify=y)
    except ValueError:  # a class with one row, or fewer validation rows than classes
        train, valid = train_test_split(rows, test_size=n_valid, random_state=seed)
    return np.sort(train), np.sort(valid)


def train_transformer(
    model: nn.Module,
    forward: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    parameter_groups: list[dict] | Iterator[nn.Parameter],
    table: CodedTable,
    y: np.ndarray,
    *,
    settings: TrainingSettings,
    seed: int,
) -> TrainingRecord:
    """Train ``model`` in place on ``table``; the best validation epoch's weights are kept.

    ``forward(model, numeric, codes)`` returns logits ``(B, n_classes)``; ``y`` holds class
    codes ``0 .. n_classes - 1``. Seed and threads are the caller's (see :class:`TransformerClassifier`).
    """
    numeric = torch.from_numpy(table.numeric)  # (N, F) float32
    codes = torch.from_numpy(table.codes)  # (N, C) int64
    target = torch.from_numpy(np.asarray(y, dtype=np.int64))  # (N,)
    train_rows, valid_rows = _split(np.asarray(y), settings.validation_fraction, seed)
    train_rows_t, valid_rows_t = torch.from_numpy(train_rows), torch.from_numpy(valid_rows)
    optimizer = torch.optim.AdamW(parameter_groups, lr=settings.lr, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(seed)
    record = TrainingRecord()
    best_loss, best_state = math.inf, None
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        order = train_rows_t[torch.from_numpy(rng.permutation(len(train_rows)))]
        total = 0.0
        for batch in order.split(settings.batch_size):
            loss = nn.functional.cross_entropy(forward(model, numeric[batch], codes[batch]), target[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        record.train_loss.append(total / len(train_rows))
        if len(valid_rows) == 0:
            record.best_epoch = epoch
            continue
        logits = _logits(model, forward, numeric[valid_rows_t], codes[valid_rows_t])
        valid_loss = float(nn.functional.cross_entropy(logits, target[valid_rows_t]))
        record.validation_loss.append(valid_loss)
        if valid_loss < best_loss:
            best_loss, record.best_epoch = valid_loss, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - record.best_epoch >= settings.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return record


def _logits(model: nn.Module, forward: Callable, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Logits ``(N, n_classes)`` in chunks, without gradients, in eval mode."""
    model.eval()
    with torch.no_grad():
        chunks = zip(numeric.split(PREDICT_CHUNK), codes.split(PREDICT_CHUNK), strict=True)
        return torch.cat([forward(model, n, c) for n, c in chunks])


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's and Python's global RNGs for a block, and give both back as they were.

    Python's too: hyper_connections (TabTransformer's residual streams) draws its initial
    stream with ``random.randrange``; unseeded, two fits with one seed differed.
    """
    state = random.getstate()
    random.seed(seed)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        random.setstate(state)


class TransformerClassifier:
    """A torch transformer over a :class:`CodedTable`, trained by :func:`train_transformer`.

    Subclasses name the architecture's keys and defaults and build the module. Fit and
    predict run with ``torch.set_num_threads(threads)``; fit seeds torch's and Python's RNGs
    and then restores them, so the caller's RNG state is left as it was.
    """

    ARCHITECTURE_KEYS: tuple[str, ...] = ()
    DEFAULT_TRAINING: Mapping[str, Any] = NO_CONFIG

    def __init__(self, config: Mapping[str, Any], *, seed: int, threads: int) -> None:
        allowed = set(self.ARCHITECTURE_KEYS) | set(TrainingSettings.KEYS)
        unknown = set(config) - allowed
        if unknown:
            raise ValueError(f"{type(self).__name__} has no settings {sorted(unknown)}; it takes {sorted(allowed)}")
        self.config = dict(config)
        self.settings = TrainingSettings(
            **{**self.DEFAULT_TRAINING, **{k: v for k, v in config.items() if k in TrainingSettings.KEYS}}
        )
        self.seed = seed
        self.threads = threads

    def architecture(self) -> dict[str, Any]:
        raise NotImplementedError

    def build(self, n_numeric: int, cardinalities: tuple[int, ...], n_classes: int) -> nn.Module:
        raise NotImplementedError

    @staticmethod
    def forward(model: nn.Module, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def parameter_groups(self, model: nn.Module) -> list[dict] | Iterator[nn.Parameter]:
        return model.parameters()

    def prepare(self, table: CodedTable) -> CodedTable:
        return table

    def fit(self, table: CodedTable, y: np.ndarray, n_classes: int) -> TransformerClassifier:
        table = self.prepare(table)
        with torch_threads(self.threads), _seeded(self.seed):
            self.model_ = self.build(table.numeric.shape[1], table.cardinalities, n_classes)
            self.record_ = train_transformer(
                self.model_, self.forward, self.parameter_groups(self.model_), table, y,
                settings=self.settings, seed=self.seed,
            )
        return self

    def predict_proba(self, table: CodedTable) -> np.ndarray:
        table = self.prepare(table)
        with torch_threads(self.threads):
            logits = _logits(self.model_, self.forward, torch.from_numpy(table.numeric), torch.from_numpy(table.codes))
        return torch.softmax(logits.double(), dim=1).numpy()


class FTTransformerPeer(TransformerClassifier):
    """``rtdl_revisiting_models.FTTransformer``: every column a token, a [CLS] token reads out.

    ``n_blocks`` picks rtdl's defaults for that depth (``get_default_kwargs(n_blocks)``), which
    any other architecture key overrides. Optimizer: AdamW on ``make_parameter_groups()``
    (no weight decay on embeddings, norms, biases), lr 1e-4 and weight decay 1e-5 as
    ``make_default_optimizer``.
    """

    ARCHITECTURE_KEYS = (
        "n_blocks", "d_block", "attention_n_heads", "attention_dropout", "ffn_d_hidden", "ffn_d_hidden_multiplier",
        "ffn_dropout", "ffn_activation", "residual_dropout",
    )
    DEFAULT_TRAINING = MappingProxyType({"lr": 1e-4, "weight_decay": 1e-5})

    def architecture(self) -> dict[str, Any]:
        from rtdl_revisiting_models import FTTransformer

        kwargs = FTTransformer.get_default_kwargs(self.config.get("n_blocks", 3))
        kwargs.pop("_is_default")
        kwargs.update({k: v for k, v in self.config.items() if k in self.ARCHITECTURE_KEYS})
        if "ffn_d_hidden" in self.config and "ffn_d_hidden_multiplier" not in self.config:
            kwargs["ffn_d_hidden_multiplier"] = None  # rtdl takes one of the two
        return kwargs

    def build(self, n_numeric: int, cardinalities: tuple[int, ...], n_classes: int) -> nn.Module:
        from rtdl_revisiting_models import FTTransformer

        return FTTransformer(
            n_cont_features=n_numeric, cat_cardinalities=list(cardinalities), d_out=n_classes, **self.architecture()
        )

    @staticmethod
    def forward(model: nn.Module, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return model(numeric if numeric.shape[1] else None, codes if codes.shape[1] else None)  # (B, n_classes)

    def parameter_groups(self, model: nn.Module) -> list[dict]:
        return model.make_parameter_groups()


class TabTransformerPeer(TransformerClassifier):
    """``tab_transformer_pytorch.TabTransformer``: attention over the categorical columns only,
    then an MLP over their contextual embeddings and the layer-normed numeric columns.

    Defaults (the library has none): the README's and the TabTransformer paper's, dim 32,
    depth 6, 8 heads, dropouts 0.1, MLP head x4, x2; ``torch.optim.AdamW``'s own lr 1e-3 and
    weight decay 0.01.
    """

    ARCHITECTURE_KEYS = (
        "dim", "depth", "heads", "dim_head", "attn_dropout", "ff_dropout", "mlp_hidden_mults",
        "use_shared_categ_embed", "shared_categ_dim_divisor", "num_residual_streams",
    )
    DEFAULT_ARCHITECTURE = MappingProxyType(
        {"dim": 32, "depth": 6, "heads": 8, "attn_dropout": 0.1, "ff_dropout": 0.1, "mlp_hidden_mults": (4, 2)}
    )
    DEFAULT_TRAINING = MappingProxyType({"lr": 1e-3, "weight_decay": 0.01})
    MIN_CATEGORICAL = 2  # version 0.6.1 crashes on fewer (its shared embedding's shapes)

    def architecture(self) -> dict[str, Any]:
        return {**self.DEFAULT_ARCHITECTURE, **{k: v for k, v in self.config.items() if k in self.ARCHITECTURE_KEYS}}

    def prepare(self, table: CodedTable) -> CodedTable:
        pad = self.MIN_CATEGORICAL - table.codes.shape[1]
        if pad <= 0:
            return table
        constant = np.zeros((table.codes.shape[0], pad), dtype=np.int64)  # one code, always 0
        return CodedTable(table.numeric, np.hstack([table.codes, constant]), table.cardinalities + (1,) * pad)

    def build(self, n_numeric: int, cardinalities: tuple[int, ...], n_classes: int) -> nn.Module:
        from tab_transformer_pytorch import TabTransformer

        # mlp_act: the library's default None reaches x_mlps_pytorch's MLP as "no activation"
        # and crashes; ReLU is that MLP's own default.
        return TabTransformer(
            categories=tuple(cardinalities), num_continuous=n_numeric, dim_out=n_classes, mlp_act=nn.ReLU(),
            **self.architecture(),
        )

    @staticmethod
    def forward(model: nn.Module, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return model(codes, numeric)  # (B, n_classes)


# ---- the peers ----


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the warnings that repeat on every fit and say nothing new.

    sklearn's ConvergenceWarning: MLPClassifier's defaults (200 adam epochs) end most fits on
    it, and tuning would print it once a configuration. Errors are never touched.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
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


@dataclass(frozen=True)
class Peer:
    """One peer library: where it comes from, its configurations, and how to make it.

    ``configurations[0]`` is the library's defaults (``{}``), then the tuning grid in a
    fixed order (module docstring). ``make`` returns an unfitted :class:`PeerClassifier`.
    """

    key: str
    name: str
    package: str  # the pip distribution, e.g. "xgboost-cpu"
    configurations: tuple[Mapping[str, Any], ...]
    module: str = field(repr=False)  # what to import
    encoding: str = field(repr=False)  # PeerEncoding.view kind
    build: Callable[[dict, int, int, PeerEncoding], Any] = field(repr=False)
    max_levels: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.configurations or dict(self.configurations[0]):
            raise ValueError(f"{self.key}: configuration 0 must be the library defaults, {{}}")

    def available(self) -> str | None:
        """``None`` if the library imports, else a one-line reason naming the pip package."""
        try:
            importlib.import_module(self.module)
        except ImportError as error:
            return f"{self.name} needs the pip package {self.package!r} (pip install {self.package}): {error}"
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
    ) -> PeerClassifier:
        """An unfitted classifier with ``config`` laid over the library defaults."""
        return PeerClassifier(
            peer=self.key, config=dict(config), random_state=seed, n_threads=threads, categorical=categorical
        )


def _grid(outer: Sequence[Mapping[str, Any]], inner: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Every ``outer`` setting with every ``inner`` one, ``outer`` slowest; ``{}`` entries are defaults."""
    return tuple({**o, **i} for o in outer for i in inner)


PEERS: Mapping[str, Peer] = MappingProxyType(
    {
        peer.key: peer
        for peer in (
            Peer("majority", "majority class", "scikit-learn", ({},), "sklearn", "one_hot", _build_majority),
            Peer(
                "lr", "logistic regression", "scikit-learn",
                tuple({} if c == 1.0 else {"C": c} for c in (1.0, 0.1, 10.0, 0.01, 100.0, 0.001)),
                "sklearn", "one_hot", _build_lr,
            ),
            Peer(
                "rf", "random forest", "scikit-learn",
                _grid([{}, {"min_samples_leaf": 3}, {"min_samples_leaf": 10}], [{}, {"max_features": 0.5}]),
                "sklearn", "one_hot", _build_rf,
            ),
            Peer(
                "hgb", "HistGradientBoosting", "scikit-learn",
                _grid(
                    [{}, {"learning_rate": 0.03, "max_iter": 300}],
                    [{}, {"max_leaf_nodes": 7}, {"max_leaf_nodes": 63}],
                ),
                "sklearn", "category", _build_hgb, max_levels=HGB_MAX_LEVELS,
            ),
            Peer(
                "xgboost", "XGBoost", "xgboost-cpu",
                _grid([{}, {"learning_rate": 0.1, "n_estimators": 300}], [{}, {"max_depth": 3}, {"max_depth": 8}]),
                "xgboost", "category", _build_xgboost,
            ),
            Peer(
                "lightgbm", "LightGBM", "lightgbm",
                _grid(
                    [{}, {"learning_rate": 0.03, "n_estimators": 300}], [{}, {"num_leaves": 7}, {"num_leaves": 63}]
                ),
                "lightgbm", "category", _build_lightgbm,
            ),
            Peer(
                "catboost", "CatBoost", "catboost",
                _grid([{}, {"iterations": 300, "learning_rate": 0.1}], [{}, {"depth": 4}, {"depth": 8}]),
                "catboost", "text", _build_catboost,
            ),
            Peer(
                "mlp", "MLP", "scikit-learn",
                _grid([{}, {"hidden_layer_sizes": (100, 100)}], [{}, {"alpha": 1e-2}, {"alpha": 1.0}]),
                "sklearn", "one_hot", _build_mlp,
            ),
            Peer(
                "ft-transformer", "FT-Transformer", "rtdl-revisiting-models",
                _grid([{}, {"lr": 3e-4}], [{}, {"n_blocks": 1}, {"n_blocks": 2}]),
                "rtdl_revisiting_models", "codes", _build_ft_transformer,
            ),
            Peer(
                "tab-transformer", "TabTransformer", "tab-transformer-pytorch",
                _grid([{}, {"lr": 3e-4}], [{}, {"depth": 1}, {"depth": 3}]),
                "tab_transformer_pytorch", "codes", _build_tab_transformer,
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


def _peer(peer: Peer | str) -> Peer:
    if isinstance(peer, Peer):
        return peer
    if peer not in PEERS:
        raise ValueError(f"unknown peer {peer!r}; the peers are {list(PEERS)}")
    return PEERS[peer]


class PeerClassifier(ClassifierMixin, BaseEstimator):
    """A peer library's classifier over a pandas table, behind scikit-learn's interface.

    Parameters:
        peer: a key of :data:`PEERS`.
        config: settings laid over the library's defaults (see the module docstring).
        random_state: the seed (an int).
        n_threads: threads for the library, torch and BLAS / OpenMP.
        categorical: columns to treat as categorical even if numeric.

    Attributes (after fit):
        classes_: the sorted labels; ``predict_proba``'s columns follow them.
        encoding_: the fitted :class:`PeerEncoding`.
        model_: the library's fitted estimator (``None`` when training saw one class only:
            then every row is that class, probability 1).
        fit_seconds_: wall time of the library's fit.
        n_features_in_, feature_names_in_.

    Shape:
        fit: X (n_rows, n_columns) DataFrame (arrays become columns ``x0 ..``), y (n_rows,).
        predict_proba: X (n_rows', n_columns) -> float64 (n_rows', n_classes), rows sum to 1.
    """

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

    def fit(self, X: Any, y: Any) -> PeerClassifier:
        peer = _peer(self.peer)
        reason = peer.available()
        if reason is not None:
            raise ImportError(reason)
        if not isinstance(self.random_state, (int, np.integer)) or isinstance(self.random_state, bool):
            raise TypeError(f"random_state must be an int seed, got {self.random_state!r}")
        if not isinstance(self.n_threads, (int, np.integer)) or self.n_threads < 1:
            raise ValueError(f"n_threads must be a positive int, got {self.n_threads!r}")
        frame, _ = as_frame(X, what="X", ensure_2d=True)
        y = column_or_1d(np.asarray(y), warn=True)
        if len(y) != len(frame):
            raise ValueError(f"X has {len(frame)} rows but y has {len(y)}")
        check_classification_targets(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.encoding_ = PeerEncoding(categorical=self.categorical, max_levels=peer.max_levels).fit(frame)
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

    def _frame(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "encoding_")
        frame, _ = as_frame(X, what="X", ensure_2d=True)
        missing = [c for c in self.feature_names_in_ if c not in set(frame.columns)]
        if missing:
            raise ValueError(f"X lacks the columns {missing} this {type(self).__name__} was fitted with")
        return frame[list(self.feature_names_in_)]

    def predict_proba(self, X: Any) -> np.ndarray:
        frame = self._frame(X)
        n_classes = len(self.classes_)
        if self.model_ is None:
            return np.ones((len(frame), 1))
        view = self.encoding_.view(_peer(self.peer).encoding, frame)
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


# ---- fair tuning ----


@dataclass(frozen=True)
class ValidationScore:
    """One configuration's score on the tuning split (NaN when there was no split: budget 1)."""

    index: int
    config: Mapping[str, Any]
    accuracy: float
    log_loss: float
    fit_seconds: float


@dataclass(frozen=True)
class TuneResult:
    """The chosen configuration, refitted on all training rows, and what choosing it cost.

    ``fit_seconds_total`` counts every fit: one per configuration tried plus the refit.
    """

    model: PeerClassifier
    config: Mapping[str, Any]
    index: int
    validation_scores: tuple[ValidationScore, ...]
    fit_seconds_total: float
    refit_seconds: float


def _log_loss(classes: np.ndarray, proba: np.ndarray, y: np.ndarray) -> float:
    """Mean ``-log p(true class)``, clipped at 1e-15 (a class the model never saw: 1e-15)."""
    column = pd.Index(classes).get_indexer(y)  # (N,), -1 for a class the model never saw
    p = np.where(column >= 0, proba[np.arange(len(y)), np.maximum(column, 0)], 0.0)
    return float(-np.mean(np.log(np.clip(p, 1e-15, 1.0))))


def tune(
    peer: Peer | str,
    X: Any,
    y: Any,
    *,
    seed: int,
    budget: int,
    threads: int = 1,
    validation_fraction: float = 0.2,
    categorical: Sequence[str] | None = None,
) -> TuneResult:
    """The fair-tuning protocol: the first ``budget`` configurations, chosen on held-out rows.

    Each configuration is fitted on a seeded, stratified (when every class allows it) split of
    the training rows and scored on the other ``validation_fraction``; the best accuracy wins
    (ties: lower log-loss, then the earlier configuration) and is refitted on *all* rows.
    ``budget=1`` fits the defaults on all rows with no split (its score is NaN). A budget
    beyond the peer's configurations tries them all (majority has one).
    """
    peer = _peer(peer)
    if not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive int, got {budget!r}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    frame, _ = as_frame(X, what="X", ensure_2d=True)
    y = column_or_1d(np.asarray(y))
    configurations = peer.configurations[:budget]

    def make(config: Mapping[str, Any]) -> PeerClassifier:
        return peer.make(config, seed=seed, threads=threads, categorical=categorical)

    scores: list[ValidationScore] = []
    if len(configurations) == 1:
        scores.append(ValidationScore(0, dict(configurations[0]), math.nan, math.nan, 0.0))
        index = 0
    else:
        train_rows, valid_rows = _split(y, validation_fraction, seed)
        if len(valid_rows) == 0:
            raise ValueError(f"{len(y)} rows leave no validation rows at validation_fraction={validation_fraction}")
        for i, config in enumerate(configurations):
            model = make(config)
            started = time.perf_counter()
            model.fit(frame.iloc[train_rows], y[train_rows])
            seconds = time.perf_counter() - started
            proba = model.predict_proba(frame.iloc[valid_rows])
            accuracy = float(np.mean(model.classes_[np.argmax(proba, axis=1)] == y[valid_rows]))
            scores.append(
                ValidationScore(i, dict(config), accuracy, _log_loss(model.classes_, proba, y[valid_rows]), seconds)
            )
        index = min(range(len(scores)), key=lambda i: (-scores[i].accuracy, scores[i].log_loss, i))
    model = make(configurations[index])
    started = time.perf_counter()
    model.fit(frame, y)
    refit = time.perf_counter() - started
    return TuneResult(
        model=model, config=dict(configurations[index]), index=index, validation_scores=tuple(scores),
        fit_seconds_total=sum(s.fit_seconds for s in scores) + refit, refit_seconds=refit,
    )


# ---- the paper's baselines ----


class PaperOneHot(TransformerMixin, BaseEstimator):
    """The paper's features: every column categorical, ``pd.get_dummies(drop_first=True)``.

    Levels are fixed at fit (each column's sorted training values); a level's first is
    dropped, so an unknown value at transform reads as all zeros, the same as the first level.

    Examples:
        >>> PaperOneHot().fit(pd.DataFrame({"x0": [2, 0, 1]})).transform(pd.DataFrame({"x0": [1, 7]}))
        array([[1., 0.],
               [0., 0.]])
    """

    def fit(self, X: Any, y: Any = None) -> PaperOneHot:
        frame, _ = as_frame(X, what="X", ensure_2d=True)
        self.columns_ = list(frame.columns)
        self.categories_ = {c: frame[c].astype("category").cat.categories for c in self.columns_}
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "categories_")
        frame, _ = as_frame(X, what="X", ensure_2d=True)
        fixed = pd.DataFrame(
            {
                c: pd.Categorical.from_codes(levels.get_indexer(frame[c]), categories=levels)  # unknown: code -1, NaN
                for c, levels in self.categories_.items()
            },
            index=frame.index,
        )
        return pd.get_dummies(fixed, drop_first=True, dtype=np.float64).to_numpy()


def paper_baselines(seed: int, *, threads: int = 1) -> dict[str, Pipeline]:
    """The paper's four baselines (paper.md §2), unfitted, each behind :class:`PaperOneHot`.

    ``"LR"``: LogisticRegression(max_iter=2000). ``"RF"``, ``"GB"`` (sklearn's
    GradientBoostingClassifier) and ``"MLP"`` (MLPClassifier(max_iter=2000,
    learning_rate_init=0.01)): GridSearchCV over the paper's grids with 5-fold
    StratifiedKFold (unshuffled, as ``cv=5``), accuracy, refit on all rows. Every model gets
    ``random_state=seed``; ``threads > 1`` runs the grid's fits in parallel. Slow: GB's grid
    alone is 27 x 5 fits.
    """
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    def searched(model: BaseEstimator, grid: dict[str, list]) -> GridSearchCV:
        return GridSearchCV(model, grid, cv=StratifiedKFold(n_splits=5), n_jobs=threads if threads > 1 else None)

    models = {
        "LR": LogisticRegression(max_iter=2000, random_state=seed),
        "RF": searched(
            RandomForestClassifier(random_state=seed),
            {"criterion": ["gini", "entropy"], "n_estimators": [50, 100, 200], "max_depth": [1, 3, None]},
        ),
        "GB": searched(
            GradientBoostingClassifier(random_state=seed),
            {"learning_rate": [0.01, 0.1, 1], "n_estimators": [50, 100, 200], "max_depth": [1, 3, 5]},
        ),
        "MLP": searched(
            MLPClassifier(max_iter=2000, learning_rate_init=0.01, random_state=seed),
            {
                "hidden_layer_sizes": [(50,), (100,), (100, 50)], "alpha": [1e-4, 1e-3, 1e-2],
                "learning_rate": ["constant", "adaptive"],
            },
        ),
    }
    return {key: Pipeline([("one_hot", PaperOneHot()), ("model", model)]) for key, model in models.items()}
