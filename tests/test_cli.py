import json
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


def test_bench_masking_quick_writes_its_files(tmp_path, capsys):
    assert main(["bench", "masking", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "masking.json").read_text())
    assert result["rows"] == 500 and result["epochs_timed"] == 2
    report = (tmp_path / "masking.md").read_text()
    assert "one pass (128 rows per step)" in report and "Command:" in report
    assert "faster than the paper's recipe" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masking.json", "masking.md"]  # no temporary left


def test_user_mistakes_get_one_line_and_exit_code_2(capsys):
    assert main(["bench", "masking", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wordexperts bench: error: epochs must be at least 2")
    assert "Traceback" not in err


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


@pytest.mark.parametrize("argv", [["verify", "--rows", "0"], ["bench", "masking", "--batch-size", "-1"]])
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_unwritable_output_fails_before_the_run(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["bench", "masking", "--quick", "--out", str(blocker / "sub")]) == 2
    captured = capsys.readouterr()
    assert "error:" in captured.err and "Paper tabular" not in captured.out
