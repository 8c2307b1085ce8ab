"""What ``wordexperts demo`` shows: the table workflow on a shipped table, then the equivalence.

:func:`run_demo` is the command: on the Palmer penguins it fits a classifier on two seasons
and predicts the third beside two simple baselines, saves and reloads the model file, writes
the explain files, hides cells and fills them beside the column mode / median, then checks
the equivalence (``wordexperts verify``'s grid) in one line. Everything it computes comes from
the functions above it, which return data; only :func:`run_demo` prints.

The table, ``wordexperts/data/penguins.csv`` (344 rows, 8 columns), is the Palmer penguins
data as the ``palmerpenguins`` package 0.1.6 ships it (its ``data/penguins.csv``, unchanged;
"NA" marks a missing cell): size measurements of adult Adelie, Chinstrap and Gentoo penguins
near Palmer Station, Antarctica, 2007-2009, collected and made available by Dr. Kristen Gorman
and the Palmer Station Antarctica LTER (Horst, Hill & Gorman, palmerpenguins R package, 2020;
Gorman, Williams & Fraser, PLoS ONE 9(3): e90081, 2014). Licence: CC0 1.0 (public domain
dedication), in accordance with the Palmer Station LTER Data Policy.

The shift: the model learns ``sex`` from species, island and four measurements on the
2007-2008 seasons (216 penguins with a recorded sex) and is scored on 2009 (117), the
``penguins/year`` task of ``wordexperts bench ood`` trained on all source rows.

The planted copy task below (:func:`copy_task`, :func:`gates_demo`) is the smallest model
whose gates can be read by eye; the tests use it.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .core import BidirectionalAttention, to_experts
from .train import torch_threads, train_mlm

DEFAULT_OUT = "wordexperts-demo"
TARGET = "sex"
SHIFT = "year"  # the column that defines the shift: dropped from the features
SOURCE_YEARS = (2007, 2008)
HIDDEN_FRACTION = 0.15  # of the present cells, hidden and filled by the imputer
SEEDS_SHOWN = 5  # classifier fits whose accuracies the demo shows, to show what a seed moves
BENCH_HINT = 'pip install "wordexperts[bench]"'
WIDTH = 110  # characters per printed line


# ---- the table ----


def penguins() -> pd.DataFrame:
    """The shipped Palmer penguins table (344 x 8; see the module docstring for source and licence)."""
    with resources.files("wordexperts.data").joinpath("penguins.csv").open("rb") as file:
        return pd.read_csv(file)


def shift_split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows with a recorded ``sex``: 2007-2008 (training) and 2009 (test), the ``year`` column dropped."""
    labelled = table.dropna(subset=[TARGET])
    source = labelled[SHIFT].isin(SOURCE_YEARS)
    return (
        labelled[source].drop(columns=[SHIFT]).reset_index(drop=True),
        labelled[~source].drop(columns=[SHIFT]).reset_index(drop=True),
    )


def baseline_accuracies(X: pd.DataFrame, y: pd.Series, X_test: pd.DataFrame, y_test: pd.Series) -> dict[str, float]:
    """Test accuracy of the majority class and of scikit-learn's logistic regression (one-hot
    categories, standardised numbers, missing numbers filled with the training median)."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    encode = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), categorical),
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
    )
    logistic = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(X, y)
    return {
        "logistic regression": float(np.mean(logistic.predict(X_test) == y_test.to_numpy())),
        "majority class": float(np.mean(y_test.to_numpy() == y.mode().iloc[0])),
    }


def hide_cells(table: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``table`` with a random ``fraction`` of its present cells made missing, and the ``(N, C)`` mask of them."""
    hidden = (np.random.default_rng(seed).random(table.shape) < fraction) & table.notna().to_numpy()
    return table.mask(hidden), hidden


def imputation_scores(
    truth: pd.DataFrame, holed: pd.DataFrame, filled: pd.DataFrame, hidden: np.ndarray
) -> pd.DataFrame:
    """Per column, the hidden cells filled by the model against the column's mode (categories:
    share correct) or median (numbers: mean absolute error) over the cells left visible."""
    rows = []
    for j, column in enumerate(truth.columns):
        cells = hidden[:, j]
        true = truth.loc[cells, column]
        if pd.api.types.is_numeric_dtype(truth[column]):
            ours = float(np.mean(np.abs(filled.loc[cells, column].astype(float) - true)))
            baseline = float(np.mean(np.abs(holed[column].median() - true)))
            measure, better = "mean absolute error", ours < baseline
        else:
            ours = float(np.mean(filled.loc[cells, column].astype(object).to_numpy() == true.to_numpy()))
            baseline = float(np.mean(true.to_numpy() == holed[column].mode().iloc[0]))
            measure, better = "share correct", ours > baseline
        rows.append(
            {"column": column, "hidden": int(cells.sum()), "measure": measure, "wordexperts": ours,
             "baseline": baseline, "baseline_is": "median" if measure != "share correct" else "mode", "better": better}
        )  # fmt: skip
    return pd.DataFrame(rows)


def table_workflow(out: str | os.PathLike, *, seed: int = 0, n_threads: int = 1) -> dict:
    """Fit, save and reload, predict, explain and impute on the penguins; write every file to ``out``.

    Returns the numbers and ``files`` (``{name: path}``, in the order written): ``accuracy`` of the
    reloaded model on 2009, ``seed_accuracies`` (seeds ``seed .. seed + 4``), ``baselines``,
    ``fit_seconds``, ``epochs``, ``summary`` (:meth:`explain_summary` on 2009), ``imputation``
    (:func:`imputation_scores`) and the row counts.
    """
    from .files import write_table
    from .tabular import WordExpertsClassifier, WordExpertsImputer, load
    from .tabular.report import write_explanation

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def table(frame: pd.DataFrame, name: str, **kwargs) -> None:
        files[name] = str(write_table(frame, folder / name, **kwargs))

    data = penguins()
    table(data, "penguins.csv")
    train, test = shift_split(data)
    table(train, "train.csv")
    table(test, "test.csv")
    X, y = train.drop(columns=[TARGET]), train[TARGET]
    X_test, y_test = test.drop(columns=[TARGET]), test[TARGET]

    settings = {"n_threads": n_threads}
    model = WordExpertsClassifier(random_state=seed, **settings).fit(X, y)
    files["model.safetensors"] = str(model.save(folder / "model.safetensors"))
    model = load(folder / "model.safetensors")  # what `wordexperts predict` reads
    predicted = model.predict(X_test)
    proba = model.predict_proba(X_test)
    predictions = pd.DataFrame({TARGET: y_test, f"{TARGET}_predicted": predicted})
    for k, label in enumerate(model.classes_):
        predictions[f"proba_{label}"] = proba[:, k]
    table(predictions, "predictions.csv")
    accuracy = float(np.mean(predicted == y_test.to_numpy()))
    others = [
        WordExpertsClassifier(random_state=seed + k, **settings).fit(X, y).score(X_test, y_test)
        for k in range(1, SEEDS_SHOWN)
    ]

    explained = write_explanation(model, X_test, folder / "explain")
    files.update({f"explain/{name}": path for name, path in explained.items()})

    full = data.drop(columns=[SHIFT])
    holed, hidden = hide_cells(full, HIDDEN_FRACTION, seed)
    table(holed, "holes.csv")
    imputer = WordExpertsImputer(random_state=seed, **settings).fit(holed)
    files["imputer.safetensors"] = str(imputer.save(folder / "imputer.safetensors"))
    filled = imputer.transform(holed)
    table(filled, "filled.csv")
    scores = imputation_scores(full, holed, filled, hidden)
    table(scores, "imputation.csv")

    return {
        "files": files,
        "folder": str(folder),
        "rows": {"train": len(train), "test": len(test), "table": len(data)},
        "accuracy": accuracy,
        "seed_accuracies": [accuracy, *map(float, others)],
        "seeds": list(range(seed, seed + SEEDS_SHOWN)),
        "baselines": baseline_accuracies(X, y, X_test, y_test),
        "fit_seconds": float(model.fit_seconds_),
        "epochs": int(model.n_epochs_),
        "summary": model.explain_summary(X_test),
        "target": model.target_name_,
        "imputation": scores,
        "hidden_cells": int(hidden.sum()),
        "imputer_seconds": float(imputer.fit_seconds_),
    }


def equivalence_check(*, seed: int = 0, rows: int = 16, n_threads: int = 1) -> dict:
    """``wordexperts verify``'s grid in numbers: models checked and passed, largest differences."""
    from .verify import verify_equivalence

    with torch_threads(n_threads):
        grid = verify_equivalence(seed=seed, rows=rows)
    return {
        "models": len(grid),
        "passed": int(grid["passed"].sum()),
        "float64": float(grid[["experts_f64", "round_trip_f64"]].max().max()),
        "float32": float(grid[["experts_f32", "round_trip_f32"]].max().max()),
    }


# ---- the command ----


def _shell_steps(folder: str, seed: int) -> list[str]:
    d = folder.rstrip("/")
    seeded = f" --seed {seed}" if seed else ""
    return [
        f"wordexperts fit {d}/train.csv --target {TARGET} --out {d}/model.safetensors{seeded}",
        f"wordexperts predict {d}/model.safetensors {d}/test.csv --out {d}/predictions.csv --proba",
        f"wordexperts explain {d}/model.safetensors {d}/test.csv --out {d}/explain",
        f"wordexperts fit {d}/holes.csv --task impute --out {d}/imputer.safetensors{seeded}",
        f"wordexperts impute {d}/imputer.safetensors {d}/holes.csv --out {d}/filled.csv",
    ]


def run_demo(
    out: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    n_threads: int = 1,
    verify_rows: int = 16,
    then: Callable[[], int] | None = None,
) -> int:
    """``wordexperts demo``: print the table workflow, the equivalence in one line, then ``then``.

    ``out`` is the folder for the demo's files (default ``./wordexperts-demo``, created; files
    of an earlier run are overwritten). ``then`` is the experiments' quick reproductions
    (``wordexperts_bench.cli.extend`` wires them); without it the demo says what to install.
    Returns the exit status: 1 if the equivalence fails, else ``then``'s status (0 without it).
    """
    from .tabular.report import describe_gates

    started = time.perf_counter()
    folder = str(DEFAULT_OUT if out is None else out)
    print(
        "wordexperts reads a table as a sentence: each column a word, each cell to predict or fill a masked word.\n"
        f"The Palmer penguins (shipped with the package; CC0): learn {TARGET!r} from species, island and four body\n"
        f"measurements on {SOURCE_YEARS[0]}-{SOURCE_YEARS[1]}, then predict 2009, a season the model never saw.",
        flush=True,
    )
    result = table_workflow(folder, seed=seed, n_threads=n_threads)
    rows, spread = result["rows"], result["seed_accuracies"]
    print(
        f"\n1. fit: WordExpertsClassifier (the library's defaults) on {rows['train']} penguins: {result['epochs']} "
        f"epochs, early stopping, {result['fit_seconds']:.1f} s; saved and reloaded"
    )
    print(
        f"2. predict 2009 ({rows['test']} penguins): accuracy {result['accuracy']:.3f}; "
        + ", ".join(f"{name} {value:.3f}" for name, value in result["baselines"].items())
    )
    print(
        f"   the same fit with seeds {result['seeds'][0]}-{result['seeds'][-1]}: "
        + " ".join(f"{a:.3f}" for a in spread)
        + f" (mean {np.mean(spread):.3f}; one test penguin is {1 / rows['test']:.3f})"
    )
    print(f"3. explain: the gates of the masked {result['target']!r}, its mixture weights over the columns (2009 rows)")
    for line in describe_gates(result["summary"], result["target"]).split("\n"):
        print(textwrap.fill(line, WIDTH, initial_indent="   ", subsequent_indent="     "))
    scores = result["imputation"]
    print(
        f"4. impute: {result['hidden_cells']} cells hidden at random (about {HIDDEN_FRACTION:.0%} of the present "
        f"ones), an imputer fitted\n   on the table with its holes ({result['imputer_seconds']:.1f} s), "
        "every hole filled and scored against the truth:"
    )
    shown = pd.DataFrame(
        {
            "column": scores["column"],
            "hidden": scores["hidden"],
            "measure": scores["measure"],
            "wordexperts": scores["wordexperts"].map("{:.3g}".format),
            "mode / median": scores["baseline"].map("{:.3g}".format),
        }
    )
    print("   " + shown.to_string(index=False).replace("\n", "\n   "))
    print(f"   better than the column's mode or median on {int(scores['better'].sum())} of {len(scores)} columns")

    equivalence = equivalence_check(seed=seed, rows=verify_rows, n_threads=n_threads)
    failed = equivalence["models"] - equivalence["passed"]
    print(
        f"\nThe equivalence (paper §1): {equivalence['passed']} of {equivalence['models']} architectures agree, "
        f"attention = word experts to {equivalence['float64']:.0e}\n(float64) and {equivalence['float32']:.0e} "
        "(float32)" + (f"; {failed} FAILED" if failed else "") + "; `wordexperts verify` prints the whole grid."
    )
    status = 1 if failed else 0

    written = f"wrote to {folder} (--out DIR for another folder): " + ", ".join(result["files"])
    print("\n" + textwrap.fill(written, WIDTH, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False))
    print("the same steps from the shell (same numbers):\n  " + "\n  ".join(_shell_steps(folder, seed)))
    print(f"(the demo's own part: {time.perf_counter() - started:.0f} s)", flush=True)
    if then is None:
        print(f"\nThe quick reproduction of the paper needs `{BENCH_HINT}`; skipped.")
        return status
    return max(status, then())


# ---- the planted copy task ----


def copy_task(*, rows: int, length: int, vocab_size: int, source: int, target: int, seed: int) -> torch.Tensor:
    """``(rows, length)`` uniform random words with column ``target`` a copy of ``source``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab_size, (rows, length), generator=generator)
    x[:, target] = x[:, source]
    return x


def gates_demo(
    *,
    rows: int = 2000,
    length: int = 6,
    vocab_size: int = 10,
    source: int = 1,
    target: int = 5,
    epochs: int = 30,
    seed: int = 0,
    n_threads: int = 1,
) -> dict:
    """Train on :func:`copy_task` and read the gates of the masked target column.

    Returns the mean gate weight the target puts on each column (held-out rows), the
    held-out accuracy of predicting the target, and the largest difference between the
    trained model's attention and word-experts logits (float32).
    """
    with torch_threads(n_threads):
        torch.manual_seed(seed)
        model = BidirectionalAttention(
            vocab_size=vocab_size, max_len=length, d_model=16, n_heads=1, block="linear", residual=False
        )
        train_x = copy_task(rows=rows, length=length, vocab_size=vocab_size, source=source, target=target, seed=seed)
        test_x = copy_task(rows=rows, length=length, vocab_size=vocab_size, source=source, target=target, seed=seed + 1)
        history = train_mlm(model, train_x, epochs=epochs, batch_size=128, lr=1e-2, positions=[target], seed=seed)
        model.eval()
        with torch.no_grad():
            experts = to_experts(model)
            gates = experts.gates(test_x, position=target)  # (B, 1, L)
            logits = model.masked_logits(test_x, [target])  # (B, 1, V)
            accuracy = float((logits[:, 0].argmax(-1) == test_x[:, target]).float().mean())
            difference = float((experts.masked_logits(test_x, [target]) - logits).abs().max())
    return {
        "source": source,
        "target": target,
        "mean_gates": gates[:, 0].mean(0).tolist(),
        "accuracy": accuracy,
        "chance": 1.0 / vocab_size,
        "final_loss": history.loss[-1],
        "max_logit_difference": difference,
    }
