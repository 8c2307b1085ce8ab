"""The one-pass masked-LM loss of a single block and its gradient, derived by hand.

:class:`OnePassGradients` computes what ``model.mlm_loss(x, method="one_pass").backward()``
computes, in about a third of the time at the paper's tabular sizes. There a training step
holds 128 rows x 6 columns of width 20, and it costs what its PyTorch calls cost to dispatch,
not what they compute: autograd's bookkeeping and PyTorch's kernels for small shapes (a
softmax over a short dimension, batched products of tiny matrices) set the pace. It is the
same model with the same parameters, loss and gradients (to rounding); what changes is the
order of the sums and the number of calls (about 125 a step, forward and backward).

The order of the sums is the mixture-of-experts form of paper.md §1. In a row's copy with
position ``i`` masked, the key at column ``j`` holds one of ``n_tokens`` words, so its input
``E e_t + p_j`` is one of at most ``L * n_tokens`` vectors (only the pairs the rows hold are
needed): a table of *keys* ``(column, token)``, plus one key per query for its own masked slot (``E e_m + p_i``). Each key's gate logit
``g_i . (E e_t + p_j)`` for every query and head, and its value ``W_V (E e_t + p_j)`` (the
expert), are computed once per step on that table rather than once per row::

    keys (K, d) ──> logits (K, P*H*dk) ──> e = softmax over keys ──┐
               └──> values (K, H*dk) ──────────────────────────────── table = [e * value | e]   (K, 2*P*H*dk)
    row b:    summed_b = sum of the table rows of its L words and P own slots   (an embedding bag)
              mixture_b = summed_b[:half] / summed_b[half:]                    (softmax-weighted values)

Normalising ``e`` over the table's keys instead of over each row's is exact: a factor common
to a column of the table cancels between numerator and denominator. Each gate logit is
repeated once per value coordinate (``dk`` times), so the two halves have the same shape and
the division and its gradient are plain element-wise operations. Everything after the
mixture is position-wise (output projection, readout, head) and runs on feature-major
``(features, B*P)`` matrices: PyTorch's CPU products are 2-4x faster with the long dimension
last, and a LayerNorm over dim 0 is one batch-norm kernel. The backward pass mirrors the
forward; the rows' gradients reach the table through a product with their one-hot keys.

One thing the table's normalisation can do that a row's cannot: underflow. If a query's own
slot scores far below the table's best key, a row whose words all score that low too has a
denominator of ``exp(-60)`` or less (float32). Each call returns the smallest own-slot weight,
a lower bound on every row's denominator; :meth:`OnePassGradients.normaliser_ok` says whether
it is safe, and where it is not the caller takes the module's own path for that step.
"""

from __future__ import annotations

import math
from dataclasses import fields

import torch
from torch import nn

from .attention import AttentionConfig, BidirectionalAttention, Block, MultiHeadAttention, Readout
from .masking import check_position_weights

# Denominators must stay above tiny ** 0.7 (float32: ~2e-27; float64: ~1e-216): below that,
# underflowed terms could move the gates by more than rounding does.
_NORMALISER_EXPONENT = 0.7


# What the hand-derived step covers, listed: anything else is refused by name (fast_step_refusal),
# so that a new block, positional kind, option or module cannot fall into a branch meant for another.
HANDLED_BLOCKS = ("linear", "bert")
HANDLED_POSITIONALS = ("learned", "sinusoidal", "none")
HANDLED_INITS = ("torch", "keras")  # the initialisation changes the starting point, not the step
HANDLED_OPTIONS = (  # every AttentionConfig field whose values the checks below cover
    "vocab_size", "max_len", "d_model", "n_heads", "d_head", "n_layers", "block", "positional", "residual",
    "d_ff", "dropout", "layer_norm_eps", "mask_token", "init", "n_levels",
)
HANDLED_DTYPES = (torch.float32, torch.float64)


def _expected_modules(c: AttentionConfig) -> dict[str, tuple[type, dict[str, object]]]:
    """Every submodule of a handled single-block model: name -> (exact type, attributes it must have)."""
    d, inner = c.d_model, c.n_heads * c.d_head

    def linear(n_in: int, n_out: int) -> tuple[type, dict[str, object]]:
        return nn.Linear, {"in_features": n_in, "out_features": n_out}

    embedding = {  # a padding row or a norm limit would change the embedding's gradient
        "num_embeddings": c.n_tokens, "embedding_dim": d, "padding_idx": None, "max_norm": None,
        "scale_grad_by_freq": False, "sparse": False,
    }
    modules = {
        "": (BidirectionalAttention, {}),
        "token_embedding": (nn.Embedding, embedding),
        "blocks": (nn.ModuleList, {}),
        "blocks.0": (Block, {}),
        "blocks.0.attention": (MultiHeadAttention, {"n_heads": c.n_heads, "d_head": c.d_head}),
        "blocks.0.attention.query": linear(d, inner),
        "blocks.0.attention.key": linear(d, inner),
        "blocks.0.attention.value": linear(d, inner),
        "blocks.0.attention.output": linear(inner, d),
        "blocks.0.readout": (Readout, {"block": c.block, "residual": c.residual or c.block == "bert"}),
        "head": linear(d, c.vocab_size),
    }
    if c.block == "bert":
        norm = {"normalized_shape": (d,), "eps": c.layer_norm_eps, "elementwise_affine": True}
        modules |= {
            "blocks.0.readout.dropout1": (nn.Dropout, {"p": c.dropout}),  # the masks are drawn at config.dropout
            "blocks.0.readout.norm1": (nn.LayerNorm, norm),
            "blocks.0.readout.ffn": (nn.Sequential, {}),
            "blocks.0.readout.ffn.0": linear(d, c.d_ff),
            "blocks.0.readout.ffn.1": (nn.ReLU, {}),
            "blocks.0.readout.ffn.2": linear(c.d_ff, d),
            "blocks.0.readout.dropout2": (nn.Dropout, {"p": c.dropout}),
            "blocks.0.readout.norm2": (nn.LayerNorm, norm),
        }
    return modules


def _expected_tensors(c: AttentionConfig) -> tuple[set[str], set[str]]:
    """The names of a handled single-block model's parameters and buffers."""
    parameters = {"token_embedding.weight", "head.weight", "head.bias"}
    projections = ("query", "key", "value", "output")
    parameters |= {f"blocks.0.attention.{m}.{p}" for m in projections for p in ("weight", "bias")}
    if c.block == "bert":
        parts = ("norm1", "ffn.0", "ffn.2", "norm2")
        parameters |= {f"blocks.0.readout.{m}.{p}" for m in parts for p in ("weight", "bias")}
    buffers = set()
    (parameters if c.positional == "learned" else buffers).add("positional")
    if c.n_levels:
        parameters.add("level_embedding")
        buffers.add("token_levels")
    return parameters, buffers


def _hooks(module: nn.Module) -> list[str]:
    """The kinds of hook registered on ``module``: they change what autograd computes, not the hand-derived step."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return [kind.strip("_") for kind in kinds if getattr(module, kind, None)]


def fast_step_refusal(model: object) -> str | None:
    """Why :class:`OnePassGradients` does not apply to ``model``, or ``None`` when it does.

    The step applies to what it lists and nothing else: a single-block
    :class:`~.attention.BidirectionalAttention` (its exact type) with a block kind in
    ``HANDLED_BLOCKS``, a positional kind in ``HANDLED_POSITIONALS``, no option of
    :class:`~.attention.AttentionConfig` outside ``HANDLED_OPTIONS``, and exactly the
    submodules such a model is built with, by exact type and settings (``nn.Linear`` with
    biases, ``nn.LayerNorm`` with its affine part and the config's ``eps``, ``nn.Dropout`` at
    the config's rate, ``nn.ReLU``, a plain ``nn.Embedding``), exactly its parameters and
    buffers, all trainable and of one dtype in ``HANDLED_DTYPES``, no hooks and no method
    replaced on an instance. Anything else (a GELU in the feed-forward layer, a new block kind,
    a frozen parameter) is refused with its name. One walk over a dozen modules, made once
    per training run.

    Examples:
        >>> model = BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2, block="bert")
        >>> fast_step_refusal(model) is None
        True
        >>> model.blocks[0].readout.ffn[1] = nn.GELU()
        >>> fast_step_refusal(model)
        'blocks.0.readout.ffn.1 is a GELU; the hand-derived step covers a ReLU there'
    """
    if type(model) is not BidirectionalAttention:
        return f"the hand-derived step is for a single-block BidirectionalAttention, not a {type(model).__name__}"
    c = model.config
    if type(c) is not AttentionConfig:
        return f"the hand-derived step knows AttentionConfig, not {type(c).__name__}"
    unknown = [f.name for f in fields(c) if f.name not in HANDLED_OPTIONS]
    if unknown:
        return f"the hand-derived step does not handle the option(s) {unknown} of AttentionConfig"
    if c.n_layers != 1:
        return f"the hand-derived step is for a single-block BidirectionalAttention, this one has n_layers={c.n_layers}"
    for option, handled in (("block", HANDLED_BLOCKS), ("positional", HANDLED_POSITIONALS), ("init", HANDLED_INITS)):
        value = getattr(c, option)
        if value not in handled:
            return f"the hand-derived step handles {option} in {handled}, not {value!r}"
    expected = _expected_modules(c)
    for name, module in model.named_modules():
        called = name or "the model"
        if name not in expected:
            return f"the hand-derived step does not cover the module {name} ({type(module).__name__})"
        kind, settings = expected.pop(name)
        if type(module) is not kind:
            return f"{called} is a {type(module).__name__}; the hand-derived step covers a {kind.__name__} there"
        for setting, value in settings.items():
            found = getattr(module, setting, None)
            if found != value:
                return f"{called} has {setting}={found!r}; the hand-derived step covers {setting}={value!r}"
        hooks = _hooks(module)
        if hooks:
            return f"{called} has {', '.join(hooks)}, which the hand-derived step would skip"
        replaced = [key for key in vars(module) if callable(getattr(type(module), key, None))]
        if replaced:
            return f"{called} has {replaced} replaced on the instance, which the hand-derived step would skip"
    if expected:
        return f"the model lacks {sorted(expected)}, which the hand-derived step expects"
    kinds = ("forward_hooks", "forward_pre_hooks", "backward_hooks", "backward_pre_hooks")
    global_hooks = [f"global_{kind}" for kind in kinds if getattr(nn.modules.module, f"_global_{kind}", None)]
    if global_hooks:
        return f"global module hooks are registered ({', '.join(global_hooks)}), which the hand-derived step would skip"
    parameters, buffers = _expected_tensors(c)
    named = dict(model.named_parameters())
    extra, missing = sorted(set(named) - parameters), sorted(parameters - set(named))
    if extra:
        return f"the hand-derived step does not cover the parameter(s) {extra}"
    if missing:
        return f"the model lacks the parameter(s) {missing}, which the hand-derived step expects"
    if {name for name, _ in model.named_buffers()} != buffers:
        return f"the hand-derived step covers the buffers {sorted(buffers)} only"
    dtypes = {p.dtype for p in named.values()} | {b.dtype for b in model.buffers() if b.is_floating_point()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in HANDLED_DTYPES:
        found = sorted(map(str, dtypes))
        return f"the hand-derived step needs every parameter in one dtype of {HANDLED_DTYPES}, got {found}"
    if len({p.device for p in named.values()} | {b.device for b in model.buffers()}) != 1:
        return "the hand-derived step needs every parameter and buffer on one device"
    for name, p in named.items():
        if not p.requires_grad:
            return f"the parameter {name} is frozen (requires_grad=False); the hand-derived step trains every parameter"
        if getattr(p, "_backward_hooks", None) or getattr(p, "_post_accumulate_grad_hooks", None):
            return f"the parameter {name} has gradient hooks, which the hand-derived step would skip"
    if tuple(model.positional.shape) != (c.max_len, c.d_model):
        return f"the positional table has shape {tuple(model.positional.shape)}, not (max_len, d_model)"
    return None


def fast_step_supported(model: object) -> bool:
    """Whether :class:`OnePassGradients` applies to ``model`` (see :func:`fast_step_refusal`)."""
    return fast_step_refusal(model) is None


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
    """LayerNorm over dim 0 of ``x`` ``(d, N)``, weight and bias ``(d, 1)``, as ``nn.LayerNorm``.

    Normalising each column over its ``d`` features is what batch norm does to a batch of
    ``d`` samples in ``N`` channels (biased variance, no affine part): one kernel, forward and
    backward, where writing it out takes nine. Returns ``(out, normalised, (mean, rstd))``.
    """
    normalised, mean, rstd = torch.native_batch_norm(x, None, None, None, None, True, 0.0, eps)  # (d, N)
    return (normalised * weight).add_(bias), normalised, (mean, rstd)  # faster than addcmul with two (d, 1)


def _layer_norm_backward(
    d_out: torch.Tensor, x: torch.Tensor, normalised: torch.Tensor, statistics: tuple, weight: torch.Tensor, eps: float
):
    """Gradients of :func:`_layer_norm` for ``d_out`` ``(d, N)``: ``(d_x (d, N), d_weight (d,), d_bias (d,))``."""
    d_x = torch.ops.aten.native_batch_norm_backward(
        d_out * weight, x, None, None, None, *statistics, True, eps, (True, False, False)
    )[0]
    return d_x, torch.linalg.vecdot(d_out, normalised), d_out.sum(1)


class OnePassGradients:
    """Loss and gradients of ``model``'s one-pass masked-LM loss, for rows of ``length`` tokens.

    Built once per model, row length and masked ``positions`` ``(P,)``. Each call takes a batch
    of ``B`` rows as :meth:`keys` and their targets ``(B, P)`` (the tokens at ``positions``)
    and returns the *summed* loss over the ``B * P`` masked slots, the smallest own-slot
    softmax weight (see :meth:`normaliser_ok`), and the gradient of the *mean* loss for every
    parameter that has one, by parameter name: what ``model.mlm_loss(x, positions,
    method="one_pass").backward()`` leaves in ``.grad``. The key bias has none: it cancels
    in every softmax. No autograd graph is built.

    ``words`` (optional, ``(W,)``): the word ids ``column * n_tokens + token`` the rows can
    hold; the key table then has ``W + P`` keys instead of ``L * n_tokens + P``. Leaving out
    pairs no row holds changes nothing (their keys get no weight in any row) but the cost: with
    per-column vocabularies, most (column, token) pairs never occur.

    ``weights`` (optional, ``(P,)``, non-negative): each position's weight in the loss, which
    is then ``sum w_p CE / (B * sum w)`` (a plain mean for equal weights); the summed loss
    returned is ``Q`` times that.

    ``dropout`` is ``None`` or the masks of a ``bert`` block's two dropout sites ``(2, d, B,
    P)``, holding 0 or ``1 / (1 - rate)``: ``dropout[0]`` multiplies the attention output and
    ``dropout[1]`` the feed-forward output, where :class:`~.attention.Readout` applies its two
    ``nn.Dropout``; ``dropout[s, :, b, p]`` is row ``b``'s slot ``p`` (feature-major).

    The parameters are read through views made here: build a new one after moving or casting
    the model. In-place updates, as an optimiser makes them, are seen.

    Examples:
        >>> torch.manual_seed(0) and None
        >>> model = BidirectionalAttention(vocab_size=10, max_len=6, d_model=8, n_heads=2, block="bert").double()
        >>> x = torch.randint(0, 10, (16, 6))
        >>> step = OnePassGradients(model, length=6, positions=torch.arange(6))
        >>> loss, smallest, grads = step(step.keys(x), x)
        >>> model.mlm_loss(x, method="one_pass").backward()
        >>> bool(abs(loss / 96 - model.mlm_loss(x)) < 1e-12), step.normaliser_ok(smallest)
        (True, True)
        >>> max(float((grads[n] - p.grad).abs().max()) for n, p in model.named_parameters() if n in grads) < 1e-12
        True
    """

    def __init__(
        self,
        model: BidirectionalAttention,
        *,
        length: int,
        positions: torch.Tensor,
        words: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
    ) -> None:
        why_not = fast_step_refusal(model)
        if why_not is not None:
            raise ValueError(f"the hand-derived one-pass gradients do not apply: {why_not}")
        c = model.config
        if not 1 <= length <= c.max_len:
            raise ValueError(f"length must be in [1, max_len={c.max_len}], got {length}")
        weight = model.token_embedding.weight
        device, dtype = weight.device, weight.dtype
        p = positions.to(device=device, dtype=torch.long)
        if p.dim() != 1 or p.numel() == 0 or not bool(((p >= 0) & (p < length)).all()):
            raise ValueError(f"positions must be a non-empty 1-D tensor of positions in [0, {length}), got {positions}")
        L, P, T, H, dk = length, p.numel(), c.n_tokens, c.n_heads, c.d_head
        self.config, self.length, self.n_positions = c, L, P
        # The words' keys: every (column, token) pair, or only those the rows can hold.
        if words is None:
            words = torch.arange(L * T, device=device)
        else:
            words = torch.unique(words.to(device=device, dtype=torch.long))  # sorted
            if words.numel() == 0 or int(words[0]) < 0 or int(words[-1]) >= L * T:
                raise ValueError(f"words must be non-empty ids column * n_tokens + token in [0, {L * T})")
        if weights is not None:
            weights = check_position_weights(weights, p, dtype=dtype)
            weights = weights * (p.numel() / weights.sum())  # (P,): mean 1, so equal weights change nothing
        self.weights = weights
        self.n_words = words.numel()  # keys of the rows' words; then one own slot per query
        self.n_keys = self.n_words + P
        self.word_keys = torch.full((L * T,), -1, dtype=torch.long, device=device)  # word id -> its key
        self.word_keys[words] = torch.arange(self.n_words, device=device)
        self.normaliser_floor = torch.finfo(dtype).tiny ** _NORMALISER_EXPONENT
        self.bert, self.residual = c.block == "bert", c.residual or c.block == "bert"
        self.learned_positions = c.positional == "learned"
        self._views(model, length)

        # Key k < n_words is word words[k] (column words[k] // T, token words[k] % T); key
        # n_words + q is query q's own masked slot.
        index = torch.arange(self.n_keys, device=device)
        column = torch.cat([words // T, p])  # (K,)
        token = torch.cat([words % T, torch.full((P,), c.mask_token, device=device)])
        # The keys' inputs E e_t + p_j as two 0/1 products, with E and with the positions.
        self.key_words = torch.nn.functional.one_hot(token, T).to(dtype)  # (K, T)
        self.key_columns = torch.nn.functional.one_hot(column, L).to(dtype)  # (K, L)
        self.key_inputs_t = torch.cat([self.key_words, self.key_columns], 1).T.contiguous()  # (T + L, K)
        self.own_rows = torch.nn.functional.one_hot(index[self.n_words :], self.n_keys).T.to(dtype).contiguous()  # (K, P)
        self.n_tokens = T
        self.zero = torch.zeros((), dtype=dtype, device=device)  # the ignored input of addmm(beta=0)
        # Query q sees neither the word in its own column nor the other queries' own slots.
        own = index >= self.n_words
        hidden = (column[:, None] == p) & ~own[:, None]  # (K, P)
        hidden |= own[:, None] & (index[:, None] - self.n_words != torch.arange(P, device=device))
        self.hidden_logits = torch.zeros(self.n_keys, P, H * dk, dtype=dtype, device=device)
        self.hidden_logits.masked_fill_(hidden[:, :, None], -math.inf)
        self.hidden_logits = self.hidden_logits.view(self.n_keys, P * H * dk)  # (K, P*H*dk): added to the logits
        # Row (p, h, k) of the query blocks holds query p's head-h part on head h's columns:
        # the block-diagonal map that turns keys' key vectors into gate logits.
        same_head = torch.eye(H, dtype=dtype, device=device).repeat_interleave(dk, 1)  # (H, H*dk)
        self.head_blocks = same_head[:, None, :].expand(H, dk, H * dk).contiguous()  # (H, dk, H*dk)
        self.head_blocks_scaled = (self.head_blocks * self.scale).view(1, H * dk, H * dk)
        # Where e holds each query's own-slot weights (row n_words + q, block q, first coordinate).
        q = torch.arange(P, device=device)
        own_block = (self.n_words + q) * (P * H * dk) + q * (H * dk)  # (P,)
        self.own_weights = (own_block[:, None] + torch.arange(0, H * dk, dk, device=device)).view(-1)  # (P*H,)
        self.column_offsets = torch.arange(L, device=device) * T  # (L,)
        self.own_keys = torch.arange(self.n_words, self.n_keys, device=device)  # (P,)
        self._per_batch: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def _views(self, model: BidirectionalAttention, length: int) -> None:
        """Detached views of the parameters, in the shapes the step uses them in."""
        c = model.config
        self.scale = 1.0 / math.sqrt(c.d_head)
        named = {name: p.detach() for name, p in model.named_parameters()}
        # Every parameter but the key bias gets a gradient; these views share the parameters' storage.
        self.names = [name for name in named if name != "blocks.0.attention.key.bias"]
        self.parameters = [named[name] for name in self.names]
        attention = "blocks.0.attention."
        self.embedding = named["token_embedding.weight"]
        self.levels = (model.token_levels, named["level_embedding"]) if c.n_levels else None  # (T, R), (R, d)
        self.positions = model.positional.detach()[:length]
        self.w_query, self.b_query = named[attention + "query.weight"], named[attention + "query.bias"]
        self.w_key, self.w_value = named[attention + "key.weight"], named[attention + "value.weight"]
        self.b_value = named[attention + "value.bias"]
        self.w_out, self.b_out = named[attention + "output.weight"], named[attention + "output.bias"][:, None]
        self.w_head, self.b_head = named["head.weight"], named["head.bias"][:, None]
        # Transposed views, made once: every PyTorch call, a view included, costs 1-3 us here.
        self.w_query_t, self.w_key_t, self.w_value_t = self.w_query.t(), self.w_key.t(), self.w_value.t()
        self.w_head_t = self.w_head.t()
        if c.block == "bert":
            readout = "blocks.0.readout."
            self.w_ffn0, self.b_ffn0 = named[readout + "ffn.0.weight"], named[readout + "ffn.0.bias"][:, None]
            self.w_ffn2, self.b_ffn2 = named[readout + "ffn.2.weight"], named[readout + "ffn.2.bias"][:, None]
            self.w_ffn0_t, self.w_ffn2_t = self.w_ffn0.t(), self.w_ffn2.t()
            self.w_norm1, self.b_norm1 = named[readout + "norm1.weight"][:, None], named[readout + "norm1.bias"][:, None]
            self.w_norm2, self.b_norm2 = named[readout + "norm2.weight"][:, None], named[readout + "norm2.bias"][:, None]

    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """The keys each row of ``x`` ``(B, L)`` sums over: ``(B, L + P)``.

        Its words' keys (the key of ``column * n_tokens + token``), then the ``P`` own slots (the
        same in every row; each is hidden from all queries but its own). A word outside the
        ``words`` the step was built for is an error.
        """
        words = self.word_keys[x + self.column_offsets]  # (B, L)
        if bool((words < 0).any()):
            raise ValueError("a row holds a (column, token) pair outside the words this step was built for")
        return torch.cat([words, self.own_keys.expand(x.shape[0], -1)], 1)

    def _batch_constants(self, rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Bag offsets ``(B,)``, slot one-hot ``(P, B*P)``, ``-1`` ``(1, B*P)`` and the slots'
        loss weights ``(1, B*P)`` (``None``: all 1) for ``rows`` rows."""
        constants = self._per_batch.get(rows)
        if constants is None:
            P, like = self.n_positions, self.hidden_logits
            per_row = self.length + P
            offsets = torch.arange(0, rows * per_row, per_row, device=like.device)
            slot = torch.arange(rows * P, device=like.device) % P
            slot_onehot = torch.nn.functional.one_hot(slot, P).T.to(like.dtype).contiguous()  # (P, B*P)
            minus_one = torch.full((1, rows * P), -1.0, dtype=like.dtype, device=like.device)
            slot_weights = None if self.weights is None else self.weights.repeat(rows)[None, :]  # (1, B*P)
            constants = self._per_batch[rows] = (offsets, slot_onehot, minus_one, slot_weights)
        return constants

    def __call__(
        self,
        keys: torch.Tensor,
        targets: torch.Tensor,
        dropout: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        B, P, K, K0 = keys.shape[0], self.n_positions, self.n_keys, self.n_words
        H, dk, d = c.n_heads, c.d_head, c.d_model
        Q, Hk = B * P, H * dk
        PHk = P * Hk
        offsets, slot_onehot, minus_one, slot_weights = self._batch_constants(B)

        # ---- forward: the key table ----
        embedding = self.embedding if self.levels is None else torch.addmm(self.embedding, *self.levels)  # (T, d)
        h_keys = torch.addmm(torch.mm(self.key_words, embedding), self.key_columns, self.positions)  # (K, d)
        h_own = h_keys[K0:]  # (P, d): each query's masked slot, E e_m + p_i
        queries = torch.addmm(self.b_query, h_own, self.w_query_t, beta=self.scale, alpha=self.scale)  # (P, H*dk)
        query_blocks = (queries.view(P, 1, 1, Hk) * self.head_blocks).view(PHk, Hk)  # (P*H*dk, H*dk)
        key_vectors = torch.mm(h_keys, self.w_key_t)  # (K, H*dk); the key bias cancels in the softmax
        logits = torch.addmm(self.hidden_logits, key_vectors, query_blocks.T)  # (K, P*H*dk): g_ph . h_k
        # Any factor common to a column of the table cancels in mixture = numerator / denominator,
        # so a softmax over the keys (one kernel) serves as exp(logit - shift): at most 1, hidden 0.
        e = torch.softmax(logits, 0)  # (K, P*H*dk)
        values = torch.addmm(self.b_value, h_keys, self.w_value_t)  # (K, H*dk)
        e_heads, values_heads = e.view(K, P, Hk), values.view(K, 1, Hk)
        table = torch.cat([(e_heads * values_heads).view(K, PHk), e], 1)  # (K, 2*P*H*dk)

        # ---- forward: rows; slots q = b * P + p, activations feature-major (features, Q) ----
        summed = torch.embedding_bag(table, keys.view(-1), offsets, False, 0)[0]  # (B, 2*P*H*dk)
        normaliser = summed[:, PHk:]  # (B, P*H*dk)
        mixture = summed[:, :PHk] / normaliser  # (B, P*H*dk): softmax-weighted values
        mixture_rows = mixture.view(Q, Hk)  # (Q, H*dk)
        attended = torch.addmm(self.b_out, self.w_out, mixture_rows.T)  # (d, Q)
        h_slots = torch.mm(h_own.T, slot_onehot) if self.residual else None  # (d, Q): each slot's own input
        if self.bert:
            eps = c.layer_norm_eps
            if dropout is not None:
                dropout = dropout.view(2, d, Q)
                mask_attended, mask_ff = dropout[0], dropout[1]  # (d, Q) each
            pre1 = attended.add_(h_slots) if dropout is None else torch.addcmul(h_slots, attended, mask_attended)
            z, z_normalised, z_statistics = _layer_norm(pre1, self.w_norm1, self.b_norm1, eps)  # (d, Q)
            relu = torch.addmm(self.b_ffn0, self.w_ffn0, z).relu_()  # (F, Q)
            ff = torch.addmm(self.b_ffn2, self.w_ffn2, relu)  # (d, Q)
            pre2 = ff.add_(z) if dropout is None else torch.addcmul(z, ff, mask_ff)  # (d, Q)
            out, out_normalised, out_statistics = _layer_norm(pre2, self.w_norm2, self.b_norm2, eps)
        else:
            out = attended.add_(h_slots) if self.residual else attended  # (d, Q)
        # Classes along dim 0: PyTorch's CPU log-softmax over a short last dimension is ~20x slower.
        log_probs = torch.log_softmax(torch.addmm(self.b_head, self.w_head, out), 0)  # (V, Q)
        flat_targets = targets.reshape(1, Q)  # (1, Q)
        picked = log_probs.gather(0, flat_targets)  # (1, Q)
        loss = -(picked.sum() if slot_weights is None else torch.vdot(picked.view(-1), slot_weights.view(-1)))

        # ---- backward: the position-wise part ----
        readout, attention = "blocks.0.readout.", "blocks.0.attention."
        grads: dict[str, torch.Tensor] = {}
        # d(mean loss) / d logits is (softmax - onehot) / Q; the 1 / Q rides on the products.
        d_logits = torch.exp(log_probs).scatter_add_(0, flat_targets, minus_one)  # (V, Q), times Q
        if slot_weights is not None:
            d_logits.mul_(slot_weights)
        grads["head.weight"] = torch.addmm(self.zero, d_logits, out.T, beta=0.0, alpha=1.0 / Q)  # (V, d)
        grads["head.bias"] = d_logits.sum(1).mul_(1.0 / Q)
        d_out = torch.addmm(self.zero, self.w_head_t, d_logits, beta=0.0, alpha=1.0 / Q)  # (d, Q)
        if self.bert:
            d_pre2, grads[readout + "norm2.weight"], grads[readout + "norm2.bias"] = _layer_norm_backward(
                d_out, pre2, out_normalised, out_statistics, self.w_norm2, eps
            )
            d_ff = d_pre2 if dropout is None else d_pre2 * mask_ff  # (d, Q)
            grads[readout + "ffn.2.weight"] = torch.mm(d_ff, relu.T)  # (d, F)
            grads[readout + "ffn.2.bias"] = d_ff.sum(1)
            d_hidden = torch.ops.aten.threshold_backward(torch.mm(self.w_ffn2_t, d_ff), relu, 0)  # (F, Q)
            grads[readout + "ffn.0.weight"] = torch.mm(d_hidden, z.T)  # (F, d)
            grads[readout + "ffn.0.bias"] = d_hidden.sum(1)
            d_z = torch.addmm(d_pre2, self.w_ffn0_t, d_hidden)  # (d, Q)
            d_pre1, grads[readout + "norm1.weight"], grads[readout + "norm1.bias"] = _layer_norm_backward(
                d_z, pre1, z_normalised, z_statistics, self.w_norm1, eps
            )
            d_attended = d_pre1 if dropout is None else d_pre1 * mask_attended  # (d, Q)
            d_h_own = d_pre1.view(d, B, P).sum(1)  # (d, P): the residual
        else:
            d_attended = d_out
            d_h_own = d_out.view(d, B, P).sum(1) if self.residual else None

        # ---- backward: attention over the rows ----
        grads[attention + "output.weight"] = torch.mm(d_attended, mixture_rows)  # (d, H*dk)
        grads[attention + "output.bias"] = d_attended.sum(1)
        d_numerator = torch.mm(d_attended.T, self.w_out).view(B, PHk).div_(normaliser)  # (B, P*H*dk)
        # d / d denominator = -d_numerator * mixture. Each row's gradient goes back to its keys:
        # a product with the rows' one-hot keys.
        onehot = torch.zeros(K, B, dtype=mixture.dtype, device=mixture.device).scatter_(0, keys.T, 1.0)  # (K, B)
        d_weighted = torch.mm(onehot, d_numerator).view(K, P, Hk)  # d / d (e * value)
        minus_d_e = torch.mm(onehot, d_numerator.mul_(mixture)).view(K, P, Hk)  # -d / d e

        # ---- backward: the key table ----
        d_logits_table = (d_weighted * values_heads).sub_(minus_d_e).mul_(e_heads).view(K, PHk)  # hidden: e = 0
        d_values = (d_weighted * e_heads).sum(1)  # (K, H*dk)
        grads[attention + "value.bias"] = d_values.sum(0)
        d_query_blocks = torch.mm(d_logits_table.T, key_vectors).view(P, Hk, Hk)  # (P, H*dk, H*dk)
        d_queries = (d_query_blocks * self.head_blocks_scaled).sum(1)  # (P, H*dk): d / d (W_Q h + b_Q)
        d_key_vectors = torch.mm(d_logits_table, query_blocks)  # (K, H*dk)
        grads[attention + "key.weight"] = torch.mm(d_key_vectors.T, h_keys)  # (H*dk, d)
        grads[attention + "value.weight"] = torch.mm(d_values.T, h_keys)  # (H*dk, d)
        grads[attention + "query.weight"] = torch.mm(d_queries.T, h_own)  # (H*dk, d)
        grads[attention + "query.bias"] = d_queries.sum(0)
        d_own = torch.mm(d_queries, self.w_query) if d_h_own is None else torch.addmm(d_h_own.T, d_queries, self.w_query)
        d_h_keys = torch.addmm(torch.mm(d_key_vectors, self.w_key), d_values, self.w_value)  # (K, d)
        d_h_keys = torch.addmm(d_h_keys, self.own_rows, d_own)  # (K, d): the queries and residual enter at the own slots
        d_words_positions = torch.mm(self.key_inputs_t, d_h_keys)  # (T + L, d)
        grads["token_embedding.weight"] = d_words_positions[: self.n_tokens]
        if self.levels is not None:
            grads["level_embedding"] = torch.mm(self.levels[0].T, grads["token_embedding.weight"])  # (R, d)
        if self.learned_positions:
            d_positions = d_words_positions[self.n_tokens :]  # (L, d)
            rest = c.max_len - self.length
            grads["positional"] = torch.cat([d_positions, d_positions.new_zeros(rest, d)]) if rest else d_positions
        return loss, torch.take(e, self.own_weights).amin(), grads

    def normaliser_ok(self, smallest: torch.Tensor | float) -> bool:
        """Whether a step's softmax denominators are safely away from underflow (see the module docstring)."""
        return float(smallest) > self.normaliser_floor
