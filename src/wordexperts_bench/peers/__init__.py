"""Peer tabular models: the well-kept libraries our model is benchmarked against.

Every peer is a :class:`Peer` in :data:`PEERS`; ``PEERS[key].make(config, seed=, threads=)``
returns an unfitted :class:`PeerClassifier`, a scikit-learn classifier over a pandas table
(numeric columns mixed with ``object`` / ``str`` / ``category`` / ``bool`` ones, NaN allowed)
and 1-D labels (str or int); ``make(..., kind="regression")`` returns a :class:`PeerRegressor`
over the same table and a numeric target (every peer regresses: the classifier's library's
regressor with the same fixed settings, ``Ridge`` for lr, the training mean for majority, one
output trained on the squared error for the transformers). :func:`tune` (the grid) and
:func:`tune_optuna` (Optuna trials over :attr:`Peer.space`) are the fair-tuning protocol,
:func:`paper_baselines` the paper's four baselines with their grids (paper.md §2).

The modules, one job each (everything public is re-exported here):

=====================  ========================================================================
module                 what it holds
=====================  ========================================================================
:mod:`.encoding`       what a peer sees of the table: :class:`PeerEncoding` and its four views,
                       :class:`CodedTable` (the transformers' view)
:mod:`.split`          the seeded, stratified validation split that tuning and the transformers'
                       early stopping hold out
:mod:`.transformers`   the transformers' shared training loop (:func:`train_transformer`,
                       :class:`TrainingSettings`, :class:`TrainingRecord`),
                       :class:`TransformerClassifier`, the ft-transformer and tab-transformer peers
:mod:`.registry`       :class:`Peer`, :data:`PEERS`, :data:`SIMULATION_CONFIGS`, the libraries'
                       builders, :class:`PeerClassifier`, :class:`PeerRegressor`,
                       :class:`PyTabKitModel`; how threads are limited
:mod:`.space`          :class:`Dimension`: the Optuna search spaces, library defaults first
:mod:`.tuning`         :func:`tune`, :func:`tune_optuna`, :class:`ValidationScore`, :class:`TuneResult`
:mod:`.baselines`      the paper's baselines: :class:`PaperOneHot`, :func:`paper_baselines`
=====================  ========================================================================

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
``imputed``         realmlp, tabm: ``category`` dtype as hgb's (unknown or missing: NaN) /
                    as one_hot (pytabkit refuses missing numbers; it scales them itself)
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
                 early stopping (:mod:`.transformers`)      dropouts: rtdl's defaults for that depth:
                                                            d_block 192 / 96 / 128, ...)
tab-transformer  as ft-transformer                          lr in 1e-3, 3e-4 x depth 6, 1, 3
realmlp          ``RealMLP_TD_Classifier`` / ``_Regressor``   lr in default (0.04; 0.2 regressing), 0.01
                 (pytabkit's tuned defaults), ``n_threads``,  x p_drop 0.15 (default), 0.0, 0.3
                 ``device="cpu"``, ``random_state``
tabm             ``TabM_D_Classifier`` / ``_Regressor``       lr in 2e-3 (default), 5e-4 x d_block 512
                 (as realmlp)                               (default), 128 x dropout 0.1 (default), 0.3
===============  =========================================  ====================================================

RealMLP and TabM come from pytabkit (the ``[bench]`` extra; it brings PyTorch Lightning and
torchmetrics). Neither downloads anything; both limit torch to ``n_threads`` and seed it from
``random_state`` (deterministic with one thread), and :class:`PyTabKitModel` leaves the
caller's torch RNG as it was. Their defaults are pytabkit's "TD" / "D" ones: RealMLP trains 256
epochs; TabM trains until 16 epochs without a better validation loss (32 members of width 512),
which on a regression of a few thousand rows takes minutes per fit on one thread.

The Optuna spaces (:attr:`Peer.space`, trial 0 at the library's defaults): lr: C; rf:
min_samples_leaf, max_features; hgb, lightgbm: learning rate, trees, leaves, minimum leaf size;
xgboost: learning rate, trees, depth, min_child_weight; catboost: depth, l2_leaf_reg; mlp:
alpha, learning_rate_init; the transformers: learning rate, depth, weight decay; realmlp: lr,
p_drop, wd; tabm: lr, dropout, d_block. ``majority`` has nothing to tune.

"(a, b) in P, Q x c in u, v, w" lists the outer axis slowest: P-u, P-v, P-w, Q-u, Q-v, Q-w.
Tree grids pair a smaller learning rate with more trees; the library defaults come first.

The transformers' shared training (AdamW, batches, early stopping, seeds, threads) and their
defaults and workarounds are described in :mod:`.transformers`; how every peer's threads are
limited, in :mod:`.registry`.

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

from .baselines import PaperOneHot, paper_baselines
from .encoding import DENSE_ONE_HOT_MAX, MISSING_TEXT, CodedTable, PeerEncoding
from .registry import (
    HGB_MAX_LEVELS,
    NO_CONFIG,
    PEERS,
    SIMULATION_CONFIGS,
    Peer,
    PeerClassifier,
    PeerRegressor,
    PyTabKitModel,
)
from .space import Dimension
from .split import validation_split
from .transformers import (
    PREDICT_CHUNK,
    FTTransformerPeer,
    TabTransformerPeer,
    TrainingRecord,
    TrainingSettings,
    TransformerClassifier,
    train_transformer,
)
from .tuning import TuneResult, ValidationScore, tune, tune_optuna

__all__ = [
    "DENSE_ONE_HOT_MAX",
    "HGB_MAX_LEVELS",
    "MISSING_TEXT",
    "NO_CONFIG",
    "PEERS",
    "PREDICT_CHUNK",
    "SIMULATION_CONFIGS",
    "CodedTable",
    "Dimension",
    "FTTransformerPeer",
    "PaperOneHot",
    "Peer",
    "PeerClassifier",
    "PeerEncoding",
    "PeerRegressor",
    "PyTabKitModel",
    "TabTransformerPeer",
    "TrainingRecord",
    "TrainingSettings",
    "TransformerClassifier",
    "TuneResult",
    "ValidationScore",
    "paper_baselines",
    "train_transformer",
    "tune",
    "tune_optuna",
    "validation_split",
]
