import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wordexperts import AttentionConfig, BidirectionalAttention
from wordexperts.core.attention import sinusoidal_positions
from wordexperts.core.masking import expand_masked

ARCHITECTURES = [
    dict(block="bert", n_heads=5, d_model=20, d_ff=5),
    dict(block="bert", n_heads=1, d_model=8, d_ff=16, positional="sinusoidal"),
    dict(block="linear", n_heads=3, d_model=12, residual=True),
    dict(block="linear", n_heads=2, d_model=8, positional="none"),
]


def make(**kwargs):
    return BidirectionalAttention(vocab_size=10, max_len=6, **kwargs)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_one_pass_equals_expansion(arch, mode):
    model = make(**arch, dropout=0.0).train(mode == "train")
    x = torch.randint(0, 10, (32, 6))
    fast = model.masked_logits(x, method="one_pass")
    slow = model.masked_logits(x, method="expand")
    assert fast.shape == (32, 6, 10)
    assert (fast - slow).abs().max() <= 1e-5


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_one_pass_equals_expansion_on_chosen_positions_and_short_rows(arch):
    model = make(**arch).eval()
    x = torch.randint(0, 10, (16, 4))  # shorter than max_len
    for positions in ([3], [2, 0], 1):
        fast = model.masked_logits(x, positions, method="one_pass")
        slow = model.masked_logits(x, positions, method="expand")
        assert (fast - slow).abs().max() <= 1e-5
    full = model.masked_logits(x)
    assert torch.allclose(model.masked_logits(x, [2, 0]), full[:, [2, 0]], atol=1e-6)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_one_pass_gradients_equal_expansion(arch):
    model = make(**arch, dropout=0.0).train()
    x = torch.randint(0, 10, (32, 6))
    grads = {}
    for method in ("one_pass", "expand"):
        model.zero_grad()
        model.mlm_loss(x, method=method).backward()
        grads[method] = {n: p.grad for n, p in model.named_parameters()}
    for name, slow in grads["expand"].items():
        fast = grads["one_pass"][name]
        if fast is None:  # the key bias cancels in the softmax: one pass gives it no gradient
            assert name.endswith("key.bias") and slow.abs().max() <= 1e-5
        else:
            assert (fast - slow).abs().max() <= 1e-5, name


def test_one_pass_refuses_deep_models_and_auto_expands():
    model = make(n_layers=2, d_model=8, n_heads=2).eval()
    x = torch.randint(0, 10, (4, 6))
    with pytest.raises(ValueError, match="single block"):
        model.masked_logits(x, method="one_pass")
    assert torch.equal(model.masked_logits(x), model.masked_logits(x, method="expand"))
    with pytest.raises(ValueError, match="method must be"):
        model.masked_logits(x, method="fast")


def test_expansion_is_the_forward_pass_of_masked_copies():
    model = make(d_model=8, n_heads=2, block="bert").eval()
    x = torch.randint(0, 10, (3, 6))
    copies = expand_masked(x, torch.arange(6), model.mask_token)  # (3, 6, 6)
    assert (copies.diagonal(dim1=1, dim2=2) == model.mask_token).all()
    literal = torch.stack([model(copies[:, i])[:, i] for i in range(6)], dim=1)
    assert torch.allclose(model.masked_logits(x, method="expand"), literal, atol=1e-6)


def test_masked_query_depends_on_position_alone():
    model = make(d_model=12, n_heads=3, block="bert").eval()
    attention = model.blocks[0].attention
    x = torch.randint(0, 10, (8, 6))
    expected = model.masked_queries()  # (H, L, dk)
    for i in range(6):
        copies = expand_masked(x, torch.tensor([i]), model.mask_token)[:, 0]  # (8, 6)
        q = attention._heads(attention.query(model.embed(copies)))[:, :, i]  # (8, H, dk)
        assert torch.allclose(q, expected[:, i].expand_as(q), atol=1e-6)  # identical for every row
        assert (q[0] - q[1:]).abs().max() == 0
    with torch.no_grad():
        model.positional[2] += 1.0
    moved = model.masked_queries()
    assert (moved[:, 2] - expected[:, 2]).abs().max() > 1e-3
    others = [j for j in range(6) if j != 2]
    assert torch.equal(moved[:, others], expected[:, others])


def test_mlm_loss_over_all_and_chosen_positions():
    model = make(d_model=8, n_heads=2).eval()
    x = torch.randint(0, 10, (16, 6))
    logits = model.masked_logits(x)
    manual = F.cross_entropy(logits.reshape(-1, 10), x.reshape(-1), reduction="none").view(16, 6)
    assert torch.allclose(model.mlm_loss(x), manual.mean(), atol=1e-6)
    assert torch.allclose(model.mlm_loss(x, [4]), manual[:, 4].mean(), atol=1e-6)
    assert torch.allclose(model.mlm_loss(x, [1, 3], reduction="none"), manual[:, [1, 3]], atol=1e-6)
    assert torch.allclose(model.mlm_loss(x, method="expand"), manual.mean(), atol=1e-5)


def test_sinusoidal_positions():
    table = sinusoidal_positions(5, 6)
    assert table.shape == (5, 6)
    assert torch.allclose(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert math.isclose(float(table[3, 0]), math.sin(3.0), rel_tol=1e-6)
    assert math.isclose(float(table[3, 3]), math.cos(3.0 / 10000 ** (2 / 6)), rel_tol=1e-6)
    assert sinusoidal_positions(4, 5).shape == (4, 5)  # odd widths
    model = make(positional="sinusoidal", d_model=6, n_heads=2)
    assert "positional" not in dict(model.named_parameters())


def test_keras_initialisation():
    model = make(d_model=20, n_heads=5, block="bert", init="keras")
    assert model.token_embedding.weight.abs().max() <= 0.05
    attention = model.blocks[0].attention
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            assert module.bias.abs().max() == 0
            limit = math.sqrt(6 / (module.in_features + module.out_features))
            if module in (attention.query, attention.key, attention.value):
                limit = math.sqrt(6 / (5 * 20 + 4 * 20))  # Keras kernel (d, H, dk)
            elif module is attention.output:
                limit = math.sqrt(6 / (4 * 5 + 20 * 5))  # Keras kernel (H, dk, d)
            assert limit * 0.9 <= module.weight.abs().max() <= limit
    assert make(d_model=20, n_heads=5).token_embedding.weight.std() > 0.5  # torch: N(0, 1)


def test_mask_token_inside_the_vocabulary():
    model = make(d_model=8, n_heads=2, mask_token=0).eval()
    assert model.config.n_tokens == 10
    x = torch.randint(1, 10, (4, 6))
    assert (model.masked_logits(x) - model.masked_logits(x, method="expand")).abs().max() <= 1e-5
    with pytest.raises(ValueError, match="mask token 0"):
        model.masked_logits(torch.zeros(1, 6, dtype=torch.long))


def test_numpy_tokens_are_accepted():
    model = make(d_model=8, n_heads=2).eval()
    x = np.random.default_rng(0).integers(0, 10, (3, 6))
    assert torch.equal(model.masked_logits(x), model.masked_logits(torch.from_numpy(x)))
    reversed_view = x[:, ::-1]  # negative strides
    assert torch.equal(model.masked_logits(reversed_view), model.masked_logits(torch.from_numpy(x[:, ::-1].copy())))


def test_mask_tokens_in_the_input_when_allowed():
    model = make(d_model=8, n_heads=2, block="bert").eval()
    x = torch.randint(0, 10, (8, 6))
    x[:, 2] = model.mask_token  # a cell already hidden, as an imputer would leave it
    logits = model.masked_logits(x, [0, 4], allow_mask=True)
    assert (logits - model.masked_logits(x, [0, 4], method="expand", allow_mask=True)).abs().max() <= 1e-5
    loss = model.mlm_loss(x, [0, 4], allow_mask=True)
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="position 2 of row 0 holds the mask token"):
        model.mlm_loss(x, allow_mask=True)
    with pytest.raises(ValueError, match="pass allow_mask=True if a masked slot is intended"):
        model.mlm_loss(x, [0])


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (torch.full((2, 6), 11), ValueError, r"token id 11 at row 0, position 0 is out of range: expected ids in \[0, 11\)"),
        (torch.full((2, 6), -1), ValueError, "token id -1"),
        (torch.zeros(2, 6), TypeError, "integer tensor .* got dtype torch.float32"),
        (np.zeros((2, 6)), TypeError, "dtype float64"),
        (torch.zeros(6, dtype=torch.long), ValueError, r"shape \(batch, length\), got 1 dimension"),
        (torch.zeros(2, 7, dtype=torch.long), ValueError, "length 7, longer than the model's max_len=6"),
        (torch.full((2, 6), 10), ValueError, "mask token 10 appears in the input at row 0, position 0"),
        ([[1, 2, 3]], TypeError, "torch.Tensor or numpy array, got list"),
        (torch.zeros(0, 6, dtype=torch.long), ValueError, r"the token batch is empty: shape \(0, 6\)"),
        (torch.zeros(2, 0, dtype=torch.long), ValueError, "sequences have length 0"),
    ],
)
def test_bad_tokens_are_named(bad, error, message):
    model = make(d_model=8, n_heads=2)
    with pytest.raises(error, match=message):
        model.masked_logits(bad)
    deep = make(d_model=8, n_heads=2, n_layers=2)
    with pytest.raises(error, match=message):
        deep.mlm_loss(bad)


def test_bad_positions_and_configs_are_named():
    model = make(d_model=8, n_heads=2)
    x = torch.zeros(2, 6, dtype=torch.long)
    with pytest.raises(ValueError, match="position 6 is out of range"):
        model.masked_logits(x, [6])
    for bad in ([0.5], "a", True, [[0, 1]], [2**70]):
        with pytest.raises(TypeError, match="positions must be an int or a 1-D sequence of ints"):
            model.masked_logits(x, bad)
    with pytest.raises(ValueError, match="positions is empty"):
        model.masked_logits(x, [])
    assert model.masked_logits(x, np.array([1, 1, 3])).shape == (2, 3, 10)  # duplicates allowed
    assert model.masked_logits(torch.full((1, 6), 10), allow_mask=True).shape == (1, 6, 10)
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=3"):
        AttentionConfig(vocab_size=5, max_len=3, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="block must be one of"):
        AttentionConfig(vocab_size=5, max_len=3, block="gpt")
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        AttentionConfig(vocab_size=0, max_len=3)
    with pytest.raises(ValueError, match=r"mask_token must be an int in \[0, 5\], got 7"):
        AttentionConfig(vocab_size=5, max_len=3, mask_token=7)
    for bad, message in (
        (dict(mask_token=6.0), "mask_token must be an int"),
        (dict(d_head=True), "d_head must be a positive int, got True"),
        (dict(dropout="0.1"), r"dropout must be a number in \[0.0, 1.0\), got '0.1'"),
        (dict(dropout=1.0), "dropout must be a number"),
        (dict(layer_norm_eps=-1), "layer_norm_eps must be a number"),
        (dict(layer_norm_eps=0.0), "layer_norm_eps must be positive"),
    ):
        with pytest.raises(ValueError, match=message):
            AttentionConfig(vocab_size=5, max_len=3, d_model=10, n_heads=2, **bad)
    with pytest.raises(ValueError, match="vocab_size must be a positive int, got np.False_"):
        AttentionConfig(vocab_size=np.False_, max_len=3)
    numpy_sizes = AttentionConfig(vocab_size=np.int64(5), max_len=np.int32(3), d_model=4, n_heads=2, mask_token=np.int8(5))
    assert numpy_sizes == AttentionConfig(vocab_size=5, max_len=3, d_model=4, n_heads=2)  # a grid's numpy ints are ints
    assert all(type(getattr(numpy_sizes, name)) is int for name in ("vocab_size", "max_len", "mask_token"))  # JSON-ready
    with pytest.raises(TypeError, match="not both"):
        BidirectionalAttention(AttentionConfig(vocab_size=5, max_len=3), d_model=4)
