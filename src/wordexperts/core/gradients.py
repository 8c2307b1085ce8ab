"""The one-pass masked-LM loss of a single block and its gradient, derived by hand.

:class:`OnePassGradients` computes what ``model.mlm_loss(x, method="one_pass").backward()``
computes, in about a third of the time at the paper's tabular sizes. There a training step
holds 128 rows x 6 columns of width 20, and it costs what its operations cost to dispatch, not
what they compute; autograd's bookkeeping and PyTorch's slow kernels for small shapes (softmax
over a short dimension, batched products of tiny matrices) set the pace. Same model, same
parameters, same loss and gradients (to rounding); only the order of the sums changes.

That order is the mixture-of-experts form of paper.md §1. In a row's copy with position ``i``
masked, the key at column ``j`` holds one of ``n_tokens`` words, so its input
``E e_t + p_j`` is one of ``L * n_tokens`` vectors: a table of *keys* ``(column, token)``,
plus one key per query for its own masked slot (``E e_m + p_i``, the mask token). Each key's
gate logit ``g_i . (E e_t + p_j)`` for every query and head, and its value
``W_V (E e_t + p_j)`` (the expert), are computed once per step on that table, not per row::

    keys (K, d) ──> scores (K, P*H) ──> e = exp(scores - shift) ──┐
               └──> values (K, H, dk) ─────────────────────────── table = [e * values, e]  (K, 2, P, H, dk)
    row b:    summed_b = sum of the table over its L keys + the own slots   (an embedding bag)
              mixture_b = summed_b[0] / summed_b[1]                          (softmax-weighted values)

The denominator ``e`` is repeated ``dk`` times so that both halves have the same shape: the
division and its gradient are then plain element-wise operations. Everything after the
mixture is position-wise (output projection, readout, head) and runs on ``(features, B*P)``
matrices: PyTorch's CPU products are 2-4x faster with the long dimension last, and the
LayerNorms (written out, over dim 0) then reduce across rows in contiguous vectors. The
backward pass mirrors the forward step by step; the rows' gradients reach the table through
one product with the rows' one-hot keys.

The softmax is shifted by one constant per (query, head), the largest logit in the table,
rather than per row. Every ``e`` is then at most 1, but a query whose own slot scored far
below the table's best could see its denominators underflow in some row; the call reports
the smallest own-slot weight ``exp(own - shift)``, a lower bound on every row's denominator,
and :meth:`OnePassGradients.normaliser_ok` says whether it is safe. It fails only for
logits about 60 apart (float32), where the caller should use the module's own path.
"""

from __future__ import annotations

import math

import torch

from .attention import BidirectionalAttention

# A step's denominators must stay above tiny ** 0.7 (float32: ~2e-27; float64: ~1e-216):
# below that, underflowed terms could move the gates by more than rounding does.
_NORMALISER_EXPONENT = 0.7


def fast_step_supported(model: object) -> bool:
    """Whether :class:`OnePassGradients` applies: a single-block :class:`BidirectionalAttention`."""
    return isinstance(model, BidirectionalAttention) and model.config.n_layers == 1


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
    """LayerNorm over dim 0 of ``x`` ``(d, N)``: ``(out, normalised, rstd)``."""
    d = x.shape[0]
    centred = torch.sub(x, x.sum(0), alpha=1.0 / d)  # (d, N)
    rstd = (centred * centred).sum(0).mul_(1.0 / d).add_(eps).rsqrt_()  # (N,)
    normalised = centred.mul_(rstd)  # (d, N)
    return torch.addcmul(bias[:, None], normalised, weight[:, None]), normalised, rstd


def _layer_norm_backward(d_out: torch.Tensor, normalised: torch.Tensor, rstd: torch.Tensor, weight: torch.Tensor):
    """Gradients of :func:`_layer_norm`: ``(d_x, d_weight, d_bias)``."""
    d = d_out.shape[0]
    d_out_normalised = d_out * normalised  # (d, N)
    d_weight, d_bias = d_out_normalised.sum(1), d_out.sum(1)
    mean_g = torch.mv(d_out.T, weight)  # (N,): sum_k weight_k d_out_k
    mean_gn = torch.mv(d_out_normalised.T, weight)  # (N,)
    d_x = torch.addcmul(torch.sub(d_out * weight[:, None], mean_g, alpha=1.0 / d), normalised, mean_gn, value=-1.0 / d)
    return d_x.mul_(rstd), d_weight, d_bias


class OnePassGradients:
    """Loss and gradients of ``model``'s one-pass masked-LM loss, for rows of ``length`` tokens.

    Built once per model, row length and masked ``positions`` ``(P,)``. Each call takes a batch
    of ``B`` rows as :meth:`keys` and their targets ``(B, P)`` (the tokens at ``positions``)
    and returns the *summed* loss over the ``B * P`` masked slots, the smallest own-slot
    softmax weight (see :meth:`normaliser_ok`), and the gradient of the *mean* loss for every
    parameter that has one, by parameter name: what ``model.mlm_loss(x, positions,
    method="one_pass").backward()`` leaves in ``.grad``. The key bias has none (it cancels in
    every softmax). No autograd graph is built.

    ``dropout`` is ``None`` or the masks of a ``bert`` block's two dropout sites, after
    attention and after the feed-forward layer (see :class:`~.attention.Readout`), each
    ``(d, B, P)`` (feature-major: ``mask[:, b, p]`` is row ``b``'s slot ``p``) holding 0 or
    ``1 / (1 - rate)``.

    The parameters are read through views made here: build a new one after moving or casting
    the model (in-place updates, as an optimiser's, are seen).

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

    def __init__(self, model: BidirectionalAttention, *, length: int, positions: torch.Tensor) -> None:
        if not fast_step_supported(model):
            raise ValueError("the hand-derived one-pass gradients need a single-block BidirectionalAttention")
        c = model.config
        self.config = c
        self.params = {name: p.detach() for name, p in model.named_parameters()}
        self.positional = model.positional.detach()
        weight = self.params["token_embedding.weight"]
        device, dtype = weight.device, weight.dtype
        p = positions.to(device=device, dtype=torch.long)
        L, P, T = length, p.numel(), c.n_tokens
        self.length, self.n_positions, self.n_tokens = L, P, T
        self.n_keys = L * T  # the rows' keys; then one own slot per query
        self.scale = 1.0 / math.sqrt(c.d_head)
        self.normaliser_floor = torch.finfo(dtype).tiny ** _NORMALISER_EXPONENT
        self.bert = c.block == "bert"
        self.residual = c.residual or self.bert

        # Key k < L*T is (column k // T, token k % T); key L*T + q is query q's own masked slot.
        index = torch.arange(L * T + P, device=device)
        column = torch.cat([torch.arange(L, device=device).repeat_interleave(T), p])  # (K,)
        token = torch.cat([torch.arange(T, device=device).repeat(L), torch.full((P,), c.mask_token, device=device)])
        # Key inputs E e_t + p_j from [E; positions]: a 0/1 matrix with two ones a row.
        self.key_inputs = torch.zeros(index.numel(), T + L, dtype=dtype, device=device)  # (K, T+L)
        self.key_inputs[index, token] = 1.0
        self.key_inputs[index, T + column] = 1.0
        # Query q sees neither the word in its own column nor the other queries' own slots.
        own = index >= self.n_keys
        hidden = (column[:, None] == p) & ~own[:, None]  # (K, P)
        hidden |= own[:, None] & (index[:, None] - self.n_keys != torch.arange(P, device=device))
        self.hidden = hidden[:, :, None]  # (K, P, 1): broadcast over heads
        self.column_offsets = torch.arange(L, device=device) * T  # (L,)
        self.n_all_keys = index.numel()
        self._per_batch: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """The keys each row of ``x`` ``(B, L)`` sums over: ``(B, L + P)``.

        Its words, ``column * n_tokens + token``, then the ``P`` own slots (the same in every
        row; each is hidden from all queries but its own).
        """
        own = torch.arange(self.n_keys, self.n_all_keys, device=x.device).expand(x.shape[0], -1)  # (B, P)
        return torch.cat([x + self.column_offsets, own], 1)

    def _batch_constants(self, rows: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bag offsets ``(B,)``, slot one-hot ``(P, B*P)`` and ``-1`` ``(1, B*P)`` for ``rows`` rows."""
        constants = self._per_batch.get(rows)
        if constants is None:
            P, device = self.n_positions, like.device
            per_row = self.length + P
            offsets = torch.arange(0, rows * per_row, per_row, device=device)
            slot = torch.arange(rows * P, device=device) % P
            slot_onehot = torch.nn.functional.one_hot(slot, P).T.to(like.dtype).contiguous()  # (P, B*P)
            minus_one = torch.full((1, rows * P), -1.0, dtype=like.dtype, device=device)
            constants = self._per_batch[rows] = (offsets, slot_onehot, minus_one)
        return constants

    def __call__(
        self,
        keys: torch.Tensor,
        targets: torch.Tensor,
        dropout: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        c, w = self.config, self.params
        B, L, P, T, K0, K = keys.shape[0], self.length, self.n_positions, self.n_tokens, self.n_keys, self.n_all_keys
        H, dk, d = c.n_heads, c.d_head, c.d_model
        Q, PHk = B * P, P * H * dk
        offsets, slot_onehot, minus_one = self._batch_constants(B, self.key_inputs)
        w_query, w_key, w_value = w["blocks.0.attention.query.weight"], w["blocks.0.attention.key.weight"], w["blocks.0.attention.value.weight"]
        b_value, w_out = w["blocks.0.attention.value.bias"], w["blocks.0.attention.output.weight"]
        w_head = w["head.weight"]

        # ---- forward: the key table ----
        words_and_positions = torch.cat([w["token_embedding.weight"], self.positional[:L]])  # (T+L, d)
        h_keys = torch.mm(self.key_inputs, words_and_positions)  # (K, d): E e_t + p_j
        h_own = h_keys[K0:]  # (P, d): each query's masked slot, E e_m + p_i
        queries = torch.addmm(w["blocks.0.attention.query.bias"], h_own, w_query.T, beta=self.scale, alpha=self.scale)  # (P, H*dk)
        gates = (queries.view(P, H, dk, 1) * w_key.view(1, H, dk, d)).sum(2)  # (P, H, d): K^T q / sqrt(dk)
        # Each gate repeated dk times, so that the logits come out beside every value coordinate.
        gates = gates[:, :, None].expand(P, H, dk, d).reshape(PHk, d)  # (P*H*dk, d)
        scores = torch.mm(h_keys, gates.T)  # (K, P*H*dk)
        scores.view(-1, P, H * dk).masked_fill_(self.hidden, -math.inf)
        table = torch.empty(K, 2, PHk, dtype=scores.dtype, device=scores.device)  # [e * value, e]
        e = torch.exp(scores.sub_(scores.amax(0)), out=table[:, 1])  # (K, P*H*dk): <= 1, hidden keys 0
        values = torch.mm(h_keys, w_value.T)  # (K, H*dk)
        torch.mul(e.view(K, P, H * dk), values[:, None], out=table[:, 0].view(K, P, H * dk))

        # ---- forward: rows; slots q = b * P + p, activations feature-major (features, Q) ----
        summed = torch.embedding_bag(table.view(K, 2 * PHk), keys.view(-1), offsets, False, 0)[0].view(B, 2, PHk)
        normaliser = summed[:, 1]  # (B, P*H*dk)
        mixture = (summed[:, 0] / normaliser).view(Q, H * dk)  # (Q, H*dk): softmax-weighted values, no bias
        bias_out = torch.addmv(w["blocks.0.attention.output.bias"], w_out, b_value)  # (d,): the weights sum to one
        attended = torch.addmm(bias_out[:, None], w_out, mixture.T)  # (d, Q)
        h_slots = torch.mm(h_own.T, slot_onehot) if self.residual else None  # (d, Q): h_own of each slot

        if self.bert:
            prefix, eps = "blocks.0.readout.", c.layer_norm_eps
            w_ffn0, w_ffn2 = w[prefix + "ffn.0.weight"], w[prefix + "ffn.2.weight"]
            pre1 = attended + h_slots if dropout is None else torch.addcmul(h_slots, attended, dropout[0].view(d, Q))
            z, z_normalised, z_rstd = _layer_norm(pre1, w[prefix + "norm1.weight"], w[prefix + "norm1.bias"], eps)
            hidden_ff = torch.addmm(w[prefix + "ffn.0.bias"][:, None], w_ffn0, z)  # (F, Q)
            relu = torch.relu(hidden_ff)  # (F, Q)
            ff = torch.addmm(w[prefix + "ffn.2.bias"][:, None], w_ffn2, relu)  # (d, Q)
            pre2 = z + ff if dropout is None else torch.addcmul(z, ff, dropout[1].view(d, Q))  # (d, Q)
            out, out_normalised, out_rstd = _layer_norm(pre2, w[prefix + "norm2.weight"], w[prefix + "norm2.bias"], eps)
        else:
            out = attended + h_slots if self.residual else attended  # (d, Q)
        logits = torch.addmm(w["head.bias"][:, None], w_head, out)  # (V, Q)
        log_probs = torch.log_softmax(logits, 0)  # (V, Q)
        flat_targets = targets.reshape(1, Q)  # (1, Q)
        loss = -log_probs.gather(0, flat_targets).sum()

        # ---- backward: the position-wise part ----
        grads: dict[str, torch.Tensor] = {}
        d_logits = torch.exp(log_probs).scatter_add_(0, flat_targets, minus_one).mul_(1.0 / Q)  # (V, Q)
        grads["head.weight"] = torch.mm(d_logits, out.T)  # (V, d)
        grads["head.bias"] = d_logits.sum(1)
        d_out = torch.mm(w_head.T, d_logits)  # (d, Q)
        if self.bert:
            d_pre2, grads[prefix + "norm2.weight"], grads[prefix + "norm2.bias"] = _layer_norm_backward(
                d_out, out_normalised, out_rstd, w[prefix + "norm2.weight"]
            )
            d_ff = d_pre2 if dropout is None else d_pre2 * dropout[1].view(d, Q)  # (d, Q)
            grads[prefix + "ffn.2.weight"] = torch.mm(d_ff, relu.T)  # (d, F)
            grads[prefix + "ffn.2.bias"] = d_ff.sum(1)
            d_hidden = torch.ops.aten.threshold_backward(torch.mm(w_ffn2.T, d_ff), hidden_ff, 0)  # (F, Q)
            grads[prefix + "ffn.0.weight"] = torch.mm(d_hidden, z.T)  # (F, d)
            grads[prefix + "ffn.0.bias"] = d_hidden.sum(1)
            d_z = torch.addmm(d_pre2, w_ffn0.T, d_hidden)  # (d, Q)
            d_pre1, grads[prefix + "norm1.weight"], grads[prefix + "norm1.bias"] = _layer_norm_backward(
                d_z, z_normalised, z_rstd, w[prefix + "norm1.weight"]
            )
            d_attended = d_pre1 if dropout is None else d_pre1 * dropout[0].view(d, Q)  # (d, Q)
            d_h_own = d_pre1.view(d, B, P).sum(1)  # (d, P): the residual
        else:
            d_attended = d_out
            d_h_own = d_out.view(d, B, P).sum(1) if self.residual else None

        # ---- backward: attention over the rows ----
        prefix = "blocks.0.attention."
        d_bias_out = d_attended.sum(1)  # (d,)
        grads[prefix + "output.weight"] = torch.addr(torch.mm(d_attended, mixture), d_bias_out, b_value)  # (d, H*dk)
        grads[prefix + "output.bias"] = d_bias_out
        grads[prefix + "value.bias"] = torch.mv(w_out.T, d_bias_out)  # (H*dk,)
        d_mixture = torch.mm(d_attended.T, w_out).view(B, PHk)  # (B, P*H*dk)
        d_summed = torch.empty(B, 2, PHk, dtype=d_mixture.dtype, device=d_mixture.device)
        torch.div(d_mixture, normaliser, out=d_summed[:, 0])  # d / d numerator
        torch.mul(d_summed[:, 0], mixture.view(B, PHk), out=d_summed[:, 1]).neg_()  # d / d denominator
        d_summed = d_summed.view(B, 2 * PHk)
        # Each row's gradient goes back to its keys: a product with the rows' one-hot keys.
        onehot = torch.zeros(B, K, dtype=d_summed.dtype, device=d_summed.device).scatter_(1, keys, 1.0)  # (B, K)
        d_table = torch.mm(onehot.T, d_summed).view(K, 2, P, H * dk)  # (K, 2, P, H*dk)

        # ---- backward: the key table ----
        d_scores = torch.addcmul(d_table[:, 1], d_table[:, 0], values[:, None]).mul_(e.view(K, P, H * dk))
        d_scores = d_scores.view(K, PHk)  # hidden keys have e = 0; the shift carries no gradient
        d_values = (d_table[:, 0] * e.view(K, P, H * dk)).sum(1)  # (K, H*dk)
        d_gates = torch.mm(d_scores.T, h_keys).view(P, H, dk, d).sum(2)  # (P, H, d): the dk copies add up
        d_h_keys = torch.addmm(torch.mm(d_scores, gates), d_values, w_value)  # (K, d)
        grads[prefix + "value.weight"] = torch.mm(d_values.T, h_keys)  # (H*dk, d)
        grads[prefix + "key.weight"] = (queries.view(P, H, dk, 1) * d_gates.view(P, H, 1, d)).sum(0).view(H * dk, d)
        d_queries = (d_gates.view(P, H, 1, d) * w_key.view(1, H, dk, d)).sum(-1).view(P, H * dk).mul_(self.scale)
        grads[prefix + "query.weight"] = torch.mm(d_queries.T, h_own)  # (H*dk, d)
        grads[prefix + "query.bias"] = d_queries.sum(0)
        d_own = torch.mm(d_queries, w_query) if d_h_own is None else torch.addmm(d_h_own.T, d_queries, w_query)  # (P, d)
        d_h_keys[K0:] += d_own
        d_words_and_positions = torch.mm(self.key_inputs.T, d_h_keys)  # (T+L, d)
        grads["token_embedding.weight"] = d_words_and_positions[:T]
        if "positional" in w:
            rest = self.positional.shape[0] - L
            d_positions = d_words_and_positions[T:]
            grads["positional"] = torch.cat([d_positions, d_positions.new_zeros(rest, d)]) if rest else d_positions
        smallest = e[K0:].view(P, P, H, dk)[..., 0].diagonal(0, 0, 1).amin()  # own-slot weights: no denominator is below

        return loss, smallest, grads

    def normaliser_ok(self, smallest: torch.Tensor | float) -> bool:
        """Whether a step's softmax denominators are safely away from underflow (see the module docstring)."""
        return float(smallest) > self.normaliser_floor
