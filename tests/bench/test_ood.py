"""``bench ood``: the quick form end to end, its report's structure and numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from wordexperts.cli import main
from wordexperts_bench.ood import QUICK_MODELS, QUICK_SEEDS, bench_ood
from wordexperts_bench.tables import TASKS

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("ood")
    assert main(["bench", "ood", "--quick", "--out", str(out)]) == 0
    return out


def test_quick_benchmark_writes_every_file(quick):
    names = {p.name for p in quick.iterdir()}
    assert {"report.md", "runs.csv", "summary.csv", "average_rank.csv", "tasks.csv", "accuracy.png", "id_vs_ood.png"} <= names
    assert (quick / "accuracy.png").read_bytes().startswith(PNG)
    assert (quick / "id_vs_ood.png").read_bytes().startswith(PNG)


def test_quick_benchmark_covers_every_task_seed_and_model(quick):
    runs = pd.read_csv(quick / "runs.csv")
    assert len(TASKS) >= 6
    assert set(runs["task"]) == set(TASKS)
    assert len(runs) == len(TASKS) * QUICK_SEEDS * len(QUICK_MODELS)
    for column in ("acc_id", "acc_ood", "logloss_id", "logloss_ood", "fit_seconds"):
        assert runs[column].notna().all(), column
    assert runs[["acc_id", "acc_ood"]].stack().between(0, 1).all()


def test_quick_benchmark_ranks_and_intervals(quick):
    summary = pd.read_csv(quick / "summary.csv")
    for task, part in summary.groupby("task"):
        assert part["rank_ood"].min() == 1, task
        best = part.loc[part["acc_ood"].idxmax(), "model"]
        assert part.set_index("model").loc[best, "rank_ood"] == 1
        # the interval brackets the mean
        assert ((part["acc_ood_low"] <= part["acc_ood"] + 1e-12) | part["acc_ood_low"].isna()).all()
    # learnable tasks: logistic regression beats predicting the majority class in distribution on most
    wide = summary.pivot(index="task", columns="model", values="acc_id")
    assert (wide["lr"] > wide["majority"]).mean() >= 0.5, wide[["lr", "majority"]]


def test_quick_report_says_where_ours_wins_and_loses(quick):
    text = (quick / "report.md").read_text()
    for heading in ("## Tasks", "## OOD accuracy", "## Rank by mean OOD accuracy", "## Where ours wins and where it loses",
                    "## Not run", "## What each model cost"):  # fmt: skip
        assert heading in text
    assert "TabPFN" in text
    average = pd.read_csv(quick / "average_rank.csv")
    assert set(average["model"]) == set(QUICK_MODELS)
    assert average["rank_ood"].between(1, len(QUICK_MODELS)).all()


def test_tuning_budget_picks_within_the_budget():
    result = bench_ood(tasks=[TASKS[0]], seeds=[0], models=["lr", "lightgbm", "majority"], budget=3, jobs=1)
    runs = result.runs.set_index("model")
    assert runs.loc["lr", "config"] in (0, 1, 2)
    assert runs.loc["majority", "config"] == 0  # one configuration only


def test_unknown_task_and_model_are_clear_errors(capsys):
    assert main(["bench", "ood", "--tasks", "no-such-task", "--seeds", "1"]) == 2
    assert "no-such-task" in capsys.readouterr().err
    assert main(["bench", "ood", "--models", "gpt", "--seeds", "1"]) == 2
    assert "unknown model 'gpt'" in capsys.readouterr().err


def test_a_missing_package_is_reported_not_fatal(monkeypatch):
    from wordexperts_bench import peers

    monkeypatch.setattr(peers.Peer, "available", lambda self: "pip install nothing" if self.key == "catboost" else None)
    result = bench_ood(tasks=[TASKS[0]], seeds=[0], models=["majority", "catboost"], jobs=1)
    assert result.missing == {"catboost": "pip install nothing"}
    assert set(result.runs["model"]) == {"majority"}


def test_a_saved_runs_csv_reports_the_same_ranks(quick):
    from wordexperts_bench.ood import ood_result

    again = ood_result(pd.read_csv(quick / "runs.csv"), budget=1, wall_seconds=0.0, jobs=1)
    saved = pd.read_csv(quick / "summary.csv")
    pd.testing.assert_series_equal(again.summary["rank_ood"], saved["rank_ood"], check_dtype=False)
    assert again.summary["acc_ood"].to_numpy() == pytest.approx(saved["acc_ood"].to_numpy())
