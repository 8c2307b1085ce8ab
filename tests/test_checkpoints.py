"""Checkpoints and resume: a run stopped anywhere and resumed takes the uninterrupted run's steps, bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from wordexperts import BidirectionalAttention, ConfigError, WordExpertsClassifier, WordExpertsRegressor
from wordexperts.checkpoints import CHECKPOINT_NAME, Checkpoints, FitInterrupted, parse_every
from wordexperts.errors import ModelFileError
from wordexperts.tabular import load
from wordexperts.train import train_mlm


class Stop(Exception):
    """Stands for a kill: raised from inside training, after some checkpoints were written."""


def members(k: int, **config) -> list[BidirectionalAttention]:
    torch.manual_seed(0)
    return [
        BidirectionalAttention(vocab_size=7, max_len=4, d_model=8, n_heads=2, block="bert", dropout=0.1, **config)
        for _ in range(k)
    ]


def same_weights(a: list, b: list) -> bool:
    return all(
        torch.equal(x, y) for m, n in zip(a, b, strict=True) for x, y in zip(m.state_dict().values(), n.state_dict().values())
    )


TOKENS = torch.randint(0, 7, (203, 4), generator=torch.Generator().manual_seed(1))  # 7 steps of 32 an epoch


@pytest.mark.parametrize(
    "options",
    [{}, {"fast": False}, {"batching": "copies"}, {"row_weights": torch.rand(203, generator=torch.Generator().manual_seed(2))}],
    ids=["fast-road", "autograd", "copies", "row-weights"],
)
@pytest.mark.parametrize("k", [1, 2], ids=["one-model", "two-members"])
@pytest.mark.parametrize("stop_epoch", [1, 2])
def test_resumed_run_equals_the_uninterrupted_run_bitwise(tmp_path, options, k, stop_epoch):
    reference = members(k)
    expected = train_mlm(reference, TOKENS, epochs=4, batch_size=32, n_threads=1, **options)

    def kill(epoch, loss):
        if epoch == stop_epoch:
            raise Stop

    with pytest.raises(Stop):  # the last checkpoint is mid-epoch: every 3 steps of 7 (or 7 * 4 copies)
        train_mlm(members(k), TOKENS, epochs=4, batch_size=32, n_threads=1, callback=kill,
                  checkpoints=Checkpoints(tmp_path, every=3), **options)
    resumed = members(k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = train_mlm(resumed, TOKENS, epochs=4, batch_size=32, n_threads=1,
                            checkpoints=Checkpoints(tmp_path, every=3, resume=True), **options)
    assert history.resumed_from is not None and history.resumed_from["epoch"] <= stop_epoch + 1
    assert same_weights(reference, resumed)
    assert history.loss == expected.loss and history.road == expected.road


def test_resuming_a_different_run_is_refused_naming_what_differs(tmp_path):
    with pytest.raises(Stop):
        train_mlm(members(1), TOKENS, epochs=3, batch_size=32, n_threads=1, callback=lambda e, l: (_ for _ in ()).throw(Stop),
                  checkpoints=Checkpoints(tmp_path, every=2))
    with pytest.raises(ConfigError, match="batch_size differ"):
        train_mlm(members(1), TOKENS, epochs=3, batch_size=16, n_threads=1, checkpoints=Checkpoints(tmp_path, resume=True))
    with pytest.raises(ConfigError, match="the training rows differ"):
        train_mlm(members(1), TOKENS.flip(0), epochs=3, batch_size=32, n_threads=1,
                  checkpoints=Checkpoints(tmp_path, resume=True))
    with pytest.warns(RuntimeWarning, match="2 threads where the checkpoint's run had 1"):
        train_mlm(members(1), TOKENS, epochs=3, batch_size=32, n_threads=2, checkpoints=Checkpoints(tmp_path, resume=True))


def test_resume_without_a_checkpoint_starts_afresh_with_a_warning(tmp_path):
    reference = members(1)
    train_mlm(reference, TOKENS, epochs=2, batch_size=32, n_threads=1)
    model = members(1)
    with pytest.warns(RuntimeWarning, match="no checkpoint in .* yet; training starts from the beginning"):
        history = train_mlm(model, TOKENS, epochs=2, batch_size=32, n_threads=1,
                            checkpoints=Checkpoints(tmp_path / "new", resume=True))
    assert history.resumed_from is None and same_weights(reference, model)
    assert not (tmp_path / "new" / CHECKPOINT_NAME).exists()  # 60 s, the default, had not passed


def test_a_model_file_is_not_a_checkpoint(tmp_path):
    rows = pd.DataFrame({"a": [1, 2, 3, 4] * 5, "b": list("xyzw") * 5})
    WordExpertsClassifier(epochs=1, n_threads=1, random_state=0).fit(rows, [0, 1] * 10).save(tmp_path / CHECKPOINT_NAME)
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        Checkpoints(tmp_path, resume=True).read()


@pytest.mark.parametrize(
    "every, expected",
    [(5, (5, None)), ("5", (5, None)), ("30s", (None, 30.0)), ("0.5m", (None, 30.0)), ("10 steps", (10, None))],
)
def test_checkpoint_every_reads_steps_or_seconds(every, expected):
    assert parse_every(every) == expected


@pytest.mark.parametrize("every", [0, "0", "-3", "soon", "1.5 steps", True, "0s"])
def test_checkpoint_every_refuses_nonsense(every):
    with pytest.raises(ConfigError, match="checkpoint_every"):
        parse_every(every)


def test_resume_needs_a_checkpoint_dir():
    with pytest.raises(ConfigError, match="resume=True needs checkpoint_dir"):
        WordExpertsClassifier().fit(pd.DataFrame({"a": [1, 2]}), [0, 1], resume=True)


def test_ctrl_c_stops_at_a_step_boundary_and_keeps_a_checkpoint(tmp_path, monkeypatch):
    """The first SIGINT is read between steps: the checkpoint it writes resumes to the uninterrupted run."""
    from wordexperts import fast_step

    reference = members(1)
    train_mlm(reference, TOKENS, epochs=3, batch_size=32, n_threads=1)
    step, calls = fast_step.OnePassTraining._step, []

    def interrupted_step(self, *args):
        calls.append(1)
        if len(calls) == 10:  # epoch 2, step 3
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, *args)

    monkeypatch.setattr(fast_step.OnePassTraining, "_step", interrupted_step)
    with pytest.raises(FitInterrupted, match="after epoch 2, step 3 of 7") as stopped:
        train_mlm(members(1), TOKENS, epochs=3, batch_size=32, n_threads=1,
                  checkpoints=Checkpoints(tmp_path, every=1000))
    assert stopped.value.checkpoint == tmp_path / CHECKPOINT_NAME
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    monkeypatch.undo()
    resumed = members(1)
    train_mlm(resumed, TOKENS, epochs=3, batch_size=32, n_threads=1, checkpoints=Checkpoints(tmp_path, resume=True))
    assert same_weights(reference, resumed)


def table(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.integers(0, 5, n), "b": rng.normal(size=n), "c": rng.choice(list("xyz"), n)})
    return X, pd.Series((X.a + (X.b > 0)) % 3, name="y")


@pytest.mark.parametrize("estimator", [WordExpertsClassifier, WordExpertsRegressor])
def test_an_estimator_resumed_predicts_as_the_uninterrupted_fit_bitwise(tmp_path, monkeypatch, estimator):
    X, y = table()
    settings = {"epochs": 6, "n_threads": 1, "random_state": None}
    reference = estimator(**{**settings, "random_state": 5}).fit(X, y)
    validation_loss, calls = estimator._validation_loss, []

    def killed(self, *args, **kwargs):  # dies in the 3rd epoch's validation, after early stopping kept a best
        calls.append(1)
        if len(calls) == 3:
            raise Stop
        return validation_loss(self, *args, **kwargs)

    monkeypatch.setattr(estimator, "_validation_loss", killed)
    with pytest.raises(Stop):
        estimator(**{**settings, "random_state": 5}).fit(X, y, checkpoint_dir=tmp_path, checkpoint_every=4)
    monkeypatch.undo()
    model = estimator(**settings).fit(X, y, checkpoint_dir=tmp_path, checkpoint_every=4, resume=True)  # seed 5 recorded
    predict = reference.predict_proba if estimator is WordExpertsClassifier else reference.predict
    again = model.predict_proba if estimator is WordExpertsClassifier else model.predict
    assert np.array_equal(predict(X), again(X))
    assert model.history_["val_loss"] == reference.history_["val_loss"] and model.best_epoch_ == reference.best_epoch_
    assert model.history_["resumed_from"]["epoch"] <= 3


# ---- the command line, in real processes: SIGKILL and SIGINT ----

CLI_FIT = ["--target", "y", "--epochs", "12", "--patience", "12", "--seed", "3", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def cli_table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    n = 20_000  # 12 epochs of 141 steps: about 3 s of training, so a kill lands mid-way
    frame = pd.DataFrame({c: rng.integers(0, 6, n) for c in "abcde"})
    frame["y"] = (frame.a + frame.b + rng.integers(0, 3, n) > 6).astype(int)
    path = folder / "t.csv"
    frame.to_csv(path, index=False)
    reference = folder / "reference.safetensors"
    done = _cli("fit", str(path), *CLI_FIT, "--out", str(reference))
    assert done.returncode == 0, done.stderr
    return path, frame.drop(columns="y"), load(reference).predict_proba(frame.drop(columns="y"))


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wordexperts", *args], capture_output=True, text=True, **kwargs)


def _start_and_signal(args: list[str], checkpoint, sig: int, *, checkpoints: int = 2) -> subprocess.Popen:
    """Start a fit, wait until it has written a checkpoint ``checkpoints`` times, then send ``sig``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wordexperts", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen, last, deadline = 0, None, time.monotonic() + 120
    while seen < checkpoints and time.monotonic() < deadline and process.poll() is None:
        stamp = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
        if stamp is not None and stamp != last:
            seen, last = seen + 1, stamp
        time.sleep(0.005)
    assert process.poll() is None, "the fit ended before it could be stopped mid-way"
    process.send_signal(sig)
    return process


def test_cli_fit_killed_mid_way_and_resumed_equals_the_uninterrupted_fit(tmp_path, cli_table):
    path, features, expected = cli_table
    out, folder = tmp_path / "m.safetensors", tmp_path / "ck"
    args = ["fit", str(path), *CLI_FIT, "--out", str(out), "--checkpoint-dir", str(folder), "--checkpoint-every", "50"]
    process = _start_and_signal(args, folder / CHECKPOINT_NAME, signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL and not out.exists()
    assert [p.name for p in folder.iterdir()] == [CHECKPOINT_NAME]  # no temporary file left beside it
    done = _cli(*args, "--resume")
    assert done.returncode == 0, done.stderr
    assert "resumed at epoch" in done.stdout
    assert np.array_equal(load(out).predict_proba(features), expected)


def test_cli_ctrl_c_exits_130_in_one_line_and_resumes(tmp_path, cli_table):
    path, features, expected = cli_table
    out, folder = tmp_path / "m.safetensors", tmp_path / "ck"
    args = ["fit", str(path), *CLI_FIT, "--out", str(out), "--checkpoint-dir", str(folder), "--checkpoint-every", "50"]
    process = _start_and_signal(args, folder / CHECKPOINT_NAME, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert "interrupted after epoch" in stderr and "run the same command with --resume" in stderr
    assert not out.exists() and [p.name for p in folder.iterdir()] == [CHECKPOINT_NAME]
    done = _cli(*args, "--resume")
    assert done.returncode == 0, done.stderr
    assert np.array_equal(load(out).predict_proba(features), expected)


def test_cli_ctrl_c_without_checkpoints_says_how_to_keep_one(tmp_path, cli_table):
    path, _, _ = cli_table
    out = tmp_path / "m.safetensors"
    long = [*CLI_FIT, "--epochs", "300", "--patience", "300"]  # about 75 s of training, stopped well before
    process = subprocess.Popen(
        [sys.executable, "-m", "wordexperts", "fit", str(path), *long, "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(6)  # past the imports and the reading (about 3 s), into training
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr and not out.exists()
    assert "interrupted after epoch" in stderr and "no checkpoint was kept (add --checkpoint-dir DIR" in stderr


def test_cli_resume_needs_checkpoint_dir(tmp_path, cli_table):
    done = _cli("fit", str(cli_table[0]), *CLI_FIT, "--out", str(tmp_path / "m"), "--resume")
    assert done.returncode == 2 and "give --checkpoint-dir DIR" in done.stderr


def test_cli_sigterm_keeps_a_checkpoint_and_exits_143(tmp_path, cli_table):
    """What a job scheduler sends before it kills: the fit stops at a step, keeps its checkpoint, says so."""
    path, features, expected = cli_table
    out, folder = tmp_path / "m.safetensors", tmp_path / "ck"
    args = ["fit", str(path), *CLI_FIT, "--out", str(out), "--checkpoint-dir", str(folder), "--checkpoint-every", "50"]
    process = _start_and_signal(args, folder / CHECKPOINT_NAME, signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in stderr
    assert "terminated (SIGTERM) after epoch" in stderr and not out.exists()
    done = _cli(*args, "--resume")
    assert done.returncode == 0, done.stderr
    assert np.array_equal(load(out).predict_proba(features), expected)
