"""Command line: argument parsing and printing only.

The user's commands live here (``verify``, ``demo``, ``fit``, ``predict``, ``impute``,
``explain``, ``analogy eval``); the experiments' commands (``bench``, ``reproduce``,
``analogy train|theory``) are added by :func:`wordexperts_bench.cli.extend`, the one place
where the library reaches into the experiments package. Nothing heavy (torch, pandas) is
imported before a command runs, so ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .checks import check_positive_int

TASKS = ("classification", "regression", "impute")


def positive_int(text: str) -> int:
    """argparse type: an int >= 1, or a usage error that says so."""
    try:
        return check_positive_int("value", int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None


def command_line(default: str | None = None) -> str | None:
    """The command as typed, for reports (``default`` when run without arguments, e.g. from Python)."""
    return "wordexperts " + " ".join(sys.argv[1:]) if sys.argv[1:] else default


def add_seed_threads(parser: argparse.ArgumentParser, threads: int = 1) -> None:
    """``--seed`` and ``--threads``, the options every command that trains or predicts takes."""
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=positive_int, default=threads, help=f"torch threads (default {threads})")


def print_written(paths: dict[str, str]) -> None:
    """One line naming the files a report wrote (:func:`~wordexperts.reporting.write_report`) and their folder."""
    print(f"\nwrote {', '.join(sorted(paths))} to {Path(next(iter(paths.values()))).parent}")


# ---- the equivalence ----


def _verify(args: argparse.Namespace) -> int:
    from .train import torch_threads
    from .verify import ONE_PASS_TOLERANCE, TOLERANCE, verify_equivalence

    with torch_threads(args.threads):
        table = verify_equivalence(seed=args.seed, rows=args.rows)
    print("Attention vs word experts: largest |logit difference| over every row and masked position")
    f64, f32 = TOLERANCE.values()
    print(
        f"(tolerances: float64 {f64:.0e}, float32 {f32:.0e}, one pass vs expansion float32 {ONE_PASS_TOLERANCE:.0e})\n"
    )
    formatters = {c: "{:.1e}".format for c in table.columns if table[c].dtype.kind == "f"}
    print(table.to_string(index=False, formatters=formatters, na_rep="-"))
    failed = int((~table["passed"]).sum())
    print(f"\n{len(table) - failed} of {len(table)} architectures agree" + (f"; {failed} FAILED" if failed else ""))
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import gates_demo

    status = _verify(args)
    print("\nThe mixture-of-experts view of a trained model: rows of 6 random words, column 5 a copy of column 1.")
    result = gates_demo(seed=args.seed, n_threads=args.threads)
    gates = "  ".join(f"col {j}: {g:.3f}" for j, g in enumerate(result["mean_gates"]))
    print(f"Mean gate weight of masked column {result['target']} on each column (held-out rows):\n  {gates}")
    print(
        f"Held-out accuracy on column {result['target']}: {result['accuracy']:.3f} (chance {result['chance']:.3f}); "
        f"attention vs word-experts logits after training: {result['max_logit_difference']:.1e}"
    )
    then = getattr(args, "then", None)  # the experiments' quick reproductions (wordexperts_bench.cli.extend)
    return max(status, then(args)) if then else status


# ---- tables: fit, predict, impute, explain ----


def _fit(args: argparse.Namespace) -> int:
    from .files import read_table
    from .tabular import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor
    from .tabular.tasks import infer_task

    table = read_table(args.data)
    task = args.task
    if task != "impute":
        if args.target is None:
            raise ValueError(f"--target is required for --task {task or 'classification/regression'}")
        if args.target not in table.columns:
            raise ValueError(f"target column {args.target!r} is not in {args.data} (columns: {list(table.columns)})")
        task = task or infer_task(table[args.target])
    settings = {
        "preset": args.preset,
        "epochs": args.epochs,
        "random_state": args.seed,
        "n_threads": args.threads,
        "device": args.device,
        "progress": not args.quiet,
    }
    if task == "impute":
        model = WordExpertsImputer(**settings).fit(table)
    else:
        cls = WordExpertsRegressor if task == "regression" else WordExpertsClassifier
        model = cls(**settings).fit(table.drop(columns=[args.target]), table[args.target])
    model.save(args.out)
    stopped = f", best epoch {model.best_epoch_}" if model.history_["val_loss"] else ""
    print(
        f"fitted a {task} model on {len(table)} rows x {model.n_features_in_} columns "
        f"({model.n_epochs_} epochs{stopped}, {model.fit_seconds_:.1f} s, final training loss "
        f"{model.history_['loss'][-1]:.4f}); wrote {args.out}"
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from .files import read_table, write_table
    from .tabular import load
    from .tabular.tasks import prediction_score

    model = load(args.model)
    if not hasattr(model, "predict"):
        raise ValueError(f"{args.model} holds an imputer; use `wordexperts impute`")
    table = read_table(args.data)
    target = model.target_name_
    truth = table.pop(target) if target in table.columns else None
    out = pd.DataFrame({f"{target}_predicted": model.predict(table)}, index=table.index)
    if args.proba and hasattr(model, "predict_proba"):
        proba = model.predict_proba(table)
        for k, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, k]
    score = prediction_score(model, out.iloc[:, 0], truth)  # scored before anything is written
    write_table(out, args.out)
    scored = ""
    if score:
        name, value = score
        scored = f" ({name} against column {target!r}: {value:{'.4f' if name == 'accuracy' else '.4g'}})"
    print(f"predicted {len(out)} rows; wrote {args.out}{scored}")
    return 0


def _impute(args: argparse.Namespace) -> int:
    from .files import read_table, write_table
    from .tabular import load

    model = load(args.model)
    if not hasattr(model, "transform"):
        raise ValueError(f"{args.model} holds a {type(model).__name__}; fit one with `--task impute` to impute")
    model.set_params(rounds=args.rounds)
    table = read_table(args.data)
    filled = model.transform(table)
    write_table(filled, args.out)
    print(f"filled {int(table.isna().to_numpy().sum())} missing cells in {len(table)} rows; wrote {args.out}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from .files import read_table
    from .tabular import load
    from .tabular.report import top_columns, write_explanation

    model = load(args.model)
    table = read_table(args.data)
    target = getattr(model, "target_name_", None)
    if target is not None and target in table.columns:
        table = table.drop(columns=[target])
    paths = write_explanation(model, table, args.out, column=args.column, rows=args.rows)
    summary = model.explain_summary(table, column=args.column)
    print(f"mean gate weight of the masked {args.column or target!r} on each column, per head and summed:")
    print(summary.to_string(float_format="{:.3f}".format))
    top = ", ".join(f"{name} {value:.2f}" for name, value in top_columns(summary, 3, masked=args.column or target))
    print(f"\nread mostly from: {top}\nwrote {', '.join(paths.values())}")
    return 0


# ---- word analogies ----


def _analogy_eval(args: argparse.Namespace) -> int:
    from .analogy.evaluate import answerable_intersection, bert_whole_word_filter, evaluate_analogies, read_questions
    from .analogy.report import write_eval_report
    from .data.pretrained import load_glove50, load_minilm, load_word2vec_file

    questions = read_questions(args.questions)
    results = {}
    for source in args.embeddings:
        if source == "minilm":
            matrix, words = load_minilm()
            name = "MiniLM-L6 input embeddings"
            candidates = bert_whole_word_filter(words) if args.protocol == "paper" else None
        elif source == "glove50":
            (matrix, words), name, candidates = load_glove50(), "GloVe 6B 50d", None
        else:
            (matrix, words), name, candidates = load_word2vec_file(source), Path(source).name, None
        results[name] = evaluate_analogies(
            matrix,
            words,
            questions,
            protocol=args.protocol,
            method=args.method,
            restrict_vocab=args.restrict_vocab,
            candidates=candidates,
        )
    if len(results) > 1 and not args.no_intersect:
        ids = answerable_intersection(*results.values())
        results = {name: result.subset(ids) for name, result in results.items()}
    for name, result in results.items():
        print(f"{name} ({args.protocol} protocol, {args.method}):")
        shown = result.summary.loc[["semantic", "syntactic", "all"], ["answered", "correct", "accuracy", "mean_cos"]]
        print(shown.to_string(float_format="{:.4f}".format))
    if args.out:
        print_written(write_eval_report(results, args.out, command=command_line()))
    return 0


# ---- the parser ----


def _add_verify(commands) -> None:
    verify = commands.add_parser("verify", help="check attention = word experts over a grid of random models")
    add_seed_threads(verify)
    verify.add_argument("--rows", type=positive_int, default=16, help="random rows per model (default 16)")
    verify.set_defaults(run=_verify)


def _add_demo(commands) -> None:
    demo = commands.add_parser("demo", help="the main job: verify the equivalence, then show a trained model's gates")
    add_seed_threads(demo)
    demo.add_argument("--rows", type=positive_int, default=16, help=argparse.SUPPRESS)
    demo.set_defaults(run=_demo)


def _add_tables(commands) -> None:
    fit = commands.add_parser("fit", help="fit a classifier, regressor or imputer on a CSV/Parquet table")
    fit.add_argument("data", help="training table (.csv or .parquet)")
    fit.add_argument("--target", help="the column to predict (not needed with --task impute)")
    fit.add_argument(
        "--task",
        choices=TASKS,
        help="default: classification for text, bool or up to 20 distinct integers; regression otherwise",
    )
    fit.add_argument("--out", required=True, help="model file to write (safetensors)")
    fit.add_argument("--preset", choices=["paper"], help="paper.md's architecture and training (default: ours)")
    fit.add_argument("--epochs", type=positive_int, help="training epochs (most epochs, with early stopping)")
    fit.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="default cpu")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    add_seed_threads(fit)
    fit.set_defaults(run=_fit)

    predict = commands.add_parser("predict", help="predict the target of a table with a fitted model")
    predict.add_argument("model", help="model file written by `wordexperts fit`")
    predict.add_argument("data", help="table (.csv or .parquet); a target column, if present, is scored")
    predict.add_argument("--out", required=True, help="predictions to write (.csv or .parquet)")
    predict.add_argument("--proba", action="store_true", help="also write class probabilities")
    predict.set_defaults(run=_predict)

    impute = commands.add_parser("impute", help="fill the missing cells of a table with a fitted imputer")
    impute.add_argument("model", help="model file written by `wordexperts fit --task impute`")
    impute.add_argument("data", help="table with missing cells (.csv or .parquet)")
    impute.add_argument("--out", required=True, help="filled table to write (.csv or .parquet)")
    impute.add_argument("--rounds", type=positive_int, default=1, help="rounds of refilling (default 1)")
    impute.set_defaults(run=_impute)

    explain = commands.add_parser("explain", help="gate weights per row and column, as CSV and a PNG heatmap")
    explain.add_argument("model", help="model file written by `wordexperts fit`")
    explain.add_argument("data", help="table (.csv or .parquet)")
    explain.add_argument("--out", required=True, help="folder for gates.csv, summary.csv, gates.png")
    explain.add_argument("--column", help="column whose gates to show (default: the target; required for an imputer)")
    explain.add_argument("--rows", type=positive_int, default=50, help="rows in the per-row heatmap (default 50)")
    explain.set_defaults(run=_explain)


def _add_analogy(commands):
    analogy = commands.add_parser("analogy", help="linear word analogies (paper.md §3)")
    analogies = analogy.add_subparsers(dest="analogy", required=True, metavar="TASK")
    evaluate = analogies.add_parser("eval", help="score embeddings on the Google analogy set")
    evaluate.add_argument(
        "--embeddings",
        action="append",
        required=True,
        metavar="minilm|glove50|PATH",
        help="repeatable; PATH: word2vec text (.txt/.vec, GloVe's header-less text too) or binary (.bin)",
    )
    evaluate.add_argument(
        "--protocol",
        choices=["paper", "gensim"],
        default="paper",
        help="paper: raw vectors, whole vocabulary (MiniLM: the BERT whole-word filter); "
        "gensim: unit vectors, restrict_vocab, case-insensitive (default paper)",
    )
    evaluate.add_argument("--method", choices=["3cosadd", "3cosmul"], default="3cosadd")
    evaluate.add_argument("--restrict-vocab", type=positive_int, help="search the N most frequent words only")
    evaluate.add_argument("--questions", help="analogy file in the Google format (default: gensim's questions-words.txt)")
    evaluate.add_argument(
        "--no-intersect",
        action="store_true",
        help="with several embeddings: each on all it can answer, not the common questions",
    )
    evaluate.add_argument("--out", help="folder for report.md, results.csv, accuracy.png")
    evaluate.set_defaults(run=_analogy_eval)
    return analogies


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the user's commands, then the experiments' (when that package is present)."""
    parser = argparse.ArgumentParser(
        prog="wordexperts",
        description="Bidirectional attention as a mixture of continuous word experts (Wibisono & Wang, UAI 2023).",
    )
    parser.add_argument("--version", action="version", version=f"wordexperts {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_verify(commands)
    _add_demo(commands)
    _add_tables(commands)
    analogies = _add_analogy(commands)
    if importlib.util.find_spec("wordexperts_bench") is not None:  # the one hook (absent from a trimmed install)
        from wordexperts_bench.cli import extend

        extend(commands=commands, analogies=analogies)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except (ValueError, TypeError, OSError, ImportError) as error:  # user mistakes, paths, missing extras: one line
        print(f"wordexperts {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
