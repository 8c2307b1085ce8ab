import json
import subprocess
import sys

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
