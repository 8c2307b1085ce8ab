"""Command line: argument parsing and printing only; the work lives in :mod:`wordexperts.bench`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__


def _format_table(table: pd.DataFrame) -> str:
    formatters = {c: "{:.1e}".format for c in table.columns if table[c].dtype.kind == "f"}
    return table.to_string(index=False, formatters=formatters, na_rep="-")


def _verify(args: argparse.Namespace) -> int:
    from .bench.equivalence import ONE_PASS_TOLERANCE, TOLERANCE, verify_equivalence
    from .train import torch_threads

    with torch_threads(args.threads):
        table = verify_equivalence(seed=args.seed, rows=args.rows)
    print("Attention vs word experts: largest |logit difference| over every row and masked position")
    f64, f32 = TOLERANCE.values()
    print(
        f"(tolerances: float64 {f64:.0e}, float32 {f32:.0e}, one pass vs expansion float32 {ONE_PASS_TOLERANCE:.0e})\n"
    )
    print(_format_table(table))
    failed = int((~table["passed"]).sum())
    print(f"\n{len(table) - failed} of {len(table)} architectures agree" + (f"; {failed} FAILED" if failed else ""))
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    from .bench.demo import gates_demo

    status = _verify(args)
    print("\nThe mixture-of-experts view of a trained model: rows of 6 random words, column 5 a copy of column 1.")
    result = gates_demo(seed=args.seed, n_threads=args.threads)
    gates = "  ".join(f"col {j}: {g:.3f}" for j, g in enumerate(result["mean_gates"]))
    print(f"Mean gate weight of masked column {result['target']} on each column (held-out rows):\n  {gates}")
    print(
        f"Held-out accuracy on column {result['target']}: {result['accuracy']:.3f} (chance {result['chance']:.3f}); "
        f"attention vs word-experts logits after training: {result['max_logit_difference']:.1e}"
    )
    from .bench.reproduce import (
        QUICK_AUTO_MPG_MODELS,
        QUICK_AUTO_MPG_SEEDS,
        QUICK_CONFIGURATIONS,
        QUICK_SEEDS,
        SIMULATION_MODELS,
        reproduce_auto_mpg,
        reproduce_simulation,
    )
    from .data import PAPER_SEEDS

    print(
        f"\nA table is a sentence. The paper's simulation, quick form ({len(QUICK_CONFIGURATIONS)} configurations x "
        f"{QUICK_SEEDS} seeds; `wordexperts reproduce simulation` runs all 12 x 20):",
        flush=True,
    )
    simulation = reproduce_simulation(
        configurations=QUICK_CONFIGURATIONS, seeds=PAPER_SEEDS[:QUICK_SEEDS], models=SIMULATION_MODELS, jobs=args.jobs
    )
    _print_simulation(simulation)
    print(
        f"\nauto-mpg, quick form ({QUICK_AUTO_MPG_SEEDS} seeds; `wordexperts reproduce auto-mpg` runs 10):", flush=True
    )
    _print_auto_mpg(reproduce_auto_mpg(seeds=range(QUICK_AUTO_MPG_SEEDS), models=QUICK_AUTO_MPG_MODELS, jobs=args.jobs))
    return status


def _command_line(default: str | None = None) -> str | None:
    """The command as typed, for reports (``default`` when run without arguments, e.g. from Python)."""
    return "wordexperts " + " ".join(sys.argv[1:]) if sys.argv[1:] else default


def _write_bench(out: str, stem: str, title: str, result: dict, report: str, default_command: str) -> None:
    """``STEM.json`` (the result) and ``STEM.md`` (title, command, report) in ``out``, atomically."""
    from .io import atomic_write_text

    folder = Path(out)
    atomic_write_text(folder / f"{stem}.json", json.dumps(result, indent=2, default=str) + "\n")
    atomic_write_text(folder / f"{stem}.md", f"# {title}\n\nCommand: `{_command_line(default_command)}`\n\n{report}\n")
    print(f"\nwrote {folder / f'{stem}.json'} and {folder / f'{stem}.md'}")


def _bench_masking(args: argparse.Namespace) -> int:
    from .bench.masking import time_masking

    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)  # fail before the run, not after it
    rows, epochs = (500, 3) if args.quick else (args.rows, args.epochs)
    result = time_masking(rows=rows, epochs=epochs, batch_size=args.batch_size, seed=args.seed, n_threads=args.threads)
    lines = [
        (
            f"Paper tabular architecture, {result['rows']} random rows x {result['columns']} columns, batch "
            f"{result['batch_size']}, {result['n_threads']} thread(s), median of {result['epochs_timed']} epochs "
            f"after one warm-up (torch {result['torch']}, {result['machine']})"
        ),
        "",
        "| way | ms per epoch (median) | min - max | final loss |",
        "|---|---|---|---|",
    ]
    b, L = result["batch_size"], result["columns"]
    labels = {
        "one_pass": f"one pass ({b} rows per step)",
        "expand": f"row copying, same steps ({b} rows x {L} copies)",
        "copies": f"row copying, paper's recipe ({b} copies per step)",
    }
    for way, label in labels.items():
        lines.append(
            f"| {label} | {result[f'ms_per_epoch_{way}']:.1f} | {result[f'ms_min_{way}']:.1f} - "
            f"{result[f'ms_max_{way}']:.1f} | {result[f'final_loss_{way}']:.4f} |"
        )
    lines += [
        "",
        (
            f"one pass is {result['speedup_vs_expand']:.2f}x faster than row copying with the same steps, "
            f"{result['speedup_vs_copies']:.2f}x faster than the paper's recipe (medians; fastest epochs: "
            f"{result['speedup_vs_expand_fastest']:.2f}x and {result['speedup_vs_copies_fastest']:.2f}x)"
        ),
        f"largest gradient difference, one pass vs row copying (dropout off): {result['max_gradient_difference']:.1e}",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        _write_bench(args.out, "masking", "One pass vs row copying", result, report, "wordexperts bench masking")
    return 0


def _bench_fit(args: argparse.Namespace) -> int:
    from .bench.tabular import time_fit_predict

    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    epochs, repeats, rows = (5, 1, 10_000) if args.quick else (args.epochs, args.repeats, 100_000)
    result = time_fit_predict(epochs=epochs, repeats=repeats, predict_rows=rows, seed=args.seed, n_threads=args.threads)
    report = "\n".join(
        [
            (f"Paper preset, {result['rows']} rows x {result['columns']} columns (paper simulation 5/0.9/0, seed 4951), "
            f"{result['epochs']} epochs, {result['n_threads']} thread(s), torch {result['torch']}, {result['machine']}"),
            "",
            (f"fit: {result['fit_seconds_median']:.2f} s median of {result['repeats']} "
            f"(min {result['fit_seconds_min']:.2f}, max {result['fit_seconds_max']:.2f}); "
            f"{result['ms_per_epoch']:.1f} ms per epoch; OOD accuracy of the last fit {result['ood_accuracy_last_fit']:.3f}"),
            f"predict: {result['predict_rows_per_second']:,.0f} rows per second ({result['predict_rows']:,} rows, median of 3)",
        ]
    )
    print(report)
    if args.out:
        _write_bench(args.out, "fit", "Fit and predict speed", result, report, "wordexperts bench fit")
    return 0


def _bench_analogy(args: argparse.Namespace) -> int:
    from .bench.analogy import time_glove_evaluation

    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    result = time_glove_evaluation(protocol=args.protocol, threads=args.threads, quick=args.quick)
    report = (
        f"Google analogy set vs GloVe 6B 50d, {args.protocol} protocol, restrict_vocab {result['restrict_vocab']}, "
        f"{result['threads']} BLAS thread(s): {result['seconds']:.1f} s, peak RSS {result['peak_rss_mib']:.0f} MiB "
        f"(process, imports included); {result['answered']} of {result['questions']} answered, "
        f"top-1 {result['accuracy']:.4f}"
    )
    print(report)
    if args.out:
        _write_bench(args.out, "analogy", "Analogy evaluation speed", result, report, "wordexperts bench analogy")
    return 0


# ---- tables: fit, predict, impute, explain ----

TASKS = ("classification", "regression", "impute")


def _infer_task(target: pd.Series) -> str:
    """Classification for labels (text, bool, or at most 20 distinct integers); regression for other numbers."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    values = target.dropna().to_numpy(dtype=float)
    integral = bool(np.all(values == np.round(values)))
    return "classification" if integral and target.nunique() <= 20 else "regression"


def _fit(args: argparse.Namespace) -> int:
    from .io import read_table
    from .tabular import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor

    table = read_table(args.data)
    task = args.task
    if task != "impute":
        if args.target is None:
            raise ValueError(f"--target is required for --task {task or 'classification/regression'}")
        if args.target not in table.columns:
            raise ValueError(f"target column {args.target!r} is not in {args.data} (columns: {list(table.columns)})")
        task = task or _infer_task(table[args.target])
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


def _load_model(path: str):
    from .tabular import load

    return load(path)


def _predict(args: argparse.Namespace) -> int:
    from .io import read_table, write_table

    model = _load_model(args.model)
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
    score = ""
    if truth is not None and truth.notna().all():  # scored before anything is written
        if hasattr(model, "classes_"):
            score = f" (accuracy against column {target!r}: {float(np.mean(out.iloc[:, 0] == truth)):.4f})"
        else:
            mse = float(np.mean((out.iloc[:, 0].to_numpy() - pd.to_numeric(truth).to_numpy(dtype=float)) ** 2))
            score = f" (MSE against column {target!r}: {mse:.4g})"
    write_table(out, args.out)
    print(f"predicted {len(out)} rows; wrote {args.out}{score}")
    return 0


def _impute(args: argparse.Namespace) -> int:
    from .io import read_table, write_table

    model = _load_model(args.model)
    if not hasattr(model, "transform"):
        raise ValueError(f"{args.model} holds a {type(model).__name__}; fit one with `--task impute` to impute")
    model.set_params(rounds=args.rounds)
    table = read_table(args.data)
    filled = model.transform(table)
    write_table(filled, args.out)
    print(f"filled {int(table.isna().to_numpy().sum())} missing cells in {len(table)} rows; wrote {args.out}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from .io import read_table
    from .tabular.report import top_columns, write_explanation

    model = _load_model(args.model)
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
    from .analogy.evaluate import (
        answerable_intersection,
        bert_whole_word_filter,
        evaluate_analogies,
        read_questions,
    )
    from .analogy.report import write_eval_report
    from .data.pretrained import load_glove50, load_minilm, load_word2vec_file

    questions = read_questions(args.questions)
    results = {}
    for source in args.embeddings:
        if source == "minilm":
            matrix, words = load_minilm()
            name, candidates = (
                "MiniLM-L6 input embeddings",
                bert_whole_word_filter(words) if args.protocol == "paper" else None,
            )
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
        summary = result.summary
        print(f"{name} ({args.protocol} protocol, {args.method}):")
        print(
            summary.loc[["semantic", "syntactic", "all"], ["answered", "correct", "accuracy", "mean_cos"]].to_string(
                float_format="{:.4f}".format
            )
        )
    if args.out:
        command = _command_line()
        paths = write_eval_report(results, args.out, command=command)
        print(f"\nwrote {', '.join(paths.values())}")
    return 0


def _analogy_corpus(args: argparse.Namespace):
    from .data.corpora import (
        SyntheticConfig,
        load_text_file,
        load_wiki_sample,
        synthetic_corpus,
    )

    if args.corpus == "synthetic":
        config = SyntheticConfig(gate_strength=args.gate_strength, n_sentences=args.sentences, seed=args.seed)
        return synthetic_corpus(config), config.dim
    if args.corpus == "wiki-sample":
        return load_wiki_sample(min_count=args.min_count), args.dim
    return load_text_file(args.corpus, min_count=args.min_count), args.dim


def _analogy_train(args: argparse.Namespace) -> int:
    from .analogy.embeddings import default_specs
    from .analogy.experiments import train_side_by_side, write_side_by_side_report
    from .train import torch_threads

    corpus, dim = _analogy_corpus(args)
    specs = default_specs(dim, heads=args.heads, **({"epochs": args.epochs} if args.epochs else {}))
    with torch_threads(args.threads):
        result = train_side_by_side(corpus, specs, seed=args.seed, device=args.device, n_threads=args.threads)
    print(result.table.drop(columns=["name"], errors="ignore").to_string(index=False, float_format="{:.3f}".format))
    if args.out:
        command = _command_line()
        paths = write_side_by_side_report(result, args.out, command=command)
        print(f"\nwrote {', '.join(paths.values())}")
    return 0


def _analogy_theory(args: argparse.Namespace) -> int:
    from .analogy.experiments import gate_sweep, write_gate_sweep_report
    from .data.corpora import SyntheticConfig
    from .train import torch_threads

    strengths = (0.0, 2.0) if args.quick else tuple(args.strengths)
    seeds = (0,) if args.quick else tuple(range(args.seeds))
    config = SyntheticConfig(n_sentences=5000 if args.quick else args.sentences)

    def progress(strength: float, seed: int, table) -> None:
        print(f"  gate strength {strength:g}, seed {seed}: done", flush=True)

    with torch_threads(args.threads):
        result = gate_sweep(strengths, seeds, config=config, n_threads=args.threads, callback=progress)
    print(result.summary.to_string(index=False, float_format="{:.3f}".format))
    if args.out:
        command = _command_line()
        paths = write_gate_sweep_report(result, args.out, command=command)
        print(f"\nwrote {', '.join(paths.values())}")
    return 0


def _print_table(table: pd.DataFrame) -> None:
    from .reporting import markdown_table

    print(markdown_table(table))


def _written(paths: dict) -> None:
    print(f"\nwrote {', '.join(sorted(Path(p).name for p in paths.values()))} to {Path(paths['report']).parent}")


def _configuration(text: str) -> tuple[int, float, float]:
    """argparse type: ``num_core/corr/x_noise``, e.g. ``5/0.9/0``."""
    try:
        num_core, corr, x_noise = text.split("/")
        return (int(num_core), float(corr), float(x_noise))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected num_core/corr/x_noise such as 5/0.9/0, got {text!r}") from None


def _reproduce_simulation(args: argparse.Namespace) -> int:
    from .bench.reproduce import (
        QUICK_CONFIGURATIONS,
        QUICK_SEEDS,
        SIMULATION_MODELS,
        SLOW_PAPER_BASELINES,
        reproduce_simulation,
    )
    from .data import CONFIGURATIONS, PAPER_SEEDS

    models = list(args.models or SIMULATION_MODELS)
    if args.paper_baselines:
        if not args.configurations or not args.seeds:
            raise ValueError(
                "--paper-baselines re-runs the authors' 5-fold grids (hours per seed on 2 cores): "
                "name the configurations (--configurations 5/0.9/0 ...) and the number of seeds (--seeds N)"
            )
        models += [m for m in SLOW_PAPER_BASELINES if m not in models]
    configurations = args.configurations or (QUICK_CONFIGURATIONS if args.quick else CONFIGURATIONS)
    seeds = PAPER_SEEDS[: args.seeds or (QUICK_SEEDS if args.quick else len(PAPER_SEEDS))]
    print(
        f"The paper's simulation: {len(configurations)} configurations x {len(seeds)} seeds x {len(models)} models "
        f"on {args.jobs} process(es)...",
        flush=True,
    )
    result = reproduce_simulation(
        configurations=configurations, seeds=seeds, models=models, jobs=args.jobs, verbose=args.verbose
    )
    _print_simulation(result)
    if args.out:
        from .bench.report import write_simulation_report

        _written(write_simulation_report(result, args.out, _command_line("wordexperts reproduce simulation")))
    return 0


def _print_simulation(result) -> None:
    from .bench.report import simulation_table

    print("\nOut-of-distribution accuracy, mean ± std over seeds (paper: the authors' numbers):")
    _print_table(simulation_table(result))
    checks = result.checks
    if len(checks):
        print(f"\nChecks: {int(checks['holds'].sum())} of {len(checks)} hold", end="")
        missed = checks[~checks["holds"]]
        print(
            ""
            if missed.empty
            else "; missed: " + "; ".join(f"{r.configuration} {r.check}" for r in missed.itertuples())
        )
    print(f"Wall time {result.settings['wall_seconds']:.0f} s")


def _reproduce_auto_mpg(args: argparse.Namespace) -> int:
    from .bench.reproduce import (
        AUTO_MPG_MODELS,
        AUTO_MPG_SEEDS,
        QUICK_AUTO_MPG_MODELS,
        QUICK_AUTO_MPG_SEEDS,
        reproduce_auto_mpg,
    )

    models = args.models or (QUICK_AUTO_MPG_MODELS if args.quick else AUTO_MPG_MODELS)
    seeds = range(args.seeds or (QUICK_AUTO_MPG_SEEDS if args.quick else AUTO_MPG_SEEDS))
    print(f"auto-mpg (train USA, test Europe + Japan): {len(seeds)} seeds x {len(models)} models...", flush=True)
    result = reproduce_auto_mpg(seeds=seeds, models=models, jobs=args.jobs, verbose=args.verbose)
    _print_auto_mpg(result)
    if args.out:
        from .bench.report import write_auto_mpg_report

        _written(write_auto_mpg_report(result, args.out, _command_line("wordexperts reproduce auto-mpg")))
    return 0


def _print_auto_mpg(result) -> None:
    from .bench.report import auto_mpg_table

    print(
        "\nOut-of-distribution accuracy (Europe + Japan), mean [95% interval] over seeds; the paper: 0.793 (one seed)"
    )
    _print_table(auto_mpg_table(result)[["model", "OOD accuracy", "std", "reference"]])
    for name, why in result.settings.get("missing", {}).items():
        print(f"not run: {name}: {why}")


def _bench_ood(args: argparse.Namespace) -> int:
    from .bench.ood import OOD_MODELS, QUICK_MODELS, QUICK_SEEDS, bench_ood
    from .bench.report import ood_table

    models = args.models or (QUICK_MODELS if args.quick else OOD_MODELS)
    seeds = range(args.seeds or (QUICK_SEEDS if args.quick else 5))
    print(f"Real shifted tables: {len(seeds)} seeds x {len(models)} models, budget {args.budget}...", flush=True)
    result = bench_ood(
        tasks=args.tasks, seeds=seeds, models=models, budget=args.budget, jobs=args.jobs, verbose=args.verbose
    )
    print("\nOut-of-distribution accuracy, mean [95% interval] over seeds:")
    _print_table(ood_table(result))
    for name, why in result.missing.items():
        print(f"not run: {name}: {why}")
    if args.out:
        from .bench.report import write_ood_report

        _written(write_ood_report(result, args.out, _command_line("wordexperts bench ood")))
    return 0


def positive_int(text: str) -> int:
    """argparse type: an int >= 1, or a usage error that says so."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wordexperts",
        description="Bidirectional attention as a mixture of continuous word experts (Wibisono & Wang, UAI 2023).",
    )
    parser.add_argument("--version", action="version", version=f"wordexperts {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, threads: int) -> None:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--threads", type=positive_int, default=threads, help=f"torch threads (default {threads})")

    verify = commands.add_parser("verify", help="check attention = word experts over a grid of random models")
    common(verify, 1)
    verify.add_argument("--rows", type=positive_int, default=16, help="random rows per model (default 16)")
    verify.set_defaults(run=_verify)

    demo = commands.add_parser("demo", help="the main job: verify the equivalence, then show a trained model's gates")
    common(demo, 1)
    demo.add_argument("--rows", type=positive_int, default=16, help=argparse.SUPPRESS)
    demo.add_argument("--jobs", type=positive_int, default=2, help="worker processes for the reproductions (default 2)")
    demo.set_defaults(run=_demo)

    bench = commands.add_parser("bench", help="benchmarks")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    masking = benches.add_parser("masking", help="training time: one-pass masked logits vs row copying")
    common(masking, 1)
    masking.add_argument("--rows", type=positive_int, default=2000, help="random rows (default 2000)")
    masking.add_argument(
        "--epochs", type=positive_int, default=21, help="epochs per way, the first a warm-up (default 21)"
    )
    masking.add_argument("--batch-size", type=positive_int, default=128, help="rows (or copies) per step (default 128)")
    masking.add_argument("--quick", action="store_true", help="500 rows, 3 epochs: a smoke run")
    masking.add_argument("--out", help="folder for masking.json and masking.md")
    masking.set_defaults(run=_bench_masking)
    fit_bench = benches.add_parser("fit", help="paper-preset fit time (2000 x 6, 200 epochs) and predict throughput")
    common(fit_bench, 1)
    fit_bench.add_argument("--epochs", type=positive_int, default=200, help="epochs per fit (default 200)")
    fit_bench.add_argument("--repeats", type=positive_int, default=3, help="fits to time (default 3)")
    fit_bench.add_argument("--quick", action="store_true", help="one fit of 5 epochs, 10,000 rows predicted")
    fit_bench.add_argument("--out", help="folder for fit.json and fit.md")
    fit_bench.set_defaults(run=_bench_fit)
    analogy_bench = benches.add_parser(
        "analogy", help="the Google analogy set against all 400,000 GloVe words: time, memory"
    )
    analogy_bench.add_argument("--threads", type=positive_int, default=2, help="BLAS threads (default 2)")
    analogy_bench.add_argument("--protocol", choices=["paper", "gensim"], default="gensim")
    analogy_bench.add_argument("--quick", action="store_true", help="the 30,000 most frequent words only")
    analogy_bench.add_argument("--out", help="folder for analogy.json and analogy.md")
    analogy_bench.set_defaults(run=_bench_analogy)

    def comparison(p: argparse.ArgumentParser, quick: str) -> None:
        p.add_argument("--quick", action="store_true", help=quick)
        p.add_argument("--seeds", type=positive_int, help="number of seeds")
        p.add_argument("--models", nargs="+", metavar="MODEL", help="model keys (default: all of this comparison's)")
        p.add_argument("--jobs", type=positive_int, default=2, help="worker processes, one thread each (default 2)")
        p.add_argument("--out", help="folder for report.md, the CSVs and the plots")
        p.add_argument("--verbose", type=int, default=0, help=argparse.SUPPRESS)

    ood = benches.add_parser(
        "ood", help="real tables with natural shifts: ours against every peer, in and out of distribution"
    )
    comparison(ood, "2 seeds and five models: a few minutes")
    ood.add_argument("--tasks", nargs="+", metavar="TASK", help="task names (default: all)")
    ood.add_argument(
        "--budget",
        type=positive_int,
        default=1,
        help="configurations each peer may try, chosen on an in-distribution split (default 1: defaults)",
    )
    ood.set_defaults(run=_bench_ood)

    reproduce = commands.add_parser("reproduce", help="reproduce the paper's tabular tables (paper.md §2)")
    reproductions = reproduce.add_subparsers(dest="reproduction", required=True, metavar="TABLE")
    simulation = reproductions.add_parser(
        "simulation", help="Tables 3-4: 12 configurations x 20 seeds of the simulation"
    )
    comparison(simulation, "4 configurations x 2 seeds (under a minute)")
    simulation.add_argument(
        "--configurations",
        nargs="+",
        type=_configuration,
        metavar="CORE/CORR/NOISE",
        help="e.g. 5/0.9/0 1/0.1/0.5 (default: all 12)",
    )
    simulation.add_argument(
        "--paper-baselines",
        action="store_true",
        help="also re-run the authors' RF, GB and MLP grids (slow: needs --configurations and --seeds)",
    )
    simulation.set_defaults(run=_reproduce_simulation)
    auto_mpg = reproductions.add_parser(
        "auto-mpg", help="Table 5: train on US cars, test on European and Japanese ones"
    )
    comparison(auto_mpg, "3 seeds, no transformers or ensemble")
    auto_mpg.set_defaults(run=_reproduce_auto_mpg)

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
    common(fit, 1)
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

    train = analogies.add_parser("train", help="CBOW, skip-gram, attention and word experts on one corpus, evaluated")
    train.add_argument(
        "--corpus",
        default="synthetic",
        metavar="synthetic|wiki-sample|PATH",
        help="synthetic (planted analogies; default), gensim's Wikipedia sample, or a text file",
    )
    train.add_argument(
        "--gate-strength", type=float, default=0.0, help="synthetic: word dependence of the gates (0 = CBOW)"
    )
    train.add_argument("--sentences", type=positive_int, default=40_000, help="synthetic: sentences (default 40,000)")
    train.add_argument("--min-count", type=positive_int, default=5, help="real text: rarer words dropped (default 5)")
    train.add_argument(
        "--dim", type=positive_int, default=32, help="real text: embedding width (synthetic: its true width)"
    )
    train.add_argument(
        "--heads", type=positive_int, default=4, help="heads of the multi-head attention model (default 4)"
    )
    train.add_argument(
        "--epochs", type=positive_int, help="attention epochs (default: enough for the synthetic corpus)"
    )
    train.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    train.add_argument("--out", help="folder for report.md, CSVs and accuracy.png")
    common(train, 1)
    train.set_defaults(run=_analogy_train)

    theory = analogies.add_parser("theory", help="sweep the gates' word dependence: analogies of attention vs CBOW")
    theory.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    theory.add_argument("--seeds", type=positive_int, default=3, help="seeds per strength (default 3)")
    theory.add_argument("--sentences", type=positive_int, default=40_000, help="sentences per corpus (default 40,000)")
    theory.add_argument("--quick", action="store_true", help="strengths 0 and 2, one seed, 5,000 sentences")
    theory.add_argument("--out", help="folder for report.md, CSVs and gate_sweep.png")
    common(theory, 1)
    theory.set_defaults(run=_analogy_theory)
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
