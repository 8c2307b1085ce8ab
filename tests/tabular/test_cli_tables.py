"""`wordexperts fit / predict / impute / explain` on CSV and Parquet files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wordexperts.cli import main


@pytest.fixture()
def table(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    colour = rng.choice(["red", "green", "blue"], n)
    frame = pd.DataFrame(
        {
            "colour": colour,
            "size": rng.normal(size=n).round(3),
            "noise": rng.choice(list("abcd"), n),
            "label": np.where(colour == "red", "yes", "no"),
        }
    )
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_fit_predict_explain_round_trip(tmp_path, table, capsys):
    frame, path = table
    model = tmp_path / "model.safetensors"
    assert main(["fit", str(path), "--target", "label", "--out", str(model), "--epochs", "60", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "fitted a classification model on 300 rows x 3 columns" in out
    frame.drop(columns="label").to_parquet(tmp_path / "new.parquet")
    assert main(["predict", str(model), str(path), "--out", str(tmp_path / "pred.csv"), "--proba"]) == 0
    assert "accuracy against column 'label'" in capsys.readouterr().out
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["label_predicted", "proba_no", "proba_yes"]
    assert (pred["label_predicted"] == frame["label"]).mean() > 0.95
    assert main(["predict", str(model), str(tmp_path / "new.parquet"), "--out", str(tmp_path / "pred.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "pred.parquet")["label_predicted"].equals(pred["label_predicted"])
    assert main(["explain", str(model), str(path), "--out", str(tmp_path / "why")]) == 0
    out = capsys.readouterr().out
    assert "read mostly from: colour" in out
    assert sorted(p.name for p in (tmp_path / "why").iterdir()) == ["gates.csv", "gates.png", "summary.csv"]
    assert (tmp_path / "why" / "gates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = pd.read_csv(tmp_path / "why" / "summary.csv")
    assert summary.loc[summary["sum"].idxmax(), "column"] == "colour"


def test_fit_regression_and_impute(tmp_path, table, capsys):
    frame, path = table
    regressor = tmp_path / "reg.safetensors"
    assert main(["fit", str(path), "--target", "size", "--out", str(regressor), "--epochs", "5", "--quiet"]) == 0
    assert "fitted a regression model" in capsys.readouterr().out
    holes = frame.copy()
    holes.loc[:29, "label"] = None
    holes.to_csv(tmp_path / "holes.csv", index=False)
    imputer = tmp_path / "imp.safetensors"
    assert main(["fit", str(tmp_path / "holes.csv"), "--task", "impute", "--out", str(imputer), "--epochs", "60", "--quiet"]) == 0
    assert main(["impute", str(imputer), str(tmp_path / "holes.csv"), "--out", str(tmp_path / "filled.csv"), "--rounds", "2"]) == 0
    assert "filled 30 missing cells in 300 rows" in capsys.readouterr().out
    filled = pd.read_csv(tmp_path / "filled.csv")
    assert filled["label"].notna().all()
    assert (filled.loc[:29, "label"] == frame.loc[:29, "label"]).mean() > 0.9


def test_user_mistakes_are_one_line_errors(tmp_path, table, capsys):
    frame, path = table
    model = tmp_path / "model.safetensors"
    assert main(["fit", str(path), "--target", "nope", "--out", str(model)]) == 2
    assert "target column 'nope' is not in" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "absent.csv"), "--target", "label", "--out", str(model)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["fit", str(path), "--target", "label", "--out", str(model), "--epochs", "2", "--quiet"]) == 0
    capsys.readouterr()
    frame.drop(columns=["noise"]).to_csv(tmp_path / "short.csv", index=False)
    # A missing feature column is read as all-missing, with a warning (issue 12), not refused.
    assert main(["predict", str(model), str(tmp_path / "short.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "lacks the model's feature column 'noise'; read as all-missing" in err and "Traceback" not in err
    (tmp_path / "p.csv").unlink()
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    assert main(["predict", str(tmp_path / "bad.safetensors"), str(path), "--out", str(tmp_path / "p.csv")]) == 2
    assert "not a readable wordexperts model file" in capsys.readouterr().err
    assert main(["impute", str(model), str(path), "--out", str(tmp_path / "f.csv")]) == 2
    assert "--task impute" in capsys.readouterr().err
    assert main(["predict", str(model), str(tmp_path / "x.txt"), "--out", str(tmp_path / "p.csv")]) == 2
    assert "unknown table format" in capsys.readouterr().err


def test_duplicate_csv_columns_and_task_inference(tmp_path, capsys):
    (tmp_path / "dup.csv").write_text("a,a,y\n1,2,p\n3,4,q\n")
    assert main(["fit", str(tmp_path / "dup.csv"), "--target", "y", "--out", str(tmp_path / "m.safetensors")]) == 2
    assert "duplicate column names ['a']" in capsys.readouterr().err
    from wordexperts.tabular.tasks import infer_task

    assert infer_task(pd.Series([0.5, 1.5, 2.5] * 10)) == "regression"
    assert infer_task(pd.Series(np.arange(300))) == "regression"
    assert infer_task(pd.Series([1, 2, 3] * 10)) == "classification"
    assert infer_task(pd.Series(["a", "b"] * 10)) == "classification"
    assert infer_task(pd.Series([True, False] * 10)) == "classification"
