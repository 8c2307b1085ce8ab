"""Bidirectional attention written as a CBOW model with mixture-of-experts weights.

paper.md §1. Masking position ``i`` (so ``x_i := m``), one layer gives

    log p(x_i = w | x_-i) = rho_w . readout( sum_h sum_j pi^h_ij (alpha^h_{x_j} + gamma^h_j) + c_i ) + b_w - log Z
    pi^h_ij = softmax_j( g^h_i . u_{x_j} + beta^h_ij )

    rho_w      output embedding of word w              (V, d)
    alpha^h_v  expert vector of word v, per head        (H, V+1, d)
    gamma^h_j  positional shift of position j           (H, L, d)
    g^h_i      gate vector of masked position i         (H, L, d)
    u_v        gating word embedding of word v          (V+1, d)
    beta^h_ij  position-pair gate bias                  (H, L, L)
    c_i        intercept of masked position i           (L, d)

Heads add up: the mixture is a sum ("stack") of H per-head mixtures. Plain CBOW is the case
of uniform gates.

The attention family is a structured subset. With word vectors E, positions P and, per head,
the query/key/value/output weights of attention:

    alpha^h = E A_h^T,  gamma^h = P A_h^T            one expert map  A_h = O_h V_h, rank <= dk
    g^h_i = G_h (E_m + p_i) + c_h,  u = E            one gate map    G_h = K_h^T Q_h / sqrt(dk)
    beta^h_ij = g^h_i . p_j                          c_h = K_h^T b_Q / sqrt(dk)
    c_i = sum_h O_h b_V + b_O  (+ E_m + p_i with a residual)

:class:`WordExperts` holds either the structured parameters (E, P and the factors of A_h and
G_h, with alpha, gamma, g, u, beta derived from them: ``structure="attention"``), or free
mixture parameters (alpha, gamma, g, u, beta, c held directly: ``structure="free"``), which
represent mixtures outside the attention family and so cannot be converted back.

The key bias of attention adds the same amount to every score of a query and cancels in the
softmax; the value bias is mixed with weights summing to one, so it joins the intercept.
:func:`to_experts` folds both away and :func:`to_attention` writes them as zero and the
output bias; the logits are unchanged.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

import torch
from torch import nn

from ..checks import is_int
from .attention import AttentionConfig, BidirectionalAttention, Readout, register_positional
from .masking import MaskedLanguageModel, Positions, check_positions, expand_masked, mask_onehot


class ExpertLayer(nn.Module):
    """One attention layer as a gate map and an expert map per head (structured form).

    ::

        z_1 .. z_L ──> gates  pi^h_ij = softmax_j((G_h z_i + c_h) . z_j)
                   ──> experts      A_h z_j
                   ──> readout( sum_h sum_j pi^h_ij A_h z_j + c0 , z_i )

    At layer 1 the inputs are word vectors plus positions, so the experts are the word
    experts alpha and shifts gamma; above, they are the previous layer's mixtures, which
    makes a deep model a mixture of mixtures.

    Shape:
        ``forward``: ``(B, L, d) -> (B, L, d)``; ``gate_vectors`` and ``experts``:
        ``(..., d) -> (..., H, d)``.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__()
        H, dk, d = config.n_heads, config.d_head, config.d_model
        self.scale = math.sqrt(dk)
        self.gate_query = nn.Parameter(torch.empty(H, dk, d))  # Q_h
        self.gate_query_bias = nn.Parameter(torch.empty(H, dk))  # b_Q,h
        self.gate_key = nn.Parameter(torch.empty(H, dk, d))  # K_h
        self.expert_in = nn.Parameter(torch.empty(H, dk, d))  # V_h
        self.expert_out = nn.Parameter(torch.empty(H, d, dk))  # O_h
        self.intercept = nn.Parameter(torch.empty(d))  # c0
        self.readout = Readout(config)

    def gate_map(self) -> torch.Tensor:
        """``G_h = K_h^T Q_h / sqrt(dk)``: ``(H, d, d)``."""
        return self.gate_key.transpose(1, 2) @ self.gate_query / self.scale

    def expert_map(self) -> torch.Tensor:
        """``A_h = O_h V_h``: ``(H, d, d)``."""
        return self.expert_out @ self.expert_in

    def gate_vectors(self, z: torch.Tensor) -> torch.Tensor:
        """Gate vector ``G_h z + c_h`` of a query with input ``z``: ``(..., d) -> (..., H, d)``."""
        q = torch.einsum("hed,...d->...he", self.gate_query, z) + self.gate_query_bias  # (..., H, dk)
        return torch.einsum("hed,...he->...hd", self.gate_key, q) / self.scale

    def experts(self, z: torch.Tensor) -> torch.Tensor:
        """Expert vector ``A_h z`` of an input ``z``: ``(..., d) -> (..., H, d)``."""
        v = torch.einsum("hed,...d->...he", self.expert_in, z)  # (..., H, dk)
        return torch.einsum("hde,...he->...hd", self.expert_out, v)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        g = self.gate_vectors(z)  # (B, L, H, d)
        gates = torch.softmax(torch.einsum("bihd,bjd->bhij", g, z), dim=-1)  # (B, H, L, L)
        mixed = torch.einsum("bhij,bjhd->bid", gates, self.experts(z)) + self.intercept  # (B, L, d)
        return self.readout(mixed, z)


class FreeMixture(nn.Module):
    """A CBOW mixture of word experts with unconstrained parameters (see the module docstring)."""

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__()
        H, V, L, d = config.n_heads, config.n_tokens, config.max_len, config.d_model
        self.alpha = nn.Parameter(torch.empty(H, V, d))
        self.gamma = nn.Parameter(torch.empty(H, L, d))
        self.gate_vectors = nn.Parameter(torch.empty(H, L, d))
        self.gate_words = nn.Parameter(torch.empty(V, d))
        self.gate_positions = nn.Parameter(torch.empty(H, L, L))
        self.intercept = nn.Parameter(torch.empty(L, d))

    def reset_parameters(self) -> None:
        for p in self.parameters():
            nn.init.normal_(p, std=1.0 / math.sqrt(p.shape[-1]))


class WordExperts(MaskedLanguageModel):
    """Continuous bag of words with mixture-of-experts context weights (paper.md §1).

    ``structure="attention"`` (default) builds a random member of the attention family, held
    through its shared expert and gate maps; :func:`to_experts` gives the form of a trained
    :class:`BidirectionalAttention`. ``structure="free"`` holds alpha, gamma, g, u, beta and
    the intercept directly (one layer, ``linear`` block, no residual: the intercept covers it).

    Shape:
        tokens ``(B, L)``; ``masked_logits`` -> ``(B, P, V)``; ``gates(x, position=i)`` ->
        ``(B, H, L)``; ``gates_at(x, positions)`` -> ``(B, H, P, L)``; ``experts(x)`` ->
        ``(B, H, L, d)``; ``head_mixtures`` -> ``(B, H, P, d)``.

    Examples:
        >>> torch.manual_seed(0) and None
        >>> attention = BidirectionalAttention(vocab_size=10, max_len=6, d_model=8, n_heads=2).double()
        >>> experts = to_experts(attention)
        >>> x = torch.randint(0, 10, (3, 6))
        >>> experts.gates(x, position=2).shape, experts.alpha.shape
        (torch.Size([3, 2, 6]), torch.Size([2, 11, 8]))
        >>> bool((experts.masked_logits(x) - attention.masked_logits(x)).abs().max() < 1e-10)
        True
    """

    def __init__(
        self,
        config: AttentionConfig | None = None,
        *,
        structure: Literal["attention", "free"] = "attention",
        **kwargs,
    ) -> None:
        super().__init__()
        if config is None:
            config = AttentionConfig(**kwargs)
        elif kwargs:
            raise TypeError("pass either an AttentionConfig or keyword arguments, not both")
        if structure not in ("attention", "free"):
            raise ValueError(f"structure must be 'attention' or 'free', got {structure!r}")
        if structure == "free" and (config.n_layers != 1 or config.block != "linear" or config.residual):
            raise ValueError(
                "free word experts are a single linear mixture: use n_layers=1, block='linear', residual=False "
                f"(got n_layers={config.n_layers}, block={config.block!r}, residual={config.residual})"
            )
        self.config = config
        self.structure = structure
        V, d = config.vocab_size, config.d_model
        self.rho = nn.Parameter(torch.empty(V, d))  # output embeddings
        self.bias = nn.Parameter(torch.empty(V))  # output bias b
        if structure == "free":
            self.mixture = FreeMixture(config)
        else:
            self.word_vectors = nn.Parameter(torch.empty(config.n_tokens, d))  # E
            register_positional(self, config)  # P
            self.layers = nn.ModuleList(ExpertLayer(config) for _ in range(config.n_layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Free form: N(0, 1/d) everywhere. Structured: the law of a fresh attention model."""
        if self.structure == "free":
            self.mixture.reset_parameters()
            head = nn.Linear(self.config.d_model, self.config.vocab_size)
            with torch.no_grad():
                self.rho.copy_(head.weight)
                self.bias.copy_(head.bias)
        else:
            _load_attention(self, BidirectionalAttention(self.config))

    @property
    def free(self) -> bool:
        return self.structure == "free"

    # ---- the mixture's parameters (of the first layer, in a deep structured model) ----

    @property
    def alpha(self) -> torch.Tensor:
        """Expert vector of every token (mask included), per head: ``(H, V+1, d)``."""
        if self.free:
            return self.mixture.alpha
        return self.layers[0].experts(self.word_vectors).transpose(0, 1)

    @property
    def gamma(self) -> torch.Tensor:
        """Positional shift of every position, per head: ``(H, L, d)``."""
        if self.free:
            return self.mixture.gamma
        return self.layers[0].experts(self.positional).transpose(0, 1)

    @property
    def gate_vectors(self) -> torch.Tensor:
        """Gate vector ``g_i`` of each masked position, per head: ``(H, L, d)``."""
        if self.free:
            return self.mixture.gate_vectors
        return self.layers[0].gate_vectors(self._masked_inputs()).transpose(0, 1)

    @property
    def gate_words(self) -> torch.Tensor:
        """Gating word embedding ``u_v`` of every token: ``(V+1, d)`` (``E`` in attention)."""
        return self.mixture.gate_words if self.free else self.word_vectors

    @property
    def gate_positions(self) -> torch.Tensor:
        """Position-pair gate bias ``beta_ij``, per head: ``(H, L, L)``."""
        if self.free:
            return self.mixture.gate_positions
        return torch.einsum("hid,jd->hij", self.gate_vectors, self.positional)

    @property
    def intercept(self) -> torch.Tensor:
        """Term added to the mixture of masked position ``i``: ``(L, d)``."""
        if self.free:
            return self.mixture.intercept
        c = self.layers[0].intercept.expand(self.config.max_len, -1)
        if self.config.block == "linear" and self.config.residual:
            c = c + self._masked_inputs()
        return c

    def _masked_inputs(self) -> torch.Tensor:
        return self.word_vectors[self.config.mask_token] + self.positional  # (L, d)

    # ---- evaluation ----

    def _require_single_layer(self, what: str) -> None:
        if self.config.n_layers != 1:
            raise ValueError(
                f"{what} is defined for a single layer; this model has {self.config.n_layers} "
                "(use mixture_of_mixtures for the logits)"
            )

    def gates_at(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The gates ``pi^h_ij`` of every masked position ``i`` in ``positions``, without the checks.

        ``x`` ``(B, L)`` int64 on the model's device (as :meth:`check_tokens` returns it),
        ``positions`` ``(P,)`` int64 on the same device (as
        :func:`~wordexperts.core.masking.check_positions` returns it) -> ``(B, H, P, L)``
        indexed ``[b, h, p, j]`` (masked ``positions[p]``, expert ``j``), each row summing to
        one. Nothing is checked, not even that the model has a single layer (:meth:`gates`
        checks all of it): for callers that have checked once, then call batch after batch.

        Examples:
            >>> experts = WordExperts(vocab_size=10, max_len=6, d_model=8, n_heads=2)
            >>> x = experts.check_tokens(torch.randint(0, 10, (3, 6)))
            >>> bool((experts.gates_at(x, torch.tensor([2]))[:, :, 0] == experts.gates(x, position=2)).all())
            True
        """
        L = x.shape[1]
        g = self.gate_vectors[:, positions]  # (H, P, d)
        u = self.gate_words
        word_scores = torch.einsum("hpd,bjd->bhpj", g, u[x])  # (B, H, P, L)
        own_scores = g @ u[self.config.mask_token]  # (H, P): the masked slot holds m
        word_scores = torch.where(mask_onehot(positions, L), own_scores[..., None], word_scores)
        return torch.softmax(word_scores + self.gate_positions[:, positions, :L], dim=-1)

    def _experts(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha^h_{x_j} + gamma^h_j``: ``(B, H, L, d)`` for the row as given."""
        return self.alpha[:, x].transpose(0, 1) + self.gamma[:, : x.shape[1]]

    def head_mixtures(self, x: object, positions: Positions = None, *, allow_mask: bool = False) -> torch.Tensor:
        """Per-head mixture ``sum_j pi^h_ij (alpha^h_{x_j} + gamma^h_j)`` with ``x_i := m``: ``(B, H, P, d)``."""
        self._require_single_layer("head_mixtures")
        x = self.check_tokens(x, allow_mask=allow_mask)
        p = check_positions(positions, x.shape[1], x.device)
        return self._head_mixtures(x, p)

    def _head_mixtures(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        gates = self.gates_at(x, p)  # (B, H, P, L)
        onehot = mask_onehot(p, L)  # (P, L)
        own = gates[..., onehot]  # (B, H, P): weight on the masked slot
        alpha_mask = self.alpha[:, self.config.mask_token]  # (H, d)
        words = gates.masked_fill(onehot, 0.0) @ self.alpha[:, x].transpose(0, 1)  # (B, H, P, d)
        return words + own[..., None] * alpha_mask[:, None] + gates @ self.gamma[:, :L]

    def gates(self, x: object, position: int | None = None, *, allow_mask: bool = False) -> torch.Tensor:
        """Mixture weights over positions when ``position`` is masked: ``(B, H, L)``.

        With ``position=None``, every position masked in turn: ``(B, H, L, L)`` indexed
        ``[b, h, i, j]`` (masked ``i``, expert ``j``). Each row sums to one.
        """
        self._require_single_layer("gates")
        _check_single_position(position)
        x = self.check_tokens(x, allow_mask=allow_mask)
        gates = self.gates_at(x, check_positions(position, x.shape[1], x.device))
        return gates if position is None else gates[:, :, 0]

    def experts(self, x: object, position: int | None = None, *, allow_mask: bool = False) -> torch.Tensor:
        """The expert vectors that are mixed, ``alpha^h_{x_j} + gamma^h_j``: ``(B, H, L, d)``.

        With ``position=i`` the row is taken with ``x_i := m``, as the mixture for ``i`` sees it.
        Single-layer models only: above the first layer the experts are the previous layer's
        mixtures, not word vectors (see :meth:`mixture_of_mixtures`).
        """
        self._require_single_layer("experts")
        _check_single_position(position)
        x = self.check_tokens(x, allow_mask=allow_mask)
        if position is not None:
            p = check_positions(position, x.shape[1], x.device)
            x = expand_masked(x, p, self.config.mask_token)[:, 0]
        return self._experts(x)

    def masked_logits(self, x: object, positions: Positions = None, *, allow_mask: bool = False) -> torch.Tensor:
        """Logits at each of ``positions`` with that position alone masked: ``(B, P, V)``.

        One layer: the CBOW mixture above, in one pass over the rows. Deeper structured
        models: :meth:`mixture_of_mixtures`. ``allow_mask`` as for the attention model.
        """
        x = self.check_tokens(x, allow_mask=allow_mask)
        return self.masked_logits_at(x, check_positions(positions, x.shape[1], x.device))

    def masked_logits_at(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """:meth:`masked_logits` without the checks, for callers that have made them once.

        ``x`` ``(B, L)`` int64 on the model's device (as :meth:`check_tokens` returns it),
        ``positions`` ``(P,)`` int64 on the same device (as
        :func:`~wordexperts.core.masking.check_positions` returns it) -> ``(B, P, V)``.
        Nothing is checked: a wrong shape or id fails inside PyTorch, a stray mask token in
        ``x`` goes unnoticed.
        """
        if self.config.n_layers > 1:
            return self._mixture_of_mixtures(x, positions)
        mixed = self._head_mixtures(x, positions).sum(1) + self.intercept[positions]  # (B, P, d)
        if not self.free and self.config.block == "bert":
            mixed = self.layers[0].readout(mixed, self._masked_inputs()[positions])
        return mixed @ self.rho.T + self.bias  # (B, P, V)

    def mixture_of_mixtures(self, x: object, positions: Positions = None, *, allow_mask: bool = False) -> torch.Tensor:
        """Logits of a structured model of any depth, layer by layer in mixture form: ``(B, P, V)``.

        Every row is copied once per masked position; layer ``l`` gates over the outputs of
        layer ``l - 1`` (each itself a mixture, whose gate vector depends on the word at
        unmasked positions) and mixes their expert vectors ``A_h z_j``.
        """
        if self.free:
            raise ValueError("free word experts have a single layer; use masked_logits")
        x = self.check_tokens(x, allow_mask=allow_mask)
        return self._mixture_of_mixtures(x, check_positions(positions, x.shape[1], x.device))

    def _mixture_of_mixtures(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        B, L = x.shape
        copies = expand_masked(x, p, self.config.mask_token).reshape(B * p.numel(), L)  # (B*P, L)
        z = self.word_vectors[copies] + self.positional[:L]  # (B*P, L, d)
        for layer in self.layers:
            z = layer(z)
        own = z.reshape(B, p.numel(), L, -1)[:, torch.arange(p.numel(), device=x.device), p]  # (B, P, d)
        return own @ self.rho.T + self.bias


def _check_single_position(position: object) -> None:
    if position is not None and not is_int(position):
        raise TypeError(f"position must be one int (or None for every position), got {position!r}")


# ---- conversions ----


def check_finite(module: nn.Module, what: str) -> None:
    """Raise ``ValueError`` naming the first parameter or buffer with NaN or infinite values."""
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        if t.is_floating_point() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(f"cannot convert {what}: {name} has {bad} non-finite value(s) (NaN or inf)")


@torch.no_grad()
def _load_attention(experts: WordExperts, model: BidirectionalAttention) -> None:
    c = model.config
    H, dk, d = c.n_heads, c.d_head, c.d_model
    experts.word_vectors.copy_(model.word_embeddings())
    experts.positional.copy_(model.positional)
    for layer, block in zip(experts.layers, model.blocks, strict=True):
        att = block.attention
        layer.gate_query.copy_(att.query.weight.view(H, dk, d))
        layer.gate_query_bias.copy_(att.query.bias.view(H, dk))
        layer.gate_key.copy_(att.key.weight.view(H, dk, d))
        layer.expert_in.copy_(att.value.weight.view(H, dk, d))
        layer.expert_out.copy_(att.output.weight.view(d, H, dk).transpose(0, 1))
        layer.intercept.copy_(att.output.weight @ att.value.bias + att.output.bias)
        layer.readout.load_state_dict(block.readout.state_dict())
    experts.rho.copy_(model.head.weight)
    experts.bias.copy_(model.head.bias)


def _like(module: nn.Module, reference: nn.Module) -> nn.Module:
    t = next(reference.parameters())
    return module.to(device=t.device, dtype=t.dtype)


def to_experts(model: BidirectionalAttention) -> WordExperts:
    """The mixture-of-word-experts form of an attention model: same logits, same dtype and device.

    Exact for every block type: a ``bert`` block's LayerNorms and feed-forward layer act
    position by position after the mixture and are carried over as its readout.
    """
    if not isinstance(model, BidirectionalAttention):
        raise TypeError(f"to_experts expects a BidirectionalAttention, got {type(model).__name__}")
    check_finite(model, "the attention model")
    experts = _like(WordExperts(model.config), model)
    _load_attention(experts, model)
    return experts.train(model.training)


def to_attention(experts: WordExperts) -> BidirectionalAttention:
    """The attention model of a structured :class:`WordExperts`: same logits, dtype and device.

    Free mixtures are refused: their experts need not be images of one shared map of word and
    position vectors, nor their gates one shared bilinear form, so any attention model would
    only approximate them.
    """
    if not isinstance(experts, WordExperts):
        raise TypeError(f"to_attention expects a WordExperts, got {type(experts).__name__}")
    if experts.free:
        raise ValueError(
            "these word experts are free (structure='free'): alpha, gamma and the gates are not tied "
            "through shared expert and gate maps, so no attention model has exactly these logits; "
            "only structure='attention' converts back"
        )
    check_finite(experts, "the word experts")
    c = experts.config
    H, dk, d = c.n_heads, c.d_head, c.d_model
    model = _like(BidirectionalAttention(c), experts)
    with torch.no_grad():
        model.token_embedding.weight.copy_(experts.word_vectors)
        if c.n_levels:  # the word vectors already hold the levels' share
            model.level_embedding.zero_()
        model.positional.copy_(experts.positional)
        for layer, block in zip(experts.layers, model.blocks, strict=True):
            att = block.attention
            att.query.weight.copy_(layer.gate_query.reshape(H * dk, d))
            att.query.bias.copy_(layer.gate_query_bias.reshape(H * dk))
            att.key.weight.copy_(layer.gate_key.reshape(H * dk, d))
            att.key.bias.zero_()  # cancels in the softmax
            att.value.weight.copy_(layer.expert_in.reshape(H * dk, d))
            att.value.bias.zero_()  # folded into the intercept
            att.output.weight.copy_(layer.expert_out.transpose(0, 1).reshape(d, H * dk))
            att.output.bias.copy_(layer.intercept)
            block.readout.load_state_dict(layer.readout.state_dict())
        model.head.weight.copy_(experts.rho)
        model.head.bias.copy_(experts.bias)
    return model.train(experts.training)


def free_copy(experts: WordExperts) -> WordExperts:
    """The same single-layer linear mixture with its parameters untied (``structure="free"``)."""
    experts._require_single_layer("free_copy")
    if experts.config.block != "linear":
        raise ValueError("only linear blocks are a plain mixture; a bert block's readout is not")
    config = replace(experts.config, residual=False)
    free = _like(WordExperts(config, structure="free"), experts)
    with torch.no_grad():
        for name in ("alpha", "gamma", "gate_vectors", "gate_words", "gate_positions", "intercept"):
            getattr(free.mixture, name).copy_(getattr(experts, name))
        free.rho.copy_(experts.rho)
        free.bias.copy_(experts.bias)
    return free
