import re
import typing
from dataclasses import fields

import pytest
import torch
from torch import nn

from wordexperts import AttentionConfig, BidirectionalAttention, to_experts
from wordexperts.core import attention
from wordexperts.core.gradients import (
    HANDLED_BLOCKS,
    HANDLED_OPTIONS,
    HANDLED_POSITIONALS,
    OnePassGradients,
    fast_step_refusal,
    fast_step_supported,
)
from wordexperts.tabular.estimators import paper_tabular_config

ARCHITECTURES = [
    dict(block="bert", d_model=20, n_heads=5, d_ff=5),  # the paper's tabular block
    dict(block="bert", d_model=8, n_heads=3, d_head=5, d_ff=16, positional="sinusoidal"),  # H * dk != d
    dict(block="bert", d_model=6, n_heads=1, d_ff=4, positional="none"),
    dict(block="linear", d_model=12, n_heads=3, residual=True),
    dict(block="linear", d_model=8, n_heads=2, residual=False, positional="none"),
    dict(block="linear", d_model=8, n_heads=4, d_head=3, residual=False, positional="sinusoidal"),
    dict(block="bert", d_model=8, n_heads=2, mask_token=3),  # the mask is a word of the vocabulary
]
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def random_model(arch, dtype, seed=0):
    """A model whose every parameter (biases, LayerNorm scales) is away from its initial value."""
    torch.manual_seed(seed)
    model = BidirectionalAttention(vocab_size=10, max_len=6, **arch).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.train()


def rows(model, n, length, seed=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 9, (n, length), generator=generator)
    mask = model.config.mask_token
    return torch.where(x >= mask, x + 1, x) if mask < model.config.vocab_size else x  # no mask tokens


def autograd_reference(model, x, p):
    model.zero_grad(set_to_none=True)
    loss = model.mlm_loss(x, p, method="one_pass")
    loss.backward()
    return loss.detach(), {name: q.grad for name, q in model.named_parameters()}


def largest_difference(step_out, reference, n_slots):
    loss, _, grads = step_out
    ref_loss, ref_grads = reference
    worst = float(abs(loss / n_slots - ref_loss))
    for name, ref in ref_grads.items():
        if ref is None:  # the key bias cancels in every softmax: no gradient either way
            assert name == "blocks.0.attention.key.bias" and name not in grads
            continue
        worst = max(worst, float((grads[name] - ref).abs().max()))
    return worst


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_hand_gradients_equal_autograd(arch, dtype):
    model = random_model(arch, dtype)
    for length, positions in ((6, None), (6, [5]), (6, [2, 0, 2]), (4, [3, 1]), (4, None)):
        x = rows(model, 24, length)
        p = torch.arange(length) if positions is None else torch.tensor(positions)
        step = OnePassGradients(model, length=length, positions=p)
        out = step(step.keys(x), x[:, p])
        assert step.normaliser_ok(out[1])
        assert largest_difference(out, autograd_reference(model, x, p), x.shape[0] * p.numel()) <= TOLERANCE[dtype]


def test_every_parameter_but_the_key_bias_has_a_gradient():
    model = random_model(ARCHITECTURES[0], torch.float64)
    step = OnePassGradients(model, length=6, positions=torch.arange(6))
    x = rows(model, 8, 6)
    _, _, grads = step(step.keys(x), x)
    names = [n for n, _ in model.named_parameters()]
    assert step.names == [n for n in names if n != "blocks.0.attention.key.bias"]
    assert set(grads) == set(step.names)
    assert all(grads[n].shape == q.shape for n, q in model.named_parameters() if n in grads)
    assert [q.data_ptr() for q in step.parameters] == [q.data_ptr() for n, q in model.named_parameters() if n in grads]


class FixedMask(nn.Module):
    """Stands in for ``nn.Dropout``: multiplies by a given mask."""

    def __init__(self, mask):
        super().__init__()
        self.mask = mask

    def forward(self, x):
        return x * self.mask


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_dropout_masks_apply_where_the_module_applies_dropout(dtype):
    arch = dict(block="bert", d_model=8, n_heads=2, d_ff=6, dropout=0.25)
    model = random_model(arch, dtype)
    x, p = rows(model, 16, 6), torch.tensor([0, 3, 5])
    keep = torch.rand(2, 8, 16, 3, generator=torch.Generator().manual_seed(2)) > 0.25
    masks = keep.to(dtype) / 0.75  # (2, d, B, P): feature-major, as the step takes them
    step = OnePassGradients(model, length=6, positions=p)
    out = step(step.keys(x), x[:, p], masks)
    readout = model.blocks[0].readout
    readout.dropout1, readout.dropout2 = (FixedMask(m.permute(1, 2, 0)) for m in masks)  # (B, P, d) each
    reference = autograd_reference(model, x, p)
    assert largest_difference(out, reference, 16 * 3) <= TOLERANCE[dtype]
    # and the masks matter: without them the loss is another
    assert abs(float(step(step.keys(x), x[:, p])[0]) / 48 - float(reference[0])) > 1e-4


def test_parameter_updates_in_place_are_seen():
    model = random_model(ARCHITECTURES[3], torch.float64)
    step = OnePassGradients(model, length=6, positions=torch.arange(6))
    x = rows(model, 8, 6)
    before = float(step(step.keys(x), x)[0])
    with torch.no_grad():
        model.head.bias.add_(1.0)
        model.token_embedding.weight.mul_(2.0)
    after = step(step.keys(x), x)
    assert float(after[0]) != before
    assert largest_difference(after, autograd_reference(model, x, torch.arange(6)), 48) <= 1e-10


def test_underflowing_denominators_are_reported():
    # Huge query biases and embeddings: logits hundreds apart, far beyond exp's range.
    model = BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2)
    with torch.no_grad():
        model.blocks[0].attention.query.bias.fill_(10.0)
        model.token_embedding.weight.mul_(40.0)
    x = torch.randint(0, 6, (64, 4), generator=torch.Generator().manual_seed(0))
    step = OnePassGradients(model, length=4, positions=torch.arange(4))
    _, smallest, _ = step(step.keys(x), x)
    assert not step.normaliser_ok(smallest)
    assert torch.isfinite(model.mlm_loss(x))  # the module's per-row softmax copes: the fallback
    sane = OnePassGradients(BidirectionalAttention(paper_tabular_config()), length=6, positions=torch.arange(6))
    x = torch.randint(0, 10, (64, 6))
    assert sane.normaliser_ok(sane(sane.keys(x), x)[1])


def test_keys_list_each_rows_words_then_the_own_slots():
    model = BidirectionalAttention(vocab_size=4, max_len=3, d_model=4, n_heads=1)  # 5 tokens with the mask
    step = OnePassGradients(model, length=3, positions=torch.tensor([2, 0]))
    keys = step.keys(torch.tensor([[0, 1, 3], [2, 2, 2]]))
    assert keys.tolist() == [[0, 6, 13, 15, 16], [2, 7, 12, 15, 16]]


def test_only_single_block_attention_models():
    assert fast_step_supported(random_model(ARCHITECTURES[0], torch.float32))
    deep = BidirectionalAttention(vocab_size=5, max_len=3, d_model=4, n_heads=2, n_layers=2)
    assert not fast_step_supported(deep)
    assert not fast_step_supported(to_experts(BidirectionalAttention(vocab_size=5, max_len=3, d_model=4, n_heads=2)))
    with pytest.raises(ValueError, match="single-block BidirectionalAttention"):
        OnePassGradients(deep, length=3, positions=torch.arange(3))


def test_lengths_and_positions_are_checked():
    model = BidirectionalAttention(vocab_size=4, max_len=3, d_model=4, n_heads=1)
    with pytest.raises(ValueError, match="length must be in"):
        OnePassGradients(model, length=4, positions=torch.arange(3))
    with pytest.raises(ValueError, match="positions must be"):
        OnePassGradients(model, length=2, positions=torch.tensor([2]))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_observed_words_only_give_the_same_step(dtype):
    # Per-column vocabularies: column j holds tokens 3j .. 3j+2 only, so most (column, token) keys never occur.
    torch.manual_seed(0)
    model = BidirectionalAttention(vocab_size=18, max_len=6, **ARCHITECTURES[0]).to(dtype).train()
    x = torch.randint(0, 3, (16, 6)) + 3 * torch.arange(6)
    p = torch.arange(6)
    words = torch.unique(x + torch.arange(6) * model.config.n_tokens)
    step = OnePassGradients(model, length=6, positions=p, words=words)
    assert step.n_keys == words.numel() + 6 < 6 * model.config.n_tokens
    assert largest_difference(step(step.keys(x), x), autograd_reference(model, x, p), 16 * 6) <= TOLERANCE[dtype]
    with pytest.raises(ValueError, match="outside the words"):
        step.keys(torch.full((1, 6), 17))  # token 17 belongs to the last column only


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_level_embedding_gradients_equal_autograd(dtype):
    torch.manual_seed(0)
    model = BidirectionalAttention(vocab_size=10, max_len=6, n_levels=3, **ARCHITECTURES[0]).to(dtype).train()
    model.set_token_levels(torch.rand(model.config.n_tokens, 3))
    with torch.no_grad():
        model.level_embedding.add_(0.3 * torch.randn_like(model.level_embedding))
    x, p = rows(model, 16, 6), torch.arange(6)
    step = OnePassGradients(model, length=6, positions=p)
    out = step(step.keys(x), x)
    assert "level_embedding" in out[2]
    model.eval()  # no dropout in the reference (the step got none)
    assert largest_difference(out, autograd_reference(model, x, p), 16 * 6) <= TOLERANCE[dtype]


# ---- what the hand-derived step covers: every option the config allows is handled or refused ----

BASE_OPTIONS = dict(vocab_size=10, max_len=6, d_model=8, n_heads=2, block="bert", d_ff=6)
BASE = AttentionConfig(**BASE_OPTIONS)
# Values to try for every AttentionConfig field: the config's own validation lists for its kinds, and
# values that change the model for the rest. A new field fails test_every_config_option_is_tried until
# it is listed here, and then test_each_option_is_handled_exactly_or_refused until the step handles or refuses it.
OPTION_VALUES = {
    "vocab_size": (3, 10),
    "max_len": (2, 6),
    "d_model": (6, 8),
    "n_heads": (1, 2, 4),
    "d_head": (None, 3, 5),
    "n_layers": (1, 2, 3),
    "block": attention.BLOCKS,
    "positional": attention.POSITIONALS,
    "residual": (False, True),
    "d_ff": (1, 6, 16),
    "dropout": (0.0, 0.3),
    "layer_norm_eps": (1e-6, 1e-2),
    "mask_token": (None, 2),
    "init": attention.INITS,
    "n_levels": (0, 3),
}


def test_every_config_option_is_tried():
    assert set(OPTION_VALUES) == {f.name for f in fields(AttentionConfig)}
    assert set(HANDLED_OPTIONS) == {f.name for f in fields(AttentionConfig)}
    hints = typing.get_type_hints(AttentionConfig)
    kinds = (("block", attention.BLOCKS), ("positional", attention.POSITIONALS), ("init", attention.INITS))
    for name, allowed in kinds:
        assert set(typing.get_args(hints[name])) == set(allowed) == set(OPTION_VALUES[name]), name
        for value in ("a-new-kind", None):  # the validation list is the whole of what the config allows
            with pytest.raises(ValueError, match=f"{name} must be one of"):
                AttentionConfig(**{**BASE_OPTIONS, name: value})


def hand_gradients_match_autograd(config: AttentionConfig, seed: int = 0) -> float:
    """The largest difference between the hand-derived loss and gradients and autograd's (float64)."""
    torch.manual_seed(seed)
    model = BidirectionalAttention(config).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        if config.n_levels:
            model.set_token_levels(torch.rand(config.n_tokens, config.n_levels))
    model.eval()  # the step gets no dropout masks here
    L = config.max_len
    x = rows(model, 16, L) % config.vocab_size
    if config.mask_token < config.vocab_size:
        x = torch.where(x == config.mask_token, (x + 1) % config.vocab_size, x)
    p = torch.arange(L)
    step = OnePassGradients(model, length=L, positions=p)
    return largest_difference(step(step.keys(x), x[:, p]), autograd_reference(model, x, p), x.shape[0] * L)


def handled_or_refused(config: AttentionConfig) -> None:
    model = BidirectionalAttention(config)
    why_not = fast_step_refusal(model)
    if why_not is None:
        assert hand_gradients_match_autograd(config) <= 1e-10
    else:
        assert isinstance(why_not, str) and "hand-derived step" in why_not
        with pytest.raises(ValueError, match="do not apply"):
            OnePassGradients(model, length=config.max_len, positions=torch.arange(config.max_len))


@pytest.mark.parametrize("option, value", [(name, v) for name, values in OPTION_VALUES.items() for v in values])
def test_each_option_is_handled_exactly_or_refused(option, value):
    handled_or_refused(AttentionConfig(**{**BASE_OPTIONS, option: value}))


@pytest.mark.parametrize("positional", attention.POSITIONALS)
@pytest.mark.parametrize("block, residual", [(b, r) for b in attention.BLOCKS for r in (False, True)])
def test_every_block_and_positional_kind_is_handled_exactly_or_refused(block, residual, positional):
    for n_levels in (0, 2):
        options = dict(block=block, residual=residual, positional=positional, n_levels=n_levels)
        handled_or_refused(AttentionConfig(**{**BASE_OPTIONS, **options}))


def test_the_blocks_and_positionals_the_config_allows_are_handled_today():
    # Today every kind takes the fast step, and only deep models do not: a new kind or option, refused by
    # default, fails here until the step handles it or this list says it is refused on purpose.
    assert set(HANDLED_BLOCKS) == set(attention.BLOCKS) and set(HANDLED_POSITIONALS) == set(attention.POSITIONALS)
    refused = {
        (name, value) for name, values in OPTION_VALUES.items() for value in values
        if fast_step_refusal(BidirectionalAttention(AttentionConfig(**{**BASE_OPTIONS, name: value}))) is not None
    }
    assert refused == {("n_layers", 2), ("n_layers", 3)}


def test_an_unknown_block_kind_is_refused_not_trained_as_another(monkeypatch):
    # A kind added to the config's list (and built by the modules) without teaching the step: refused by name.
    monkeypatch.setattr(attention, "BLOCKS", (*attention.BLOCKS, "gated"))
    config = AttentionConfig(**{**BASE_OPTIONS, "block": "gated"})
    assert fast_step_refusal(BidirectionalAttention(config)) == (
        "the hand-derived step handles block in ('linear', 'bert'), not 'gated'"
    )


def bert():
    torch.manual_seed(0)
    return BidirectionalAttention(BASE)


class NotQuiteRelu(nn.ReLU):
    pass


def swap(path, module):
    def change(model):
        parent, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent), name, module)

    return change


def freeze(model):
    model.head.bias.requires_grad_(False)


def hook(model):
    model.blocks[0].readout.norm2.register_forward_hook(lambda module, args, out: out * 2)


def replace_forward(model):
    model.blocks[0].readout.forward = lambda attended, h: attended


def extra_module(model):
    model.blocks[0].readout.gate = nn.Sigmoid()


def change_dropout(model):
    model.blocks[0].readout.dropout2.p = 0.5


def half(model):
    model.half()


def mixed_dtypes(model):
    model.head.double()


def gradient_hook(model):
    model.head.weight.register_hook(lambda g: 2 * g)


MODEL_CHANGES = {  # change -> what the refusal names
    "gelu": (swap("blocks.0.readout.ffn.1", nn.GELU()), "blocks.0.readout.ffn.1 is a GELU; .* covers a ReLU there"),
    "relu subclass": (swap("blocks.0.readout.ffn.1", NotQuiteRelu()), "ffn.1 is a NotQuiteRelu"),
    "tanh": (swap("blocks.0.readout.ffn.1", nn.Tanh()), "ffn.1 is a Tanh"),
    "rms norm": (swap("blocks.0.readout.norm1", nn.RMSNorm(8)), "norm1 is a RMSNorm"),
    "norm without bias": (swap("blocks.0.readout.norm1", nn.LayerNorm(8, eps=1e-6, bias=False)), "lacks .*norm1.bias"),
    "other eps": (swap("blocks.0.readout.norm2", nn.LayerNorm(8, eps=1e-3)), "norm2 has eps=0.001"),
    "head without bias": (swap("head", nn.Linear(8, 10, bias=False)), "lacks .*head.bias"),
    "padding row": (swap("token_embedding", nn.Embedding(11, 8, padding_idx=0)), "padding_idx=0"),
    "dropout rate": (change_dropout, "dropout2 has p=0.5; .* covers p=0.0"),
    "frozen": (freeze, "head.bias is frozen"),
    "forward hook": (hook, "norm2 has forward_hooks"),
    "gradient hook": (gradient_hook, "head.weight has gradient hooks"),
    "instance forward": (replace_forward, r"readout has \['forward'\] replaced"),
    "extra module": (extra_module, "module blocks.0.readout.gate"),
    "half": (half, "one dtype of"),
    "mixed dtypes": (mixed_dtypes, "one dtype of"),
    "weight norm": (lambda m: nn.utils.parametrizations.weight_norm(m.head), "head is a ParametrizedLinear"),
}


@pytest.mark.parametrize("change", MODEL_CHANGES)
def test_modules_and_settings_outside_the_list_are_refused_by_name(change):
    model = bert()
    assert fast_step_refusal(model) is None
    alter, reason = MODEL_CHANGES[change]
    alter(model)
    why_not = fast_step_refusal(model)
    assert why_not is not None and re.search(reason, why_not), why_not
    assert not fast_step_supported(model)
    with pytest.raises(ValueError, match="do not apply"):
        OnePassGradients(model, length=6, positions=torch.arange(6))


def test_global_module_hooks_are_refused():
    model = bert()
    handle = nn.modules.module.register_module_forward_hook(lambda module, args, out: None)
    try:
        assert "global module hooks are registered (global_forward_hooks)" in fast_step_refusal(model)
    finally:
        handle.remove()
    assert fast_step_refusal(model) is None


def test_a_subclass_of_the_model_is_refused():
    class Tweaked(BidirectionalAttention):
        pass

    assert fast_step_refusal(Tweaked(BASE)) == (
        "the hand-derived step is for a single-block BidirectionalAttention, not a Tweaked"
    )
