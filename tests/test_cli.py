import subprocess
import sys

import pytest
import torch

from wordexperts.cli import main


def test_verify_prints_the_table_and_succeeds(capsys):
    assert main(["verify", "--rows", "4"]) == 0
    out = capsys.readouterr().out
    assert "28 of 28 architectures agree" in out
    assert "experts_f64" in out and "sinusoidal" in out


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "wordexperts", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("wordexperts ")


def test_verify_fails_when_a_case_fails(monkeypatch, capsys):
    from wordexperts import verify as equivalence

    monkeypatch.setitem(equivalence.TOLERANCE, torch.float64, 0.0)  # no float64 case is bit-exact
    assert main(["verify", "--rows", "4"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_verify_fails_on_nan(monkeypatch, capsys):
    from wordexperts import verify as equivalence

    real = equivalence.to_attention

    def broken(experts):
        model = real(experts)
        with torch.no_grad():
            model.head.bias.fill_(float("nan"))
        return model

    monkeypatch.setattr(equivalence, "to_attention", broken)
    assert main(["verify", "--rows", "4"]) == 1
    assert "28 FAILED" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["verify", "--rows", "0"], ["fit", "t.csv", "--out", "m", "--epochs", "-1"]])
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err
