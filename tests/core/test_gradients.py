import pytest
import torch
from torch import nn

from wordexperts import BidirectionalAttention, to_experts
from wordexperts.core.gradients import OnePassGradients, fast_step_supported
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
