import itertools

import numpy as np
import pytest
import torch

from wordexperts import AttentionConfig, BidirectionalAttention, WordExperts, free_copy, to_attention, to_experts
from wordexperts.core.masking import expand_masked
from wordexperts.train import make_optimizer

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}
GRID = [
    dict(n_heads=heads, n_layers=layers, positional=positional, residual=residual, block="linear")
    for heads, layers, positional, residual in itertools.product(
        (1, 3), (1, 2), ("learned", "sinusoidal", "none"), (False, True)
    )
] + [dict(n_heads=heads, n_layers=layers, block="bert", d_ff=7) for heads, layers in itertools.product((1, 3), (1, 2))]
GRID += [dict(n_heads=3, n_layers=1, block="bert", d_ff=7, n_levels=4), dict(n_heads=1, n_layers=2, n_levels=2)]  # shared levels


def make(dtype=torch.float64, **kwargs):
    kwargs = {"vocab_size": 9, "max_len": 5, "d_model": 12, "n_heads": 2, **kwargs}
    model = BidirectionalAttention(**kwargs)
    if model.config.n_levels:  # words pointed at the shared levels, some at several
        model.set_token_levels(torch.rand(model.config.n_tokens, model.config.n_levels, generator=torch.Generator().manual_seed(1)))
    return model.to(dtype).eval()


def literal(model, x):
    """Attention logits computed literally: masked copies through the ordinary forward pass."""
    return model.masked_logits(x, method="expand")


@pytest.mark.parametrize("arch", GRID, ids=lambda a: "-".join(str(v) for v in a.values()))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_experts_logits_equal_attention_logits(arch, dtype):
    model = make(dtype, **arch)
    x = torch.randint(0, 9, (24, 5))
    experts = to_experts(model)
    assert experts.masked_logits(x).dtype == dtype
    assert (experts.masked_logits(x) - literal(model, x)).abs().max() <= TOLERANCE[dtype]


@pytest.mark.parametrize("arch", GRID, ids=lambda a: "-".join(str(v) for v in a.values()))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_round_trip_reproduces_logits(arch, dtype):
    model = make(dtype, **arch)
    x = torch.randint(0, 9, (24, 5))
    back = to_attention(to_experts(model))
    assert isinstance(back, BidirectionalAttention) and back.config == model.config
    assert (literal(back, x) - literal(model, x)).abs().max() <= TOLERANCE[dtype]


@pytest.mark.parametrize("arch", [GRID[1], GRID[7], GRID[-3]], ids=["1layer", "2layers", "bert"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_equivalence_holds_after_training_steps(arch, dtype):
    model = make(dtype, **arch).train()
    x = torch.randint(0, 9, (64, 5))
    optimizer = make_optimizer(model, lr=0.05)
    for _ in range(5):
        optimizer.zero_grad()
        model.mlm_loss(x).backward()
        optimizer.step()
    model.eval()
    experts = to_experts(model)
    assert (experts.masked_logits(x) - literal(model, x)).abs().max() <= TOLERANCE[dtype]
    assert (literal(to_attention(experts), x) - literal(model, x)).abs().max() <= TOLERANCE[dtype]


@pytest.mark.parametrize(
    "arch", [dict(n_heads=3, residual=True), dict(n_heads=2, block="bert"), dict(n_heads=2, n_layers=2)],
    ids=["linear", "bert", "2layers"],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_mlm_loss_identical_before_and_after_an_optimiser_step(arch, dtype):
    tolerance = {torch.float64: 1e-12, torch.float32: 1e-5}[dtype]
    model = make(dtype, **arch).train()  # dropout is 0: train mode is deterministic
    x = torch.randint(0, 9, (64, 5))
    before = model.mlm_loss(x)
    assert abs((to_experts(model).mlm_loss(x) - before).item()) <= tolerance
    optimizer = make_optimizer(model, lr=0.1)
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    after = model.mlm_loss(x)
    assert abs((after - before).item()) > 1e-3  # the step moved the loss
    assert abs((to_experts(model).mlm_loss(x) - after).item()) <= tolerance
    assert abs((to_experts(model).mlm_loss(x, [2]) - model.mlm_loss(x, [2])).item()) <= tolerance


def test_gradients_flow_through_the_structured_form():
    experts = to_experts(make(n_heads=2)).train()
    x = torch.randint(0, 9, (16, 5))
    experts.mlm_loss(x).backward()
    layer = experts.layers[0]
    for p in (experts.word_vectors, experts.positional, layer.gate_query, layer.gate_key, layer.expert_in, experts.rho):
        assert p.grad is not None and p.grad.abs().max() > 0


def test_structured_parameters_share_one_expert_map_and_one_gate_map():
    model = make(n_heads=3, residual=True)
    experts = to_experts(model)
    layer = experts.layers[0]
    E, P, m = experts.word_vectors, experts.positional, model.mask_token
    A, G = layer.expert_map(), layer.gate_map()  # (H, d, d)
    assert torch.allclose(experts.alpha, torch.einsum("hef,vf->hve", A, E), atol=1e-12)
    assert torch.allclose(experts.gamma, torch.einsum("hef,lf->hle", A, P), atol=1e-12)
    offset = torch.einsum("hed,he->hd", layer.gate_key, layer.gate_query_bias) / layer.scale  # (H, d)
    gates = torch.einsum("hef,lf->hle", G, E[m] + P) + offset[:, None]
    assert torch.allclose(experts.gate_vectors, gates, atol=1e-12)
    assert torch.allclose(experts.gate_positions, torch.einsum("hid,jd->hij", gates, P), atol=1e-12)
    assert torch.equal(experts.gate_words, E)
    # the value bias is mixed with weights summing to one: it joins the intercept, with the residual
    att = model.blocks[0].attention
    c0 = att.output.weight @ att.value.bias + att.output.bias
    assert torch.allclose(experts.intercept, c0 + E[m] + P, atol=1e-12)
    H, dk = 3, 4
    assert torch.linalg.matrix_rank(A[0]) <= dk and torch.linalg.matrix_rank(G[0]) <= dk
    assert experts.alpha.shape == (H, 10, 12) and experts.gamma.shape == (H, 5, 12)


def attention_weights(model, x, i):
    """Softmax weights of the literal attention at masked position i: (B, H, L)."""
    att = model.blocks[0].attention
    h = model.embed(expand_masked(x, torch.tensor([i]), model.mask_token)[:, 0])
    q, k = att._heads(att.query(h)), att._heads(att.key(h))  # (B, H, L, dk)
    return torch.softmax(q[:, :, i : i + 1] @ k.transpose(-1, -2) / att.d_head**0.5, dim=-1)[:, :, 0]


def test_gates_are_the_attention_weights_of_the_masked_position():
    model = make(n_heads=3, block="bert")
    experts = to_experts(model)
    x = torch.randint(0, 9, (10, 5))
    everything = experts.gates(x)  # (B, H, L, L)
    assert everything.shape == (10, 3, 5, 5)
    for i in range(5):
        gates = experts.gates(x, position=i)
        assert gates.shape == (10, 3, 5)
        assert torch.allclose(gates.sum(-1), torch.ones(10, 3, dtype=gates.dtype), atol=1e-12)
        assert torch.allclose(gates, attention_weights(model, x, i), atol=1e-12)
        assert torch.allclose(everything[:, :, i], gates, atol=1e-14)


@pytest.mark.parametrize("layers", [1, 2])
def test_entry_points_for_checked_positions_equal_the_checking_ones(layers):
    model = make(n_heads=2, n_layers=layers, block="bert", d_ff=7)
    experts = to_experts(model)
    x = torch.randint(0, 9, (4, 5))
    positions = torch.tensor([0, 3, 3])  # (P,), duplicates allowed
    for fitted in (model, experts):
        logits = fitted.masked_logits_at(x, positions)
        assert logits.shape == (4, 3, 9)
        assert torch.equal(logits, fitted.masked_logits(x, positions))
        loss = fitted.mlm_loss_at(x, positions, reduction="none")
        assert loss.shape == (4, 3)
        assert torch.equal(loss, fitted.mlm_loss(x, positions, reduction="none"))
    if layers == 1:  # gates are one mixture's
        gates = experts.gates_at(x, positions)
        assert gates.shape == (4, 2, 3, 5)
        for slot, i in enumerate(positions.tolist()):
            assert torch.allclose(gates[:, :, slot], experts.gates(x, position=i), atol=1e-14)  # P = 3 vs 1: rounding


def test_experts_are_word_vectors_shifted_by_position():
    experts = to_experts(make(n_heads=2))
    x = torch.randint(0, 9, (4, 5))
    vectors = experts.experts(x)  # (B, H, L, d)
    assert vectors.shape == (4, 2, 5, 12)
    assert torch.allclose(vectors[1, 0, 3], experts.alpha[0, x[1, 3]] + experts.gamma[0, 3])
    masked = experts.experts(x, position=3)
    assert torch.allclose(masked[1, 0, 3], experts.alpha[0, experts.config.mask_token] + experts.gamma[0, 3])
    assert torch.equal(masked[:, :, :3], vectors[:, :, :3])


def test_many_heads_are_the_sum_of_per_head_mixtures():
    model = make(n_heads=3, residual=True)
    experts = to_experts(model)
    x = torch.randint(0, 9, (8, 5))
    per_head = experts.head_mixtures(x)  # (B, H, P, d)
    assert per_head.shape == (8, 3, 5, 12)
    logits = (per_head.sum(1) + experts.intercept) @ experts.rho.T + experts.bias
    assert torch.allclose(logits, literal(model, x), atol=1e-10)
    # each head's mixture is that head's own attention output (other heads' output weights zeroed)
    att = model.blocks[0].attention
    c0 = att.output.weight @ att.value.bias + att.output.bias
    for h in range(3):
        single = make(n_heads=3, residual=False)
        single.load_state_dict(model.state_dict())
        with torch.no_grad():
            keep = torch.zeros(3, 4, dtype=torch.float64)
            keep[h] = 1
            single.blocks[0].attention.output.weight.mul_(keep.flatten())
            single.blocks[0].attention.output.bias.zero_()
            single.blocks[0].attention.value.bias.zero_()
            single.head.weight.copy_(torch.eye(9, 12, dtype=torch.float64))
            single.head.bias.zero_()
        own = literal(single, x)  # the first 9 coordinates of head h's mixture
        assert torch.allclose(own, per_head[:, h, :, :9], atol=1e-10)
    assert c0.shape == (12,)


def direct_cbow(alpha, gamma, intercept, rho, bias, x, mask_token):
    """Plain CBOW, loops in numpy: the average of the context's expert vectors, then a softmax layer."""
    B, L = x.shape
    logits = np.zeros((B, L, rho.shape[0]))
    for b in range(B):
        for i in range(L):
            context = [mask_token if j == i else x[b, j] for j in range(L)]
            average = sum(alpha[:, w] + gamma[:, j] for j, w in enumerate(context)).sum(0) / L
            logits[b, i] = rho @ (average + intercept[i]) + bias
    return logits


@pytest.mark.parametrize("zeroed", ["query", "key"])
def test_uniform_gates_reduce_to_plain_cbow(zeroed):
    model = make(n_heads=2, residual=True)
    with torch.no_grad():
        layer = getattr(model.blocks[0].attention, zeroed)
        layer.weight.zero_()
        if zeroed == "query":
            layer.bias.zero_()
    experts = to_experts(model)
    x = torch.randint(0, 9, (6, 5))
    assert torch.allclose(experts.gates(x), torch.full((6, 2, 5, 5), 0.2, dtype=torch.float64), atol=1e-14)
    t = lambda v: v.detach().numpy()  # noqa: E731
    cbow = direct_cbow(
        t(experts.alpha), t(experts.gamma), t(experts.intercept), t(experts.rho), t(experts.bias),
        x.numpy(), model.mask_token,
    )
    assert np.abs(cbow - t(experts.masked_logits(x))).max() <= 1e-10
    assert np.abs(cbow - t(literal(model, x))).max() <= 1e-10


@pytest.mark.parametrize("layers", [2, 3])
def test_mixture_of_mixtures_matches_the_attention_forward_pass(layers):
    model = make(n_heads=2, n_layers=layers, residual=True)
    experts = to_experts(model)
    x = torch.randint(0, 9, (8, 5))
    assert (experts.mixture_of_mixtures(x) - literal(model, x)).abs().max() <= 1e-10
    assert (experts.mixture_of_mixtures(x, [1, 4]) - literal(model, x)[:, [1, 4]]).abs().max() <= 1e-10
    with pytest.raises(ValueError, match="single layer"):
        experts.gates(x, position=0)
    with pytest.raises(ValueError, match="experts is defined for a single layer"):
        experts.experts(x, position=0)
    one = to_experts(make(n_heads=2))
    assert (one.mixture_of_mixtures(x) - one.masked_logits(x)).abs().max() <= 1e-10


def test_free_experts_are_a_mixture_that_does_not_convert_back():
    free = WordExperts(vocab_size=9, max_len=5, d_model=12, n_heads=2, structure="free").double()
    x = torch.randint(0, 9, (6, 5))
    assert free.masked_logits(x).shape == (6, 5, 9)
    assert torch.allclose(free.gates(x).sum(-1), torch.ones(6, 2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="free .* no attention model has exactly these logits"):
        to_attention(free)
    with pytest.raises(ValueError, match="single linear mixture"):
        WordExperts(vocab_size=9, max_len=5, d_model=12, n_heads=2, n_layers=2, structure="free")
    structured = to_experts(make(n_heads=2, residual=True))
    untied = free_copy(structured)
    assert untied.free and (untied.masked_logits(x) - structured.masked_logits(x)).abs().max() <= 1e-12


def test_mask_tokens_allowed_in_the_input_match_attention():
    model = make(n_heads=2, block="bert")
    x = torch.randint(0, 9, (6, 5))
    x[:, 1] = model.mask_token
    experts = to_experts(model)
    logits = experts.masked_logits(x, [0, 3], allow_mask=True)
    assert (logits - model.masked_logits(x, [0, 3], method="expand", allow_mask=True)).abs().max() <= 1e-10
    assert experts.gates(x, position=3, allow_mask=True).shape == (6, 2, 5)


def test_a_fresh_structured_model_is_an_attention_model():
    config = AttentionConfig(vocab_size=9, max_len=5, d_model=12, n_heads=3, block="bert")
    experts = WordExperts(config).double().eval()
    x = torch.randint(0, 9, (6, 5))
    assert (experts.masked_logits(x) - literal(to_attention(experts), x)).abs().max() <= 1e-10


def test_conversions_refuse_bad_models():
    model = make()
    with torch.no_grad():
        model.blocks[0].attention.key.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"blocks\.0\.attention\.key\.weight has 1 non-finite"):
        to_experts(model)
    experts = to_experts(make())
    with torch.no_grad():
        experts.rho[0, 0] = float("inf")
    with pytest.raises(ValueError, match="rho has 1 non-finite"):
        to_attention(experts)
    with pytest.raises(TypeError, match="expects a BidirectionalAttention, got WordExperts"):
        to_experts(experts)
    with pytest.raises(TypeError, match="expects a WordExperts"):
        to_attention(make())
    with pytest.raises(ValueError, match=r"token id 10 .* expected ids in \[0, 10\)"):
        to_experts(make()).masked_logits(torch.full((1, 5), 10))
    with pytest.raises(TypeError, match="position must be one int"):
        to_experts(make()).gates(torch.zeros(1, 5, dtype=torch.long), position=[0, 1])
    with pytest.raises(ValueError, match="mask token 9 appears"):
        to_experts(make()).gates(torch.full((1, 5), 9), position=0)
