"""`wordexperts fit / predict / impute / explain`: columns by name, identifiers, options, and mistakes in CLI words.

Tiny tables and two epochs: these tests check what reaches the model and what the user reads,
not how well it learns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wordexperts.cli import build_parser, main
from wordexperts.tabular import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor, load

FAST = ["--epochs", "2", "--quiet"]


def _frame(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], n)
    return pd.DataFrame(
        {
            "rowid": [f"r{i}" for i in range(n)],
            "colour": colour,
            "size": rng.normal(size=n).round(3),
            "code": rng.choice([1, 2, 3], n),
            "amount": rng.normal(size=n).round(2) * 10,
            "label": np.where(colour == "red", "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A classifier fitted with --id rowid --drop amount, its table and folder."""
    folder = tmp_path_factory.mktemp("cli_columns")
    frame = _frame()
    frame.to_csv(folder / "train.csv", index=False)
    model = folder / "model.safetensors"
    argv = ["fit", str(folder / "train.csv"), "--target", "label", "--id", "rowid", "--drop", "amount"]
    assert main([*argv, "--out", str(model), *FAST]) == 0
    return frame, folder, model


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error: " in lines[0], err
    return lines[0]


# ---- fit: --drop, --id, empty columns, options ----


def test_drop_and_id_leave_the_features(fitted, capsys):
    _, _, model = fitted
    assert list(load(model).feature_names_in_) == ["colour", "size", "code"]


def test_an_unknown_drop_is_an_error_that_suggests_the_name(tmp_path, capsys):
    _frame().to_csv(tmp_path / "t.csv", index=False)
    argv = ["fit", str(tmp_path / "t.csv"), "--target", "label", "--out", str(tmp_path / "m.safetensors"), *FAST]
    assert main([*argv, "--drop", "size", "colr"]) == 2
    line = _one_line_error(capsys)
    assert "--drop column 'colr' is not in t.csv (did you mean 'colour'?)" in line
    assert "'rowid', 'colour', 'size', 'code', 'amount', 'label'" in line  # the columns, listed
    assert not (tmp_path / "m.safetensors").exists()


def test_all_missing_columns_are_left_out_with_a_warning(tmp_path, capsys):
    frame = _frame().assign(empty=np.nan, blank=None)
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(tmp_path / "t.csv"), "--target", "label", "--id", "rowid", "--out", str(model), *FAST]) == 0
    err = capsys.readouterr().err
    assert "warning: t.csv: no values in columns 'empty', 'blank' (every cell missing); left out" in err
    assert "empty" not in load(model).feature_names_in_
    assert (
        main(["fit", str(tmp_path / "t.csv"), "--task", "impute", "--drop", "rowid", "--out", str(model), *FAST]) == 0
    )
    assert "no values in columns 'empty', 'blank'" in capsys.readouterr().err
    assert list(load(model).feature_names_in_) == ["colour", "size", "code", "amount", "label"]


def test_an_identifier_found_by_the_model_is_left_out_with_a_note(tmp_path, capsys):
    _frame().to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(tmp_path / "t.csv"), "--target", "label", "--out", str(model), *FAST]) == 0
    err = capsys.readouterr().err
    assert "note: column 'rowid' looks like a row identifier (80 distinct values in 80 rows)" in err
    assert "--id rowid to carry it into predictions" in err and "id_columns" not in err
    assert "rowid" not in load(model).feature_names_in_


def test_fit_options_reach_the_estimator(tmp_path, capsys):
    _frame().to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.safetensors"
    options = ["--patience", "3", "--validation-fraction", "0.25", "--n-bins", "4", "--categorical", "code"]
    argv = ["fit", str(tmp_path / "t.csv"), "--target", "amount", "--id", "rowid", *options, "--seed", "7"]
    assert main([*argv, "--threads", "2", "--out", str(model), *FAST]) == 0
    assert "fitted a regression model" in capsys.readouterr().out
    fitted = load(model)
    assert isinstance(fitted, WordExpertsRegressor)
    params = fitted.get_params()
    assert (params["patience"], params["validation_fraction"], params["n_bins"]) == (3, 0.25, 4)
    assert (params["categorical"], params["random_state"], params["n_threads"]) == (["code"], 7, 2)
    assert fitted.encoder_.kinds_["code"] == "categorical"
    assert len(fitted.encoder_.bin_edges_["size"]) - 1 == 4  # four quantile bins
    assert build_parser().parse_args([*argv, "--patience", "auto", "--out", "m"]).patience == "auto"


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--validation-fraction", "1.5", "expected a number between 0 and 1"),
        ("--patience", "soon", "expected a positive integer"),
        ("--n-bins", "0", "expected a positive integer"),
    ],
)
def test_bad_option_values_are_usage_errors(flag, value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "t.csv", "--target", "y", "--out", "m", flag, value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


# ---- predict, impute, explain: columns by name ----


def test_predict_matches_columns_by_name_and_carries_the_id(fitted, capsys):
    frame, folder, model = fitted
    assert (
        main(["predict", str(model), str(folder / "train.csv"), "--out", str(folder / "p.csv"), "--id", "rowid"]) == 0
    )
    out, err = capsys.readouterr()
    assert "accuracy against column 'label'" in out  # the target, present, is scored
    assert "note: train.csv: the model does not read column 'amount'; ignored" in err  # not rowid, not label
    plain = pd.read_csv(folder / "p.csv")
    assert list(plain.columns) == ["rowid", "label_predicted"] and plain["rowid"].equals(frame["rowid"])

    shuffled = frame.assign(extra="z")[["code", "extra", "size", "colour", "rowid"]]
    shuffled.to_parquet(folder / "shuffled.parquet")
    assert main(["predict", str(model), str(folder / "shuffled.parquet"), "--out", str(folder / "q.csv")]) == 0
    err = capsys.readouterr().err
    assert "the model does not read columns 'extra', 'rowid'; ignored" in err
    assert pd.read_csv(folder / "q.csv")["label_predicted"].equals(plain["label_predicted"])


def test_a_missing_feature_is_read_as_missing_with_a_warning(fitted, capsys):
    frame, folder, model = fitted
    frame.drop(columns=["size"]).to_csv(folder / "short.csv", index=False)
    assert (
        main(["predict", str(model), str(folder / "short.csv"), "--out", str(folder / "s.csv"), "--id", "rowid"]) == 0
    )
    err = capsys.readouterr().err
    assert "warning: short.csv lacks the model's feature column 'size'; read as all-missing" in err
    expected = load(model).predict(frame[["colour", "size", "code"]].assign(size=np.nan))
    assert (pd.read_csv(folder / "s.csv")["label_predicted"].to_numpy() == expected).all()
    frame[["rowid"]].to_csv(folder / "ids.csv", index=False)
    assert main(["predict", str(model), str(folder / "ids.csv"), "--out", str(folder / "i.csv")]) == 2
    assert "ids.csv has none of the model's feature columns" in _one_line_error(capsys)


def test_impute_matches_by_name_and_passes_other_columns_through(tmp_path, capsys):
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "imp.safetensors"
    argv = ["fit", str(tmp_path / "t.csv"), "--task", "impute", "--id", "rowid", "--drop", "amount"]
    assert main([*argv, "--out", str(model), *FAST]) == 0
    assert "fitted an imputation model on 80 rows x 4 columns" in capsys.readouterr().out
    holes = frame.drop(columns=["code"])[["label", "amount", "rowid", "size", "colour"]].copy()
    holes.loc[:9, "label"] = None
    holes.to_csv(tmp_path / "holes.csv", index=False)
    out = tmp_path / "filled.csv"
    assert main(["impute", str(model), str(tmp_path / "holes.csv"), "--out", str(out), "--id", "rowid"]) == 0
    stdout, err = capsys.readouterr()
    assert "the model does not read column 'amount'; passed through unchanged" in err
    assert "holes.csv lacks the model's feature column 'code'" in err
    assert "filled 90 missing cells in 80 rows" in stdout  # 10 labels and the 80 codes it lacked
    filled = pd.read_csv(out)
    assert list(filled.columns) == ["label", "amount", "rowid", "size", "colour", "code"]
    assert filled["label"].notna().all() and filled["amount"].equals(frame["amount"])
    assert filled["rowid"].equals(frame["rowid"])


def test_explain_names_gate_rows_by_the_id(fitted, capsys):
    frame, folder, model = fitted
    assert main(["explain", str(model), str(folder / "train.csv"), "--out", str(folder / "why"), "--id", "rowid"]) == 0
    assert "note: train.csv: the model does not read column 'amount'" in capsys.readouterr().err
    gates = pd.read_csv(folder / "why" / "gates.csv")
    assert gates.columns[0] == "rowid" and gates["rowid"].equals(frame["rowid"])
    assert main(["explain", str(model), str(folder / "train.csv"), "--out", str(folder / "w"), "--column", "colr"]) == 2
    line = _one_line_error(capsys)
    assert "--column 'colr' is not in the model in" in line and "(did you mean 'colour'?)" in line


# ---- --threads and --seed on every table command ----


@pytest.mark.parametrize("command", ["predict", "impute", "explain"])
def test_every_table_command_takes_threads_and_seed(command):
    args = build_parser().parse_args([command, "m", "d.csv", "--out", "o.csv", "--threads", "3", "--seed", "4"])
    assert (args.threads, args.seed) == (3, 4)


def test_threads_reach_the_model_at_predict_and_explain(fitted, monkeypatch, capsys):
    frame, folder, model = fitted
    seen = []
    predict = WordExpertsClassifier.predict_proba

    def spy(self, X):
        seen.append(self.n_threads)
        return predict(self, X)

    monkeypatch.setattr(WordExpertsClassifier, "predict_proba", spy)
    assert (
        main(["predict", str(model), str(folder / "train.csv"), "--out", str(folder / "t.csv"), "--threads", "2"]) == 0
    )
    assert seen == [2]
    explained = []
    explain = WordExpertsClassifier.explain

    def spy_explain(self, X, **kwargs):
        explained.append(self.n_threads)
        return explain(self, X, **kwargs)

    monkeypatch.setattr(WordExpertsClassifier, "explain", spy_explain)
    argv = ["explain", str(model), str(folder / "train.csv"), "--out", str(folder / "why3"), "--threads", "3"]
    assert main(argv) == 0
    assert set(explained) == {3}


def test_threads_reach_the_imputer(tmp_path, monkeypatch, capsys):
    frame = _frame().drop(columns=["rowid"])
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "imp.safetensors"
    assert main(["fit", str(tmp_path / "t.csv"), "--task", "impute", "--out", str(model), *FAST]) == 0
    seen = []
    transform = WordExpertsImputer.transform

    def spy(self, X):
        seen.append((self.n_threads, self.rounds))
        return transform(self, X)

    monkeypatch.setattr(WordExpertsImputer, "transform", spy)
    argv = ["impute", str(model), str(tmp_path / "t.csv"), "--out", str(tmp_path / "f.csv"), "--threads", "2"]
    assert main([*argv, "--rounds", "2"]) == 0
    assert seen == [(2, 2)]


# ---- mistakes, in the command line's words ----


@pytest.mark.parametrize(
    "options, message",
    [
        (["--target", "lable"], "--target column 'lable' is not in t.csv (did you mean 'label'?)"),
        (["--target", "label", "--id", "rowi"], "--id column 'rowi' is not in t.csv (did you mean 'rowid'?)"),
        (
            ["--target", "label", "--categorical", "cod"],
            "--categorical column 'cod' is not in t.csv (did you mean 'code'?)",
        ),
        (["--target", "LABEL"], "(did you mean 'label'?)"),
        (
            ["--target", "colour", "--task", "regression"],
            "--task regression needs a numeric target, and column 'colour' holds text such as",
        ),
        (
            ["--target", "size", "--task", "classification"],
            "--task classification needs class labels, and target column 'size' holds numbers such as",
        ),
        (
            ["--target", "label", "--task", "impute"],
            "--task impute fills every column and predicts no single target: leave out --target",
        ),
        ([], "--target is required for --task classification/regression: name the column to predict"),
        (["--target", "label", "--drop", "label"], "--drop names the target column 'label'"),
        (["--target", "label", "--id", "label"], "--id names the target column 'label'"),
        (
            ["--target", "amount", "--categorical", "amount"],
            "--categorical names the target 'amount'; to predict it as classes, use --task classification",
        ),
        (
            ["--target", "label", "--drop", "code", "--categorical", "code"],
            "--categorical names column 'code', which --drop leaves out",
        ),
        (
            ["--target", "label", "--preset", "paper", "--patience", "5"],
            "--patience tunes early stopping, which --preset paper does not use",
        ),
        (
            ["--target", "gappy"],
            "target column 'gappy' has 1 missing value(s), the first in data row 4; drop those rows",
        ),
        (["--target", "same"], "target column 'same' holds one class only ('x'); a classifier needs at least 2"),
        (
            [
                "--target",
                "label",
                "--drop",
                "rowid",
                "colour",
                "size",
                "code",
                "amount",
                "gappy",
                "same",
                "textw",
                "weight",
                "negw",
            ],
            "t.csv has no feature column left",
        ),
        (
            ["--target", "label", "--weight", "wieght"],
            "--weight column 'wieght' is not in t.csv (did you mean 'weight'?)",
        ),
        (
            ["--target", "label", "--weight", "negw"],
            "--weight column 'negw' holds -1 in data row 3; row weights must be",
        ),
        (["--target", "label", "--weight", "textw"], "--weight column 'textw' holds text such as 'a'"),
        (
            ["--target", "label", "--weight", "label"],
            "--weight names column 'label', which is also the --target column",
        ),
        (
            ["--target", "amount", "--class-weight", "balanced"],
            "--class-weight balances a classifier's classes, and this fit is a regression; leave out --class-weight",
        ),
    ],
)
def test_fit_mistakes_are_one_line_in_cli_words(tmp_path, capsys, options, message):
    frame = _frame().assign(gappy=1.0, same="x", weight=1.0, negw=1.0, textw="a")
    frame.loc[3, "gappy"] = np.nan
    frame.loc[2, "negw"] = -1.0
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(tmp_path / "t.csv"), *options, "--out", str(model), *FAST]) == 2
    line = _one_line_error(capsys)
    assert message in line
    for python_words in ("WordExperts", "X's", "y has", "column=", "id_columns", "Unknown label type"):
        assert python_words not in line
    assert not model.exists()


def test_regressor_mistakes_at_predict(tmp_path, capsys):
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "reg.safetensors"
    assert (
        main(["fit", str(tmp_path / "t.csv"), "--target", "amount", "--drop", "rowid", "--out", str(model), *FAST]) == 0
    )
    capsys.readouterr()
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(tmp_path / "t.csv"), "--out", str(out), "--proba"]) == 2
    line = _one_line_error(capsys)
    assert "--proba gives class probabilities, and" in line and "holds a regressor" in line
    assert not out.exists()
    assert main(["predict", str(model), str(tmp_path / "t.csv"), "--out", str(tmp_path / "p.txt")]) == 2
    assert "--out" in _one_line_error(capsys)
    assert main(["impute", str(model), str(tmp_path / "t.csv"), "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert "holds a regression model; impute needs one fitted with --task impute" in line
    assert main(["predict", str(model), str(tmp_path / "t.csv"), "--out", str(out), "--id", "rowId"]) == 2
    assert "--id column 'rowId' is not in t.csv (did you mean 'rowid'?)" in _one_line_error(capsys)


def test_weight_and_class_weight_reach_the_fit(tmp_path, monkeypatch, capsys):
    frame = _frame().assign(w=np.tile([0.0, 1.0, 2.0, 1.0], 20))
    frame.to_csv(tmp_path / "t.csv", index=False)
    seen = {}
    fit = WordExpertsClassifier.fit

    def spy(self, X, y, sample_weight=None):
        seen.update(columns=list(X.columns), weights=sample_weight, class_weight=self.class_weight)
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(WordExpertsClassifier, "fit", spy)
    model = tmp_path / "m.safetensors"
    argv = ["fit", str(tmp_path / "t.csv"), "--target", "label", "--id", "rowid", "--weight", "w"]
    assert main([*argv, "--class-weight", "balanced", "--out", str(model), *FAST]) == 0
    assert seen["columns"] == ["colour", "size", "code", "amount"]  # the weights are no feature
    assert np.array_equal(seen["weights"], frame["w"].to_numpy()) and seen["class_weight"] == "balanced"
    assert load(model).get_params()["class_weight"] == "balanced"


def test_predict_interval_for_a_regressor(tmp_path, capsys):
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "reg.safetensors"
    argv = ["fit", str(tmp_path / "t.csv"), "--target", "amount", "--id", "rowid", "--weight", "size"]
    assert main([*argv, "--out", str(model), *FAST]) == 2  # sizes are negative too
    assert "--weight column 'size' holds -" in _one_line_error(capsys)
    assert main([*argv[:-2], "--out", str(model), *FAST]) == 0
    out = tmp_path / "p.csv"
    argv = ["predict", str(model), str(tmp_path / "t.csv"), "--out", str(out), "--id", "rowid"]
    assert main([*argv, "--interval", "0.8"]) == 0
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["rowid", "amount_predicted", "amount_lower", "amount_upper"]
    assert (pred["amount_lower"] <= pred["amount_upper"]).all()
    assert (pred["amount_upper"] - pred["amount_lower"]).min() > 0
    assert main([*argv, "--proba"]) == 2
    assert "use --interval COVERAGE (e.g. --interval 0.9) for a prediction interval" in _one_line_error(capsys)


def test_interval_on_a_classifier_is_an_error(fitted, capsys):
    _, folder, model = fitted
    out = folder / "interval.csv"
    assert main(["predict", str(model), str(folder / "train.csv"), "--out", str(out), "--interval", "0.9"]) == 2
    line = _one_line_error(capsys)
    assert "--interval gives a regressor's prediction interval" in line and "use --proba" in line
    assert not out.exists()


def test_explain_of_an_imputer_asks_for_a_column(tmp_path, capsys):
    _frame().drop(columns=["rowid"]).to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "imp.safetensors"
    assert main(["fit", str(tmp_path / "t.csv"), "--task", "impute", "--out", str(model), *FAST]) == 0
    capsys.readouterr()
    assert main(["explain", str(model), str(tmp_path / "t.csv"), "--out", str(tmp_path / "why")]) == 2
    line = _one_line_error(capsys)
    assert "holds an imputer, which has no target: name the column to explain with --column" in line
    assert "column=" not in line


def test_library_warnings_print_as_one_line(capsys):
    import warnings

    from wordexperts.cli import one_line_warnings

    with one_line_warnings("fit"):
        warnings.warn("something to know", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err == "wordexperts fit: warning: something to know\n"


def test_help_names_the_new_options(capsys):
    for command, flags in {
        "fit": ["--drop", "--id", "--categorical", "--patience", "--validation-fraction", "--n-bins", "--weight"],
        "predict": ["--id", "--threads", "--seed", "--proba", "--interval"],
        "impute": ["--id", "--threads", "--seed"],
        "explain": ["--id", "--threads", "--seed", "--column"],
    }.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert all(flag in text for flag in flags), (command, [f for f in flags if f not in text])


def test_a_table_without_rows_is_an_error(fitted, tmp_path, capsys):
    frame, _, model = fitted
    frame.head(0).to_csv(tmp_path / "header.csv", index=False)
    assert main(["predict", str(model), str(tmp_path / "header.csv"), "--out", str(tmp_path / "p.csv")]) == 2
    assert "header.csv has no data rows (only a header)" in _one_line_error(capsys)
    argv = ["fit", str(tmp_path / "header.csv"), "--target", "label", "--out", str(tmp_path / "m.safetensors")]
    assert main(argv) == 2
    assert "has no data rows" in _one_line_error(capsys)
