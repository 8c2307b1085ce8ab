"""scikit-learn estimators: a table is a sentence, each column a word position.

Every estimator encodes its table (:class:`~wordexperts.tabular.encoding.TableEncoder`,
fitted on training data only), trains one :class:`~wordexperts.core.BidirectionalAttention`
(or ``n_members`` of them, an ensemble whose answers are averaged) with the masked language
model objective over all columns (each cell masked alone, one pass per row; by default the
target's column weighs 30% of the loss), and then answers by masking: the target column to
predict, a missing cell to impute. One model therefore does all three jobs, and its gates
say which columns each answer was read from (:meth:`explain`).

::

    row    x0   x1   x2   x3   y          tokens  t0  t1  t2  t3  t4
           a    3.2  NaN  u    ?   encode          12  40  57  61  [mask]
                                      ->   attention over the row -> softmax over y's tokens

Presets (``preset=``): ``None`` (our defaults, below) or ``"paper"`` (paper.md §2: width 20,
5 heads of 4, feed-forward 5, one post-LN block, dropout 0.1, Keras initialisation, Adam 1e-3
with eps 1e-7, 200 epochs, batch 128, no early stopping, shared bin vocabulary). A parameter
left at ``None`` takes the preset's value; any value you pass wins over the preset.

One difference from the paper's code, and what it costs: ``batching="rows"`` (both presets)
takes 128 *rows* per step, each masked at every column in one exact pass (16 steps an epoch
on 2000 rows); the paper's code took 128 shuffled masked *copies* per step (94 steps an
epoch). Same objective, six times fewer Adam steps. On the simulation 5/0.9/0 (first 5 paper
seeds) that gave OOD accuracy 0.365 against the paper's 0.377 (all 20 seeds: 0.355 against
0.392); ``batching="copies"`` is the paper's recipe exactly (0.412 on the first 5 seeds) at
about six times the fit time.

Our defaults, and why:

- one ``bert`` block: a single block keeps the masked logits exact in one pass (fast) and
  the gates readable as one mixture over columns; ``d_model=32``, 4 heads of 8, feed-forward
  64: wide enough for tables with tens of columns, still milliseconds per step on a CPU;
- Keras-style initialisation: on small tables it was worth 2 points of accuracy (paper.md);
- an epoch budget that follows the table's size (``epochs="auto"``: about ``STEP_BUDGET``
  optimizer steps, 10 to 200 epochs, see :func:`epoch_budget`) with a cosine learning rate
  that reaches zero at its end, and early stopping on the target's validation loss over a
  10% split (stratified by class; ``patience=20`` epochs, exactly; ``"auto"`` counts
  ``PATIENCE_STEPS`` optimizer steps instead, see :func:`resolve_patience`, which measured no
  better and 50% slower; the best epoch's weights
  are kept): real tables range from 200 rows to millions, and no fixed epoch count suits both;
- ``max_categories=300``: a column keeps its 300 most frequent categories (the rest share
  the unknown token). On a table whose 3,000-level column matters level by level
  (``wordexperts bench categories``, 3 seeds), keeping 1,000 gained 0.003 accuracy over 300
  (0.841 vs 0.838) at 2.4 times the fit (past about 1,000 (column, value) pairs the fast step
  gives way to autograd), and keeping 100 lost 0.010;
- the target's share of the training loss is ``target_share=0.3`` (the masked-LM loss of the
  paper weighs every column alike; a classifier or regressor is there for its target, and on
  small tables the target was learned late or not at all; 0.5 measured a little worse and
  once stuck on an additive solution where the target needed an interaction), and numeric bins share
  ``n_levels=10`` quantile-level vectors added to their own (``AttentionConfig.n_levels``):
  "high" means something across columns. Both measured on the simulation and the real suite
  together (``wordexperts bench defaults``, docs/defaults.md);
- a column that looks like a row identifier (:func:`~.encoding.id_like_columns`) is named in
  an :class:`~.encoding.IdentifierWarning` and ignored (``id_columns="auto"``; pass a list to
  name them yourself, or ``[]`` to read every column);
- per-column vocabularies (a category means different things in different columns), except
  where every feature column is categorical with the same values (``shared_vocabulary="auto"``,
  :func:`~.encoding.same_categories`: answers on one scale, the paper's binned features), which
  share one, as the paper's encoding does: on the paper's simulation (2 seeds) that lifted the
  defaults from 0.272 to 0.396 on 5/0.9/0; no table of the real suite qualifies;
- one intra-op thread: at tabular sizes, more threads than one made steps slower;
- no gradient clipping (``clip_grad_norm=None``); a training loss that turns NaN or infinite
  stops the fit with a :class:`~wordexperts.errors.TrainingDivergedError` naming the epoch and
  step, and ``clip_grad_norm=1.0`` (a global L2 norm) or a lower ``lr`` is the usual fix.

What scikit-learn users reach for:

- ``fit(X, y, sample_weight=)`` on all three: a row of weight 0 is left out as if absent, the
  others are drawn each epoch in proportion to their weights (the expected gradient is the
  weighted loss's) and weigh the validation loss; ``class_weight`` (``"balanced"`` or a dict)
  on the classifier multiplies into them;
- ``feature_importances_`` ``(n_features,)`` (classifier, regressor): how much the target's
  loss (the early-stopping loss) rises when a column's values are shuffled among the rows
  (permutation importance, ``IMPORTANCE_REPEATS`` shuffles of at most ``IMPORTANCE_ROWS``
  of the fitted rows), ``feature_importances_std_`` their spread; an ignored identifier
  scores 0. They are the model's own view, measured on the rows it was fitted on: on the
  validation split alone (tens of rows on small tables) their ranking moved so much between
  seeds that it said little (``wordexperts bench importances``, docs/reproduction/importances).
  They are not gates: gates say where an answer is read from, importances what the answer
  loses without the column;
- ``verbose=1`` prints one line per fit, ``verbose=2`` one per epoch too;
- the regressor's bins keep their count on tied values (a zero-inflated count gets one bin for
  its zeros and the rest for its tail: :func:`~.encoding.split_tied_edges`); with
  ``within_bin`` (ours: on; the paper preset: off) each bin's mean is a ridge regression on the
  model's output at the masked target, so a prediction is no longer capped by the top bin's
  training mean; ``predict_interval`` gives central intervals from the bins' probabilities;
- the imputer keeps integer columns integer (``round_integers``) and fills a heavy-tailed
  column with the median of its predicted distribution (``numeric_fill="auto"``).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import numbers
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import files
from ..checkpoints import DEFAULT_EVERY, Checkpoints
from ..checks import check_positive_int, is_int
from ..core import AttentionConfig, BidirectionalAttention, to_experts
from ..distributed import Distributed
from ..errors import ConfigError, DataError, ModelFileError
from ..train import EarlyStopping, LearningRate, resolve_device, torch_threads, train_mlm
from .encoding import (
    IdentifierWarning,
    TableEncoder,
    as_frame,
    bin_codes,
    id_like_columns,
    match_columns,
    positional_names,
    same_categories,
)

TARGET = "<target>"  # the target's column name inside the encoded table (not a valid user column name)

PRESETS: dict[str | None, dict[str, Any]] = {
    None: dict(
        d_model=32, n_heads=4, d_ff=64, n_layers=1, dropout=0.1, init="keras", lr=3e-3, eps=1e-7,
        epochs="auto", lr_schedule="cosine", batch_size=128, batching="rows", early_stopping=True,
        validation_fraction=0.1, patience=20, n_bins=10, shared_vocabulary="auto", n_members=1, n_levels=10,
        target_share=0.3, clip_grad_norm=None,
    ),
    "paper": dict(
        d_model=20, n_heads=5, d_ff=5, n_layers=1, dropout=0.1, init="keras", lr=1e-3, eps=1e-7,
        epochs=200, lr_schedule="constant", batch_size=128, batching="rows", early_stopping=False,
        validation_fraction=0.1, patience=20, n_bins=10, shared_vocabulary=True, n_members=1, n_levels=0,
        target_share="uniform", clip_grad_norm=None,
    ),
}


def table_attention_config(params: dict[str, Any], *, vocab_size: int, max_len: int) -> AttentionConfig:
    """The estimators' model: one post-LN ``bert`` block with learned positions, sized by ``params``.

    ``params`` holds ``d_model, n_heads, d_ff, n_layers, dropout, init`` (a preset's or an
    estimator's settings); ``max_len`` is the number of columns, the target's included.
    """
    return AttentionConfig(
        vocab_size=vocab_size, max_len=max_len, d_model=params["d_model"], n_heads=params["n_heads"],
        d_ff=params["d_ff"], n_layers=params["n_layers"], block="bert", positional="learned",
        dropout=params["dropout"], layer_norm_eps=1e-6, init=params["init"],
        n_levels=0 if params["shared_vocabulary"] else params.get("n_levels", 0),
    )


def paper_tabular_config(*, n_columns: int = 6, n_bins: int = 10, dropout: float = 0.1) -> AttentionConfig:
    """paper.md §2's model (``PRESETS["paper"]``: width 20, 5 heads of 4, feed-forward 5, Keras init)
    on ``n_columns`` columns of ``n_bins`` tokens each.

    Examples:
        >>> config = paper_tabular_config()
        >>> (config.d_model, config.n_heads, config.d_ff, config.block, config.max_len)
        (20, 5, 5, 'bert', 6)
    """
    return table_attention_config({**PRESETS["paper"], "dropout": dropout}, vocab_size=n_bins, max_len=n_columns)


# epochs="auto": enough epochs for STEP_BUDGET optimizer steps, within [MIN_AUTO_EPOCHS, MAX_AUTO_EPOCHS].
STEP_BUDGET = 2000
MIN_AUTO_EPOCHS, MAX_AUTO_EPOCHS = 10, 200
# patience="auto": PATIENCE_STEPS optimizer steps without improvement, and never fewer than MIN_PATIENCE epochs.
PATIENCE_STEPS = 300
MIN_PATIENCE = 10
PREDICT_CHUNK = 2048  # rows per forward pass at predict time: small chunks stay in cache (measured fastest)
EXTRA = "fitted."  # model-file tensors that are not the members' weights (a regressor's within-bin models)
MIN_WITHIN_ROWS = 20  # training rows a target bin needs for its within-bin regression
IMPORTANCE_ROWS = 2000  # validation rows (at most) that feature importances are measured on
IMPORTANCE_REPEATS = 5  # shuffles of each feature
HEAVY_SKEW = 1.0  # |skewness| past which the imputer's numeric_fill="auto" fills a column with the median


def epoch_budget(epochs: int | str, *, n_rows: int, batch_size: int) -> int:
    """The number of epochs to train for: ``epochs``, or for ``"auto"`` the epochs that make
    about ``STEP_BUDGET`` optimizer steps on ``n_rows`` training rows, kept within
    ``[MIN_AUTO_EPOCHS, MAX_AUTO_EPOCHS]``.

    A 700-row table (6 steps an epoch) gets 200 epochs at most, a 100,000-row one 10:
    early stopping usually ends training sooner, and the cosine learning rate reaches zero at
    the budget's end.

    Examples:
        >>> epoch_budget("auto", n_rows=700, batch_size=128), epoch_budget("auto", n_rows=100_000, batch_size=128)
        (200, 10)
        >>> epoch_budget(30, n_rows=700, batch_size=128)
        30
    """
    if epochs != "auto":
        return int(epochs)
    steps_per_epoch = math.ceil(n_rows / batch_size)
    return min(MAX_AUTO_EPOCHS, max(MIN_AUTO_EPOCHS, math.ceil(STEP_BUDGET / steps_per_epoch)))


def resolve_patience(patience: int | str, *, n_rows: int, batch_size: int) -> int:
    """Epochs without improvement before early stopping: ``patience``, or for ``"auto"`` the
    epochs that make ``PATIENCE_STEPS`` optimizer steps, at least ``MIN_PATIENCE``.

    On a 200-row table an epoch is two steps, and a few dozen steps decide nothing: training
    often sits on a plateau (predicting the mean) before the target is learned.

    Examples:
        >>> resolve_patience("auto", n_rows=200, batch_size=128), resolve_patience("auto", n_rows=50_000, batch_size=128)
        (150, 10)
        >>> resolve_patience(5, n_rows=200, batch_size=128)
        5
    """
    if patience != "auto":
        return int(patience)
    return max(MIN_PATIENCE, math.ceil(PATIENCE_STEPS / math.ceil(n_rows / batch_size)))


@dataclass(frozen=True)
class _Stream:
    """A Parquet source being fitted: the dataset, where the sample's rows lie in it ``(n,)``, the
    target's column there (``None`` for an imputer) and its row count."""

    dataset: Any
    positions: np.ndarray
    target: str | None
    rows: int

    def training_tokens(self, encoder: TableEncoder, valid_rows: np.ndarray | None, *, target: str | None) -> torch.Tensor:
        """Every row of the source encoded (one streaming pass, :func:`~.stream.encode_dataset`, to a
        compact memory-mapped file), less the sample's ``valid_rows``: ``(N - n_valid, L)``, compact ints."""
        from .stream import encode_dataset

        rename = {self.target: target} if self.target is not None else None
        tokens = encode_dataset(encoder, self.dataset, rename=rename)  # (N, L) memmap
        keep = np.ones(tokens.shape[0], dtype=bool)
        if valid_rows is not None:
            keep[self.positions[valid_rows]] = False
        return torch.from_numpy(np.asarray(tokens[keep]))


def _parquet_source(X: object) -> Any | None:
    """``X`` opened as a ``pyarrow.dataset.Dataset`` where it is a path or a dataset, else ``None``."""
    import pyarrow.dataset as ds

    if isinstance(X, (str, os.PathLike, ds.Dataset)):
        from .stream import open_dataset

        return open_dataset(X)
    return None


def _checkpoints(directory: object, resume: object, every: object) -> Checkpoints | None:
    """``fit``'s checkpoint arguments, checked before any work (``None``: no checkpoints)."""
    if directory is None:
        if resume is not False:
            raise ConfigError("resume=True needs checkpoint_dir, the folder of the checkpoint to resume from")
        return None
    return Checkpoints(directory, every=every, resume=resume)


def _resolve_seed(random_state: object) -> int:
    """An int seed from scikit-learn's ``random_state`` (``None``: fresh entropy)."""
    if is_int(random_state):
        return int(random_state) % (2**63)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@dataclass(frozen=True)
class BinDistribution:
    """A regressor's predictive distribution over the target's training bins.

    Shape:
        ``probabilities`` ``(n_rows, K)``, rows summing to one; ``edges`` ``(K + 1,)``
        (outer edges are the training minimum and maximum); ``means`` ``(K,)``, the training
        mean of the target inside each bin: ``predict`` is ``probabilities @ means``.
    """

    probabilities: np.ndarray
    edges: np.ndarray
    means: np.ndarray
    within: np.ndarray | None = None

    def expectation(self) -> np.ndarray:
        """The predicted mean ``(n_rows,)``: each bin's mean for the row (``within``, or the
        bin's training mean) weighted by the bin's probability."""
        if self.within is None:
            return self.probabilities @ self.means
        return np.einsum("nk,nk->n", self.probabilities, self.within)

    def quantile(self, q: float) -> np.ndarray:
        """The ``q``-quantile ``(n_rows,)`` of the predicted distribution, each bin's probability
        spread evenly between its edges (so the answer lies within the training range)."""
        if not 0.0 <= float(q) <= 1.0:
            raise ConfigError(f"q must be in [0, 1], got {q!r}")
        cdf = np.cumsum(self.probabilities, axis=1)  # (N, K)
        cdf[:, -1] = 1.0  # rounding: the last bin closes the distribution
        k = (cdf < q).sum(axis=1).clip(max=cdf.shape[1] - 1)  # first bin whose cdf reaches q
        rows = np.arange(len(k))
        before = cdf[rows, k] - self.probabilities[rows, k]
        mass = self.probabilities[rows, k]
        share = np.divide(q - before, mass, out=np.zeros(len(k)), where=mass > 0)
        low, high = self.edges[k], self.edges[k + 1]
        return low + share.clip(0.0, 1.0) * (high - low)

    def interval(self, coverage: float = 0.9) -> np.ndarray:
        """The central ``coverage`` interval ``(n_rows, 2)``: quantiles ``(1 - c) / 2`` and ``(1 + c) / 2``."""
        if not 0.0 < float(coverage) < 1.0:
            raise ConfigError(f"coverage must be a number in (0, 1), got {coverage!r}")
        tail = (1.0 - float(coverage)) / 2
        return np.stack([self.quantile(tail), self.quantile(1.0 - tail)], axis=1)


class _WordExpertsTable(BaseEstimator):
    """What the three estimators share: encoding, the model, training, masking, files.

    Each estimator spells out its parameters in its own ``__init__``, as scikit-learn's do:
    ``get_params``, ``clone`` and grid searches read them from that signature.
    """

    # scikit-learn checks that do not apply, with the reason (see expected_failed_checks).
    _not_applicable_checks: ClassVar[dict[str, str]] = {
        "check_sample_weight_equivalence_on_dense_data": (
            "training draws its rows at random (in proportion to their weights, each epoch) and "
            "with dropout, so a row of weight 2 and a row given twice train models that are equal "
            "in distribution, not digit for digit; tests/tabular/test_weights.py checks weights "
            "against the model's seed-to-seed spread instead."
        ),
        "check_methods_subset_invariance": (
            "the model computes in float32 and its matrix products are blocked by batch size, so "
            "one row's probabilities can differ in the 7th digit (3e-7 measured) between a batch and "
            "a subset of it (when it happens), and the check's tolerance is 1e-7."
        ),
    }

    # ---- settings ----

    def resolved_params(self) -> dict[str, Any]:
        """The preset's values with every parameter you set laid over them.

        A ``batch_size`` set without an ``lr`` takes the preset's rate scaled by the square root
        of the batch's ratio to the preset's (``3e-3 * sqrt(batch_size / 128)`` by default): up to
        64 times the batch, that kept accuracy within noise where the unchanged rate stalled and
        the linear rule collapsed (docs/reproduction/large-batch).
        """
        if self.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {sorted(PRESETS, key=str)}, got {self.preset!r}")
        preset = PRESETS[self.preset]
        params = dict(preset)
        for name in params:
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        params = _checked(params)
        if self.lr is None and params["batch_size"] != preset["batch_size"]:
            params["lr"] = params["lr"] * math.sqrt(params["batch_size"] / preset["batch_size"])
        return params

    def _model_config(self, params: dict, encoder: TableEncoder) -> AttentionConfig:
        return table_attention_config(params, vocab_size=int(encoder.vocab_size_), max_len=int(encoder.n_columns_))

    # ---- fitting ----

    def _input_frame(self, X: object, *, reset: bool) -> pd.DataFrame:
        """``X`` as a frame (:func:`~.encoding.as_frame`) whose columns are those seen at fit.

        scikit-learn keeps the books through ``validate_data``: ``n_features_in_``,
        ``feature_names_in_`` and the check of the feature count. The columns are checked
        first by :func:`~.encoding.match_columns`, the one column rule: errors that name the
        columns missing, unexpected or moved, and an error for a frame without names after a
        fit with them (scikit-learn only warns). After a fit without names, columns go by position.
        """
        if reset:  # a fit that fails part-way leaves the estimator unfitted, not half-updated
            self.resolved_params()  # bad settings fail before any work
            for name in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
                delattr(self, name)
        frame, named = as_frame(X, what="X", ensure_2d=True)
        if TARGET in frame.columns:
            raise DataError(f"column name {TARGET!r} is reserved for the target inside the model; rename that column")
        if not reset:
            fitted = getattr(self, "feature_names_in_", None)
            names_at_fit = fitted is not None
            columns = list(fitted) if names_at_fit else positional_names(self.n_features_in_)
            frame = match_columns(
                frame, named=named, columns=columns, names_at_fit=names_at_fit, fitted_by=type(self).__name__
            )
            named = names_at_fit
        # No rows: scikit-learn reads the names (only if X named its columns) and their count.
        header = pd.DataFrame(columns=frame.columns if named else pd.RangeIndex(frame.shape[1]))
        validate_data(self, header, reset=reset, skip_check_array=True)
        return frame

    def _sampled(
        self, X: object, y: object, *, target: bool, sample_weight: object = None
    ) -> tuple[object, object, _Stream | None]:
        """``(X, y, None)`` as given, or for a Parquet source (a path or a ``pyarrow.dataset.Dataset``)
        a uniform sample of its rows (:func:`~.stream.sample_rows`, ``SAMPLE_ROWS``), split into
        features and the target column ``y`` names, and the :class:`_Stream` to train on all of it.
        Row weights (``sample_weight``, ``class_weight``) are refused with a source, for now."""
        dataset = _parquet_source(X)
        if dataset is None:
            return X, y, None
        if sample_weight is not None or getattr(self, "class_weight", None) is not None:
            weights = "sample_weight and class_weight are" if hasattr(self, "class_weight") else "sample_weight is"
            raise ConfigError(f"{weights} not available with a Parquet source yet")
        names = dataset.schema.names
        if target and not isinstance(y, str):
            raise ConfigError(f"with a Parquet source, y names its target column (a string), got {type(y).__name__}")
        if target and y not in names:
            raise DataError(f"y={y!r} is not a column of the Parquet data; its columns are {names}")
        if not target and y is not None:
            raise ConfigError("an imputer fits every column of the Parquet data: leave y out")
        from .stream import SAMPLE_ROWS, sample_rows

        sample = sample_rows(dataset, SAMPLE_ROWS, seed=self.random_state if is_int(self.random_state) else 0)
        positions, sample = sample.index.to_numpy(), sample.reset_index(drop=True)
        labels = sample.pop(y) if target else None
        return sample, labels, _Stream(dataset, positions, y if target else None, int(dataset.count_rows()))

    def _check_rows(self, frame: pd.DataFrame) -> None:
        if len(frame) < 2:
            raise DataError(f"{type(self).__name__} needs at least 2 samples to fit, got {len(frame)} sample")

    def _fit_table(
        self,
        table: pd.DataFrame,
        *,
        target: str | None,
        categorical: list[str],
        bins: dict | None = None,
        split_ties: list[str] | None = None,
        sample_weight: np.ndarray | None = None,
        checkpoints: Checkpoints | None = None,
        stream: _Stream | None = None,
    ) -> None:
        """Encode ``table`` (features, then the target if any), build the model, train it.

        ``sample_weight`` ``(N,)`` (checked): rows of weight 0 are left out entirely, as if
        absent; the others are drawn each epoch in proportion to their weights
        (:func:`~wordexperts.train.epoch_order`) and weigh the validation loss. ``stream``: ``table``
        is a sample of a Parquet source (:meth:`_sampled`); the encoder is fitted on it, the model
        trained on every row of the source but the sample's validation rows.
        """
        params = self.resolved_params()
        if not is_int(self.verbose) or self.verbose < 0:
            raise ConfigError(f"verbose must be an int >= 0, got {self.verbose!r}")
        if sample_weight is not None:
            table, sample_weight = table[sample_weight > 0], sample_weight[sample_weight > 0]
            self._check_rows(table)
            if np.ptp(sample_weight) == 0:
                sample_weight = None  # equal weights: the plain shuffle
        recorded = None if checkpoints is None or self.random_state is not None else checkpoints.recorded_seed()
        seed = _resolve_seed(self.random_state) if recorded is None else recorded
        bins = {**(self.bins or {}), **(bins or {})}
        features = table.drop(columns=[target]) if target else table
        ignored = self._identifiers(features, categorical)
        if params["shared_vocabulary"] == "auto":  # one vocabulary where the columns share their values
            names = [str(c) for c in features.columns]
            listed = [_resolve_column(k, names, "categorical") for k in categorical if k != TARGET]
            params["shared_vocabulary"] = same_categories(features.drop(columns=ignored), categorical=listed)
        self.shared_vocabulary_ = params["shared_vocabulary"]
        encoder = TableEncoder(
            n_bins=params["n_bins"], bins=bins or None, shared_vocabulary=params["shared_vocabulary"],
            max_categories=self.max_categories, categorical=categorical or None,
            ignore=ignored or None, split_ties=split_ties,
        )
        tokens = torch.as_tensor(encoder.fit_transform(table), dtype=torch.long)  # (N, L)
        config = self._model_config(params, encoder)
        device = resolve_device(self.device)  # a bad or absent device is refused here, by name
        world = Distributed.from_environment(device=self.device)  # under torchrun: data-parallel over its ranks
        device = world.device if world.active else device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # member 0 is the model a single fit would start from
            members = [BidirectionalAttention(config) for _ in range(params["n_members"])]
        if config.n_levels:  # numeric bins point at the shared quantile levels; the mask token at none
            levels = encoder.token_levels(config.n_levels)  # (vocab, n_levels)
            levels = np.pad(levels, ((0, config.n_tokens - levels.shape[0]), (0, 0)))  # (n_tokens, n_levels)
        for member in members:
            if config.n_levels:
                member.set_token_levels(torch.as_tensor(levels))
            member.to(device)
        ensemble = torch.nn.ModuleList(members)
        tokens = tokens.to(device)

        position = encoder.n_columns_ - 1 if target is not None else None
        train_rows, valid_rows = self._validation_split(table, target, params, seed)
        train_tokens = tokens[torch.as_tensor(train_rows, device=device)]
        if stream is not None:  # train on every row of the source but the validation rows (of the sample)
            train_tokens = stream.training_tokens(encoder, valid_rows, target=target).to(device)
        valid_tokens = None if valid_rows is None else tokens[torch.as_tensor(valid_rows, device=device)]
        train_weights = None if sample_weight is None else sample_weight[train_rows]
        valid_weights = None if sample_weight is None or valid_rows is None else sample_weight[valid_rows]

        self.encoder_ = encoder
        self.models_ = members
        self.model_ = members[0]
        self.target_position_ = position
        history: dict[str, Any] = {"loss": [], "val_loss": [], "seconds": []}
        copies = encoder.n_columns_ if params["batching"] == "copies" else 1
        n_train = train_tokens.shape[0] * copies
        epochs = epoch_budget(params["epochs"], n_rows=n_train, batch_size=params["batch_size"])
        patience = resolve_patience(params["patience"], n_rows=n_train, batch_size=params["batch_size"])
        stopping = EarlyStopping(patience, min_delta=1e-6)

        def on_epoch(epoch: int, loss: float) -> bool:
            history["loss"].append(float(loss))
            if valid_tokens is None:
                return False
            val = self._validation_loss(valid_tokens, table.iloc[valid_rows], valid_weights)
            history["val_loss"].append(val)
            stop = stopping.update(val, ensemble)
            if self.verbose >= 2:
                print(f"epoch {epoch + 1}: loss {loss:.4f}, validation loss {val:.4f}, best {stopping.best_epoch}")
            return stop

        def status() -> dict[str, str]:
            if not history["val_loss"]:
                return {}
            return {"val_loss": f"{history['val_loss'][-1]:.4f}", "best_epoch": str(stopping.best_epoch)}

        def save_state() -> tuple[dict, dict]:
            tensors, document = stopping.state()
            return tensors, {"stopping": document, "loss": history["loss"], "val_loss": history["val_loss"]}

        def load_state(tensors: dict, document: dict) -> None:
            stopping.load_state(tensors, document["stopping"])
            history["loss"], history["val_loss"] = list(document["loss"]), list(document["val_loss"])

        started = time.perf_counter()
        with world.announce_failures():  # a rank that fails tells the others which it was
            trained = train_mlm(
                members, train_tokens, epochs=epochs, batch_size=params["batch_size"], lr=params["lr"],
                eps=params["eps"], batching=params["batching"], seed=seed, n_threads=self.n_threads,
                progress=self.progress, callback=on_epoch, status=status, lr_schedule=params["lr_schedule"],
                position_weights=self._position_weights(params, encoder.n_columns_, position), row_weights=train_weights,
                clip_grad_norm=params["clip_grad_norm"], checkpoints=checkpoints, caller_state=(save_state, load_state),
                world=world,
            )
        history["seconds"] = list(trained.seconds)
        history["road"], history["road_reason"] = trained.road, trained.road_reason  # which training road ran
        history["resumed_from"] = trained.resumed_from
        history["processes"] = world.world_size  # ranks that trained it (torchrun)
        history["rows"] = len(table) if stream is None else stream.rows  # rows of the data fitted on
        restored = stopping.restore(ensemble)
        ensemble.eval()
        self.fit_seconds_ = time.perf_counter() - started
        self.history_ = history
        self.n_epochs_ = len(history["loss"])
        self.best_epoch_ = stopping.best_epoch if restored else self.n_epochs_
        if position is not None:  # on the fitted rows: a validation split of tens of rows was too noisy
            rows = np.sort(np.random.default_rng(seed).permutation(len(table))[:IMPORTANCE_ROWS])
            self._permutation_importances(
                tokens[torch.as_tensor(rows, device=device)], table.iloc[rows],
                None if sample_weight is None else sample_weight[rows], seed,
            )
        if self.verbose >= 1:
            stopped = f" (best {self.best_epoch_})" if history["val_loss"] else ""
            print(
                f"{type(self).__name__}: {len(table)} rows x {encoder.n_columns_} columns, {self.n_epochs_} epochs"
                f"{stopped}, {self.fit_seconds_:.1f} s, training loss {history['loss'][-1]:.4f}"
            )

    def _permutation_importances(
        self, tokens: torch.Tensor, rows: pd.DataFrame, weights: np.ndarray | None, seed: int
    ) -> None:
        """``feature_importances_`` ``(n_features,)``: the mean rise of the early-stopping loss on
        ``rows`` when a feature's values are shuffled among them, over ``IMPORTANCE_REPEATS``
        shuffles; ``feature_importances_std_`` their standard deviation. An ignored identifier gets 0."""
        generator = torch.Generator().manual_seed(seed)
        base = self._validation_loss(tokens, rows, weights)
        ignored = self.encoder_.ignored_columns()
        n_features = self.encoder_.n_columns_ - 1
        rises = np.zeros((n_features, IMPORTANCE_REPEATS))
        for j, column in enumerate(self.encoder_.columns_[:n_features]):
            if column in ignored:
                continue
            for r in range(IMPORTANCE_REPEATS):
                shuffled = tokens.clone()
                shuffled[:, j] = tokens[torch.randperm(len(rows), generator=generator).to(tokens.device), j]
                rises[j, r] = self._validation_loss(shuffled, rows, weights) - base
        self.feature_importances_ = rises.mean(axis=1)
        self.feature_importances_std_ = rises.std(axis=1)

    @staticmethod
    def _position_weights(params: dict, n_columns: int, target: int | None) -> np.ndarray | None:
        """Each column's weight in the training loss: the target's share of it is ``target_share``
        (``"uniform"``: every column counts the same, the paper's masked-LM loss)."""
        share = params["target_share"]
        if share == "uniform" or target is None or n_columns < 2:
            return None
        weights = np.ones(n_columns)
        weights[target] = share / (1.0 - share) * (n_columns - 1)
        return weights

    def _identifiers(self, features: pd.DataFrame, categorical: list) -> list[str]:
        """The feature columns the model ignores: ``id_columns`` (names or positions among the
        features), or with ``"auto"`` the ID-like ones found, each named in a warning."""
        columns = [str(c) for c in features.columns]
        if self.id_columns == "auto":
            listed = [
                _resolve_column(key, columns, "categorical") for key in categorical if key != TARGET
            ]
            found = id_like_columns(features, categorical=listed)
            what = "an imputer leaves its missing cells missing" if isinstance(self, TransformerMixin) else "drop it"
            for name, why in found.items():
                warnings.warn(
                    f"column {name!r} looks like a row identifier ({why}); the model ignores it "
                    f"({what}, or pass id_columns=[] to use it)",
                    IdentifierWarning,
                    stacklevel=4,
                )
            return list(found)
        if self.id_columns is None:
            return []
        if isinstance(self.id_columns, (str, dict)) or not hasattr(self.id_columns, "__iter__"):
            raise ConfigError(f"id_columns must be 'auto', None or a list of feature columns, got {self.id_columns!r}")
        return [_resolve_column(key, columns, "id_columns") for key in self.id_columns]

    def _validation_split(
        self, table: pd.DataFrame, target: str | None, params: dict, seed: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Training and validation row positions: ``validation_fraction`` of the rows held out
        for early stopping (stratified by class in a classifier), or all rows and ``None``."""
        n = len(table)
        n_valid = int(round(params["validation_fraction"] * n))
        if not params["early_stopping"] or n_valid < 1 or n - n_valid < 1:
            return np.arange(n), None
        order = np.random.default_rng(seed).permutation(n)
        valid = order[:n_valid]
        if isinstance(self, ClassifierMixin):
            from sklearn.model_selection import train_test_split

            labels = table[target].to_numpy()
            counts = pd.Series(labels).value_counts()
            if counts.min() >= 2 and n_valid >= len(counts) and n - n_valid >= len(counts):
                _, valid = train_test_split(np.arange(n), test_size=n_valid, stratify=labels, random_state=seed % 2**32)
        valid = np.sort(valid)
        return np.setdiff1d(np.arange(n), valid), valid

    def _validation_loss(self, tokens: torch.Tensor, rows: pd.DataFrame, weights: np.ndarray | None = None) -> float:
        """The validation rows' mean cross-entropy (weighted by ``weights`` ``(N,)`` if given): of
        the target's probabilities as ``predict_proba`` gives them (the members' average), or for
        an imputer of every column masked in turn (unweighted)."""
        with self._evaluating(), torch.no_grad():
            if self.target_position_ is None:
                positions = torch.arange(tokens.shape[1], device=tokens.device)
                return float(sum(float(m.mlm_loss_at(tokens, positions)) for m in self.models_) / len(self.models_))
            allowed = self._allowed_tokens(TARGET, tokens.device)
            proba = self._probabilities(tokens, self.target_position_, allowed)  # (N, K)
            index = torch.searchsorted(allowed, tokens[:, self.target_position_].contiguous())  # (N,)
            picked = proba.gather(1, index[:, None].clamp(max=allowed.numel() - 1))[:, 0]
            return float(np.average(-torch.log(picked.clamp_min(1e-300)).cpu().numpy(), weights=weights))

    # ---- masking ----

    @contextlib.contextmanager
    def _evaluating(self):
        """The members in eval mode (no dropout) for the block, then as they were."""
        modes = [m.training for m in self.models_]
        for m in self.models_:
            m.eval()
        try:
            yield
        finally:
            for m, mode in zip(self.models_, modes, strict=True):
                m.train(mode)

    def _allowed_tokens(self, column: str, device: torch.device) -> torch.Tensor:
        """``column``'s real-value tokens ``(K,)``, sorted."""
        return torch.as_tensor(self.encoder_.column_tokens(column), dtype=torch.long, device=device)

    def _probabilities(self, tokens: torch.Tensor, position: int, allowed: torch.Tensor) -> torch.Tensor:
        """``P(value | rest of the row)`` ``(N, K)`` float64 over the ``allowed`` tokens of the
        column at ``position``, masked alone; an ensemble's is its members' average.

        Chunked; the encoder made ``tokens``, so they skip the model's checks (``masked_states_at``).
        The output layer runs feature-major, classes along dim 0: the same logits to the bit as
        ``masked_logits_at``, and PyTorch's CPU softmax is ~4x faster there than over a short last
        dimension.
        """
        p = torch.tensor([position], device=tokens.device)
        out = torch.empty(len(tokens), allowed.numel(), dtype=torch.float64, device=tokens.device)  # (N, K)
        for chunk, rows in zip(tokens.split(PREDICT_CHUNK), out.split(PREDICT_CHUNK), strict=True):
            for i, m in enumerate(self.models_):
                states = m.masked_states_at(chunk, p)[:, 0]  # (n, d)
                logits = (m.head.weight @ states.T + m.head.bias[:, None])[allowed]  # (K, n)
                proba = torch.softmax(logits.double(), dim=0).T  # (n, K)
                if i == 0:
                    rows.copy_(proba)
                else:
                    rows.add_(proba)
            if len(self.models_) > 1:
                rows.div_(len(self.models_))  # the members' average
        return out

    def _column_probabilities(self, tokens: np.ndarray, column: str) -> np.ndarray:
        """``P(value | rest of the row)`` over ``column``'s real values: ``(N, K)`` float64."""
        position = self.encoder_.columns_.index(column)
        device = next(self.model_.parameters()).device
        x = torch.as_tensor(tokens, dtype=torch.long, device=device)
        with self._evaluating(), torch_threads(self.n_threads), torch.inference_mode():
            proba = self._probabilities(x, position, self._allowed_tokens(column, device)).cpu().numpy()
        if not np.isfinite(proba).all():
            raise FloatingPointError(f"the model produced non-finite probabilities for column {column!r}")
        return proba

    def _features_tokens(self, X: object) -> np.ndarray:
        """Encode a feature table, the target column (if any) held by the missing token."""
        check_is_fitted(self, "model_")
        frame = self._input_frame(X, reset=False)
        return self.encoder_.transform(frame, missing=[] if self.target_position_ is None else [TARGET])

    # ---- the mixture-of-experts view ----

    def explain(self, X: object, *, column: str | None = None, member: int | None = None) -> pd.DataFrame:
        """Gate weights the masked target (or ``column``) puts on every column, row by row.

        For a single-block model these are the mixture weights of paper.md §1: the masked
        position's prediction is a gate-weighted average of one expert vector per column.
        An ensemble (``n_members > 1``) gives its members' average, or member ``member``'s
        (``0 .. n_members - 1``; each member is a model of its own: ``to_experts(models_[i])``).

        Shape:
            ``(n_rows, (H + 1) * L)``: columns a MultiIndex ``(head, column)`` with heads
            ``"head 0"`` ... ``"head H-1"`` (each row of a head sums to one) and ``"sum"``
            (over heads); ``L`` includes the masked column itself (weight on its mask token).
        """
        check_is_fitted(self, "model_")
        if self.model_.config.n_layers != 1:
            raise ConfigError(
                f"explain needs a single-block model (gates of one mixture); this one has "
                f"{self.model_.config.n_layers} layers"
            )
        names = self._display_columns()
        if column is None:
            if self.target_position_ is None:
                raise ConfigError("an imputer has no target: pass column= to explain one of its columns")
            position = self.target_position_
        else:
            if column not in names:
                raise ConfigError(f"column {column!r} is not one of the model's columns {names}")
            position = names.index(column)
        if member is None:
            chosen = self.models_
        elif is_int(member) and 0 <= member < len(self.models_):
            chosen = [self.models_[member]]
        else:
            raise ConfigError(f"member must be None or an int in [0, {len(self.models_)}), got {member!r}")
        tokens = torch.as_tensor(self._features_tokens(X), dtype=torch.long)
        p = torch.tensor([position])
        gates = 0.0
        with torch_threads(self.n_threads), torch.no_grad():
            for model in chosen:
                experts = to_experts(copy.deepcopy(model).cpu().float())  # the fitted model stays where it is
                gates = gates + torch.cat(
                    [experts.gates_at(chunk, p)[:, :, 0] for chunk in tokens.split(PREDICT_CHUNK)]
                ).double().numpy()  # (N, H, L)
        gates = gates / len(chosen)
        H = gates.shape[1]
        blocks = [gates[:, h] for h in range(H)] + [gates.sum(axis=1)]
        heads = [f"head {h}" for h in range(H)] + ["sum"]
        columns = pd.MultiIndex.from_product([heads, names], names=["head", "column"])
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(np.concatenate(blocks, axis=1), columns=columns, index=index)

    def explain_summary(self, X: object, *, column: str | None = None, member: int | None = None) -> pd.DataFrame:
        """Mean gate weight over the rows of ``X``: ``(L, H + 1)``, one row per column, one column per head and ``sum``."""
        gates = self.explain(X, column=column, member=member)
        return gates.mean(axis=0).unstack("head")[gates.columns.get_level_values(0).unique()].reindex(
            gates.columns.get_level_values(1).unique()
        )

    def _display_columns(self) -> list[str]:
        names = list(self.encoder_.columns_)
        if self.target_position_ is not None:
            names[self.target_position_] = self.target_name_
        return names

    # ---- files ----

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write the fitted estimator to one safetensors file (tensors + JSON), atomically.

        Read it back with :func:`wordexperts.load`; loading never executes code.
        """
        check_is_fitted(self, "model_")
        document = {
            "estimator": type(self).__name__,
            "params": _json_params(self.get_params()),
            "config": self.model_.config.to_dict(),
            "encoder": self.encoder_.to_dict(),
            "fitted": self._fitted_document(),
        }
        tensors = {
            _member_prefix(i, len(self.models_)) + name: t.float()
            for i, model in enumerate(self.models_)
            for name, t in model.state_dict().items()
        }
        tensors.update(self._extra_tensors())
        return files.write_model_file(path, tensors, document)

    def _extra_tensors(self) -> dict[str, torch.Tensor]:
        """Fitted arrays besides the members' weights, named ``EXTRA + name`` in the model file."""
        return {}

    def _fitted_document(self) -> dict:
        return {
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if not hasattr(self, "feature_names_in_") else [str(c) for c in self.feature_names_in_],
            "target_position": self.target_position_,
            "target_name": getattr(self, "target_name_", None),
            "n_members": len(self.models_),
            "history": self.history_,
            "n_epochs": self.n_epochs_,
            "best_epoch": self.best_epoch_,
            "fit_seconds": self.fit_seconds_,
        }

    def _restore(self, tensors: dict, document: dict, device: str | None = None) -> None:
        fitted = document["fitted"]
        self.encoder_ = TableEncoder.from_dict(document["encoder"])
        k = fitted.get("n_members", 1)  # files of 0.4 hold one model
        # A model fitted on a GPU opens on a machine without one, on the CPU.
        if device is None and self.device != "cpu" and not torch.cuda.is_available():
            warnings.warn(
                f"this model was fitted with device={self.device!r}; no CUDA GPU here, so it runs on the CPU",
                RuntimeWarning, stacklevel=3,
            )
        device = resolve_device("auto" if self.device != "cpu" else "cpu", warn=False) if device is None else (
            resolve_device(device)
        )
        members = []
        tensors = {name: t for name, t in tensors.items() if not name.startswith(EXTRA)}
        for i in range(k):
            prefix = _member_prefix(i, k)
            model = BidirectionalAttention(AttentionConfig(**document["config"]))
            model.load_state_dict({name[len(prefix) :]: t for name, t in tensors.items() if name.startswith(prefix)})
            members.append(model.eval().to(device))
        self.models_ = members
        self.model_ = members[0]
        self.n_features_in_ = fitted["n_features_in"]
        if fitted["feature_names_in"] is not None:
            self.feature_names_in_ = np.asarray(fitted["feature_names_in"], dtype=object)
        self.target_position_ = fitted["target_position"]
        if fitted["target_name"] is not None:
            self.target_name_ = fitted["target_name"]
        self.history_ = fitted["history"]
        self.n_epochs_ = fitted["n_epochs"]
        self._check_restored()
        self.best_epoch_ = fitted["best_epoch"]
        self.fit_seconds_ = fitted["fit_seconds"]

    def _check_restored(self) -> None:
        """The pieces of a loaded file must fit together (the JSON is hashed too; this catches bugs)."""
        encoder, config = self.encoder_, self.model_.config
        problems = []
        if config.vocab_size != encoder.vocab_size_ or config.max_len != encoder.n_columns_:
            problems.append("the model's vocabulary or length does not match the encoder's")
        position = encoder.columns_.index(TARGET) if TARGET in encoder.columns_ else None
        if position != self.target_position_:
            problems.append("the target position does not match the encoder's columns")
        if self.n_features_in_ != encoder.n_columns_ - (position is not None):
            problems.append("n_features_in does not match the encoder's columns")
        if problems:
            raise ModelFileError("; ".join(problems))

    def __setstate__(self, state: dict) -> None:
        """Unpickle, including estimators pickled by 0.4 (one model, no ensemble) and 0.5
        (parameters added since take their defaults)."""
        super().__setstate__(state)
        if "model_" in vars(self) and "models_" not in vars(self):
            self.models_ = [self.model_]
        for name, parameter in inspect.signature(type(self).__init__).parameters.items():
            if name != "self" and name not in vars(self):
                setattr(self, name, parameter.default)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN/None is each column's missing token
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags


def _resolve_column(key: object, columns: list[str], param: str) -> str:
    """A feature column's name from its name or position (negative counts from the end)."""
    if isinstance(key, str) and key in columns:
        return key
    if is_int(key) and -len(columns) <= key < len(columns):
        return columns[key]
    raise ConfigError(
        f"{param} names {key!r}, which is not a feature column (name or position); the features are {columns}"
    )


def _member_prefix(i: int, n_members: int) -> str:
    """Member ``i``'s tensor names in a model file: plain for a single model, ``member{i}.`` in an ensemble."""
    return "" if n_members == 1 else f"member{i}."


_INTS = ("d_model", "n_heads", "d_ff", "n_layers", "batch_size", "n_bins", "n_members")
_FLOATS = {"lr": (0.0, math.inf), "eps": (0.0, math.inf), "dropout": (-1e-12, 1.0), "validation_fraction": (0.0, 1.0)}


def _checked(params: dict) -> dict:
    """Settings as plain python values (numpy ints from a grid are fine), each in its range."""
    for name in _INTS:
        params[name] = check_positive_int(name, params[name])
    share = params["target_share"]
    if share != "uniform":
        if not isinstance(share, numbers.Real) or isinstance(share, bool) or not 0 < share < 1:
            raise ConfigError(f"target_share must be 'uniform' or a number in (0, 1), got {share!r}")
        share = float(share)
        if params["batching"] == "copies":
            raise ConfigError(
                f"target_share={share} weighs the target's column, which batching='copies' cannot; "
                "pass target_share='uniform' with it"
            )
    params["target_share"] = share
    clip = params["clip_grad_norm"]
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not 0 < clip < math.inf):
        raise ConfigError(f"clip_grad_norm must be a positive number or None (no clipping), got {clip!r}")
    if not is_int(params["n_levels"]) or params["n_levels"] < 0:
        raise ConfigError(f"n_levels must be an int >= 0, got {params['n_levels']!r}")
    params["n_levels"] = int(params["n_levels"])
    for name in ("epochs", "patience"):
        if params[name] != "auto":
            params[name] = check_positive_int(name, params[name])
    if params["lr_schedule"] not in LearningRate.SCHEDULES:
        raise ConfigError(f"lr_schedule must be one of {LearningRate.SCHEDULES}, got {params['lr_schedule']!r}")
    for name, (low, high) in _FLOATS.items():
        value = params[name]
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not low < float(value) < high:
            raise ConfigError(f"{name} must be a number in ({max(low, 0.0)}, {high}), got {value!r}")
        params[name] = float(value)
    shared = params["shared_vocabulary"]
    if not (isinstance(shared, (bool, np.bool_)) or shared == "auto"):  # "auto": decided at fit (same_categories)
        raise ConfigError(f"shared_vocabulary must be True, False or 'auto', got {shared!r}")
    params["shared_vocabulary"] = shared if shared == "auto" else bool(shared)
    for name in ("early_stopping",):
        if not isinstance(params[name], (bool, np.bool_)):
            raise ConfigError(f"{name} must be True or False, got {params[name]!r}")
        params[name] = bool(params[name])
    if params["batching"] not in ("rows", "copies"):
        raise ConfigError(f"batching must be 'rows' or 'copies', got {params['batching']!r}")
    if params["d_model"] % params["n_heads"]:
        raise ConfigError(f"d_model ({params['d_model']}) must be a multiple of n_heads ({params['n_heads']})")
    return params


def _json_params(params: dict) -> dict:
    """Parameters as JSON: numpy scalars as python ones; ``bins`` as pairs (its keys may be ints)."""

    def plain(value: object) -> object:
        if isinstance(value, np.random.RandomState):
            return None  # a generator's state is not a setting; the loaded model is already fitted
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return [[plain(k), plain(v)] for k, v in value.items()]
        return value

    return {name: plain(value) for name, value in params.items()}


def _params_from_json(params: dict) -> dict:
    params = dict(params)
    if isinstance(params.get("bins"), list):
        params["bins"] = {key: value for key, value in params["bins"]}
    return params


def _target_name(y: object, features: pd.Index) -> str:
    """How the target is shown (explain, CLI): ``y``'s name, or "target"; never a feature's name."""
    name = getattr(y, "name", None)
    name = str(name) if isinstance(name, str) and name else "target"
    return name if name not in set(features) else f"{name} (target)"


def _as_sample_weight(sample_weight: object, *, n_rows: int) -> np.ndarray | None:
    """``sample_weight`` as float64 ``(n_rows,)``: finite, non-negative, not all zero (or ``None``)."""
    if sample_weight is None:
        return None
    if hasattr(sample_weight, "to_numpy"):
        sample_weight = sample_weight.to_numpy()
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("sample_weight must be numbers, one per row") from None
    if w.ndim == 0:
        w = np.full(n_rows, float(w))
    if w.shape != (n_rows,):
        raise DataError(f"sample_weight must have one weight per row: shape ({n_rows},), got {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise DataError(f"sample_weight must be finite and >= 0; row {bad[0]} has {w[bad[0]]!r}")
    if not (w > 0).any():
        raise DataError("every sample_weight is zero: no row to fit on")
    return w


def _as_target(y: object, *, n_rows: int) -> np.ndarray:
    """A 1-D target; a column vector is accepted (with scikit-learn's warning), NaN is an error."""
    from sklearn.utils.validation import column_or_1d

    if y is None:
        raise DataError("this estimator requires y to be passed, but the target y is None")
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = column_or_1d(np.asarray(y, dtype=object if np.asarray(y).dtype.kind in "OUS" else None), warn=True)
    if len(y) != n_rows:
        raise DataError(f"X has {n_rows} rows but y has {len(y)}")
    missing = pd.isna(y)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise DataError(f"y has {missing.sum()} missing value(s) (NaN/None), first at row {rows[0]}; drop those rows")
    return y


class WordExpertsClassifier(ClassifierMixin, _WordExpertsTable):
    """Classifier: the target is the table's last word, predicted by masking it.

    Accepts DataFrames with mixed dtypes (category, string, bool, int, float; NaN/None are
    missing tokens), numpy arrays, and anything with ``to_pandas()`` or the dataframe
    interchange protocol. See the module docstring for the presets and defaults.

    Shape:
        ``X`` ``(n_rows, n_features)``, ``y`` ``(n_rows,)``; ``predict_proba`` ->
        ``(n_rows, n_classes)`` in the order of ``classes_``; ``explain`` -> see
        :meth:`explain`.

    Examples:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"colour": rng.choice(["red", "blue"], 200), "size": rng.normal(size=200)})
        >>> y = np.where(X["colour"] == "red", "apple", "plum")
        >>> model = WordExpertsClassifier(epochs=40, random_state=0).fit(X, y)
        >>> model.score(X, y)
        1.0
        >>> model.predict_proba(X.head(2)).shape
        (2, 2)
    """

    def __init__(
        self,
        *,
        preset: str | None = None,
        d_model: int | None = None,
        n_heads: int | None = None,
        d_ff: int | None = None,
        n_layers: int | None = None,
        dropout: float | None = None,
        init: str | None = None,
        lr: float | None = None,
        eps: float | None = None,
        epochs: int | str | None = None,
        lr_schedule: str | None = None,
        batch_size: int | None = None,
        batching: str | None = None,
        early_stopping: bool | None = None,
        validation_fraction: float | None = None,
        patience: int | str | None = None,
        n_bins: int | None = None,
        bins: dict[str, int] | None = None,
        shared_vocabulary: bool | str | None = None,
        n_members: int | None = None,
        n_levels: int | None = None,
        target_share: float | str | None = None,
        clip_grad_norm: float | None = None,
        max_categories: int = 300,
        categorical: list[str] | None = None,
        id_columns: str | list[str] | None = "auto",
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        progress: bool = False,
        verbose: int = 0,
        class_weight: str | dict | None = None,
    ) -> None:
        self.preset = preset
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.n_layers = n_layers
        self.dropout = dropout
        self.init = init
        self.lr = lr
        self.eps = eps
        self.epochs = epochs
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.batching = batching
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.n_bins = n_bins
        self.bins = bins
        self.shared_vocabulary = shared_vocabulary
        self.n_members = n_members
        self.n_levels = n_levels
        self.target_share = target_share
        self.clip_grad_norm = clip_grad_norm
        self.max_categories = max_categories
        self.categorical = categorical
        self.id_columns = id_columns
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.progress = progress
        self.verbose = verbose
        self.class_weight = class_weight

    def fit(
        self, X: object, y: object, sample_weight: object = None, *, checkpoint_dir: object = None,
        resume: bool = False, checkpoint_every: int | str = DEFAULT_EVERY,
    ) -> WordExpertsClassifier:
        """Fit on ``X`` ``(n_rows, n_features)`` and labels ``y`` ``(n_rows,)``.

        ``sample_weight`` ``(n_rows,)``, non-negative: a row of weight 0 is left out as if absent;
        the others are drawn in proportion to their weight in every epoch, and weigh the
        validation loss. ``class_weight`` multiplies into them.

        ``checkpoint_dir``: a folder where training keeps a checkpoint, written every
        ``checkpoint_every`` steps (an int) or seconds (``"60s"``, ``"5m"``) and on Ctrl-C;
        ``resume=True`` goes on from it (:mod:`wordexperts.checkpoints`), and the fitted model
        equals an uninterrupted fit's, bitwise on CPU with the same seed and threads.
        ``random_state=None`` then takes the seed the checkpoint's run drew.
        """
        checkpoints = _checkpoints(checkpoint_dir, resume, checkpoint_every)
        X, y, stream = self._sampled(X, y, target=True, sample_weight=sample_weight)
        frame = self._input_frame(X, reset=True)
        self._check_rows(frame)
        self.target_name_ = _target_name(y, frame.columns)
        y = _as_target(y, n_rows=len(frame))
        weights = _as_sample_weight(sample_weight, n_rows=len(frame))
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise DataError(f"the target has only one class ({classes[0]!r}); a classifier needs at least 2 classes")
        if len(classes) > self.max_categories:
            raise DataError(f"the target has {len(classes)} classes, more than max_categories={self.max_categories}")
        if self.class_weight is not None:
            from sklearn.utils.class_weight import compute_sample_weight

            given = self.class_weight
            if not (given == "balanced" or isinstance(given, dict)):
                raise ConfigError(f"class_weight must be None, 'balanced' or a dict {{class: weight}}, got {given!r}")
            unknown = [c for c in given if c not in set(classes)] if isinstance(given, dict) else []
            if unknown:
                raise ConfigError(f"class_weight names {unknown}, not classes of y; the classes are {classes.tolist()}")
            by_class = compute_sample_weight(self.class_weight, y)
            weights = by_class if weights is None else weights * by_class
        table = frame.assign(**{TARGET: pd.Series(y, index=frame.index, dtype=object)})
        self._fit_table(
            table, target=TARGET, categorical=[TARGET, *(self.categorical or [])], sample_weight=weights,
            checkpoints=checkpoints, stream=stream,
        )
        self.classes_ = np.asarray(self.encoder_.categories_[TARGET], dtype=classes.dtype)
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities ``(n_rows, n_classes)``, columns in the order of ``classes_``.

        ``X`` may be a Parquet source (a path or a ``pyarrow.dataset.Dataset``), read batch by
        batch (:func:`~.stream.answer_dataset`; to write the answers to Parquet without holding
        them, :func:`~.stream.predict_to_parquet`)."""
        check_is_fitted(self, "model_")
        source = _parquet_source(X)
        if source is not None:
            from .stream import answer_dataset

            return answer_dataset(self, source, "predict_proba")
        return self._column_probabilities(self._features_tokens(X), TARGET)

    def predict_log_proba(self, X: object) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: object) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def _fitted_document(self) -> dict:
        return {**super()._fitted_document(), "classes_dtype": self.classes_.dtype.str}

    def _restore(self, tensors: dict, document: dict, device: str | None = None) -> None:
        super()._restore(tensors, document, device)
        dtype = np.dtype(document["fitted"]["classes_dtype"])
        self.classes_ = np.asarray(self.encoder_.categories_[TARGET], dtype=dtype)


class WordExpertsRegressor(RegressorMixin, _WordExpertsTable):
    """Regressor: the target is cut into quantile bins (``target_bins``) and predicted by masking.

    ``predict`` returns the expectation under the predicted bin distribution, in the
    target's original units, using each bin's training mean; :meth:`predict_distribution`
    returns the bins' probabilities with their edges; :meth:`bin_mse` is the paper's metric
    (squared difference of bin indices).

    Shape:
        ``X`` ``(n_rows, n_features)``, ``y`` ``(n_rows,)`` float; ``predict`` -> ``(n_rows,)``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(300, 3))
        >>> y = 3 * X[:, 0] + rng.normal(scale=0.1, size=300)
        >>> model = WordExpertsRegressor(random_state=0).fit(X, y)
        >>> bool(model.score(X, y) > 0.8)
        True
    """

    def __init__(
        self,
        *,
        preset: str | None = None,
        d_model: int | None = None,
        n_heads: int | None = None,
        d_ff: int | None = None,
        n_layers: int | None = None,
        dropout: float | None = None,
        init: str | None = None,
        lr: float | None = None,
        eps: float | None = None,
        epochs: int | str | None = None,
        lr_schedule: str | None = None,
        batch_size: int | None = None,
        batching: str | None = None,
        early_stopping: bool | None = None,
        validation_fraction: float | None = None,
        patience: int | str | None = None,
        n_bins: int | None = None,
        bins: dict[str, int] | None = None,
        target_bins: int | None = None,
        shared_vocabulary: bool | str | None = None,
        n_members: int | None = None,
        n_levels: int | None = None,
        target_share: float | str | None = None,
        clip_grad_norm: float | None = None,
        max_categories: int = 300,
        categorical: list[str] | None = None,
        id_columns: str | list[str] | None = "auto",
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        progress: bool = False,
        verbose: int = 0,
        within_bin: bool | None = None,
    ) -> None:
        self.preset = preset
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.n_layers = n_layers
        self.dropout = dropout
        self.init = init
        self.lr = lr
        self.eps = eps
        self.epochs = epochs
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.batching = batching
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.n_bins = n_bins
        self.bins = bins
        self.target_bins = target_bins
        self.shared_vocabulary = shared_vocabulary
        self.n_members = n_members
        self.n_levels = n_levels
        self.target_share = target_share
        self.clip_grad_norm = clip_grad_norm
        self.max_categories = max_categories
        self.categorical = categorical
        self.id_columns = id_columns
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.progress = progress
        self.verbose = verbose
        self.within_bin = within_bin

    def fit(
        self, X: object, y: object, sample_weight: object = None, *, checkpoint_dir: object = None,
        resume: bool = False, checkpoint_every: int | str = DEFAULT_EVERY,
    ) -> WordExpertsRegressor:
        """Fit on ``X`` ``(n_rows, n_features)`` and a numeric ``y`` ``(n_rows,)``.

        ``sample_weight`` ``(n_rows,)``, non-negative: a row of weight 0 is left out as if absent;
        the others are drawn in proportion to their weight in every epoch, weigh the validation
        loss and the within-bin regressions.

        ``checkpoint_dir``: a folder where training keeps a checkpoint, written every
        ``checkpoint_every`` steps (an int) or seconds (``"60s"``, ``"5m"``) and on Ctrl-C;
        ``resume=True`` goes on from it (:mod:`wordexperts.checkpoints`), and the fitted model
        equals an uninterrupted fit's, bitwise on CPU with the same seed and threads.
        ``random_state=None`` then takes the seed the checkpoint's run drew.
        """
        checkpoints = _checkpoints(checkpoint_dir, resume, checkpoint_every)
        X, y, stream = self._sampled(X, y, target=True, sample_weight=sample_weight)
        frame = self._input_frame(X, reset=True)
        self._check_rows(frame)
        self.target_name_ = _target_name(y, frame.columns)
        y = _as_target(y, n_rows=len(frame))
        weights = _as_sample_weight(sample_weight, n_rows=len(frame))
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError("a regressor's target must be numeric; use WordExpertsClassifier for labels") from None
        if not np.isfinite(y).all():
            raise DataError(
                f"y has {int((~np.isfinite(y)).sum())} infinite value(s); a regression target must be finite"
            )
        table = frame.assign(**{TARGET: y})
        self._target_variance = float(np.var(y)) or 1.0  # a constant target: any scale will do
        target_bins = self.target_bins if self.target_bins is not None else self.resolved_params()["n_bins"]
        self._fit_table(
            table, target=TARGET, categorical=list(self.categorical or []), bins={TARGET: target_bins},
            split_ties=[TARGET], sample_weight=weights, checkpoints=checkpoints, stream=stream,
        )
        self.within_bin_ = self._within_bin_resolved()
        if self.within_bin_:
            kept = slice(None) if weights is None else weights > 0
            self._fit_within_bins(frame[kept], y[kept], None if weights is None else weights[kept])
        return self

    def _within_bin_resolved(self) -> bool:
        """``within_bin``, or the preset's choice: on for ours, off for the paper's recipe."""
        if self.within_bin is None:
            return self.preset is None
        if not isinstance(self.within_bin, (bool, np.bool_)):
            raise ConfigError(f"within_bin must be True, False or None, got {self.within_bin!r}")
        return bool(self.within_bin)

    def _states(self, tokens: np.ndarray) -> list[np.ndarray]:
        """Each member's output at the masked target: ``k`` arrays ``(N, d)`` float64."""
        device = next(self.model_.parameters()).device
        x = torch.as_tensor(tokens, dtype=torch.long, device=device)
        p = torch.tensor([self.target_position_], device=device)
        with self._evaluating(), torch_threads(self.n_threads), torch.no_grad():
            return [
                torch.cat([m.masked_states_at(c, p)[:, 0] for c in x.split(PREDICT_CHUNK)]).double().cpu().numpy()
                for m in self.models_
            ]

    def _fit_within_bins(self, frame: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None) -> None:
        """Each member's linear model of the target inside each bin, read from the model's output
        at the masked target (ridge, penalty by generalised cross-validation), on the training rows.

        ``within_coef_`` ``(k, K, d)`` and ``within_intercept_`` ``(k, K)``; a bin with fewer
        than ``MIN_WITHIN_ROWS`` rows, or whose values are all one, keeps its training mean.
        """
        from sklearn.linear_model import RidgeCV

        edges = np.asarray(self.encoder_.bin_edges_[TARGET], dtype=np.float64)
        means = np.asarray(self.encoder_.bin_means_[TARGET], dtype=np.float64)
        codes = bin_codes(edges, y)
        states = self._states(self._features_tokens(frame))
        K, d = len(means), states[0].shape[1]
        coef, intercept = np.zeros((len(states), K, d)), np.tile(means, (len(states), 1))
        for m, h in enumerate(states):
            for k in range(K):
                rows = codes == k
                if rows.sum() < MIN_WITHIN_ROWS or np.ptp(y[rows]) == 0:
                    continue
                ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(
                    h[rows], y[rows], sample_weight=None if weights is None else weights[rows]
                )
                coef[m, k], intercept[m, k] = ridge.coef_, ridge.intercept_
        self.within_coef_, self.within_intercept_ = coef, intercept

    def _within(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The bins' probabilities ``(N, K)`` (the members' average) and the ensemble's mean of the
        target inside each bin for each row ``(N, K)``: each member's within-bin prediction (clipped
        to the bin's edges), weighted by its probability of the bin."""
        edges = np.asarray(self.encoder_.bin_edges_[TARGET], dtype=np.float64)
        device = next(self.model_.parameters()).device
        x = torch.as_tensor(tokens, dtype=torch.long, device=device)
        allowed = self._allowed_tokens(TARGET, device)
        p = torch.tensor([self.target_position_], device=device)
        weighted, total = 0.0, 0.0
        with self._evaluating(), torch_threads(self.n_threads), torch.no_grad():
            for m, model in enumerate(self.models_):
                h = torch.cat([model.masked_states_at(c, p)[:, 0] for c in x.split(PREDICT_CHUNK)])  # (N, d)
                proba = torch.softmax(model.head(h)[:, allowed].double(), dim=1).cpu().numpy()  # (N, K)
                inside = h.double().cpu().numpy() @ self.within_coef_[m].T + self.within_intercept_[m]  # (N, K)
                inside = np.clip(inside, edges[:-1], edges[1:])
                weighted, total = weighted + proba * inside, total + proba
        means = np.asarray(self.encoder_.bin_means_[TARGET], dtype=np.float64)
        within = np.divide(weighted, total, out=np.broadcast_to(means, weighted.shape).copy(), where=total > 0)
        proba = total / len(self.models_)
        if not (np.isfinite(proba).all() and np.isfinite(within).all()):
            raise FloatingPointError("the model produced non-finite predictions for the target")
        return proba, within

    def _validation_loss(self, tokens: torch.Tensor, rows: pd.DataFrame, weights: np.ndarray | None = None) -> float:
        """Squared error (weighted by ``weights`` if given) of the predicted expectation (what
        ``predict`` is for; the bins' means, not the within-bin ones), over the training target's
        variance: 1 is predicting the mean, whatever the target's units.

        (The bins' cross-entropy bottoms out long before the expectation stops improving.)
        """
        means = torch.as_tensor(np.asarray(self.encoder_.bin_means_[TARGET], dtype=np.float64))
        with self._evaluating(), torch.no_grad():
            proba = self._probabilities(tokens, self.target_position_, self._allowed_tokens(TARGET, tokens.device))
        expectation = proba.cpu() @ means
        error = np.average((expectation.numpy() - rows[TARGET].to_numpy(dtype=np.float64)) ** 2, weights=weights)
        return float(error / self._target_variance)  # scale-free, as early stopping's min_delta needs

    def predict_distribution(self, X: object) -> BinDistribution:
        """Probabilities of the target's training bins, with the bins' edges and means, and (with
        ``within_bin``) each row's mean inside each bin."""
        tokens = self._features_tokens(X)
        if getattr(self, "within_bin_", False):
            proba, within = self._within(tokens)
        else:
            proba, within = self._column_probabilities(tokens, TARGET), None
        return BinDistribution(
            probabilities=proba,
            edges=np.asarray(self.encoder_.bin_edges_[TARGET], dtype=np.float64),
            means=np.asarray(self.encoder_.bin_means_[TARGET], dtype=np.float64),
            within=within,
        )

    def predict(self, X: object) -> np.ndarray:
        """The predicted mean ``(n_rows,)`` in the target's units (:meth:`BinDistribution.expectation`).

        ``X`` may be a Parquet source (a path or a ``pyarrow.dataset.Dataset``), read batch by batch."""
        source = _parquet_source(X)
        if source is not None:
            from .stream import answer_dataset

            return answer_dataset(self, source, "predict")
        return self.predict_distribution(X).expectation()

    def predict_interval(self, X: object, coverage: float = 0.9) -> np.ndarray:
        """A central prediction interval ``(n_rows, 2)`` (lower, upper) holding ``coverage`` of the
        predicted distribution (:meth:`BinDistribution.interval`: each bin's probability spread
        evenly between its edges, so it never leaves the training range).

        Examples:
            >>> rng = np.random.default_rng(0)
            >>> X = rng.normal(size=(300, 2)); y = X[:, 0] + rng.normal(scale=0.5, size=300)
            >>> model = WordExpertsRegressor(epochs=20, random_state=0).fit(X, y)
            >>> bounds = model.predict_interval(X, coverage=0.8)
            >>> bounds.shape, bool((bounds[:, 0] <= bounds[:, 1]).all())
            ((300, 2), True)
        """
        return self.predict_distribution(X).interval(coverage)

    def predict_bin(self, X: object) -> np.ndarray:
        """Index of the most probable target bin, ``(n_rows,)``."""
        return self.predict_distribution(X).probabilities.argmax(axis=1)

    def _fitted_document(self) -> dict:
        return {**super()._fitted_document(), "within_bin": bool(getattr(self, "within_bin_", False))}

    def _extra_tensors(self) -> dict[str, torch.Tensor]:
        if not self.within_bin_:
            return {}
        return {
            EXTRA + "within_coef": torch.as_tensor(self.within_coef_),
            EXTRA + "within_intercept": torch.as_tensor(self.within_intercept_),
        }

    def _restore(self, tensors: dict, document: dict, device: str | None = None) -> None:
        super()._restore(tensors, document, device)
        self.within_bin_ = bool(document["fitted"].get("within_bin", False))  # 0.5 files have none
        if self.within_bin_:
            self.within_coef_ = tensors[EXTRA + "within_coef"].double().numpy()
            self.within_intercept_ = tensors[EXTRA + "within_intercept"].double().numpy()
            K = len(self.encoder_.bin_means_[TARGET])
            shape = (len(self.models_), K, self.model_.config.d_model)
            if self.within_coef_.shape != shape or self.within_intercept_.shape != shape[:2]:
                raise ModelFileError(f"the within-bin models have shapes {self.within_coef_.shape}, expected {shape}")

    def bin_mse(self, X: object, y: object) -> float:
        """The paper's "MSE": mean squared difference between predicted and true bin indices."""
        edges = np.asarray(self.encoder_.bin_edges_[TARGET], dtype=np.float64)
        predicted = self.predict_bin(X)
        y = np.asarray(_as_target(y, n_rows=len(predicted)), dtype=np.float64)
        return float(np.mean((predicted - bin_codes(edges, y)) ** 2))  # the encoder's own bins


class WordExpertsImputer(TransformerMixin, _WordExpertsTable):
    """Imputer: every missing cell is filled by masking it and reading the model's prediction.

    Categorical cells get the most probable category; numeric cells the expectation of the
    bins' training means (the value minimising squared error). With ``rounds > 1`` the
    filled cells are fed back as context and every missing cell is predicted again, so cells
    missing together in one row can inform each other (each round reads the previous round's
    fills; the first reads missing tokens).

    Shape:
        ``X`` ``(n_rows, n_columns)`` -> ``transform`` ``(n_rows, n_columns)``: a DataFrame with
        the input's columns when ``X`` had column names, else a numpy array (float when every
        column is numeric, object otherwise).

    Examples:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> a = rng.choice(["x", "y"], 300)
        >>> X = pd.DataFrame({"a": a, "b": np.where(a == "x", "left", "right")})
        >>> X.loc[:9, "b"] = None
        >>> filled = WordExpertsImputer(epochs=40, random_state=0).fit_transform(X)
        >>> bool((filled.loc[:9, "b"] == np.where(a[:10] == "x", "left", "right")).all())
        True
    """

    def __init__(
        self,
        *,
        preset: str | None = None,
        d_model: int | None = None,
        n_heads: int | None = None,
        d_ff: int | None = None,
        n_layers: int | None = None,
        dropout: float | None = None,
        init: str | None = None,
        lr: float | None = None,
        eps: float | None = None,
        epochs: int | str | None = None,
        lr_schedule: str | None = None,
        batch_size: int | None = None,
        batching: str | None = None,
        early_stopping: bool | None = None,
        validation_fraction: float | None = None,
        patience: int | str | None = None,
        n_bins: int | None = None,
        bins: dict[str, int] | None = None,
        shared_vocabulary: bool | str | None = None,
        n_members: int | None = None,
        n_levels: int | None = None,
        target_share: float | str | None = None,
        clip_grad_norm: float | None = None,
        max_categories: int = 300,
        categorical: list[str] | None = None,
        id_columns: str | list[str] | None = "auto",
        random_state: int | np.random.RandomState | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        progress: bool = False,
        verbose: int = 0,
        rounds: int = 1,
        round_integers: bool = True,
        numeric_fill: str = "auto",
    ) -> None:
        self.preset = preset
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.n_layers = n_layers
        self.dropout = dropout
        self.init = init
        self.lr = lr
        self.eps = eps
        self.epochs = epochs
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.batching = batching
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.n_bins = n_bins
        self.bins = bins
        self.shared_vocabulary = shared_vocabulary
        self.n_members = n_members
        self.n_levels = n_levels
        self.target_share = target_share
        self.clip_grad_norm = clip_grad_norm
        self.max_categories = max_categories
        self.categorical = categorical
        self.id_columns = id_columns
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.progress = progress
        self.verbose = verbose
        self.rounds = rounds
        self.round_integers = round_integers
        self.numeric_fill = numeric_fill

    def fit(
        self, X: object, y: object = None, sample_weight: object = None, *, checkpoint_dir: object = None,
        resume: bool = False, checkpoint_every: int | str = DEFAULT_EVERY,
    ) -> WordExpertsImputer:
        """Fit on ``X`` ``(n_rows, n_columns)``; ``y`` is ignored. ``sample_weight`` ``(n_rows,)``,
        non-negative: rows of weight 0 are left out, the others drawn in proportion to their weight.

        ``checkpoint_dir``: a folder where training keeps a checkpoint, written every
        ``checkpoint_every`` steps (an int) or seconds (``"60s"``, ``"5m"``) and on Ctrl-C;
        ``resume=True`` goes on from it (:mod:`wordexperts.checkpoints`), and the fitted model
        equals an uninterrupted fit's, bitwise on CPU with the same seed and threads.
        ``random_state=None`` then takes the seed the checkpoint's run drew.
        """
        checkpoints = _checkpoints(checkpoint_dir, resume, checkpoint_every)
        X, y, stream = self._sampled(X, y, target=False, sample_weight=sample_weight)
        frame = self._input_frame(X, reset=True)
        self._check_rows(frame)
        weights = _as_sample_weight(sample_weight, n_rows=len(frame))
        self._numeric_fill()  # bad settings fail before any work
        self._fit_table(
            frame, target=None, categorical=list(self.categorical or []), sample_weight=weights, checkpoints=checkpoints,
            stream=stream,
        )
        self.integer_columns_, self.heavy_tailed_columns_ = [], []
        for column, kind in self.encoder_.kinds_.items():
            if kind != "numeric" or column in self.encoder_.ignored_columns():
                continue
            x = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            x = x[np.isfinite(x)]
            if len(x) and np.array_equal(x, np.round(x)):
                self.integer_columns_.append(column)
            if len(x) > 2 and np.std(x) > 0 and abs(np.mean((x - x.mean()) ** 3)) / np.std(x) ** 3 > HEAVY_SKEW:
                self.heavy_tailed_columns_.append(column)
        return self

    def _numeric_fill(self) -> str:
        if self.numeric_fill not in ("auto", "mean", "median"):
            raise ConfigError(f"numeric_fill must be 'auto', 'mean' or 'median', got {self.numeric_fill!r}")
        if not isinstance(self.round_integers, (bool, np.bool_)):
            raise ConfigError(f"round_integers must be True or False, got {self.round_integers!r}")
        return self.numeric_fill

    def transform(self, X: object) -> pd.DataFrame | np.ndarray:
        """``X`` with every missing cell filled; ``X`` may be a Parquet source, read batch by batch."""
        check_positive_int("rounds", self.rounds)
        check_is_fitted(self, "model_")
        source = _parquet_source(X)
        if source is not None:
            from .stream import answer_dataset

            return answer_dataset(self, source, "transform")
        frame = self._input_frame(X, reset=False)
        filled = self._fill(frame)
        if getattr(self, "feature_names_in_", None) is not None:
            return filled
        values = filled.to_numpy()
        if all(kind == "numeric" for kind in self.encoder_.kinds_.values()):
            return values.astype(np.float64)
        return values

    def _fill(self, frame: pd.DataFrame) -> pd.DataFrame:
        encoder = self.encoder_
        tokens = encoder.transform(frame)  # (N, L)
        missing = np.stack([tokens[:, j] == encoder.missing_token(c) for j, c in enumerate(encoder.columns_)], axis=1)
        out = frame.copy()
        context = tokens.copy()
        for _ in range(self.rounds):
            updated = context.copy()
            for j, column in enumerate(encoder.columns_):
                rows = np.flatnonzero(missing[:, j])
                if rows.size == 0 or column in encoder.ignored_columns():  # an identifier is not guessed
                    continue
                proba = self._column_probabilities(context[rows], column)  # (n, K)
                allowed = encoder.column_tokens(column)
                best = allowed[proba.argmax(axis=1)]
                updated[rows, j] = best
                if encoder.kinds_[column] == "numeric":
                    values = self._numeric_values(column, proba)
                else:
                    values = encoder.decode(column, best)
                out[column] = _set_rows(out[column], rows, values)
            context = updated
        if self.round_integers:  # an integer column stays integer (a float one, once no cell is missing)
            for column in getattr(self, "integer_columns_", []):
                before, after = frame[column].dtype, out[column]
                values = pd.to_numeric(after, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                present = values[~np.isnan(values)]
                whole = np.array_equal(present, np.round(present)) and bool((np.abs(present) < 2**53).all())
                if not whole:  # observed fractions or huge values: cast nothing, lose nothing
                    continue
                if isinstance(before, pd.api.extensions.ExtensionDtype) and before.kind in "iu":
                    out[column] = after.astype(before)
                elif after.dtype.kind == "f" and before.kind in "iuf" and not after.isna().any():
                    out[column] = after.astype(before if before.kind in "iu" else np.int64)
        return out

    def _numeric_values(self, column: str, proba: np.ndarray) -> np.ndarray:
        """Fills of a numeric column from its bins' probabilities ``(n, K)``: the mean, or the median
        (``numeric_fill``; ``"auto"``: the median for a heavy-tailed column), rounded in an integer column."""
        encoder = self.encoder_
        fill = self._numeric_fill()
        if fill == "auto":
            fill = "median" if column in getattr(self, "heavy_tailed_columns_", []) else "mean"
        distribution = BinDistribution(
            probabilities=proba,
            edges=np.asarray(encoder.bin_edges_[column], dtype=np.float64),
            means=np.asarray(encoder.bin_means_[column], dtype=np.float64),
        )
        values = distribution.expectation() if fill == "mean" else distribution.quantile(0.5)
        if self.round_integers and column in getattr(self, "integer_columns_", []):
            values = np.round(values)
        return values

    def _fitted_document(self) -> dict:
        return {
            **super()._fitted_document(),
            "integer_columns": self.integer_columns_,
            "heavy_tailed_columns": self.heavy_tailed_columns_,
        }

    def _restore(self, tensors: dict, document: dict, device: str | None = None) -> None:
        super()._restore(tensors, document, device)
        self.integer_columns_ = list(document["fitted"].get("integer_columns", []))  # 0.5 files: none
        self.heavy_tailed_columns_ = list(document["fitted"].get("heavy_tailed_columns", []))

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "model_")
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = positional_names(self.n_features_in_)
        return np.asarray(names, dtype=object)


def _set_rows(series: pd.Series, rows: np.ndarray, values: np.ndarray) -> pd.Series:
    """``series`` with ``values`` at positional ``rows``, widening the dtype only if it must."""
    series = series.copy()
    if isinstance(series.dtype, pd.CategoricalDtype):
        new = [v for v in pd.unique(pd.Series(values, dtype=object)) if v not in set(series.cat.categories)]
        if new:
            series = series.cat.add_categories(new)
    elif values.dtype.kind == "f" and series.dtype.kind in "iu":  # expectations into an int column
        series = series.astype("Float64" if isinstance(series.dtype, pd.api.extensions.ExtensionDtype) else "float64")
    try:
        series.iloc[rows] = values
    except (TypeError, ValueError):
        series = series.astype(object)
        series.iloc[rows] = values
    return series


ESTIMATORS = {cls.__name__: cls for cls in (WordExpertsClassifier, WordExpertsRegressor, WordExpertsImputer)}


def load(path: str | os.PathLike, *, device: str | None = None) -> _WordExpertsTable:
    """Read an estimator written by ``save``: JSON and raw tensors only, no code is run.

    ``device`` (``"cpu"``, ``"cuda"``, ``"auto"``): where the model goes; by default where it
    was fitted, or the CPU when that was a GPU this machine lacks.

    Raises :class:`wordexperts.errors.ModelFileError` for a file that is truncated, altered,
    of another format version, or not a wordexperts model.
    """
    tensors, document = files.read_model_file(path)
    name = document.get("estimator") if isinstance(document, dict) else None
    if name not in ESTIMATORS:
        raise ModelFileError(f"{str(path)!r} holds an unknown estimator {name!r}; expected one of {sorted(ESTIMATORS)}")
    cls = ESTIMATORS[name]
    try:
        estimator = cls(**_params_from_json(document["params"]))
        estimator._restore(tensors, document, device)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{str(path)!r} is a wordexperts model file with inconsistent contents: {error}") from None
    return estimator


def expected_failed_checks(estimator: BaseEstimator) -> dict[str, str]:
    """scikit-learn estimator checks that do not apply, each with the reason (for ``check_estimator``).

    Pass as ``check_estimator(estimator, expected_failed_checks=expected_failed_checks(estimator))``.
    """
    return dict(getattr(estimator, "_not_applicable_checks", {}))
