"""``bench ood``: the quick form end to end, its report's structure and numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wordexperts.cli import main
from wordexperts_bench.ood import (
    QUICK_MODELS,
    QUICK_SEEDS,
    QUICK_TASKS,
    bench_ood,
    default_seeds,
    ood_result,
    paired_against_best_peer,
)
from wordexperts_bench.tables import TASKS, load_task

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("ood")
    assert main(["bench", "ood", "--quick", "--out", str(out)]) == 0
    return out


def test_quick_benchmark_writes_every_file(quick):
    names = {p.name for p in quick.iterdir()}
    assert {
        "report.md", "runs.csv", "summary.csv", "average_rank.csv", "paired.csv", "tasks.csv", "timings.csv",
        "accuracy.png", "id_vs_ood.png", "r2.png", "r2_id_vs_ood.png",
    } <= names  # fmt: skip
    for figure in ("accuracy.png", "id_vs_ood.png", "r2.png", "r2_id_vs_ood.png"):
        assert (quick / figure).read_bytes().startswith(PNG)


def test_quick_benchmark_covers_its_tasks_seeds_and_models(quick):
    runs = pd.read_csv(quick / "runs.csv")
    assert set(runs["task"]) == set(QUICK_TASKS) and set(QUICK_TASKS) < set(TASKS)
    assert {"classification", "regression"} == set(runs["kind"])
    assert len(runs) == len(QUICK_TASKS) * QUICK_SEEDS * len(QUICK_MODELS)
    classification, regression = runs[runs["kind"] == "classification"], runs[runs["kind"] == "regression"]
    for column in ("acc_id", "acc_ood", "logloss_id", "logloss_ood", "fit_seconds"):
        assert classification[column].notna().all(), column
    for column in ("r2_id", "r2_ood", "rmse_id", "rmse_ood", "fit_seconds"):
        assert regression[column].notna().all(), column
    assert regression[["acc_ood", "logloss_ood"]].isna().all().all()
    assert classification[["acc_id", "acc_ood"]].stack().between(0, 1).all()
    assert (regression[["r2_id", "r2_ood"]].stack() <= 1).all()


def test_quick_benchmark_ranks_and_intervals(quick):
    summary = pd.read_csv(quick / "summary.csv")
    for task, part in summary.groupby("task"):
        metric = "r2_ood" if part["kind"].iloc[0] == "regression" else "acc_ood"
        assert part["score_ood"].to_numpy() == pytest.approx(part[metric].to_numpy())
        assert part["rank_ood"].min() == 1, task
        best = part.loc[part["score_ood"].idxmax(), "model"]
        assert part.set_index("model").loc[best, "rank_ood"] == 1
        # the interval brackets the mean
        assert ((part["score_ood_low"] <= part["score_ood"] + 1e-12) | part["score_ood_low"].isna()).all()
    # learnable tasks: a linear model beats predicting the majority class (or the mean) in distribution
    wide = summary.pivot(index="task", columns="model", values="score_id")
    assert (wide["lr"] > wide["majority"]).mean() >= 0.5, wide[["lr", "majority"]]
    regression = summary[summary["kind"] == "regression"].set_index(["task", "model"])["r2_id"]
    assert regression.xs("majority", level="model").abs().max() < 0.05  # the training mean scores about 0
    assert (regression.xs("hgb", level="model") > 0.5).all() and (regression.xs("lr", level="model") > 0).all()
    assert regression.xs("wordexperts-paper", level="model").between(0.0, 1.0).all()


def test_quick_report_says_where_ours_wins_and_loses(quick):
    text = (quick / "report.md").read_text()
    for heading in ("## Tasks", "## OOD score", "## Against the best peer", "## Rank by mean OOD score",
                    "## Where ours wins and where it loses", "## Not run", "## What each model cost"):  # fmt: skip
        assert heading in text
    assert "TabPFN" in text and "Tuning budget: 1" in text and "midwest/state (R²)" in text
    average = pd.read_csv(quick / "average_rank.csv")
    assert set(average["model"]) == set(QUICK_MODELS) and (average["tasks"] == len(QUICK_TASKS)).all()
    assert average["rank_ood"].between(1, len(QUICK_MODELS)).all()
    assert average[["acc_ood", "r2_ood"]].notna().all().all()
    paired = pd.read_csv(quick / "paired.csv")
    assert len(paired) == len(QUICK_TASKS) * len(QUICK_MODELS)
    best = paired[paired["model"] == paired["best_peer"]]
    assert len(best) == len(QUICK_TASKS) and (best["mean_difference"] == 0).all()
    assert not paired["best_peer"].str.startswith("wordexperts").any()
    timings = pd.read_csv(quick / "timings.csv")
    assert set(timings["model"]) == set(QUICK_MODELS) and (timings["fit_seconds_total"] >= 0).all()


def test_a_regression_run_scores_r2_in_and_out_of_distribution():
    result = bench_ood(tasks=["midwest/state"], seeds=[0, 1], models=["majority", "lr"], jobs=1)
    runs = result.runs.set_index(["model", "seed"])
    assert set(result.runs["kind"]) == {"regression"}
    assert runs[["r2_id", "r2_ood", "rmse_id", "rmse_ood"]].notna().all().all()
    # the mean of the training rows: R^2 near 0 in distribution, and no better out of it
    assert abs(runs.loc[("majority", 0), "r2_id"]) < 0.05 and runs.loc[("majority", 0), "r2_ood"] <= 0.01
    assert 0.5 < runs.loc[("lr", 0), "r2_ood"] < 1 and runs.loc[("lr", 0), "r2_id"] > 0.5
    summary = result.summary.set_index("model")
    assert summary.loc["lr", "rank_ood"] == 1 and summary.loc["majority", "rank_ood"] == 2
    paired = result.paired.set_index("model")
    assert paired.loc["majority", "best_peer"] == "lr" and paired.loc["majority", "high"] < 0


def test_paired_differences_against_the_best_peer_by_hand():
    rows = []
    scores = {  # seed -> model -> OOD accuracy
        0: {"wordexperts": 0.80, "lr": 0.70, "hgb": 0.75},
        1: {"wordexperts": 0.78, "lr": 0.74, "hgb": 0.73},
        2: {"wordexperts": 0.72, "lr": 0.72, "hgb": 0.80},
    }
    for seed, by_model in scores.items():
        for model, value in by_model.items():
            rows.append({"tuning": "defaults", "task": "t", "kind": "classification", "model": model, "seed": seed,
                         "acc_ood": value})  # fmt: skip
    paired = paired_against_best_peer(pd.DataFrame(rows)).set_index("model")
    # peers' means: lr 0.72, hgb 0.76 -> hgb is the best peer; ours is never a candidate
    assert set(paired["best_peer"]) == {"hgb"} and paired.loc["hgb", "mean_difference"] == 0
    difference = np.array([0.80 - 0.75, 0.78 - 0.73, 0.72 - 0.80])
    half = stats.t.ppf(0.975, 2) * difference.std(ddof=1) / np.sqrt(3)
    ours = paired.loc["wordexperts"]
    assert ours["mean_difference"] == pytest.approx(difference.mean())
    assert (ours["low"], ours["high"]) == pytest.approx((difference.mean() - half, difference.mean() + half))
    assert (ours["wins"], ours["ties"], ours["losses"], ours["seeds"]) == (2, 0, 1, 3)
    assert ours["metric"] == "acc_ood"


def test_a_regression_task_pairs_on_r2_and_skips_classifiers_only():
    rows = [
        {"tuning": "defaults", "task": "r", "kind": "regression", "model": m, "seed": s, "r2_ood": v}
        for s, values in enumerate([(0.5, 0.2, 0.6), (0.4, 0.3, 0.7)])
        for m, v in zip(["wordexperts-paper", "lr", "rf"], values, strict=True)
    ]
    paired = paired_against_best_peer(pd.DataFrame(rows)).set_index("model")
    assert paired.loc["wordexperts-paper", "best_peer"] == "rf" and paired.loc["rf", "metric"] == "r2_ood"
    assert paired.loc["wordexperts-paper", "mean_difference"] == pytest.approx(-0.2)
    result = bench_ood(tasks=["midwest/state"], seeds=[0], models=["majority", "paper-lr"], jobs=1)
    assert set(result.runs["model"]) == {"majority"} and "paper-lr" in result.skipped
    assert "classifiers" in result.skipped["paper-lr"]


def test_small_tables_get_ten_seeds_and_large_ones_five():
    assert default_seeds("auto-mpg/origin") == 10 and default_seeds("midwest/state") == 10
    assert default_seeds("happiness/year") == 5 and default_seeds("injury/state") == 5
    assert all(default_seeds(name) == (10 if len(load_task(name).frame) < 1000 else 5) for name in TASKS)


def test_optuna_budget_runs_both_tables_when_asked():
    pytest.importorskip("optuna")
    result = bench_ood(
        tasks=["penguins/year"], seeds=[0], models=["majority", "lr"], budget=2, tuner="optuna", with_defaults=True,
        jobs=1,
    )
    assert list(dict.fromkeys(result.runs["tuning"])) == ["defaults", "optuna budget 2"]
    tuned = result.runs[result.runs["tuning"] == "optuna budget 2"].set_index("model")
    assert tuned.loc["lr", "config"] in (0, 1) and tuned.loc["majority", "config"] == 0  # nothing to tune
    from wordexperts_bench.report import ood_markdown

    text = ood_markdown(result)
    assert "Tuning budget: 2, by Optuna" in text and "both tables follow" in text
    assert "## [defaults] OOD score" in text and "## [optuna budget 2] OOD score" in text
    assert set(result.average_rank["tuning"]) == {"defaults", "optuna budget 2"}


def test_tuning_budget_picks_within_the_budget():
    result = bench_ood(tasks=[TASKS[0]], seeds=[0], models=["lr", "lightgbm", "majority"], budget=3, jobs=1)
    runs = result.runs.set_index("model")
    assert runs.loc["lr", "config"] in (0, 1, 2)
    assert runs.loc["majority", "config"] == 0  # one configuration only
    assert set(result.runs["tuning"]) == {"grid budget 3"}
    with pytest.raises(ValueError, match="unknown tuner"):
        bench_ood(tasks=[TASKS[0]], seeds=[0], models=["lr"], budget=2, tuner="random")


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
    again = ood_result(pd.read_csv(quick / "runs.csv"), budget=1, wall_seconds=0.0, jobs=1)
    saved = pd.read_csv(quick / "summary.csv")
    pd.testing.assert_series_equal(again.summary["rank_ood"], saved["rank_ood"], check_dtype=False)
    assert again.summary["score_ood"].to_numpy() == pytest.approx(saved["score_ood"].to_numpy())


def test_an_older_runs_csv_without_kind_or_tuning_still_reports(quick):
    runs = pd.read_csv(quick / "runs.csv")
    old = runs[runs["kind"] == "classification"].drop(columns=["kind", "tuning"])
    result = ood_result(old, budget=1, wall_seconds=1.0, jobs=1)
    assert set(result.summary["kind"]) == {"classification"} and set(result.summary["tuning"]) == {"defaults"}
    assert result.summary["rank_ood"].notna().all()
