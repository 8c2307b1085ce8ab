"""Data-parallel training over processes: shards, gradients summed over ranks, failures.

The two-process tests start real gloo process groups on the CPU, three ways: through
``torchrun`` (``python -m torch.distributed.run``, as the command line is launched), through
``torch.multiprocessing.spawn``, and as two plain processes given torchrun's environment, so
that the surviving rank's own error can be read (torchrun stops the survivors itself). The
ranks run this file as a script (``_worker`` at the bottom) and write what they measured to
JSON files; the tests assert the numbers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from wordexperts import BidirectionalAttention
from wordexperts.core.gradients import OnePassGradients
from wordexperts.distributed import (
    Distributed,
    PeerFailedError,
    all_reduce_gradients_,
    all_reduce_module_gradients_,
    broadcast_,
    rank_zero_decides,
    rank_zero_writes,
    shard,
    shard_slice,
    shared_dropout,
)
from wordexperts.fast_step import DropoutMasks, FusedAdam, clip_gradients_
from wordexperts.files import atomic_write_text
from wordexperts.train import epoch_order, make_optimizer

HERE = Path(__file__).resolve()
TIMEOUT = {"hangs": 3.0, "gradients": 60.0}  # seconds a rank waits for a silent peer; other cases: 20
ARCH = {"vocab_size": 10, "max_len": 6, "block": "bert", "d_model": 8, "n_heads": 2, "d_ff": 6, "dropout": 0.25}
ROWS = (7, 1)  # a batch split 4 + 3, and one too small to split (rank 1 keeps its streams in step)
TOLERANCE = {"torch.float64": 1e-12, "torch.float32": 1e-6}  # relative to the largest gradient


# ---- one process: the shard arithmetic and the no-op forms ----


@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
@pytest.mark.parametrize("rows", [1, 2, 7, 8, 129])
def test_shards_cover_every_row_exactly_once(world_size, rows):
    batch = torch.randperm(1000)[:rows]
    shards = [shard(batch, Distributed(rank=r, world_size=world_size)) for r in range(world_size)]
    counted = torch.cat([s.index for s in shards if s.count])
    assert torch.equal(counted, batch)  # in order, each row once
    sizes = [s.count for s in shards]
    assert sum(sizes) == rows and max(sizes) - min(sizes) <= 1
    for s in shards:
        assert s.rows == rows and torch.equal(s.index, batch[s.part])
        if s.count == 0:  # no row of its own: computes the whole batch, counts for nothing
            assert s.part == slice(0, rows)
    parts = [shard_slice(rows, Distributed(rank=r, world_size=world_size)) for r in range(world_size)]
    assert [p.start for p in parts[1:]] == [p.stop for p in parts[:-1]] and parts[-1].stop == rows


def test_one_process_is_left_bit_for_bit_as_it_was():
    world = Distributed.from_environment() if "RANK" not in os.environ else Distributed()
    assert (world.world_size, world.rank, world.backend, world.active) == (1, 0, None, False)
    grads = [torch.randn(3, 4), torch.randn(5)]
    before = [g.clone() for g in grads]
    assert all_reduce_gradients_(grads, world, count=6, total=6, reduction="mean", loss_sum=2.5) == 2.5
    assert all(torch.equal(a, b) for a, b in zip(grads, before, strict=True))
    model = BidirectionalAttention(**ARCH).train()
    batch = shard(torch.arange(5), world)
    assert batch.count == 5 and batch.part == slice(0, 5)
    x = torch.randint(0, 10, (5, 6))
    torch.manual_seed(1)
    with shared_dropout(model, world, batch):
        shared = model.mlm_loss_at(x, torch.arange(6))
    torch.manual_seed(1)
    assert torch.equal(shared, model.mlm_loss_at(x, torch.arange(6)))
    assert rank_zero_decides(True, world) and world.is_writer


def test_shared_dropout_applies_the_one_process_masks():
    # Two ranks' parts, computed here one after the other from the same seed, are the one-process
    # losses: every rank draws the global batch's masks and keeps its rows (no process group needed).
    for n_layers, method in ((1, "one_pass"), (2, "expand")):  # expand: P copies of a row along dim 0
        torch.manual_seed(0)
        model = BidirectionalAttention(**{**ARCH, "n_layers": n_layers}).double().train()
        x, p = torch.randint(0, 10, (7, 6)), torch.arange(6)
        torch.manual_seed(5)
        whole = model.mlm_loss_at(x, p, reduction="none", method=method)  # (7, 6)
        parts = []
        for rank in range(2):
            part = shard(torch.arange(7), Distributed(rank=rank, world_size=2))
            torch.manual_seed(5)
            with shared_dropout(model, Distributed(rank=rank, world_size=2), part):
                parts.append(model.mlm_loss_at(x[part.index], p, reduction="none", method=method))
        assert float((torch.cat(parts) - whole).detach().abs().max()) <= 1e-14
        torch.manual_seed(6)  # and the masks matter: another draw gives other losses
        assert float((model.mlm_loss_at(x, p, reduction="none", method=method) - whole).detach().abs().max()) > 1e-3


def test_counts_are_checked():
    with pytest.raises(ValueError, match="reduction must be"):
        all_reduce_gradients_([torch.ones(1)], Distributed(), count=1, total=1, reduction="avg")
    with pytest.raises(ValueError, match="equal in one process"):
        all_reduce_gradients_([torch.ones(1)], Distributed(), count=1, total=2, reduction="sum")
    with pytest.raises(ValueError, match="not fit"):
        Distributed(rank=2, world_size=2)


# ---- two processes, gloo ----


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(out: Path, case: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(HERE), case, str(out)]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout, env=_child_environment())


def _child_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return environment | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _plain_processes(out: Path, case: str) -> list[subprocess.CompletedProcess]:
    """Two ranks started with torchrun's environment but no torchrun, each left to end on its own."""
    port = str(_free_port())
    processes = [
        subprocess.Popen(
            [sys.executable, str(HERE), case, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_child_environment() | {"RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port},
        )
        for r in range(2)
    ]
    done = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return done


def _read(out: Path, rank: int) -> dict:
    return json.loads((out / f"rank{rank}.json").read_text())


def test_two_ranks_under_torchrun_make_the_one_process_step(tmp_path):
    # Both roads, float64 and float32, a batch of 7 rows (4 + 3) and one of 1 row (rank 1 has none):
    # the all-reduced gradients of two ranks' halves are the one-process gradients of the whole batch,
    # dropout included; so are the probabilities after 2 epochs of training (the recipe of docs/distributed.md);
    # then rank 0 writes a file that rank 1 sees once the block ends.
    started = time.perf_counter()
    done = _torchrun(tmp_path, "gradients")
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [_read(tmp_path, r) for r in range(2)]
    for rank, found in enumerate(ranks):
        assert found["world"] == [rank, 2, "gloo"]
        assert found["file"] == "weights" and found["decision"] is True
        cases = found["cases"]
        assert len(cases) == 2 * 2 * 3
        for name, case in cases.items():
            assert case["gradient"] <= TOLERANCE[case["dtype"]], (rank, name, case)
            assert case["loss"] <= TOLERANCE[case["dtype"]], (rank, name, case)
            assert case["same start"]  # broadcast_ gave rank 1 rank 0's weights
            if name.startswith("autograd"):
                assert case["without gradient"] == ["blocks.0.attention.key.bias"]  # None stays None
        assert max(found["training"].values()) <= 1e-5  # 2 epochs on either road: one process's probabilities
    assert ranks[0]["cases"] == ranks[1]["cases"]  # every rank holds the same summed gradients
    assert ranks[0]["parameters"] == ranks[1]["parameters"]
    assert seconds < 60


def test_a_rank_that_raises_stops_the_other_naming_it(tmp_path):
    started = time.perf_counter()
    rank0, rank1 = _plain_processes(tmp_path, "raises")
    assert time.perf_counter() - started < 30
    assert rank1.returncode != 0 and "rank one broke" in rank1.stderr
    assert rank0.returncode != 0
    found = _read(tmp_path, 0)
    assert found["error"] == PeerFailedError.__name__ and found["failed"] == [1]
    assert "rank 1 failed with ValueError: rank one broke" in found["message"]
    assert found["seconds"] < 5  # far from the timeout of 20 s: the failed rank ended its group, and said why
    for done in (rank0, rank1):
        assert "terminate called" not in done.stderr  # gloo's abort at exit, avoided by ending the group


def test_a_failed_write_on_rank_zero_stops_the_others_and_leaves_no_file(tmp_path):
    rank0, rank1 = _plain_processes(tmp_path, "write fails")
    assert rank0.returncode != 0 and "OSError: disk full" in rank0.stderr
    found = _read(tmp_path, 1)
    assert rank1.returncode != 0 and found["error"] == "PeerFailedError" and found["failed"] == [0]
    assert not (tmp_path / "model.txt").exists()
    assert not list(tmp_path.glob(".model.txt.*"))  # nor a temporary file left behind


def test_a_rank_that_dies_under_torchrun_is_named_and_no_model_is_written(tmp_path):
    done = _torchrun(tmp_path, "dies")
    assert done.returncode != 0
    root = done.stderr.split("Root Cause", 1)[-1]
    assert "rank      : 1 (local_rank: 1)" in root and "exitcode  : 7" in root
    assert not (tmp_path / "model.txt").exists()


def test_a_silent_rank_turns_into_an_error_after_the_timeout():
    # Spawned with torch.multiprocessing: rank 1 sleeps instead of joining the all-reduce; rank 0 gives
    # up after the group's timeout with a PeerFailedError, and spawn then ends rank 1.
    started = time.perf_counter()
    with pytest.raises(mp.ProcessRaisedException) as raised:
        mp.spawn(_spawned, args=(_free_port(), "hangs"), nprocs=2, join=True)
    seconds = time.perf_counter() - started
    message = str(raised.value)
    assert "PeerFailedError: rank 0 stopped at the all-reduce of a step's gradients" in message
    assert "within the timeout of 0:00:03" in message
    assert TIMEOUT["hangs"] <= seconds < 25


# ---- what the ranks run ----


def _spawned(rank: int, port: int, case: str) -> None:
    """Entry point of a rank started by torch.multiprocessing.spawn: torchrun's environment, then the case."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    _run_case(case, None)


def _run_case(case: str, out: Path | None) -> None:
    world = Distributed.from_environment(timeout=timedelta(seconds=TIMEOUT.get(case, 20.0)))
    started = time.perf_counter()
    try:
        with world.announce_failures():
            found = CASES[case](world, out)
    except Exception as error:
        if out is not None:
            report = {"error": type(error).__name__, "message": str(error), "seconds": time.perf_counter() - started,
                      "failed": list(getattr(error, "failed", []))}
            (out / f"rank{world.rank}.json").write_text(json.dumps(report))
        raise
    if out is not None:
        (out / f"rank{world.rank}.json").write_text(json.dumps(found))
    world.close()


def _gradients(world: Distributed, out: Path) -> dict:
    found = {"world": [world.rank, world.world_size, world.backend], "cases": {}}
    for dtype in (torch.float64, torch.float32):
        for rows in ROWS:
            for road in ("autograd mean", "autograd sum", "fast"):
                found["cases"][f"{road}, {dtype}, {rows} rows"] = _gradient_case(world, road, dtype, rows)
    found["training"] = {road: _fit_difference(world, road) for road in ("fast", "autograd")}
    model, _ = _model(world, torch.float32)
    found["parameters"] = [float(p.detach().double().sum()) for p in model.parameters()]
    with rank_zero_writes(world) as writer:
        if writer:
            atomic_write_text(out / "model.txt", "weights")
    found["file"] = (out / "model.txt").read_text()  # there for every rank once the block ends
    found["decision"] = rank_zero_decides(world.rank == 0, world)
    return found


def _model(world: Distributed, dtype: torch.dtype) -> tuple[BidirectionalAttention, bool]:
    """The same model on every rank (rank 1's weights are moved off, then broadcast_ restores rank 0's),
    and whether its weights are the ones rank 0 started from."""
    torch.manual_seed(0)
    model = BidirectionalAttention(**ARCH).to(dtype).train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))  # every parameter away from its initial value
        reference = [p.clone() for p in model.parameters()]
        if world.rank:
            for p in model.parameters():
                p.add_(1.0)
    broadcast_([*model.parameters(), *model.buffers()], world)
    return model, all(torch.equal(p, q) for p, q in zip(model.parameters(), reference, strict=True))


def _gradient_case(world: Distributed, road: str, dtype: torch.dtype, rows: int) -> dict:
    """How far two ranks' all-reduced gradients are from the one-process gradients of the whole batch."""
    model, same_start = _model(world, dtype)
    x = torch.randint(0, 10, (rows, 6), generator=torch.Generator().manual_seed(1))
    p, P = torch.arange(6), 6
    mine = shard(torch.arange(rows), world)
    if road == "fast":  # the hand-derived step: a summed loss, gradients of the mean over the slots
        step = OnePassGradients(model, length=6, positions=p)

        def masks() -> torch.Tensor:
            torch.manual_seed(3)
            return DropoutMasks(ARCH["dropout"], dtype=dtype, device=torch.device("cpu"))(2, 8, rows, P)  # (2, d, B, P)

        with torch.inference_mode():
            reference_loss, _, grads = step(step.keys(x), x[:, p], masks())
            reference = [grads[name] for name in step.names]
            loss, _, grads = step(step.keys(x[mine.index]), x[mine.index][:, p], masks()[:, :, mine.part])
            grads = [grads[name] for name in step.names]
            loss = all_reduce_gradients_(grads, world, count=mine.count * P, total=rows * P, reduction="mean",
                                         loss_sum=loss)
        without = []
    else:  # autograd, with the module's own dropout drawn from the same stream
        torch.manual_seed(3)
        model.zero_grad(set_to_none=True)
        whole = model.mlm_loss_at(x, p, method="one_pass")
        whole.backward()
        reference_loss = whole.detach() * rows * P
        reference = [q.grad.clone() for q in model.parameters() if q.grad is not None]
        model.zero_grad(set_to_none=True)
        torch.manual_seed(3)
        with shared_dropout(model, world, mine):
            if road == "autograd mean":
                part = model.mlm_loss_at(x[mine.index], p, method="one_pass")  # the mean over this rank's slots
                part.backward()
                loss = all_reduce_module_gradients_(model, world, count=mine.count * P, total=rows * P,
                                                    reduction="mean", loss_sum=part.detach() * mine.count * P)
            else:
                part = model.mlm_loss_at(x[mine.index], p, method="one_pass", reduction="none").sum()
                part.backward()
                loss = all_reduce_module_gradients_(model, world, count=mine.count * P, total=rows * P,
                                                    reduction="sum", loss_sum=part.detach())
        grads = [q.grad for q in model.parameters() if q.grad is not None]
        without = [name for name, q in model.named_parameters() if q.grad is None]
    scale = max(float(r.abs().max()) for r in reference)
    return {
        "dtype": str(dtype),
        "gradient": max(float((g - r).abs().max()) for g, r in zip(grads, reference, strict=True)) / scale,
        "loss": abs(loss - float(reference_loss)) / abs(float(reference_loss)),
        "without gradient": without,
        "same start": same_start,
    }


def _fit(world: Distributed, road: str) -> torch.Tensor:
    """A few epochs of the recipe of docs/distributed.md on either road (float32, dropout, clipping);
    the fitted model's probabilities ``(rows, P, V)``."""
    torch.manual_seed(0)
    model = BidirectionalAttention(**{**ARCH, "d_model": 20, "n_heads": 5, "dropout": 0.1}).train()
    x = torch.randint(0, 10, (97, 6), generator=torch.Generator().manual_seed(1))
    x[:, 5] = x[:, 0]  # something to learn
    p, P, n, batch_size = torch.arange(6), 6, 97, 32  # the last batch of an epoch holds one row
    generator = torch.Generator().manual_seed(0)
    broadcast_([*model.parameters(), *model.buffers()], world)
    step = OnePassGradients(model, length=6, positions=p)
    keys, targets = step.keys(x), x[:, p]
    adam = FusedAdam(step.parameters, lr=1e-2, eps=1e-7)
    masks = DropoutMasks(0.1, dtype=torch.float32, device=torch.device("cpu"))
    optimizer = make_optimizer(model, lr=1e-2, eps=1e-7)
    for _ in range(2):
        order = epoch_order(n, generator)
        for start in range(0, n, batch_size):
            mine = shard(order[start : start + batch_size], world)
            count, total = mine.count * P, mine.rows * P
            if road == "fast":
                with torch.inference_mode():
                    dropout = masks(2, 20, mine.rows, P)[:, :, mine.part]  # (2, d, b, P) of the global draw
                    loss, _, grads = step(keys[mine.index], targets[mine.index], dropout)
                    tensors = [grads[name] for name in step.names]
                    all_reduce_gradients_(tensors, world, count=count, total=total, reduction="mean", loss_sum=loss)
                    clip_gradients_(tensors, 1.0)
                    adam.step(tensors)
            else:
                optimizer.zero_grad(set_to_none=True)
                with shared_dropout(model, world, mine):
                    loss = model.mlm_loss_at(x[mine.index], p)
                loss.backward()
                all_reduce_module_gradients_(model, world, count=count, total=total, reduction="mean",
                                             loss_sum=loss.detach() * count)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
    with torch.no_grad():
        return torch.softmax(model.eval().masked_logits(x), -1)


def _fit_difference(world: Distributed, road: str) -> float:
    """The largest difference between the probabilities of a fit over the ranks and of one in this process alone."""
    return float((_fit(world, road) - _fit(Distributed(), road)).abs().max())


def _raises(world: Distributed, out: Path | None) -> dict:
    if world.rank == 1:
        raise ValueError("rank one broke")
    all_reduce_gradients_([torch.ones(3)], world, count=1, total=2, reduction="sum")
    return {}


def _write_fails(world: Distributed, out: Path) -> dict:
    with rank_zero_writes(world) as writer:
        if writer:
            raise OSError("disk full")
    return {}


def _dies(world: Distributed, out: Path) -> dict:
    all_reduce_gradients_([torch.ones(3)], world, count=1, total=2, reduction="sum")
    if world.rank == 1:
        os._exit(7)  # a crash: no report, no cleanup
    all_reduce_gradients_([torch.ones(3)], world, count=1, total=2, reduction="sum")
    with rank_zero_writes(world) as writer:
        if writer:
            atomic_write_text(out / "model.txt", "weights")
    return {}


def _hangs(world: Distributed, out: Path | None) -> dict:
    if world.rank == 1:
        time.sleep(60)
    all_reduce_gradients_([torch.ones(3)], world, count=1, total=2, reduction="sum")
    return {}


CASES = {"gradients": _gradients, "raises": _raises, "write fails": _write_fails, "dies": _dies, "hangs": _hangs}


if __name__ == "__main__":  # a rank, started by torchrun or by _plain_processes
    torch.set_num_threads(1)
    _run_case(sys.argv[1], Path(sys.argv[2]))
