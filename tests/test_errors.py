"""Errors by kind (issue 14, item 2): what the user can fix is a WordExpertsError and one line with
exit 2; anything else is a bug, said to be one, with exit 1 and the traceback on request."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import wordexperts
from wordexperts import errors, files
from wordexperts.cli import DEBUG_VARIABLE, main
from wordexperts.errors import (
    ConfigError,
    ConfigTypeError,
    DataError,
    DataTypeError,
    MissingExtraError,
    ModelFileError,
    WordExpertsError,
)

# ---- the hierarchy ----


@pytest.mark.parametrize(
    ("kind", "builtin"),
    [
        (ModelFileError, ValueError),
        (DataError, ValueError),
        (DataTypeError, TypeError),
        (ConfigError, ValueError),
        (ConfigTypeError, TypeError),
        (MissingExtraError, ImportError),
    ],
)
def test_every_kind_is_a_wordexperts_error_and_keeps_its_builtin_base(kind, builtin):
    assert issubclass(kind, WordExpertsError) and issubclass(kind, builtin)
    assert issubclass(WordExpertsError, Exception) and not issubclass(WordExpertsError, (ValueError, TypeError))


def test_type_kinds_are_caught_with_their_family():
    assert issubclass(DataTypeError, DataError) and issubclass(ConfigTypeError, ConfigError)


def test_the_kinds_are_exported_and_model_file_error_stays_in_files():
    for name in errors.__all__:
        assert name in wordexperts.__all__ and getattr(wordexperts, name) is getattr(errors, name)
    assert files.ModelFileError is ModelFileError
    from wordexperts.files import ModelFileError as from_files  # the old import path

    assert from_files is ModelFileError


def test_importing_the_errors_costs_no_torch():
    script = "import sys, wordexperts.errors, wordexperts.cli; assert 'torch' not in sys.modules, 'torch'"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


# ---- the library raises them, and callers that catch the builtin still catch them ----


def test_library_raise_sites_use_the_kinds(tmp_path):
    from scipy import sparse

    from wordexperts.checks import check_positive_int
    from wordexperts.tabular import WordExpertsClassifier, load
    from wordexperts.tabular.encoding import TableEncoder, as_frame

    with pytest.raises(ConfigError, match="epochs must be a positive int"):
        check_positive_int("epochs", 0)
    with pytest.raises(DataTypeError, match="sparse"):
        as_frame(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(TypeError, match="sparse"):  # what scikit-learn's checks catch
        as_frame(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(DataError, match="empty"):
        as_frame([])
    with pytest.raises(ConfigTypeError, match="categorical must be a list"):
        TableEncoder(categorical="a").fit(pd.DataFrame({"a": [1, 2]}))
    with pytest.raises(ConfigError, match="preset must be one of"):
        WordExpertsClassifier(preset="nope").fit(pd.DataFrame({"a": [1, 2]}), [0, 1])
    with pytest.raises(DataError, match="only one class"):
        WordExpertsClassifier(epochs=1).fit(pd.DataFrame({"a": [1, 2]}), [0, 0])
    garbage = tmp_path / "model.safetensors"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a readable wordexperts model file"):
        load(garbage)
    with pytest.raises(DataError, match="unknown table format"):
        files.read_table(tmp_path / "table.xlsx")


# ---- the command line ----


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"colour": ["red", "blue"] * 10, "size": np.arange(20.0), "label": ["a", "b"] * 10}).to_csv(
        path, index=False
    )
    return path


def _fit_argv(table, tmp_path) -> list[str]:
    return ["fit", str(table), "--target", "label", "--out", str(tmp_path / "m.safetensors"), "--quiet"]


def _break_read_table(monkeypatch, error: BaseException) -> None:
    def broken(path):
        raise error

    monkeypatch.setattr(files, "read_table", broken)


def test_a_bug_exits_1_with_one_line_that_says_so(monkeypatch, capsys, table, tmp_path):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    _break_read_table(monkeypatch, TypeError("unsupported operand type(s) for +: 'int' and 'str'"))
    assert main(_fit_argv(table, tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("wordexperts fit: error: this looks like a bug in wordexperts")
    assert wordexperts.__version__ in err and "TypeError: unsupported operand type(s)" in err
    assert "report it to" in err and "--debug" in err and f"{DEBUG_VARIABLE}=1" in err


def test_a_bare_value_error_from_inside_is_a_bug_too(monkeypatch, capsys, table, tmp_path):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    _break_read_table(monkeypatch, ValueError("operands could not be broadcast together"))
    assert main(_fit_argv(table, tmp_path)) == 1
    assert "looks like a bug" in capsys.readouterr().err


def test_a_bug_deep_in_fitting_is_a_bug(monkeypatch, capsys, table, tmp_path):
    from wordexperts.tabular.encoding import TableEncoder

    def broken(self, X, y=None):
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    monkeypatch.setattr(TableEncoder, "fit", broken)
    assert main(_fit_argv(table, tmp_path)) == 1
    err = capsys.readouterr().err
    assert "looks like a bug" in err and "'NoneType' object is not subscriptable" in err
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_lets_the_traceback_through(monkeypatch, table, tmp_path, where):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    _break_read_table(monkeypatch, TypeError("injected"))
    argv = ["--debug", *_fit_argv(table, tmp_path)] if where == "before" else [*_fit_argv(table, tmp_path), "--debug"]
    with pytest.raises(TypeError, match="injected"):
        main(argv)


def test_the_environment_variable_lets_the_traceback_through(monkeypatch, table, tmp_path):
    monkeypatch.setenv(DEBUG_VARIABLE, "1")
    _break_read_table(monkeypatch, TypeError("injected"))
    with pytest.raises(TypeError, match="injected"):
        main(_fit_argv(table, tmp_path))
    monkeypatch.setenv(DEBUG_VARIABLE, "0")  # "0" means off
    assert main(_fit_argv(table, tmp_path)) == 1


def test_a_user_mistake_exits_2_with_one_line(monkeypatch, capsys, table, tmp_path):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    argv = ["fit", str(table), "--target", "lable", "--out", str(tmp_path / "m.safetensors")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "bug" not in err
    assert err.startswith("wordexperts fit: error: --target column 'lable' is not in train.csv (did you mean 'label'?)")


def test_a_user_mistake_under_debug_shows_where_it_was_raised(monkeypatch, table, tmp_path):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    with pytest.raises(DataError, match="'lable' is not in"):
        main(["--debug", "fit", str(table), "--target", "lable", "--out", str(tmp_path / "m.safetensors")])


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (FileNotFoundError("data file 'x.csv' does not exist"), "does not exist"),
        (PermissionError(13, "Permission denied", "x.csv"), "Permission denied"),
        (MissingExtraError("the package 'gensim' is not installed; pip install gensim"), "pip install gensim"),
        (ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow"), "'pyarrow', which is not installed"),
        (ModelFileError("'m.safetensors' has been altered"), "has been altered"),
    ],
)
def test_files_and_missing_packages_are_user_errors(monkeypatch, capsys, table, tmp_path, error, shown):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    _break_read_table(monkeypatch, error)
    assert main(_fit_argv(table, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and shown in err and "bug" not in err


def test_a_missing_module_of_wordexperts_itself_is_a_bug(monkeypatch, capsys, table, tmp_path):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    _break_read_table(monkeypatch, ModuleNotFoundError("No module named 'wordexperts.gone'", name="wordexperts.gone"))
    assert main(_fit_argv(table, tmp_path)) == 1
    assert "looks like a bug" in capsys.readouterr().err


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys, table, tmp_path):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    _break_read_table(monkeypatch, KeyboardInterrupt())
    assert main(_fit_argv(table, tmp_path)) == 130
    err = capsys.readouterr().err
    assert err == "wordexperts fit: interrupted\n"


def test_usage_errors_still_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit"])
    assert exit_.value.code == 2 and "required" in capsys.readouterr().err


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", code]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)


def test_the_real_process_exit_codes(table, tmp_path):
    """Through a real interpreter: an injected TypeError exits 1 and says so; with the variable, Python's
    traceback (exit 1 too, from the uncaught exception)."""
    code = (
        "import sys\n"
        "import wordexperts.files as files\n"
        "def broken(path):\n"
        "    raise TypeError('injected bug')\n"
        "files.read_table = broken\n"
        "from wordexperts.cli import main\n"
        f"sys.exit(main({_fit_argv(table, tmp_path)!r}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != DEBUG_VARIABLE}
    done = _run(code, env)
    assert done.returncode == 1 and "looks like a bug" in done.stderr and "Traceback" not in done.stderr
    done = _run(code, {**env, DEBUG_VARIABLE: "1"})
    assert done.returncode == 1 and "Traceback" in done.stderr and "TypeError: injected bug" in done.stderr
    mistake = f"import sys\nfrom wordexperts.cli import main\nsys.exit(main({['fit', str(table), '--out', 'x']!r}))\n"
    done = _run(mistake, env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--target is required" in done.stderr
