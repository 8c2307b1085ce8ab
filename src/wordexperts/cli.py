"""Command line: argument parsing and printing only.

The user's commands live here (``verify``, ``demo``, ``fit``, ``predict``, ``impute``,
``explain``, ``analogy eval``); the experiments' commands (``bench``, ``reproduce``,
``analogy train|theory``) are added by :func:`wordexperts_bench.cli.extend`, the one place
where the library reaches into the experiments package. Nothing heavy (torch, pandas) is
imported before a command runs, so ``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import __version__
from .checks import check_positive_int
from .errors import ConfigError, DataError, WordExpertsError

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


def patience(text: str) -> int | str:
    """argparse type: an int >= 1 or ``auto`` (early stopping's patience)."""
    return text if text == "auto" else positive_int(text)


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (both excluded), got {text!r}")
    return value


def add_seed_threads(parser: argparse.ArgumentParser, threads: int = 1, *, seed_help: str = "default 0") -> None:
    """``--seed`` and ``--threads``, the options every command that trains or predicts takes."""
    parser.add_argument("--seed", type=int, default=0, help=f"random seed ({seed_help})")
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
    from .demo import run_demo

    then = getattr(args, "then", None)  # the experiments' quick reproductions (wordexperts_bench.cli.extend)
    return run_demo(
        args.out,
        seed=args.seed,
        n_threads=args.threads,
        verify_rows=args.rows,
        then=(lambda: then(args)) if then else None,
    )


# ---- tables: fit, predict, impute, explain ----


def _tell(args: argparse.Namespace, kind: str, text: str) -> None:
    """A note or a warning for the user: one line on stderr, named after the command."""
    print(f"wordexperts {args.command}: {kind}: {text}", file=sys.stderr)


def _columns_word(names: list[str]) -> str:
    from .tabular.columns import listing

    return f"column {listing(names)}" if len(names) == 1 else f"columns {listing(names)}"


def _check_out_table(path: str) -> None:
    """A predictions or filled table goes to .csv or .parquet: said before any work is done."""
    from .files import TABLE_FORMATS

    if Path(path).suffix.lower() not in TABLE_FORMATS:
        raise ConfigError(f"--out {path!r}: unknown table format {Path(path).suffix!r}; use .csv or .parquet")


def _streamed(args: argparse.Namespace):
    """``args.data`` as a pyarrow dataset to stream, where it is a folder or a Parquet file of more rows
    than the encoder's sample (``stream.SAMPLE_ROWS``); ``None`` for a table to read whole."""
    path = Path(args.data)
    if not path.is_dir() and path.suffix.lower() not in (".parquet", ".pq"):
        return None
    from .tabular import stream

    dataset = stream.open_dataset(path)
    return dataset if path.is_dir() or dataset.count_rows() > stream.SAMPLE_ROWS else None


def _read_data(args: argparse.Namespace):
    """``args.data`` as a frame with string column names (Parquet may use numbers), and at least one row."""
    from .files import read_table

    table = read_table(args.data)
    table.columns = [str(c) for c in table.columns]
    if len(table) == 0:
        raise DataError(f"{args.data} has no data rows (only a header)")
    return table


def _check_fit_options(args: argparse.Namespace) -> None:
    """Options that contradict each other or this machine, before the table is read."""
    if args.checkpoint_dir is None and args.resume:
        raise ConfigError("--resume goes on from the checkpoint in --checkpoint-dir: give --checkpoint-dir DIR")
    if args.checkpoint_dir is not None:
        from .checkpoints import parse_every

        try:
            parse_every(args.checkpoint_every)
        except ConfigError:
            raise ConfigError(
                f"--checkpoint-every takes a number of steps (500) or seconds (60s, 5m), got {args.checkpoint_every!r}"
            ) from None
    if args.preset == "paper":
        given = [
            flag
            for flag, value in (("--patience", args.patience), ("--validation-fraction", args.validation_fraction))
            if value is not None
        ]
        if given:
            raise ConfigError(
                f"{' and '.join(given)} {'tune' if len(given) > 1 else 'tunes'} early stopping, which --preset paper "
                "does not use (it trains for all its "
                f"epochs); leave {' and '.join(given)} out, or leave out --preset paper"
            )
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                "--device cuda: this machine (or this torch build) has no CUDA GPU; use --device cpu or --device auto"
            )


def _fit(args: argparse.Namespace) -> int:
    from .checkpoints import FitInterrupted
    from .tabular import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor
    from .tabular.columns import all_missing_columns, listing, require_columns, target_problem, weight_problem
    from .tabular.encoding import id_like_columns
    from .tabular.tasks import infer_task

    _check_fit_options(args)
    source = _streamed(args)
    if source is None:
        table = _read_data(args)
    else:  # checked on a uniform sample, then fitted on every row, read batch by batch
        from .tabular.stream import SAMPLE_ROWS, sample_rows

        table = sample_rows(source, SAMPLE_ROWS, seed=args.seed).reset_index(drop=True)
        table.columns = [str(c) for c in table.columns]
    where, columns = Path(args.data).name, list(table.columns)
    task, target, identifier, weight = args.task, args.target, args.id, args.weight
    if task == "impute" and target is not None:
        raise ConfigError("--task impute fills every column and predicts no single target: leave out --target")
    if task != "impute" and target is None:
        raise ConfigError(
            f"--target is required for --task {task or 'classification/regression'}: name the column to predict "
            f"(the columns of {where}: {listing(columns)}); or use --task impute to fill missing cells"
        )
    require_columns([target] if target else [], columns, flag="--target", where=where)
    require_columns([identifier] if identifier else [], columns, flag="--id", where=where)
    require_columns(args.drop, columns, flag="--drop", where=where)
    require_columns(args.categorical, columns, flag="--categorical", where=where)
    require_columns([weight] if weight else [], columns, flag="--weight", where=where)
    if target is not None and target in args.drop:
        raise ConfigError(
            f"--drop names the target column {target!r}; choose another --target, or leave it out of --drop"
        )
    if target is not None and identifier == target:
        raise ConfigError(
            f"--id names the target column {target!r}; an identifier is not predicted: choose another --id"
        )
    if weight is not None and weight in (target, identifier):
        flag = "--target" if weight == target else "--id"
        raise ConfigError(f"--weight names column {weight!r}, which is also the {flag} column; choose another")
    if task != "impute":
        task = task or infer_task(table[target])
        problem = target_problem(table[target], task, max_classes=WordExpertsClassifier().max_categories)
        if problem:
            raise DataError(problem)
    kind = "an imputation" if task == "impute" else f"a {task}"  # what is fitted: "a regression" model
    if args.class_weight is not None and task != "classification":
        raise ConfigError(
            f"--class-weight balances a classifier's classes, and this fit is {kind}; leave out --class-weight"
        )
    problem = weight_problem(table[weight]) if weight else None
    if problem:
        raise DataError(problem)
    aside = {*args.drop, *([identifier] if identifier else []), *([weight] if weight else [])}
    for name in args.categorical:
        if name in aside:
            flag = "--id" if name == identifier else "--weight" if name == weight else "--drop"
            raise ConfigError(f"--categorical names column {name!r}, which {flag} leaves out of the features")
        if name == target:
            raise ConfigError(
                f"--categorical names the target {target!r}; to predict it as classes, use --task classification"
            )

    features = table.drop(columns=[c for c in columns if c in aside or c == target])
    empty = all_missing_columns(features)
    if empty:
        _tell(
            args,
            "warning",
            f"{where}: no values in {_columns_word(empty)} (every cell missing); left out of the features",
        )
        features = features.drop(columns=empty)
    categorical = [c for c in args.categorical if c not in empty]
    found = id_like_columns(features, categorical=categorical)
    carry = "say so (impute writes it as it is)" if task == "impute" else "carry it into predictions"
    for name, why in found.items():
        _tell(
            args,
            "note",
            f"column {name!r} looks like a row identifier ({why}), so the model leaves it out; name it with "
            f"--id {name} to {carry}, or --drop {name} to say so",
        )
    features = features.drop(columns=list(found))
    categorical = [c for c in categorical if c not in found]
    if features.shape[1] == 0:
        raise DataError(
            f"{where} has no feature column left once the target, --drop, --id and empty columns are set aside"
        )
    if len(features) < 2:
        raise DataError(f"{where} has {len(features)} data row(s); fitting needs at least 2")

    settings = {
        "preset": args.preset,
        "epochs": args.epochs,
        "patience": args.patience,
        "validation_fraction": args.validation_fraction,
        "n_bins": args.n_bins,
        "clip_grad_norm": args.clip_grad_norm,
        "categorical": categorical or None,
        "id_columns": [],  # identifiers were found and left out above, each named in a note
        "random_state": args.seed,
        "n_threads": args.threads,
        "device": args.device,
        "progress": not args.quiet,
    }
    weights = None if weight is None else table[weight].astype("float64")
    checkpoints = {}
    if args.checkpoint_dir is not None:
        checkpoints = {
            "checkpoint_dir": args.checkpoint_dir, "resume": args.resume, "checkpoint_every": args.checkpoint_every
        }
    fit_on, labels = features, (None if task == "impute" else table[target])
    if source is not None:
        if weight is not None or args.class_weight is not None:
            raise ConfigError(
                f"--weight and --class-weight are not available yet for streamed Parquet data ({where}: a folder, or "
                "more rows than the encoder's sample)"
            )
        from .tabular.stream import select_columns

        fit_on = select_columns(source, [*features.columns, *([target] if target else [])])
        labels = target
    try:
        if task == "impute":
            model = WordExpertsImputer(**settings).fit(fit_on, sample_weight=weights, **checkpoints)
        elif task == "regression":
            model = WordExpertsRegressor(**settings).fit(fit_on, labels, sample_weight=weights, **checkpoints)
        else:
            model = WordExpertsClassifier(**settings, class_weight=args.class_weight)
            model.fit(fit_on, labels, sample_weight=weights, **checkpoints)
    except FitInterrupted as stop:
        kept = "no checkpoint was kept (add --checkpoint-dir DIR to be able to resume)"
        if stop.checkpoint is not None:
            kept = f"checkpoint kept in {stop.checkpoint.parent}: run the same command with --resume to go on"
        how = "interrupted" if stop.exit_code == 130 else "terminated (SIGTERM)"
        print(
            f"wordexperts fit: {how} after epoch {stop.epoch}, step {stop.step} of {stop.steps}; {kept}; "
            f"no model written",
            file=sys.stderr,
        )
        return stop.exit_code
    processes = model.history_.get("processes", 1)
    if processes > 1:  # under torchrun: rank 0 writes and reports, the others wait to hear it went well
        from .distributed import Distributed, rank_zero_writes

        world = Distributed.from_environment()
        with rank_zero_writes(world) as writer:
            if writer:
                model.save(args.out)
        world.close()
        if not writer:
            return 0
    else:
        model.save(args.out)
    stopped = f", best epoch {model.best_epoch_}" if model.history_["val_loss"] else ""
    resumed = model.history_.get("resumed_from")
    if resumed is not None:
        stopped += f", resumed at epoch {resumed['epoch']} step {resumed['step']}"
    if processes > 1:
        stopped += f", {processes} processes"
    print(
        f"fitted {kind} model on {model.history_.get('rows', len(table))} rows x {model.n_features_in_} columns "
        f"({model.n_epochs_} epochs{stopped}, {model.fit_seconds_:.1f} s, final training loss "
        f"{model.history_['loss'][-1]:.4f}); wrote {args.out}"
    )
    return 0


def _load_model(args: argparse.Namespace):
    """The fitted estimator in ``args.model``, computing on ``--threads`` threads."""
    from .tabular import load

    model = load(args.model)
    model.set_params(n_threads=args.threads)
    return model


def _model_features(args: argparse.Namespace, model, table, *, aside: list, extra_fate: str = "ignored"):
    """``table``'s columns laid out as ``model``'s features, matched by name: any order; columns the model
    does not read (other than those ``aside``) named in a note; a missing feature read as all-missing,
    named in a warning."""
    from .tabular.columns import match_features

    where = Path(args.data).name
    aside = [c for c in aside if c is not None]
    names = getattr(model, "feature_names_in_", None)
    if names is None:  # fitted in Python without column names: columns go by position
        frame = table.drop(columns=[c for c in aside if c in table.columns])
        if frame.shape[1] != model.n_features_in_:
            raise DataError(
                f"{args.model} was fitted (in Python) on {model.n_features_in_} unnamed columns, which go by "
                f"position; {where} has {frame.shape[1]} once {', '.join(map(repr, aside)) or 'nothing'} is set aside"
            )
        return frame
    matched = match_features(table, [str(c) for c in names], aside=aside)
    if len(matched.missing) == len(names):
        raise DataError(
            f"{where} has none of the model's feature columns ({_columns_word(matched.missing)}); "
            f"is it the table {args.model} was fitted for?"
        )
    if matched.extra:
        _tell(args, "note", f"{where}: the model does not read {_columns_word(matched.extra)}; {extra_fate}")
    ignored = model.encoder_.ignored_columns()  # identifiers a model fitted in Python skips anyway
    missing = [c for c in matched.missing if c not in ignored]
    if missing:
        _tell(
            args,
            "warning",
            f"{where} lacks the model's feature {_columns_word(missing)}; read as all-missing, so the answers "
            f"lean on the other columns",
        )
    return matched.frame


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from .files import write_table
    from .tabular.columns import require_columns
    from .tabular.tasks import prediction_score

    model = _load_model(args)
    if not hasattr(model, "predict"):
        raise ConfigError(f"{args.model} holds an imputer (fitted with --task impute); use `wordexperts impute`")
    if args.proba and not hasattr(model, "predict_proba"):
        raise ConfigError(
            f"--proba gives class probabilities, and {args.model} holds a regressor (its predictions are numbers); "
            "use --interval COVERAGE (e.g. --interval 0.9) for a prediction interval, or leave out --proba"
        )
    if args.interval is not None and not hasattr(model, "predict_interval"):
        raise ConfigError(
            f"--interval gives a regressor's prediction interval, and {args.model} holds a classifier; "
            "use --proba for class probabilities, or leave out --interval"
        )
    _check_out_table(args.out)
    source = _streamed(args)
    if source is not None:
        return _predict_streamed(args, model, source)
    table = _read_data(args)
    require_columns([args.id] if args.id else [], list(table.columns), flag="--id", where=Path(args.data).name)
    target = model.target_name_
    truth = table[target] if target in table.columns else None
    features = _model_features(args, model, table, aside=[target, args.id])
    predicted = f"{target}_predicted"
    out = pd.DataFrame(index=table.index)
    if args.id:
        out[args.id] = table[args.id]
    out[predicted] = model.predict(features)
    if args.proba:
        proba = model.predict_proba(features)
        for k, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, k]
    if args.interval is not None:
        bounds = model.predict_interval(features, coverage=args.interval)  # (n, 2)
        out[f"{target}_lower"], out[f"{target}_upper"] = bounds[:, 0], bounds[:, 1]
    score = prediction_score(model, out[predicted], truth)  # scored before anything is written
    write_table(out, args.out)
    scored = ""
    if score:
        name, value = score
        scored = f" ({name} against column {target!r}: {value:{'.4f' if name == 'accuracy' else '.4g'}})"
    print(f"predicted {len(out)} rows; wrote {args.out}{scored}")
    return 0


def _predict_streamed(args: argparse.Namespace, model, source) -> int:
    """``predict`` on a Parquet folder or a large Parquet file: batch by batch into a Parquet file."""
    from .tabular.columns import require_columns
    from .tabular.stream import BATCH_ROWS, predict_to_parquet

    where = Path(args.data).name
    if Path(args.out).suffix.lower() not in (".parquet", ".pq"):
        raise ConfigError(f"{where} is streamed (a folder, or a large Parquet file): give --out a .parquet path")
    if args.interval is not None:
        raise ConfigError(f"--interval is not available yet for streamed Parquet data ({where})")
    require_columns([args.id] if args.id else [], list(source.schema.names), flag="--id", where=where)
    predict_to_parquet(
        model, source, args.out, columns=[args.id] if args.id else None, proba=args.proba,
        prediction_name=f"{model.target_name_}_predicted",
    )
    print(f"predicted {source.count_rows()} rows, {BATCH_ROWS} at a time; wrote {args.out}")
    return 0


def _impute(args: argparse.Namespace) -> int:
    from .files import write_table
    from .tabular.columns import require_columns

    model = _load_model(args)
    if not hasattr(model, "transform"):
        task = "classification" if hasattr(model, "classes_") else "regression"
        raise ConfigError(
            f"{args.model} holds a {task} model; impute needs one fitted with --task impute "
            f"(or use `wordexperts predict` with this one)"
        )
    model.set_params(rounds=args.rounds)
    _check_out_table(args.out)
    table = _read_data(args)
    require_columns([args.id] if args.id else [], list(table.columns), flag="--id", where=Path(args.data).name)
    features = _model_features(args, model, table, aside=[args.id], extra_fate="passed through unchanged")
    filled = model.transform(features)
    out = table.copy()
    for name in features.columns:  # the table's own order; a feature it lacked goes last
        out[name] = filled[name]
    before, after = features.isna().to_numpy(), filled.isna().to_numpy()
    write_table(out, args.out)
    left = int((before & after).sum())
    unfilled = f"; {left} cells left missing in columns the model does not read" if left else ""
    print(f"filled {int((before & ~after).sum())} missing cells in {len(table)} rows{unfilled}; wrote {args.out}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from .tabular.columns import listing, not_found, require_columns
    from .tabular.report import top_columns, write_explanation

    model = _load_model(args)
    target = getattr(model, "target_name_", None)
    names = [str(c) for c in getattr(model, "feature_names_in_", [])] + ([target] if target else [])
    if args.column is None and target is None:
        raise ConfigError(
            f"{args.model} holds an imputer, which has no target: name the column to explain with --column "
            f"(one of {listing(names)})"
        )
    if args.column is not None and names and args.column not in names:
        raise ConfigError(not_found(args.column, names, what="--column", where=f"the model in {args.model}"))
    table = _read_data(args)
    require_columns([args.id] if args.id else [], list(table.columns), flag="--id", where=Path(args.data).name)
    features = _model_features(args, model, table, aside=[target, args.id])
    if args.id:  # gates.csv's rows named by the identifier
        features.index = table[args.id]
    paths = write_explanation(model, features, args.out, column=args.column, rows=args.rows)
    summary = model.explain_summary(features, column=args.column)
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
    demo = commands.add_parser(
        "demo", help="the table workflow on shipped data (fit, predict, explain, impute), then the equivalence"
    )
    add_seed_threads(demo)
    demo.add_argument("--out", help="folder for the demo's files (default ./wordexperts-demo)")
    demo.add_argument("--rows", type=positive_int, default=16, help=argparse.SUPPRESS)
    demo.set_defaults(run=_demo)


def _add_tables(commands) -> None:
    fit = commands.add_parser(
        "fit",
        help="fit a classifier, regressor or imputer on a CSV/Parquet table",
        description="Fit a classifier or regressor (--target) or an imputer (--task impute) on a CSV or Parquet "
        "table and write it to one model file. Columns with no values are left out with a warning, and so are "
        "columns that look like row identifiers, with a note. --drop and --categorical take every name that "
        "follows them: put DATA first.",
    )
    fit.add_argument("data", help="training table (.csv or .parquet)")
    fit.add_argument("--target", metavar="COL", help="the column to predict (not with --task impute)")
    fit.add_argument(
        "--task",
        choices=TASKS,
        help="default: classification for text, bool or up to 20 distinct integers; regression otherwise",
    )
    fit.add_argument("--out", required=True, help="model file to write (safetensors)")
    fit.add_argument(
        "--drop", nargs="+", default=[], metavar="COL", help="columns to leave out of the features (names, one or more)"
    )
    fit.add_argument(
        "--id",
        metavar="COL",
        help="a row identifier: never a feature; give it to predict, impute and explain too, to carry it along",
    )
    fit.add_argument(
        "--categorical",
        nargs="+",
        default=[],
        metavar="COL",
        help="numeric columns to read as categories, not as quantile bins (text and bool columns already are)",
    )
    fit.add_argument(
        "--weight",
        metavar="COL",
        help="a column of row weights (numbers >= 0; 0 leaves a row out), never a feature",
    )
    fit.add_argument(
        "--class-weight",
        choices=["balanced"],
        help="classifiers: weigh each class inversely to its frequency (times --weight, if given)",
    )
    fit.add_argument("--preset", choices=["paper"], help="paper.md's architecture and training (default: ours)")
    fit.add_argument("--epochs", type=positive_int, help="training epochs (most epochs, with early stopping)")
    fit.add_argument(
        "--patience",
        type=patience,
        metavar="N|auto",
        help="early stopping: epochs without a better validation loss before stopping (default 20)",
    )
    fit.add_argument(
        "--validation-fraction",
        type=fraction,
        metavar="F",
        help="early stopping: share of the rows held out to watch the validation loss (default 0.1)",
    )
    fit.add_argument("--n-bins", type=positive_int, metavar="K", help="quantile bins per numeric column (default 10)")
    fit.add_argument(
        "--clip-grad-norm",
        type=positive_number,
        metavar="C",
        help="clip each step's gradients to global L2 norm C (default: no clipping)",
    )
    fit.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="default cpu")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="keep a training checkpoint in DIR (written whole, every --checkpoint-every and on Ctrl-C)",
    )
    fit.add_argument(
        "--checkpoint-every",
        default="60s",
        metavar="N|Ts",
        help="with --checkpoint-dir: every N steps (500) or T seconds (60s, 5m; default 60s)",
    )
    fit.add_argument(
        "--resume",
        action="store_true",
        help="with --checkpoint-dir: go on from its checkpoint (same data and options); the model equals an "
        "uninterrupted fit's",
    )
    add_seed_threads(fit)
    fit.set_defaults(run=_fit)

    no_random = "default 0; this command draws no random numbers: the option lets a script pass it to every command"
    predict = commands.add_parser(
        "predict",
        help="predict the target of a table with a fitted model",
        description="Predict the target of each row. Columns are matched to the model's by name: any order; "
        "other columns are ignored (named in a note); a missing one is read as all-missing (named in a warning).",
    )
    predict.add_argument("model", help="model file written by `wordexperts fit`")
    predict.add_argument("data", help="table (.csv or .parquet); a target column, if present, is scored")
    predict.add_argument("--out", required=True, help="predictions to write (.csv or .parquet)")
    predict.add_argument("--proba", action="store_true", help="also write class probabilities (classifiers)")
    predict.add_argument(
        "--interval",
        type=fraction,
        metavar="COVERAGE",
        help="regressors: also write a central prediction interval holding COVERAGE of the predicted distribution "
        "(e.g. 0.9), as <target>_lower and <target>_upper",
    )
    predict.add_argument(
        "--id", metavar="COL", help="a column of DATA to carry into the predictions, as their first column"
    )
    add_seed_threads(predict, seed_help=no_random)
    predict.set_defaults(run=_predict)

    impute = commands.add_parser(
        "impute",
        help="fill the missing cells of a table with a fitted imputer",
        description="Fill the missing cells of the model's columns; other columns are written as they are.",
    )
    impute.add_argument("model", help="model file written by `wordexperts fit --task impute`")
    impute.add_argument("data", help="table with missing cells (.csv or .parquet)")
    impute.add_argument("--out", required=True, help="filled table to write (.csv or .parquet)")
    impute.add_argument("--rounds", type=positive_int, default=1, help="rounds of refilling (default 1)")
    impute.add_argument("--id", metavar="COL", help="a row identifier of DATA: written as it is, never noted as extra")
    add_seed_threads(impute, seed_help=no_random)
    impute.set_defaults(run=_impute)

    explain = commands.add_parser(
        "explain",
        help="gate weights per row and column, as CSV and a PNG heatmap",
        description="Write the gates of the masked target (or --column) on every column: gates.csv (every row), "
        "summary.csv and gates.png. Columns are matched to the model's by name, as in predict.",
    )
    explain.add_argument("model", help="model file written by `wordexperts fit`")
    explain.add_argument("data", help="table (.csv or .parquet)")
    explain.add_argument("--out", required=True, help="folder for gates.csv, summary.csv, gates.png")
    explain.add_argument(
        "--column", metavar="COL", help="column whose gates to show (default: the target; required for an imputer)"
    )
    explain.add_argument("--rows", type=positive_int, default=50, help="rows in the per-row heatmap (default 50)")
    explain.add_argument("--id", metavar="COL", help="a column of DATA that names the rows of gates.csv")
    add_seed_threads(explain, seed_help=no_random)
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
    evaluate.add_argument(
        "--questions", help="analogy file in the Google format (default: gensim's questions-words.txt)"
    )
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
    parser.add_argument(  # read by main before parsing, so it may also follow the command's arguments
        "--debug",
        action="store_true",
        help=f"let errors through with their Python traceback (or set {DEBUG_VARIABLE}=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_verify(commands)
    _add_demo(commands)
    _add_tables(commands)
    analogies = _add_analogy(commands)
    if importlib.util.find_spec("wordexperts_bench") is not None:  # the one hook (absent from a trimmed install)
        from wordexperts_bench.cli import extend

        extend(commands=commands, analogies=analogies)
    return parser


@contextlib.contextmanager
def one_line_warnings(command: str) -> Iterator[None]:
    """Warnings shown as ``wordexperts COMMAND: warning: ...``, one line each, without Python's file and line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"wordexperts {command}: warning: {message}", file=sys.stderr if file is None else file)

    before = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = before


DEBUG_VARIABLE = "WORDEXPERTS_DEBUG"
REPORT_TO = "the wordexperts issue tracker"  # where a bug goes when the installed metadata names no tracker


def _debugging(argv: list[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug`` (accepted anywhere before ``--``), and whether tracebacks are wanted."""
    end = argv.index("--") if "--" in argv else len(argv)
    asked = "--debug" in argv[:end]
    argv = [a for a in argv[:end] if a != "--debug"] + argv[end:]
    return argv, asked or os.environ.get(DEBUG_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def _report_to() -> str:
    """The issue tracker named in the installed package's metadata, else :data:`REPORT_TO`."""
    from importlib import metadata

    try:
        urls = metadata.metadata("wordexperts").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return REPORT_TO
    for entry in urls:
        label, _, url = entry.partition(",")
        if any(word in label.lower() for word in ("issue", "bug", "tracker")):
            return url.strip()
    return REPORT_TO


def user_error(error: BaseException) -> str | None:
    """The one line for an error the user can fix, or ``None`` for one that looks like a bug.

    User errors: :class:`~wordexperts.errors.WordExpertsError` (bad data, settings, model files,
    missing extras), an ``OSError`` (a file missing, unreadable or unwritable) and a module that is
    not installed (``ModuleNotFoundError`` for a package other than wordexperts).
    """
    if isinstance(error, (WordExpertsError, OSError)):
        return str(error)
    package = (getattr(error, "name", None) or "").split(".")[0]
    if isinstance(error, ModuleNotFoundError) and package and package != "wordexperts":
        return f"this needs the Python package {package!r}, which is not installed ({error})"
    return None


def bug_report(error: BaseException) -> str:
    """One line for an exception that is not the user's doing: what, which version, where to report it."""
    what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return (
        f"this looks like a bug in wordexperts {__version__} ({what}); please report it to {_report_to()}, "
        f"with the traceback that --debug (or {DEBUG_VARIABLE}=1) prints"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command: exit 0 on success, 2 for a mistake the user can fix (one line), 1 for a bug, 130 on Ctrl-C.

    A bug (any exception that is not a user error, see :func:`user_error`) is named in one line
    with the version and where to report it; ``--debug`` or ``WORDEXPERTS_DEBUG=1`` lets every
    exception through with its traceback instead.
    """
    argv, debug = _debugging(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)  # usage errors: argparse prints them and exits 2
    try:
        with one_line_warnings(args.command):
            return args.run(args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"wordexperts {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        line = user_error(error)
        print(f"wordexperts {args.command}: error: {bug_report(error) if line is None else line}", file=sys.stderr)
        return 2 if line is not None else 1


if __name__ == "__main__":
    sys.exit(main())
