import copy

import pytest
import torch

from wordexperts import BidirectionalAttention, to_experts
from wordexperts.bench.demo import copy_task
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
    with pytest.raises(ValueError, match="n_threads must be a positive int"):
        with torch_threads(0):
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
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device must be"):
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
