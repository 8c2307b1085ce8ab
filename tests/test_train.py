import copy
import math
import warnings

import numpy as np
import pytest
import torch

from wordexperts import BidirectionalAttention, to_experts
from wordexperts.demo import copy_task
from wordexperts.errors import ConfigError
from wordexperts.fast_step import DropoutMasks, FusedAdam, OnePassTraining
from wordexperts.train import resolve_device, torch_threads, train_mlm


def fresh(seed=0, **kwargs):
    torch.manual_seed(seed)
    return BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2, **kwargs)


def test_training_is_deterministic_on_cpu_and_leaves_the_global_rng_alone():
    x = torch.randint(0, 6, (200, 4))
    model = fresh(block="bert", dropout=0.1)
    twin, other = copy.deepcopy(model), copy.deepcopy(model)
    state = torch.get_rng_state()
    a = train_mlm(model, x, epochs=3, batch_size=32, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    torch.rand(5)  # moving the global generator does not change a seeded run (dropout included)
    b = train_mlm(twin, x, epochs=3, batch_size=32, seed=3)
    assert a.loss == b.loss and len(a.seconds) == 3
    c = train_mlm(other, x, epochs=3, batch_size=32, seed=4)
    assert c.loss != a.loss


@pytest.mark.parametrize("batching", ["rows", "copies"])
def test_training_learns_a_copied_column(batching):
    x = copy_task(rows=512, length=4, vocab_size=6, source=0, target=3, seed=0)
    model = fresh()
    history = train_mlm(model, x, epochs=25, batch_size=64, lr=1e-2, positions=[3], batching=batching)
    assert history.loss[-1] < 0.5 * history.loss[0]
    test = copy_task(rows=256, length=4, vocab_size=6, source=0, target=3, seed=1)
    accuracy = (model.eval().masked_logits(test, [3])[:, 0].argmax(-1) == test[:, 3]).float().mean()
    assert accuracy > 0.9


def test_word_experts_train_with_the_same_loop():
    x = copy_task(rows=512, length=4, vocab_size=6, source=0, target=3, seed=0)
    experts = to_experts(fresh())
    history = train_mlm(experts, x, epochs=10, batch_size=64, lr=1e-2, positions=[3])
    assert history.loss[-1] < 0.7 * history.loss[0]


def test_threads_are_set_and_restored():
    before = torch.get_num_threads()
    with torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
    with torch_threads(np.int64(1)):  # numpy ints are ints (checks.check_positive_int)
        assert torch.get_num_threads() == 1
    for bad in (0, True, 1.0):
        with pytest.raises(ValueError, match="n_threads must be a positive int or None"):
            with torch_threads(bad):
                pass


def test_bad_training_arguments_are_named():
    x = torch.randint(0, 6, (20, 4))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        train_mlm(fresh(), x, epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="the token batch is empty"):
        train_mlm(fresh(), x[:0], epochs=1)
    with pytest.raises(ValueError, match="batching='copies' .* WordExperts does not have; use batching='rows'"):
        train_mlm(to_experts(fresh()), x, epochs=1, batching="copies")
    with pytest.raises(ValueError, match="epochs must be a positive int, got 0"):
        train_mlm(fresh(), x, epochs=0)
    with pytest.raises(ValueError, match="batching must be 'rows' or 'copies'"):
        train_mlm(fresh(), x, epochs=1, batching="cells")
    with pytest.raises(ValueError, match="mask token 6 appears"):
        train_mlm(fresh(), torch.full((4, 4), 6), epochs=1)


def test_device_argument_moves_the_model():
    model = fresh().double()
    train_mlm(model, torch.randint(0, 6, (20, 4)), epochs=1, device="cpu")
    assert next(model.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            train_mlm(model, torch.randint(0, 6, (20, 4)), epochs=1, device="cuda")


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    said = [str(w.message) for w in seen]
    assert said == ([] if torch.cuda.is_available() else [
        "device='auto': no CUDA GPU here (or this torch build has no CUDA), so this runs on the CPU"
    ])
    with pytest.raises(ConfigError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_one_pass_on_cuda_matches_cpu():
    model = fresh(block="bert").eval()
    x = torch.randint(0, 6, (64, 4))
    on_cpu = model.masked_logits(x)
    on_gpu = model.to("cuda").masked_logits(x.to("cuda"))
    assert (on_gpu.cpu() - on_cpu).abs().max() <= 1e-4
    assert (to_experts(model).masked_logits(x.cuda()) - on_gpu).abs().max() <= 1e-4


# ---- the fast road: hand-derived one-pass gradients, fused Adam, bulk dropout masks ----


@pytest.mark.parametrize(
    "kwargs, length, positions",
    [(dict(block="bert"), 4, None), (dict(block="linear", residual=True), 4, [3, 0]), (dict(block="bert"), 3, [2])],
)
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_fast_training_takes_the_same_steps_as_autograd(kwargs, length, positions, dtype, tolerance):
    x = torch.randint(0, 6, (200, length))
    model = fresh(**kwargs, dropout=0.0).to(dtype)
    twin = copy.deepcopy(model)
    fast = train_mlm(model, x, epochs=3, batch_size=32, seed=3, positions=positions)  # fast by default
    slow = train_mlm(twin, x, epochs=3, batch_size=32, seed=3, positions=positions, fast=False)
    assert max(abs(a - b) / b for a, b in zip(fast.loss, slow.loss, strict=True)) <= tolerance
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert (p - q).abs().max() <= 10 * tolerance, name


def test_fast_training_is_seeded_and_its_dropout_counts():
    x = torch.randint(0, 6, (200, 4))
    model = fresh(block="bert", dropout=0.3)
    twin, other = copy.deepcopy(model), copy.deepcopy(model)
    undropped = fresh(block="bert", dropout=0.0)  # the same initial weights
    state = torch.get_rng_state()
    a = train_mlm(model, x, epochs=3, batch_size=32, seed=3, fast=True)
    assert torch.equal(torch.get_rng_state(), state)
    b = train_mlm(twin, x, epochs=3, batch_size=32, seed=3, fast=True)
    c = train_mlm(other, x, epochs=3, batch_size=32, seed=4, fast=True)
    d = train_mlm(undropped, x, epochs=3, batch_size=32, seed=3, fast=True)
    assert a.loss == b.loss and c.loss != a.loss and d.loss != a.loss
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), twin.parameters(), strict=True))


def test_fast_flag_is_checked_and_respected(monkeypatch):
    x = torch.randint(0, 6, (40, 4))
    for model, kwargs, reason in [
        (to_experts(fresh()), {}, "single-block BidirectionalAttention"),
        (fresh(n_layers=2), {}, "single-block BidirectionalAttention"),
        (fresh(), dict(batching="copies"), "batching='rows'"),
        (fresh(), dict(method="expand"), "method='one_pass' only"),
    ]:
        with pytest.raises(ValueError, match=f"fast=True: .*{reason}"):
            train_mlm(model, x, epochs=1, fast=True, **kwargs)
        train_mlm(model, x, epochs=1, **kwargs)  # the default falls back to autograd
    import wordexperts.train as train_module

    used = []
    real = train_module.OnePassTraining
    monkeypatch.setattr(train_module, "OnePassTraining", lambda *a, **k: used.append(1) or real(*a, **k))
    train_mlm(fresh(), x, epochs=1, fast=False)
    train_mlm(fresh(), x, epochs=1, method="expand")
    assert used == []
    train_mlm(fresh(), x, epochs=1)
    train_mlm(fresh(), x, epochs=1, method="one_pass")
    assert used == [1, 1]


def test_fast_training_stops_when_the_callback_says_so():
    seen = []
    history = train_mlm(fresh(), torch.randint(0, 6, (40, 4)), epochs=5, callback=lambda e, loss: seen.append(e) or e == 1)
    assert seen == [0, 1] and len(history.loss) == 2


def test_steps_whose_softmax_could_underflow_go_through_autograd():
    x = torch.randint(0, 6, (64, 4))
    model = fresh(block="linear").double()
    with torch.no_grad():  # logits hundreds apart: the table's shared shift underflows
        model.blocks[0].attention.query.bias.fill_(10.0)
        model.token_embedding.weight.mul_(40.0)
    twin, probe = copy.deepcopy(model), copy.deepcopy(model)
    fast = train_mlm(model, x, epochs=2, batch_size=16, seed=1)
    slow = train_mlm(twin, x, epochs=2, batch_size=16, seed=1, fast=False)
    assert all(math.isfinite(v) for v in fast.loss)
    assert max(abs(a - b) / b for a, b in zip(fast.loss, slow.loss, strict=True)) <= 1e-10
    assert fast.road == "fast" and fast.fallback_steps > 0 and slow.road == "autograd"
    training = OnePassTraining(probe, probe.check_tokens(x), torch.arange(4), lr=1e-3, eps=1e-8)
    training.epoch(torch.randperm(64), 16)
    assert training.fallback_steps > 0


def test_dropout_masks_are_inverted_dropout_at_rate_p():
    torch.manual_seed(0)
    masks = DropoutMasks(0.1, dtype=torch.float32, device=torch.device("cpu"))
    m = masks(1000, 1000)
    assert m.shape == (1000, 1000) and m.dtype == torch.float32
    assert set(m.unique().tolist()) == {0.0, torch.tensor(1 / 0.9).item()}
    dropped = float((m == 0).float().mean())
    assert abs(dropped - 0.1) <= 5 * math.sqrt(0.1 * 0.9 / m.numel())  # five standard errors
    assert abs(float(m.double().mean()) - 1.0) <= 5 * math.sqrt(0.1 / 0.9 / m.numel())  # unbiased
    assert not torch.equal(masks(100), masks(100))  # fresh draws
    torch.manual_seed(0)
    again = DropoutMasks(0.1, dtype=torch.float32, device=torch.device("cpu"))
    assert torch.equal(again(1000, 1000), m)  # seeded from torch's generator
    half = DropoutMasks(0.5, dtype=torch.float64, device=torch.device("cpu"))(200_000)
    assert half.dtype == torch.float64 and abs(float((half == 0).double().mean()) - 0.5) <= 5 * math.sqrt(0.25 / 2e5)
    with pytest.raises(ValueError, match="rate must be in"):
        DropoutMasks(0.0, dtype=torch.float32, device=torch.device("cpu"))


def test_fused_adam_updates_as_torch_adam():
    torch.manual_seed(0)
    start = [torch.randn(5, 3), torch.randn(7)]
    reference = [p.clone().requires_grad_() for p in start]
    optimizer = torch.optim.Adam(reference, lr=1e-2, eps=1e-7, fused=True)
    fused, textbook = [p.clone() for p in start], [p.clone() for p in start]
    adam, plain = FusedAdam(fused, lr=1e-2, eps=1e-7), FusedAdam(textbook, lr=1e-2, eps=1e-7)
    plain.fused = False  # the path taken where PyTorch has no fused kernel
    for _ in range(20):
        grads = [torch.randn_like(p) for p in start]
        for p, g in zip(reference, grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
        adam.step(grads)
        plain.step(grads)
    assert all(torch.equal(p.detach(), q) for p, q in zip(reference, fused, strict=True))
    assert max(float((p.detach() - q).abs().max()) for p, q in zip(reference, textbook, strict=True)) <= 1e-6


def test_large_vocabularies_train_through_autograd_not_the_key_table():
    from wordexperts import BidirectionalAttention
    from wordexperts.fast_step import FAST_KEYS, fast_road_refusal

    small = BidirectionalAttention(vocab_size=10, max_len=6, d_model=8, n_heads=2)
    big = BidirectionalAttention(vocab_size=FAST_KEYS, max_len=6, d_model=8, n_heads=2)
    assert fast_road_refusal(small, "rows", {}) is None
    assert "keys" in fast_road_refusal(big, "rows", {})
    history = train_mlm(big, torch.randint(0, FAST_KEYS, (64, 6)), epochs=1, batch_size=32)
    assert len(history.loss) == 1 and history.loss[0] > 0


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_cosine_schedule_takes_the_same_steps_on_both_roads(dtype, tolerance):
    x = torch.randint(0, 6, (200, 4))
    model = fresh(block="bert", dropout=0.0).to(dtype)
    twin = copy.deepcopy(model)
    fast = train_mlm(model, x, epochs=3, batch_size=32, seed=3, lr=1e-2, lr_schedule="cosine")
    slow = train_mlm(twin, x, epochs=3, batch_size=32, seed=3, lr=1e-2, lr_schedule="cosine", fast=False)
    assert max(abs(a - b) / b for a, b in zip(fast.loss, slow.loss, strict=True)) <= tolerance
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert (p - q).abs().max() <= 10 * tolerance
    constant = train_mlm(copy.deepcopy(twin), x, epochs=3, batch_size=32, seed=3, lr=1e-2)
    assert constant.loss != fast.loss  # the schedule changes the steps


def test_learning_rate_schedules():
    from wordexperts.train import LearningRate

    cosine = LearningRate(0.1, schedule="cosine", total_steps=10)
    rates = [cosine.next() for _ in range(12)]
    assert rates[0] == 0.1 and rates[5] == pytest.approx(0.05) and rates[10] == rates[11] == 0.0
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert {LearningRate(0.1).next() for _ in range(3)} == {0.1}
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        LearningRate(0.1, schedule="step")


@pytest.mark.parametrize("fast", [None, False])
def test_members_train_as_they_would_alone(fast):
    # Without dropout a member trained in a list takes the steps it would take alone (same seed, same shuffles).
    x = torch.randint(0, 6, (100, 4))
    members = [fresh(block="bert", dropout=0.0, seed=s) for s in (1, 2)]
    alone = [copy.deepcopy(m) for m in members]
    calls = []
    history = train_mlm(members, x, epochs=2, batch_size=32, seed=5, fast=fast, progress=True,
                        status=lambda: calls.append(1) or {"val_loss": "0.1"})
    assert len(calls) == 2 and len(history.loss) == 2
    losses = []
    for i, model in enumerate(alone):
        # alone, each member's autograd epochs would draw their own shuffles: compare on the fast road only
        if fast is False:
            break
        losses.append(train_mlm(model, x, epochs=2, batch_size=32, seed=5).loss)
        for p, q in zip(model.parameters(), members[i].parameters(), strict=True):
            assert torch.equal(p, q)
    if losses:
        assert history.loss == pytest.approx([(a + b) / 2 for a, b in zip(*losses, strict=True)])
    with pytest.raises(ValueError, match="non-empty list"):
        train_mlm([], x)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_position_weights_take_the_same_steps_on_both_roads(dtype, tolerance):
    x = torch.randint(0, 6, (200, 4))
    model = fresh(block="bert", dropout=0.0).to(dtype)
    twin, plain = copy.deepcopy(model), copy.deepcopy(model)
    weights = [1.0, 1.0, 1.0, 6.0]  # the last column counts as much as twice the others together
    fast = train_mlm(model, x, epochs=3, batch_size=32, seed=3, position_weights=weights)
    slow = train_mlm(twin, x, epochs=3, batch_size=32, seed=3, position_weights=weights, fast=False)
    assert max(abs(a - b) / b for a, b in zip(fast.loss, slow.loss, strict=True)) <= tolerance
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert (p - q).abs().max() <= 10 * tolerance
    equal = train_mlm(plain, x, epochs=3, batch_size=32, seed=3, position_weights=[2.0] * 4)
    assert equal.loss == pytest.approx(train_mlm(fresh(block="bert", dropout=0.0).to(dtype), x, epochs=3, batch_size=32, seed=3).loss, rel=tolerance)
    assert equal.loss != fast.loss
    with pytest.raises(ValueError, match="position_weights must be 4 non-negative numbers"):
        train_mlm(plain, x, epochs=1, position_weights=[1.0, -1.0, 1.0, 1.0])


def test_weighted_loss_is_the_weighted_mean_of_the_positions():
    model = fresh(block="bert")
    x = torch.randint(0, 6, (10, 4))
    p = torch.arange(4)
    per = model.mlm_loss_at(x, p, reduction="none")  # (10, 4)
    w = torch.tensor([0.0, 1.0, 0.0, 3.0])
    expected = (per[:, 1].sum() + 3 * per[:, 3].sum()) / (10 * 4)
    assert torch.allclose(model.mlm_loss_at(x, p, weights=w), expected)
    assert torch.allclose(model.mlm_loss_at(x, p, weights=torch.ones(4)), per.mean())


@pytest.mark.parametrize("dtype", [torch.int16, torch.int32, np.int16, np.uint8])
def test_a_compact_token_table_trains_as_int64_tokens_bitwise(dtype, monkeypatch):
    """A compact table (a memory-mapped int16 file, say) is read batch by batch: the same steps as int64 rows,
    on the fast road with each batch's keys built as it comes, and through autograd."""
    from wordexperts import fast_step

    tokens = torch.randint(0, 6, (150, 4), generator=torch.Generator().manual_seed(0))
    compact = tokens.numpy().astype(dtype) if isinstance(dtype, type) else tokens.to(dtype)

    def trained(table, **options):
        torch.manual_seed(0)
        model = BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2, block="bert", dropout=0.1)
        history = train_mlm(model, table, epochs=2, batch_size=32, n_threads=1, **options)
        return model, history

    for options in ({"fast": False}, {}):
        expected, history = trained(tokens, **options)
        found, again = trained(compact, **options)
        assert history.road == again.road
        assert all(torch.equal(a, b) for a, b in zip(expected.state_dict().values(), found.state_dict().values()))
    monkeypatch.setattr(fast_step, "KEYS_AT_ONCE", 10)  # an int64 table too large to key at once: keys per batch
    found, _ = trained(tokens)
    assert all(torch.equal(a, b) for a, b in zip(expected.state_dict().values(), found.state_dict().values()))


def test_a_compact_table_is_checked_chunk_by_chunk(monkeypatch):
    model = BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2)
    bad = torch.randint(0, 6, (50, 4), dtype=torch.int16)
    bad[37, 2] = 9
    monkeypatch.setattr("wordexperts.train.TABLE_CHUNK", 16)  # row 37 is row 5 of the third chunk
    with pytest.raises(ValueError, match="token id 9 at row 37, position 2 is out of range"):
        train_mlm(model, bad, epochs=1)


def test_torch_threads_nest_and_restore_the_count_they_found():
    before = torch.get_num_threads()
    with torch_threads(2):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
