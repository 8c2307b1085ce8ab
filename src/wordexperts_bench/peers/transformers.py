"""The two transformer peers and the training loop they share (:func:`train_transformer`).

Both read the ``codes`` view (:class:`~.encoding.CodedTable`) and train the same way: AdamW,
batches of 128 rows, at most 200 epochs, early stopping on the cross-entropy of a seeded
stratified 10% validation split of the training rows (:func:`~.split.validation_split`;
patience 16 epochs through :class:`wordexperts.train.EarlyStopping`, the best epoch's weights
are kept), ``torch.manual_seed(seed)`` in a forked RNG (and ``random.seed(seed)``, restored
after: the TabTransformer's hyper-connections draw from Python's RNG at init) and
``torch.set_num_threads(threads)`` (restored after). Their configurations take the
architecture's keyword arguments and the training keys :attr:`TrainingSettings.KEYS`.

- ft-transformer (:class:`FTTransformerPeer`, ``rtdl_revisiting_models.FTTransformer``):
  configuration 0 is ``FTTransformer.get_default_kwargs()`` (3 blocks of width 192, ReGLU)
  with the optimizer of ``make_default_optimizer`` (lr 1e-4, weight decay 1e-5, none on
  embeddings, norms, biases).
- tab-transformer (:class:`TabTransformerPeer`, ``tab_transformer_pytorch.TabTransformer``):
  the library has no defaults; configuration 0 is its README's and the TabTransformer paper's
  (dim 32, depth 6, 8 heads, dropouts 0.1, MLP head x4, x2) with ``torch.optim.AdamW``'s
  defaults (lr 1e-3, weight decay 0.01). Two quirks of version 0.6.1 worked around here:
  ``mlp_act=None`` (its default) crashes the head, so ``nn.ReLU()`` is passed (the MLP's own
  default); fewer than two categorical columns crash the shared embedding, so constant columns
  (one code) pad them to two.

Both also regress: ``fit(table, y, 1, regression=True)`` trains one output on the mean
squared error of ``y`` (the caller standardises it, see :class:`~.registry.PeerRegressor`),
with the same loop, early stopping (on the validation MSE) and seeds; ``predict`` returns
that output.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from wordexperts.checks import check_positive_int
from wordexperts.train import EarlyStopping, torch_threads

from .encoding import CodedTable
from .split import validation_split

PREDICT_CHUNK = 4096  # rows per forward pass when a transformer predicts


@dataclass(frozen=True, kw_only=True)
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
            check_positive_int(name, getattr(self, name))
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")


@dataclass
class TrainingRecord:
    """What one training run did: losses per epoch, the epoch whose weights were kept."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 1-based; the last epoch when there was no validation split, 0 if no loss improved (NaN)


def train_transformer(
    model: nn.Module,
    forward: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    parameter_groups: list[dict] | Iterator[nn.Parameter],
    table: CodedTable,
    y: np.ndarray,
    *,
    settings: TrainingSettings,
    seed: int,
    regression: bool = False,
) -> TrainingRecord:
    """Train ``model`` in place on ``table``; the best validation epoch's weights are kept.

    Early stopping is :class:`wordexperts.train.EarlyStopping` with ``settings.patience``
    (strictly lower validation loss counts as better). Without a validation split every epoch
    runs and the last one's weights stay.

    ``forward(model, numeric, codes)`` returns logits ``(B, n_classes)``; ``y`` holds class
    codes ``0 .. n_classes - 1``. Seed and threads are the caller's (see :class:`TransformerClassifier`).
    With ``regression=True`` the model has one output, ``y`` holds (standardised) numbers and
    the loss is the mean squared error; the validation split is then a plain seeded one.
    """
    numeric = torch.from_numpy(table.numeric)  # (N, F) float32
    codes = torch.from_numpy(table.codes)  # (N, C) int64
    if regression:
        target = torch.from_numpy(np.asarray(y, dtype=np.float32))  # (N,)
        strata = np.zeros(len(y), dtype=np.int64)  # one stratum: a plain seeded split
    else:
        target = torch.from_numpy(np.asarray(y, dtype=np.int64))  # (N,)
        strata = np.asarray(y)
    loss_of = _squared_error if regression else nn.functional.cross_entropy
    train_rows, valid_rows = validation_split(strata, settings.validation_fraction, seed)
    train_rows_t, valid_rows_t = torch.from_numpy(train_rows), torch.from_numpy(valid_rows)
    optimizer = torch.optim.AdamW(parameter_groups, lr=settings.lr, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(seed)
    record = TrainingRecord()
    stopping = EarlyStopping(settings.patience)  # min_delta 0: any lower loss is better
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        order = train_rows_t[torch.from_numpy(rng.permutation(len(train_rows)))]
        total = 0.0
        for batch in order.split(settings.batch_size):
            loss = loss_of(forward(model, numeric[batch], codes[batch]), target[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        record.train_loss.append(total / len(train_rows))
        if len(valid_rows) == 0:
            record.best_epoch = epoch
            continue
        logits = _logits(model, forward, numeric[valid_rows_t], codes[valid_rows_t])
        valid_loss = float(loss_of(logits, target[valid_rows_t]))
        record.validation_loss.append(valid_loss)
        stop = stopping.update(valid_loss, model)  # keeps the best epoch's weights
        record.best_epoch = stopping.best_epoch  # update() runs once an epoch: its count is ``epoch``
        if stop:
            break
    stopping.restore(model)  # False (nothing loaded) without a validation split or an improving epoch
    model.eval()
    return record


def _squared_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a one-output model: output ``(B, 1)``, target ``(B,)``."""
    return nn.functional.mse_loss(output[:, 0], target)


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
    DEFAULT_TRAINING: Mapping[str, Any] = MappingProxyType({})

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

    def fit(
        self, table: CodedTable, y: np.ndarray, n_classes: int, *, regression: bool = False
    ) -> TransformerClassifier:
        """Train on class codes ``y`` (``n_classes`` outputs), or on numbers with ``regression=True`` (one output)."""
        table = self.prepare(table)
        with torch_threads(self.threads), _seeded(self.seed):
            self.model_ = self.build(table.numeric.shape[1], table.cardinalities, 1 if regression else n_classes)
            self.record_ = train_transformer(
                self.model_, self.forward, self.parameter_groups(self.model_), table, y,
                settings=self.settings, seed=self.seed, regression=regression,
            )
        return self

    def predict(self, table: CodedTable) -> np.ndarray:
        """A regression fit's output, float64 ``(n_rows,)``."""
        table = self.prepare(table)
        with torch_threads(self.threads):
            output = _logits(self.model_, self.forward, torch.from_numpy(table.numeric), torch.from_numpy(table.codes))
        return output[:, 0].double().numpy()

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
