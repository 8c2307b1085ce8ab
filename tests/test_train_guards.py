"""The fast road refuses what it does not cover and checks itself; both roads stop on a non-finite loss and clip."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wordexperts import BidirectionalAttention
from wordexperts.errors import ConfigError, WordExpertsError
from wordexperts.fast_step import SELF_CHECK_ROWS, clip_gradients_, self_check
from wordexperts.train import TrainingDivergedError, TrainingHistory, train_mlm


def fresh(seed=0, **kwargs):
    torch.manual_seed(seed)
    return BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2, **kwargs)


def rows(n=200, seed=1):
    return torch.randint(0, 6, (n, 4), generator=torch.Generator().manual_seed(seed))


def with_gelu(model):
    model.blocks[0].readout.ffn[1] = nn.GELU()
    return model


@torch.no_grad()
def assert_same_parameters(a, b, tolerance=0.0):
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert float((p - q).abs().max()) <= tolerance, name


# ---- the road: refused by name, checked against autograd once, recorded in the history ----


def test_a_gelu_feed_forward_trains_as_autograd_trains_it_under_the_defaults():
    # Issue 14: the fast step trusted the config and trained this model 0.02-0.04 away from autograd in 3 epochs.
    x = rows()
    model = with_gelu(fresh(block="bert"))
    twin = copy.deepcopy(model)
    default = train_mlm(model, x, epochs=3, batch_size=32, seed=3)
    autograd = train_mlm(twin, x, epochs=3, batch_size=32, seed=3, fast=False)
    assert default.road == "autograd" and default.road_reason == (
        "blocks.0.readout.ffn.1 is a GELU; the hand-derived step covers a ReLU there"
    )
    assert autograd.road == "autograd" and autograd.road_reason == "fast=False"
    assert default.loss == autograd.loss
    assert_same_parameters(model, twin)  # the same road: bitwise
    with pytest.raises(ValueError, match=r"fast=True: blocks.0.readout.ffn.1 is a GELU") as refused:
        train_mlm(with_gelu(fresh(block="bert")), x, epochs=1, fast=True)
    assert isinstance(refused.value, ConfigError)


def test_the_history_says_which_road_ran_and_why():
    x = rows(64)
    fast = train_mlm(fresh(block="bert"), x, epochs=1)
    assert fast.road == "fast" and "matched autograd on a float64 batch" in fast.road_reason
    assert fast.fallback_steps == 0
    deep = train_mlm(fresh(n_layers=2), x, epochs=1)
    assert deep.road == "autograd" and "n_layers=2" in deep.road_reason
    copies = train_mlm(fresh(), x, epochs=1, batching="copies")
    assert copies.road == "autograd" and "batching='rows'" in copies.road_reason
    # older code built histories from the loss and seconds alone
    old = TrainingHistory([1.0], [0.5])
    assert (old.road, old.road_reason, old.fallback_steps) == ("autograd", None, 0)


def test_the_self_check_catches_what_the_module_list_cannot_see(monkeypatch):
    # Every module is of a listed type, but nn.ReLU itself computes a GELU: only comparing gradients shows it.
    monkeypatch.setattr(nn.ReLU, "forward", lambda self, x: F.gelu(x))
    x = rows()
    model = fresh(block="bert")
    twin = copy.deepcopy(model)
    why = self_check(model, x, torch.arange(4))
    assert why is not None and "hand-derived" in why and "float64 batch" in why and "autograd's" in why
    with pytest.warns(RuntimeWarning, match="float64 batch.*; training through autograd instead"):
        history = train_mlm(model, x, epochs=3, batch_size=32, seed=3)
    assert history.road == "autograd" and history.road_reason == why
    train_mlm(twin, x, epochs=3, batch_size=32, seed=3, fast=False)
    assert_same_parameters(model, twin)
    with pytest.raises(ValueError, match="fast=True: the hand-derived .* float64 batch"):
        train_mlm(fresh(block="bert"), x, epochs=1, fast=True)


@pytest.mark.parametrize(
    "kwargs", [dict(block="bert", dropout=0.2), dict(block="linear", residual=True), dict(block="bert", n_levels=2)]
)
def test_the_self_check_passes_and_leaves_the_model_and_random_state_alone(kwargs):
    model = fresh(**kwargs).train()
    before = copy.deepcopy(model.state_dict())
    state = torch.get_rng_state()
    x = rows(40)
    assert self_check(model, x, torch.arange(4)) is None
    assert self_check(model, x, torch.tensor([3, 1]), torch.tensor([1.0, 5.0], dtype=torch.float64)) is None
    assert self_check(model.double(), x, torch.arange(4)) is None
    model.float()
    assert torch.equal(torch.get_rng_state(), state) and model.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None and p.dtype == torch.float32 for p in model.parameters())
    assert SELF_CHECK_ROWS <= 40


def test_the_module_walk_and_the_self_check_run_once_per_run(monkeypatch):
    import wordexperts.fast_step as fast_step
    import wordexperts.train as train_module

    calls = {"walk": 0, "check": 0}
    walk, check = fast_step.fast_step_refusal, train_module.self_check

    def counted_walk(model):
        calls["walk"] += 1
        return walk(model)

    def counted_check(*args, **kwargs):
        calls["check"] += 1
        return check(*args, **kwargs)

    monkeypatch.setattr(fast_step, "fast_step_refusal", counted_walk)
    monkeypatch.setattr(train_module, "self_check", counted_check)
    x = rows(256)
    counts = []
    for epochs in (1, 4):
        calls.update(walk=0, check=0)
        members = [fresh(block="bert", seed=s) for s in (1, 2)]
        assert train_mlm(members, x, epochs=epochs, batch_size=16).road == "fast"
        counts.append(dict(calls))
    assert counts[0] == counts[1] and counts[0]["check"] == 2  # one self-check per member, whatever the steps


# ---- a non-finite loss stops training, naming where ----


@pytest.mark.parametrize("fast", [None, False])
def test_a_diverging_loss_stops_training_and_names_the_epoch_and_step(fast):
    model = fresh(block="bert")
    with pytest.raises(TrainingDivergedError) as diverged:
        train_mlm(model, rows(), epochs=3, batch_size=32, lr=1e20, fast=fast)
    error = diverged.value
    assert isinstance(error, FloatingPointError) and isinstance(error, WordExpertsError)
    assert (error.epoch, error.step) == (1, 2) and math.isnan(error.loss)
    assert str(error) == (
        "the training loss became nan at epoch 1, step 2 of 7: training diverged, and stopped before that step's "
        "update. Lower the learning rate (lr=1e+20), or clip the gradients (clip_grad_norm=1.0, say)."
    )
    assert all(bool(p.isfinite().all()) for p in model.parameters())  # stopped before the update


@pytest.mark.parametrize("fast", [None, False])
@pytest.mark.parametrize("poisoned", ["head.bias", "token_embedding.weight"])  # the fast road: its step, its fallback
def test_a_loss_that_turns_nan_later_is_caught_at_its_step(fast, poisoned):
    model = fresh(block="bert").double()

    def poison(epoch, loss):
        if epoch == 1:
            with torch.no_grad():
                model.get_parameter(poisoned)[0] = math.nan

    with pytest.raises(TrainingDivergedError, match=r"became nan at epoch 3, step 1 of 4: ") as diverged:
        train_mlm(model, rows(100), epochs=5, batch_size=32, fast=fast, callback=poison)
    assert (diverged.value.epoch, diverged.value.step) == (3, 1)


# ---- gradient clipping, alike on both roads ----


def test_clipping_scales_as_torch_clip_grad_norm():
    torch.manual_seed(0)
    grads = [torch.randn(5, 3, dtype=torch.float64), torch.randn(7, dtype=torch.float64)]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for max_norm in (1e9, 0.5):
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        mine = [g.clone() for g in grads]
        norm = clip_gradients_(mine, max_norm)
        reference = nn.utils.clip_grad_norm_(params, max_norm)
        assert torch.equal(norm, reference)
        assert all(torch.equal(a, p.grad) for a, p in zip(mine, params, strict=True))
    assert float(torch.linalg.vector_norm(torch.cat([p.grad.view(-1) for p in params]))) == pytest.approx(0.5)


@pytest.mark.parametrize("kwargs", [dict(block="bert"), dict(block="linear", residual=True)])
def test_both_roads_clip_alike(kwargs):
    x = rows()
    model = fresh(**kwargs).double()
    twin, unclipped = copy.deepcopy(model), copy.deepcopy(model)
    fast = train_mlm(model, x, epochs=3, batch_size=32, seed=3, lr=1e-2, clip_grad_norm=0.05)
    slow = train_mlm(twin, x, epochs=3, batch_size=32, seed=3, lr=1e-2, clip_grad_norm=0.05, fast=False)
    assert fast.road == "fast" and slow.road == "autograd"
    assert max(abs(a - b) / b for a, b in zip(fast.loss, slow.loss, strict=True)) <= 1e-10
    assert_same_parameters(model, twin, 1e-9)
    train_mlm(unclipped, x, epochs=3, batch_size=32, seed=3, lr=1e-2)
    with torch.no_grad():
        assert max(float((p - q).abs().max()) for p, q in zip(model.parameters(), unclipped.parameters())) > 1e-3


@pytest.mark.parametrize("fast", [None, False])
def test_a_huge_threshold_changes_nothing(fast):
    x = rows()
    model = fresh(block="bert", dropout=0.1)
    twin = copy.deepcopy(model)
    clipped = train_mlm(model, x, epochs=2, batch_size=32, seed=3, clip_grad_norm=1e9, fast=fast)
    plain = train_mlm(twin, x, epochs=2, batch_size=32, seed=3, fast=fast)
    assert clipped.loss == plain.loss
    assert_same_parameters(model, twin)


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, True, "1"])
def test_clip_grad_norm_is_checked(bad):
    with pytest.raises(ConfigError, match="clip_grad_norm must be a positive number or None"):
        train_mlm(fresh(), rows(20), epochs=1, clip_grad_norm=bad)


def test_an_estimators_history_says_which_road_trained_it():
    import numpy as np

    from wordexperts import TrainingDivergedError, WordExpertsClassifier, WordExpertsError

    rng = np.random.default_rng(0)
    model = WordExpertsClassifier(epochs=2, random_state=0).fit(rng.normal(size=(60, 3)), rng.choice(["a", "b"], 60))
    assert model.history_["road"] == "fast" and "matched autograd" in model.history_["road_reason"]
    assert issubclass(TrainingDivergedError, WordExpertsError) and issubclass(TrainingDivergedError, FloatingPointError)


# ---- out of device memory: the same step in pieces ----


@pytest.mark.parametrize("fast", [None, False], ids=["fast-road", "autograd"])
def test_a_step_out_of_memory_goes_on_in_pieces_with_the_same_result(monkeypatch, fast):
    """A device that cannot hold a batch of more than 20 rows (simulated: torch.cuda.OutOfMemoryError on the CPU):
    the steps go on in pieces of at most 20 rows, with a warning, and train what whole batches train."""
    from wordexperts.core.gradients import OnePassGradients

    tokens = torch.randint(0, 6, (150, 4), generator=torch.Generator().manual_seed(0))

    def model():
        torch.manual_seed(0)
        return BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2, block="bert", dropout=0.0)

    expected = model()
    train_mlm(expected, tokens, epochs=2, batch_size=64, fast=fast, n_threads=1)
    step, loss_at = OnePassGradients.__call__, BidirectionalAttention.mlm_loss_at

    def small_step(self, keys, *args, **kwargs):
        if keys.shape[0] > 20:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return step(self, keys, *args, **kwargs)

    def small_loss(self, x, *args, **kwargs):
        if x.shape[0] > 20:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return loss_at(self, x, *args, **kwargs)

    monkeypatch.setattr(OnePassGradients, "__call__", small_step)
    monkeypatch.setattr(BidirectionalAttention, "mlm_loss_at", small_loss)
    trained = model()
    with pytest.warns(RuntimeWarning, match="ran out of memory on cpu: its batch of 64 rows now goes in 2 pieces"):
        history = train_mlm(trained, tokens, epochs=2, batch_size=64, fast=fast, n_threads=1)
    assert history.road == ("fast" if fast is None else "autograd")
    for name, value in expected.state_dict().items():
        assert torch.allclose(trained.state_dict()[name], value, atol=1e-5), name


def test_a_step_that_cannot_fit_one_row_is_an_error(monkeypatch):
    from wordexperts.core.gradients import OnePassGradients

    def no_memory(self, *args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(OnePassGradients, "__call__", no_memory)
    monkeypatch.setattr("wordexperts.train.self_check", lambda *args: None)  # its float64 batch would run out first
    model = BidirectionalAttention(vocab_size=6, max_len=4, d_model=8, n_heads=2, block="bert", dropout=0.0)
    with pytest.warns(RuntimeWarning), pytest.raises(torch.cuda.OutOfMemoryError, match="even one row at a time"):
        train_mlm(model, torch.randint(0, 6, (8, 4)), epochs=1, batch_size=8, n_threads=1)
