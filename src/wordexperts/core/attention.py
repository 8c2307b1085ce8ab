"""Bidirectional attention trained with the masked language model objective.

The model of paper.md §1-2: token embedding plus positional encoding, a stack of blocks,
and a linear head over the vocabulary. A block is multi-head attention followed by a
position-wise *readout*:

    linear block                       bert block (post-LN, the paper's tabular model)
    h ──> MultiHeadAttention ──> a     h ──> MultiHeadAttention ──> a
    (a + h if residual)                z = LayerNorm(h + Dropout(a))
                                       LayerNorm(z + Dropout(FFN(z)))

The readout never mixes positions, which is why a single block's masked logits at every
position can be computed in one pass: the query of a masked position sees the row's other
tokens plus its own mask token, and nothing after attention looks across positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

import torch
from torch import nn

from ..checks import check_positive_int, is_int
from .masking import MaskedLanguageModel, Positions, check_positions, expand_masked, mask_onehot

BLOCKS = ("linear", "bert")
POSITIONALS = ("learned", "sinusoidal", "none")
INITS = ("torch", "keras")


@dataclass(frozen=True, kw_only=True)
class AttentionConfig:
    """Architecture of a :class:`BidirectionalAttention` (and of its :class:`WordExperts` form).

    Token ids ``0 .. vocab_size - 1`` are the words the head predicts; the mask token is
    ``mask_token`` (default ``vocab_size``, one extra embedding row). A ``mask_token`` below
    ``vocab_size`` is a word of the vocabulary, as BERT's ``[MASK]``.

    ``residual`` applies to ``linear`` blocks; ``bert`` blocks always have their two residuals.
    ``d_ff`` and ``layer_norm_eps`` apply to ``bert`` blocks only. ``init="keras"`` reproduces
    the initialisation of the paper's Keras code (embeddings uniform(-0.05, 0.05), kernels and
    learned positions Glorot-uniform with Keras's fans, zero biases), which matters on small
    tables.

    ``n_levels > 0`` adds a *level embedding* shared by all words: word ``t``'s embedding is
    ``E e_t + sum_r A[t, r] U_r``, with ``U`` ``(n_levels, d_model)`` learned and ``A``
    ``(n_tokens, n_levels)`` a fixed buffer (``token_levels``, set by whoever knows what the
    words are; zero until then). The tabular estimators point each numeric bin at its quantile
    level, so that "high" means something shared across columns, with each column's own
    embedding on top. It changes what a word's vector is, nothing else: the mixture-of-experts
    form holds with the summed vectors as word vectors.
    """

    vocab_size: int
    max_len: int
    d_model: int = 20
    n_heads: int = 5
    d_head: int | None = None
    n_layers: int = 1
    block: Literal["linear", "bert"] = "linear"
    positional: Literal["learned", "sinusoidal", "none"] = "learned"
    residual: bool = False
    d_ff: int = 5
    dropout: float = 0.0
    layer_norm_eps: float = 1e-6
    mask_token: int | None = None
    init: Literal["torch", "keras"] = "torch"
    n_levels: int = 0

    def __post_init__(self) -> None:
        sizes = ["vocab_size", "max_len", "d_model", "n_heads", "n_layers", "d_ff"]
        for name in sizes + (["d_head"] if self.d_head is not None else []):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))  # numpy ints -> int
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ValueError(
                    f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; pass d_head explicitly"
                )
            object.__setattr__(self, "d_head", self.d_model // self.n_heads)
        if not is_int(self.n_levels) or self.n_levels < 0:
            raise ValueError(f"n_levels must be an int >= 0, got {self.n_levels!r}")
        object.__setattr__(self, "n_levels", int(self.n_levels))
        if self.mask_token is None:
            object.__setattr__(self, "mask_token", self.vocab_size)
        elif not is_int(self.mask_token) or not 0 <= self.mask_token <= self.vocab_size:
            raise ValueError(f"mask_token must be an int in [0, {self.vocab_size}], got {self.mask_token!r}")
        object.__setattr__(self, "mask_token", int(self.mask_token))
        for name, low, high in (("dropout", 0.0, 1.0), ("layer_norm_eps", 0.0, math.inf)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value < high:
                raise ValueError(f"{name} must be a number in [{low}, {high}), got {value!r}")
        if self.layer_norm_eps == 0:
            raise ValueError("layer_norm_eps must be positive, got 0")
        for name, allowed in (("block", BLOCKS), ("positional", POSITIONALS), ("init", INITS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.positional == "sinusoidal" and self.d_model < 2:
            raise ValueError("sinusoidal positions need d_model >= 2")

    @property
    def n_tokens(self) -> int:
        """Rows of the embedding table: the words plus the mask token if it is not a word."""
        return max(self.vocab_size, self.mask_token + 1)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def sinusoidal_positions(length: int, width: int) -> torch.Tensor:
    """Fixed encodings of "Attention is all you need": ``(length, width)``, sin on even columns."""
    position = torch.arange(length, dtype=torch.float64)[:, None]  # (L, 1)
    rate = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float64) / width)
    table = torch.zeros(length, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : width // 2]
    return table.float()


def register_positional(module: nn.Module, config: AttentionConfig) -> None:
    """Give ``module`` its ``positional`` table ``(max_len, d)``: a parameter if ``learned``,
    else a buffer (sinusoidal, or zeros for ``none``)."""
    shape = (config.max_len, config.d_model)
    if config.positional == "learned":
        module.positional = nn.Parameter(torch.empty(shape))
    elif config.positional == "sinusoidal":
        module.register_buffer("positional", sinusoidal_positions(*shape))
    else:
        module.register_buffer("positional", torch.zeros(shape))


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with biases and an output projection.

    Shape:
        ``forward``: ``(B, L, d) -> (B, L, d)``.
        ``forward_masked``: rows ``(B, L, d)``, the mask token's input at each position
        ``(L, d)`` and the query positions ``(P,)`` -> ``(B, P, d)``, exactly what ``forward``
        gives at ``positions[p]`` for the copy of the row with that position masked.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__()
        d, inner = config.d_model, config.n_heads * config.d_head
        self.n_heads, self.d_head = config.n_heads, config.d_head
        self.query = nn.Linear(d, inner)
        self.key = nn.Linear(d, inner)
        self.value = nn.Linear(d, inner)
        self.output = nn.Linear(inner, d)

    @torch.no_grad()
    def reset_keras(self) -> None:
        """Glorot-uniform as Keras computes it for its 3-D attention kernels.

        Keras holds the query/key/value kernels as ``(d, H, dk)`` and the output kernel as
        ``(H, dk, d)``, and takes Glorot's fans as ``shape[-2] * r`` and ``shape[-1] * r`` with
        ``r`` the product of the leading dimensions; biases start at zero.
        """
        d, H, dk = self.output.out_features, self.n_heads, self.d_head
        for projection in (self.query, self.key, self.value):
            bound = math.sqrt(6.0 / (H * d + dk * d))
            nn.init.uniform_(projection.weight, -bound, bound)
        bound = math.sqrt(6.0 / (dk * H + d * H))
        nn.init.uniform_(self.output.weight, -bound, bound)
        for projection in (self.query, self.key, self.value, self.output):
            nn.init.zeros_(projection.bias)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """``(..., L, H*dk) -> (..., H, L, dk)``."""
        return t.unflatten(-1, (self.n_heads, self.d_head)).transpose(-3, -2)

    def _merge(self, t: torch.Tensor) -> torch.Tensor:
        """``(..., H, L, dk) -> (..., L, d)`` through the output projection."""
        return self.output(t.transpose(-3, -2).flatten(-2))

    # Scores are laid out (..., keys, queries) and normalised over dim -2: PyTorch's CPU softmax
    # over a short last dimension (L = 6 columns) is several times slower than over dim -2.

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.query(h))  # (B, H, L, dk)
        k = self._heads(self.key(h))  # (B, H, L, dk)
        v = self._heads(self.value(h))  # (B, H, L, dk)
        weights = torch.softmax(k @ q.transpose(-1, -2) / math.sqrt(self.d_head), dim=-2)  # (B, H, L_k, L_q)
        return self._merge(weights.transpose(-1, -2) @ v)  # (B, L, d)

    def forward_masked(self, h: torch.Tensor, h_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        # A masked query depends on its position alone, so it is folded into the key map once
        # per position (the gate vector g = K^T q / sqrt(dk) of paper.md §1), and the values
        # into the output map (A_h = O_h V_h). Scores and expert vectors of every row then
        # come from two plain matrix products over (B*L, d), with no per-row queries.
        B, L, d = h.shape
        H, dk, P = self.n_heads, self.d_head, positions.numel()
        h_own = h_mask[positions]  # (P, d): the masked slot's input, row-independent
        q = self.query(h_own).view(P, H, dk)  # (P, H, dk)
        w_key = self.key.weight.view(H, dk, d)
        # Small products as broadcast sums: cheaper than einsum's batched matmuls at these sizes.
        gates = (w_key.permute(2, 1, 0)[..., None] * q.permute(2, 1, 0)).sum(1) / math.sqrt(dk)  # (d, H, P)
        w_value = self.value.weight.view(H, dk, d).permute(2, 0, 1)  # (d, H, dk)
        w_out = self.output.weight.view(d, H, dk).permute(1, 2, 0)  # (H, dk, d)
        expert_map = (w_value[..., None] * w_out).sum(2)  # (d, H, d): A_h^T, one per head
        # Scores over the row's L tokens plus the masked slot's own token (last), normalised over dim 1.
        rows = (h.reshape(B * L, d) @ gates.reshape(d, H * P)).view(B, L, H, P)  # (B, L, H, P)
        hidden = torch.zeros(L, 1, P, dtype=h.dtype, device=h.device)
        hidden = hidden.masked_fill(mask_onehot(positions, L).T[:, None, :], float("-inf"))  # x_i is masked
        own = (gates * h_own.T[:, None, :]).sum(0)  # (H, P)
        weights = torch.softmax(torch.cat([rows + hidden, own.expand(B, 1, H, P)], dim=1), dim=1)  # (B, L+1, H, P)
        experts = (h.reshape(B * L, d) @ expert_map.reshape(d, H * d)).view(B, L * H, d)  # (B, L*H, d)
        own_experts = (h_own @ expert_map.reshape(d, H * d)).view(P, H, d)  # (P, H, d)
        # Contiguous rows keep both of the product's backward matmuls on the batched BLAS path
        # (a sliced batch stride sends PyTorch's CPU bmm into a loop over the batch, ~10x slower).
        rows_weights = weights[:, :L].contiguous().view(B, L * H, P)  # (B, L*H, P)
        mixed = rows_weights.transpose(1, 2) @ experts  # (B, P, d)
        mixed = mixed + torch.einsum("bhp,phd->bpd", weights[:, L], own_experts)  # (B, P, d)
        intercept = self.output.weight @ self.value.bias + self.output.bias  # (d,): weights sum to one
        return mixed + intercept


class Readout(nn.Module):
    """What a block does after attention, position by position: ``(attended, h) -> out``.

    ``attended`` and ``h`` (the block's input at the same position) are ``(..., d)``; the
    output is ``(..., d)``. Shared by both parameterisations, so the mixture-of-experts form
    of a ``bert`` block applies the very same LayerNorms and feed-forward layer.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__()
        self.block = config.block
        self.residual = config.residual or config.block == "bert"
        if self.block == "bert":
            d = config.d_model
            self.dropout1 = nn.Dropout(config.dropout)
            self.norm1 = nn.LayerNorm(d, eps=config.layer_norm_eps)
            self.ffn = nn.Sequential(nn.Linear(d, config.d_ff), nn.ReLU(), nn.Linear(config.d_ff, d))
            self.dropout2 = nn.Dropout(config.dropout)
            self.norm2 = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, attended: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if self.block == "linear":
            return attended + h if self.residual else attended
        z = self.norm1(h + self.dropout1(attended))
        return self.norm2(z + self.dropout2(self.ffn(z)))


class Block(nn.Module):
    """Attention then readout. Shape ``(B, L, d) -> (B, L, d)``."""

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(config)
        self.readout = Readout(config)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.readout(self.attention(h), h)


class BidirectionalAttention(MaskedLanguageModel):
    """Bidirectional self-attention with positional encodings, for masked language modelling.

    Shape:
        tokens ``(B, L)`` int64 with ``L <= max_len``; ``forward`` -> ``(B, L, V)``;
        ``masked_logits`` -> ``(B, P, V)`` for ``P`` masked positions (all ``L`` by default).

    Examples:
        >>> torch.manual_seed(0) and None
        >>> model = BidirectionalAttention(vocab_size=10, max_len=6, d_model=20, n_heads=5)
        >>> x = torch.randint(0, 10, (4, 6))
        >>> model.masked_logits(x).shape
        torch.Size([4, 6, 10])
        >>> fast, slow = model.masked_logits(x), model.masked_logits(x, method="expand")
        >>> bool((fast - slow).abs().max() < 1e-5)
        True
    """

    def __init__(self, config: AttentionConfig | None = None, **kwargs) -> None:
        super().__init__()
        if config is None:
            config = AttentionConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either an AttentionConfig or keyword arguments, not both")
        self.config = config
        c = config
        self.token_embedding = nn.Embedding(c.n_tokens, c.d_model)
        if c.n_levels:
            self.level_embedding = nn.Parameter(torch.empty(c.n_levels, c.d_model))
            self.register_buffer("token_levels", torch.zeros(c.n_tokens, c.n_levels))
        register_positional(self, c)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.head = nn.Linear(c.d_model, c.vocab_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as PyTorch does by default (``init="torch"``) or as Keras did (``"keras"``)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if self.config.positional == "learned":
            nn.init.normal_(self.positional)  # as nn.Embedding, N(0, 1)
        if self.config.n_levels:
            nn.init.normal_(self.level_embedding)  # as nn.Embedding
        if self.config.init == "keras":
            nn.init.uniform_(self.token_embedding.weight, -0.05, 0.05)
            if self.config.n_levels:
                nn.init.uniform_(self.level_embedding, -0.05, 0.05)
            if self.config.positional == "learned":
                nn.init.xavier_uniform_(self.positional)
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight)
                    nn.init.zeros_(module.bias)
            for module in self.modules():
                if isinstance(module, MultiHeadAttention):
                    module.reset_keras()

    @property
    def mask_token(self) -> int:
        return self.config.mask_token

    def word_embeddings(self) -> torch.Tensor:
        """Every word's vector ``(n_tokens, d)``: ``E``, plus ``token_levels @ level_embedding`` with levels."""
        if not self.config.n_levels:
            return self.token_embedding.weight
        return torch.addmm(self.token_embedding.weight, self.token_levels, self.level_embedding)

    def set_token_levels(self, levels: torch.Tensor) -> None:
        """Point words at the shared levels: ``levels`` ``(n_tokens, n_levels)``, row ``t`` word ``t``'s weights."""
        c = self.config
        if not c.n_levels:
            raise ValueError("this model has no level embedding (n_levels=0)")
        levels = torch.as_tensor(levels, dtype=self.token_levels.dtype)
        if levels.shape != (c.n_tokens, c.n_levels) or not torch.isfinite(levels).all():
            raise ValueError(f"levels must be finite, of shape ({c.n_tokens}, {c.n_levels}), got {tuple(levels.shape)}")
        self.token_levels.copy_(levels)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Block input ``h_j = E e_{x_j} + p_j``: ``(B, L) -> (B, L, d)``."""
        if self.config.n_levels:
            return nn.functional.embedding(x, self.word_embeddings()) + self.positional[: x.shape[-1]]
        return self.token_embedding(x) + self.positional[: x.shape[-1]]

    def masked_inputs(self, length: int | None = None) -> torch.Tensor:
        """Input at a masked position, ``E e_m + p_i``, for every position: ``(L, d)``."""
        length = self.config.max_len if length is None else length
        return self.word_embeddings()[self.mask_token] + self.positional[:length]

    def masked_queries(self) -> torch.Tensor:
        """First-layer query of a masked slot at each position, ``(H, max_len, dk)``.

        It depends on the position alone (the slot always holds the mask token), which is what
        makes the gate vector ``g_i`` of the mixture-of-experts form a per-position parameter.
        """
        attention = self.blocks[0].attention
        return attention._heads(attention.query(self.masked_inputs()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at every position for the tokens as given (mask tokens wherever they are)."""
        x = self.check_tokens(x, allow_mask=True)
        return self.head(self._encode(x))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)  # (B, L, d)
        for block in self.blocks:
            h = block(h)
        return h

    def masked_logits(
        self,
        x: torch.Tensor,
        positions: Positions = None,
        *,
        method: Literal["auto", "one_pass", "expand"] = "auto",
        allow_mask: bool = False,
    ) -> torch.Tensor:
        """Logits at each of ``positions`` when that position alone is masked: ``(B, P, V)``.

        ``method="one_pass"`` (single block only) is exact and computes all ``P`` masked copies
        of a row in one attention pass; ``"expand"`` copies every row once per masked position
        and is the reference; ``"auto"`` picks one pass whenever it applies.
        """
        x = self.check_tokens(x, allow_mask=allow_mask)
        return self.masked_logits_at(x, check_positions(positions, x.shape[1], x.device), method=method)

    def masked_logits_at(self, x: torch.Tensor, positions: torch.Tensor, *, method: str = "auto") -> torch.Tensor:
        """:meth:`masked_logits` without the checks, for callers that have made them once.

        ``x`` ``(B, L)`` int64 on the model's device (as :meth:`check_tokens` returns it),
        ``positions`` ``(P,)`` int64 on the same device (as
        :func:`~wordexperts.core.masking.check_positions` returns it) -> ``(B, P, V)``. Only
        ``method`` is checked: a wrong shape or id fails inside PyTorch, a stray mask token
        in ``x`` goes unnoticed.

        Examples:
            >>> model = BidirectionalAttention(vocab_size=10, max_len=6, d_model=20, n_heads=5)
            >>> x = model.check_tokens(torch.randint(0, 10, (4, 6)))
            >>> positions = check_positions([0, 3], x.shape[1], x.device)
            >>> bool((model.masked_logits_at(x, positions) == model.masked_logits(x, [0, 3])).all())
            True
        """
        return self.head(self.masked_states_at(x, positions, method=method))  # (B, P, V)

    def masked_states_at(self, x: torch.Tensor, positions: torch.Tensor, *, method: str = "auto") -> torch.Tensor:
        """The last block's output at each of ``positions`` masked alone: ``(B, P, d)``.

        What the output layer reads (``masked_logits_at`` is ``head`` of it), unchecked as
        :meth:`masked_logits_at`; the estimators' within-bin regression reads it too.
        """
        if method == "auto":
            method = "one_pass" if self.config.n_layers == 1 else "expand"
        if method == "one_pass":
            if self.config.n_layers != 1:
                raise ValueError(
                    f"the one-pass masked logits are exact for a single block only; this model has "
                    f"{self.config.n_layers} layers (use method='expand' or 'auto')"
                )
            block = self.blocks[0]
            h = self.embed(x)  # (B, L, d)
            h_mask = self.masked_inputs(x.shape[1])  # (L, d)
            attended = block.attention.forward_masked(h, h_mask, positions)  # (B, P, d)
            return block.readout(attended, h_mask[positions])  # (B, P, d)
        if method == "expand":
            (B, L), P = x.shape, positions.numel()
            copies = expand_masked(x, positions, self.mask_token).reshape(B * P, L)  # (B*P, L)
            h = self._encode(copies).reshape(B, P, L, -1)  # (B, P, L, d)
            return h[:, torch.arange(P, device=x.device), positions]  # (B, P, d)
        raise ValueError(f"method must be 'auto', 'one_pass' or 'expand', got {method!r}")
