"""train_mlm, the estimators and `wordexperts fit` under torchrun: two gloo ranks train one process's model.

The ranks run this file as a script (``_worker`` at the bottom), train, and rank 0 saves what
it trained; the tests train the same in this process and compare. Equal "to float rounding":
the ranks add their gradients in another order than one process's matrix products do, so
weights agree to about 1e-7 after a step, and drift further only where Adam amplifies
gradients near zero over many steps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from wordexperts import BidirectionalAttention
from wordexperts.tabular import load
from wordexperts.train import train_mlm

HERE = Path(__file__).resolve()
TOKENS = torch.randint(0, 9, (301, 5), generator=torch.Generator().manual_seed(0))  # last batch: 45 rows
CASES = {
    "fast": {},
    "autograd": {"fast": False},
    "copies": {"batching": "copies"},
    "weighted": {"row_weights": torch.rand(301, generator=torch.Generator().manual_seed(1))},
    "members": {"members": 2},
}


def _train(case: str, world=None) -> list[dict[str, torch.Tensor]]:
    options = dict(CASES[case])
    k = options.pop("members", 1)
    torch.manual_seed(0)
    models = [
        BidirectionalAttention(vocab_size=9, max_len=5, d_model=16, n_heads=4, block="bert", dropout=0.1)
        for _ in range(k)
    ]
    train_mlm(models, TOKENS, epochs=3, batch_size=64, n_threads=1, world=world, **options)
    return [m.state_dict() for m in models]


def _environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return environment | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_environment())


def test_train_mlm_over_two_ranks_is_one_process_training(tmp_path):
    done = _torchrun(str(HERE), "train_mlm", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    for case in CASES:
        expected = _train(case)
        found = torch.load(tmp_path / f"{case}.pt")
        assert len(found) == len(expected)
        for one, two in zip(expected, found, strict=True):
            gap = (_probabilities(one) - _probabilities(two)).abs().max().item()
            assert gap <= 1e-5, (case, gap)
        assert (tmp_path / f"{case}.same-on-rank-1").read_text() == "True"  # both ranks hold the same weights


def _probabilities(state: dict[str, torch.Tensor]) -> torch.Tensor:
    """The masked-LM probabilities ``(N, P, V)`` of ``TOKENS`` under trained weights (compared, not the
    weights: the key bias cancels in every softmax, and Adam turns its rounding-level gradients into steps)."""
    model = BidirectionalAttention(vocab_size=9, max_len=5, d_model=16, n_heads=4, block="bert", dropout=0.1)
    model.load_state_dict(state)
    with torch.no_grad():
        return torch.softmax(model.eval().masked_logits_at(TOKENS, torch.arange(5)), -1)


def test_cli_fit_under_torchrun_writes_one_process_model_from_rank_zero(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.integers(0, 6, 3000) for c in "abcd"})
    frame["y"] = (frame.a + frame.b + rng.integers(0, 3, 3000) > 6).astype(int)
    frame.to_csv(tmp_path / "t.csv", index=False)
    fit = ["fit", str(tmp_path / "t.csv"), "--target", "y", "--epochs", "4", "--seed", "2", "--quiet"]
    one = subprocess.run(
        [sys.executable, "-m", "wordexperts", *fit, "--out", str(tmp_path / "one.safetensors")],
        capture_output=True, text=True, env=_environment(),
    )
    assert one.returncode == 0, one.stderr
    done = _torchrun("-m", "wordexperts", *fit, "--out", str(tmp_path / "two.safetensors"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("fitted a classification model") == 1  # rank 0 reports, rank 1 stays quiet
    assert "2 processes" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.safetensors", "t.csv", "two.safetensors"]
    X = frame.drop(columns="y")
    a, b = load(tmp_path / "one.safetensors"), load(tmp_path / "two.safetensors")
    assert b.history_["processes"] == 2 and a.best_epoch_ == b.best_epoch_
    assert np.abs(a.predict_proba(X) - b.predict_proba(X)).max() <= 1e-5


def _worker(what: str, out: Path) -> None:
    from wordexperts.distributed import Distributed

    world = Distributed.from_environment()
    with world.announce_failures():
        if what == "train_mlm":
            for case in CASES:
                trained = _train(case, world)
                gathered = [None, None]
                torch.distributed.all_gather_object(gathered, trained)
                if world.rank == 0:
                    torch.save(trained, out / f"{case}.pt")
                    same = all(
                        torch.equal(a[name], b[name])
                        for a, b in zip(gathered[0], gathered[1], strict=True) for name in a
                    )
                    (out / f"{case}.same-on-rank-1").write_text(str(same))
    world.close()


if __name__ == "__main__":
    _worker(sys.argv[1], Path(sys.argv[2]))


pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this PyTorch build has no torch.distributed"
)
