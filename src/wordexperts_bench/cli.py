"""The experiments' commands, added to ``wordexperts``'s command line by :func:`extend`.

``bench masking|fit|large|members|speed|defaults|categories|importances|regression|analogy|ood``, ``reproduce simulation|auto-mpg``,
``analogy train|theory``, and the quick reproductions that ``wordexperts demo`` runs after
its own part. Argument parsing and printing only; the work and the renderers live in the
modules named by each command. Nothing heavy is imported before a command runs.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from wordexperts.cli import add_seed_threads, command_line, positive_int, print_written
from wordexperts.errors import ConfigError

# What the quick reproductions import beyond the library: the [bench] extra's peers and tables.
QUICK_REPRODUCTION_NEEDS = ("joblib", "xgboost", "lightgbm", "catboost", "vega_datasets")


def _benchmark_folder(args: argparse.Namespace) -> None:
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)  # fail before the run, not after it


def _report_benchmark(args: argparse.Namespace, stem: str, title: str, result: dict, report: str) -> None:
    """Print ``report``; with ``--out``, also write ``STEM.json`` (the result) and ``STEM.md`` (title, command, report)."""
    from wordexperts.reporting import write_report

    print(report)
    if args.out:
        markdown = f"# {title}\n\nCommand: `{command_line(f'wordexperts bench {stem}')}`\n\n{report}\n"
        print_written(write_report(args.out, markdown, markdown_name=stem, data={stem: result}))


def _report_runs(args: argparse.Namespace, stem: str, title: str, description: str, report: str, runs) -> None:
    """Print ``report``; with ``--out``, also write ``STEM.md`` (title, command, description, report)
    and ``runs.csv``."""
    from wordexperts.reporting import write_report

    print(report)
    if args.out:
        markdown = f"# {title}\n\nCommand: `{command_line(f'wordexperts bench {stem}')}`\n\n{description}\n\n{report}\n"
        print_written(write_report(args.out, markdown, markdown_name=stem, tables={"runs": runs}))


def _bench_masking(args: argparse.Namespace) -> int:
    from .time_masking import masking_report, time_masking

    _benchmark_folder(args)
    rows, epochs = (500, 3) if args.quick else (args.rows, args.epochs)
    result = time_masking(rows=rows, epochs=epochs, batch_size=args.batch_size, seed=args.seed, n_threads=args.threads)
    _report_benchmark(args, "masking", "One pass vs row copying", result, masking_report(result))
    return 0


def _bench_fit(args: argparse.Namespace) -> int:
    from .time_fit import fit_report, time_fit_predict

    _benchmark_folder(args)
    epochs, repeats, rows = (5, 1, 10_000) if args.quick else (args.epochs, args.repeats, 100_000)
    result = time_fit_predict(epochs=epochs, repeats=repeats, predict_rows=rows, seed=args.seed, n_threads=args.threads)
    _report_benchmark(args, "fit", "Fit and predict speed", result, fit_report(result))
    return 0


def _bench_large(args: argparse.Namespace) -> int:
    from .time_fit import large_fit_report, time_large_fit

    _benchmark_folder(args)
    rows = 5_000 if args.quick else args.rows
    result = time_large_fit(rows=rows, seed=args.seed, n_threads=args.threads)
    _report_benchmark(args, "large", "A large table: our default fit against the peers'", result, large_fit_report(result))
    return 0


def _bench_members(args: argparse.Namespace) -> int:
    from .time_members import members_report, time_members

    _benchmark_folder(args)
    members, steps = ((1, 2), 3) if args.quick else (tuple(args.members), args.steps)
    result = time_members(members=members, steps=steps, batch_size=args.batch_size, seed=args.seed, n_threads=args.threads)
    _report_benchmark(args, "members", "What an ensemble costs per step", result, members_report(result))
    return 0


def _bench_speed(args: argparse.Namespace) -> int:
    from .speed import CONFIGURATIONS, quick_configurations, speed_description, speed_report, time_speed

    _benchmark_folder(args)
    configurations, epochs, repeats = (quick_configurations(), 1, 1) if args.quick else (CONFIGURATIONS, 3, 3)
    runs = time_speed(configurations, threads=tuple(args.threads), epochs=epochs, repeats=repeats, seed=args.seed)
    description = speed_description(runs, configurations, seed=args.seed)
    _report_runs(args, "speed", "Training and prediction rows per second", description, speed_report(runs), runs)
    return 0


def _bench_defaults(args: argparse.Namespace) -> int:
    from wordexperts.data.simulation import CONFIGURATIONS, PAPER_SEEDS
    from wordexperts.reporting import write_report

    from .defaults import CANDIDATES, defaults_report, rank_candidates, sweep
    from .tables import TASKS

    names = args.candidates or list(CANDIDATES)
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        raise ConfigError(f"unknown candidate(s) {unknown}; choose from {list(CANDIDATES)}")
    if args.quick:
        configurations, simulation_seeds = CONFIGURATIONS[:1], PAPER_SEEDS[:1]
        tasks, task_seeds = ["penguins/year", "midwest/state"], range(1)
    else:
        configurations, simulation_seeds = CONFIGURATIONS, PAPER_SEEDS[: args.simulation_seeds]
        tasks, task_seeds = list(TASKS), range(args.seeds)
    _benchmark_folder(args)
    runs = sweep(
        {name: CANDIDATES[name] for name in names}, configurations=configurations, simulation_seeds=simulation_seeds,
        tasks=tasks, task_seeds=task_seeds, jobs=args.jobs, threads=args.threads,
    )
    print(rank_candidates(runs).round(3).to_string(index=False))
    if args.out:
        report = defaults_report(runs, command=command_line("wordexperts bench defaults"))
        tables = {"runs": runs, "ranking": rank_candidates(runs)}
        print_written(write_report(args.out, report, markdown_name="defaults", tables=tables))
    return 0


def _bench_importances(args: argparse.Namespace) -> int:
    from wordexperts.reporting import markdown_table

    from .importances import importance_stability
    from .tables import TASKS

    _benchmark_folder(args)
    tasks, seeds = (TASKS[:2], range(2)) if args.quick else (args.tasks or TASKS, range(args.seeds))
    runs = importance_stability(tasks, seeds=seeds, threads=args.threads)
    summary = runs.groupby("method")[["spearman", "top_agrees"]].mean().reset_index()
    report = markdown_table(summary.round(3)) + "\n\nPer task:\n\n" + markdown_table(runs.round(3))
    description = (
        f"The default estimator fitted with seeds {list(seeds)} on each task's seed-0 training rows "
        "(the same rows every time), 1 thread per fit. `spearman`: mean over seed pairs of the Spearman "
        "correlation between the two rankings of the columns; `top_agrees`: share of seed pairs with the "
        "same top column. `importance` is `feature_importances_` (permutation on at most 2,000 of the fitted "
        "rows); `gates` the mean gate of the masked target on each column (`explain_summary`, summed over heads)."
    )
    title = "How stable are feature importances and gates across seeds?"
    _report_runs(args, "importances", title, description, report, runs)
    return 0


def _bench_regression(args: argparse.Namespace) -> int:
    from wordexperts.reporting import markdown_table

    from .regression import regression_runs, regression_summary
    from .tables import TASKS, load_task

    _benchmark_folder(args)
    regressions = [t for t in TASKS if load_task(t).kind == "regression"]
    tasks, seeds = (regressions[:1], range(1)) if args.quick else (args.tasks or regressions, range(args.seeds))
    runs = regression_runs(tasks, seeds=seeds, jobs=args.jobs, threads=args.threads)
    report = markdown_table(regression_summary(runs).round(3))
    description = (
        f"The default WordExpertsRegressor with `within_bin` on and off, seeds {list(seeds)}, each task's "
        "training rows; scored on its in-distribution test rows (`id`) and shifted rows (`ood`). "
        "`inside_0.5` / `inside_0.9`: share of rows inside the 50% / 90% `predict_interval`. Means over "
        "seeds; the last rows average the tasks."
    )
    title = "The regressor: within-bin means and prediction intervals"
    _report_runs(args, "regression", title, description, report, runs)
    return 0


def _bench_categories(args: argparse.Namespace) -> int:
    from wordexperts.reporting import markdown_table

    from .defaults import sweep_max_categories

    _benchmark_folder(args)
    values, seeds = ((30, 300), range(1)) if args.quick else (tuple(args.values), range(args.seeds))
    runs = sweep_max_categories(values, seeds=seeds)
    summary = runs.groupby("max_categories")[["fit_seconds", "accuracy", "kept"]].mean().reset_index()
    description = (
        "The default classifier on `zipf_table` (one 3,000-level column whose every level moves the "
        f"target), 4,000 training and 2,000 test rows, seeds {list(seeds)}, 1 thread; means over seeds."
    )
    report = markdown_table(summary.round(3))
    _report_runs(args, "categories", "What max_categories buys and costs", description, report, runs)
    return 0


def _bench_analogy(args: argparse.Namespace) -> int:
    from .time_analogy import analogy_report, time_glove_evaluation

    _benchmark_folder(args)
    result = time_glove_evaluation(protocol=args.protocol, threads=args.threads, quick=args.quick)
    _report_benchmark(args, "analogy", "Analogy evaluation speed", result, analogy_report(result, args.protocol))
    return 0


def _bench_ood(args: argparse.Namespace) -> int:
    from .ood import OOD_MODELS, QUICK_MODELS, QUICK_SEEDS, QUICK_TASKS, bench_ood
    from .report import ood_text, write_ood_report

    models = args.models or (QUICK_MODELS if args.quick else OOD_MODELS)
    tasks = args.tasks or (list(QUICK_TASKS) if args.quick else None)
    seeds = range(args.seeds) if args.seeds else (range(QUICK_SEEDS) if args.quick else None)
    _benchmark_folder(args)
    print(
        f"Real shifted tables: {len(tasks) if tasks else 'all'} tasks x "
        f"{len(seeds) if seeds is not None else '5 or 10 (small tables)'} seeds x {len(models)} models, "
        f"budget {args.budget}" + (f" ({args.tuner})" if args.budget > 1 else "") + f", {args.jobs} process(es)...",
        flush=True,
    )
    result = bench_ood(
        tasks=tasks, seeds=seeds, models=models, budget=args.budget, tuner=args.tuner,
        with_defaults=args.with_defaults, jobs=args.jobs, threads=args.threads, verbose=args.verbose,
    )
    print("\n" + ood_text(result))
    if args.out:
        print_written(write_ood_report(result, args.out, command_line("wordexperts bench ood")))
    return 0


def _configuration(text: str) -> tuple[int, float, float]:
    """argparse type: ``num_core/corr/x_noise``, e.g. ``5/0.9/0``."""
    try:
        num_core, corr, x_noise = text.split("/")
        return (int(num_core), float(corr), float(x_noise))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected num_core/corr/x_noise such as 5/0.9/0, got {text!r}") from None


def _reproduce_simulation(args: argparse.Namespace) -> int:
    from wordexperts.data import CONFIGURATIONS, PAPER_SEEDS

    from .report import simulation_text, write_simulation_report
    from .reproduce import (
        QUICK_CONFIGURATIONS,
        QUICK_SEEDS,
        SIMULATION_MODELS,
        SLOW_PAPER_BASELINES,
        reproduce_simulation,
    )

    models = list(args.models or SIMULATION_MODELS)
    if args.paper_baselines:
        if not args.configurations or not args.seeds:
            raise ConfigError(
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
        configurations=configurations,
        seeds=seeds,
        models=models,
        jobs=args.jobs,
        verbose=args.verbose,
        paper_root=args.paper_results,
    )
    print("\n" + simulation_text(result))
    if args.out:
        print_written(write_simulation_report(result, args.out, command_line("wordexperts reproduce simulation")))
    return 0


def _reproduce_auto_mpg(args: argparse.Namespace) -> int:
    from .report import auto_mpg_text, write_auto_mpg_report
    from .reproduce import (
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
    print("\n" + auto_mpg_text(result))
    if args.out:
        print_written(write_auto_mpg_report(result, args.out, command_line("wordexperts reproduce auto-mpg")))
    return 0


def missing_for_quick_reproductions() -> list[str]:
    """The modules of the ``[bench]`` extra that the quick reproductions need and this install lacks."""
    return [name for name in QUICK_REPRODUCTION_NEEDS if importlib.util.find_spec(name) is None]


def quick_reproductions(args: argparse.Namespace) -> int:
    """What ``wordexperts demo`` runs after its own part: both reproductions in their quick forms.

    Without the ``[bench]`` extra it says what to install and adds nothing to the exit status.
    """
    missing = missing_for_quick_reproductions()
    if missing:
        print(
            f'\nThe quick reproductions of the paper need `pip install "wordexperts[bench]"` '
            f"(missing: {', '.join(missing)}); skipped."
        )
        return 0
    from wordexperts.data import PAPER_SEEDS

    from .report import auto_mpg_text, simulation_text
    from .reproduce import (
        QUICK_AUTO_MPG_MODELS,
        QUICK_AUTO_MPG_SEEDS,
        QUICK_CONFIGURATIONS,
        QUICK_SEEDS,
        SIMULATION_MODELS,
        reproduce_auto_mpg,
        reproduce_simulation,
    )

    print(
        f"\nA table is a sentence. The paper's simulation, quick form ({len(QUICK_CONFIGURATIONS)} configurations x "
        f"{QUICK_SEEDS} seeds; `wordexperts reproduce simulation` runs all 12 x 20):",
        flush=True,
    )
    simulation = reproduce_simulation(
        configurations=QUICK_CONFIGURATIONS, seeds=PAPER_SEEDS[:QUICK_SEEDS], models=SIMULATION_MODELS, jobs=args.jobs
    )
    print("\n" + simulation_text(simulation))
    print(
        f"\nauto-mpg, quick form ({QUICK_AUTO_MPG_SEEDS} seeds; `wordexperts reproduce auto-mpg` runs 10):", flush=True
    )
    auto_mpg = reproduce_auto_mpg(seeds=range(QUICK_AUTO_MPG_SEEDS), models=QUICK_AUTO_MPG_MODELS, jobs=args.jobs)
    print("\n" + auto_mpg_text(auto_mpg))
    return 0


# ---- word analogies: training side by side, the gate sweep ----


def _analogy_corpus(args: argparse.Namespace):
    from wordexperts.data.corpora import SyntheticConfig, load_text_file, load_wiki_sample, synthetic_corpus

    if args.corpus == "synthetic":
        config = SyntheticConfig(gate_strength=args.gate_strength, n_sentences=args.sentences, seed=args.seed)
        return synthetic_corpus(config), config.dim
    if args.corpus == "wiki-sample":
        return load_wiki_sample(min_count=args.min_count), args.dim
    return load_text_file(args.corpus, min_count=args.min_count), args.dim


def _analogy_train(args: argparse.Namespace) -> int:
    from wordexperts.train import torch_threads

    from .analogy.embeddings import default_specs
    from .analogy.side_by_side import train_side_by_side, write_side_by_side_report

    corpus, dim = _analogy_corpus(args)
    specs = default_specs(dim, heads=args.heads, **({"epochs": args.epochs} if args.epochs else {}))
    with torch_threads(args.threads):
        result = train_side_by_side(corpus, specs, seed=args.seed, device=args.device, n_threads=args.threads)
    print(result.table.drop(columns=["name"], errors="ignore").to_string(index=False, float_format="{:.3f}".format))
    if args.out:
        print_written(write_side_by_side_report(result, args.out, command=command_line()))
    return 0


def _analogy_theory(args: argparse.Namespace) -> int:
    from wordexperts.data.corpora import SyntheticConfig
    from wordexperts.train import torch_threads

    from .analogy.side_by_side import gate_sweep, write_gate_sweep_report

    strengths = (0.0, 2.0) if args.quick else tuple(args.strengths)
    seeds = (0,) if args.quick else tuple(range(args.seeds))
    config = SyntheticConfig(n_sentences=5000 if args.quick else args.sentences)

    def progress(strength: float, seed: int, table) -> None:
        print(f"  gate strength {strength:g}, seed {seed}: done", flush=True)

    with torch_threads(args.threads):
        result = gate_sweep(strengths, seeds, config=config, n_threads=args.threads, callback=progress)
    print(result.summary.to_string(index=False, float_format="{:.3f}".format))
    if args.out:
        print_written(write_gate_sweep_report(result, args.out, command=command_line()))
    return 0


# ---- the parsers ----


def _add_benchmarks(commands) -> None:
    bench = commands.add_parser("bench", help="benchmarks")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    masking = benches.add_parser("masking", help="training time: one-pass masked logits vs row copying")
    add_seed_threads(masking)
    masking.add_argument("--rows", type=positive_int, default=2000, help="random rows (default 2000)")
    masking.add_argument("--epochs", type=positive_int, default=21, help="epochs per way, the first a warm-up (default 21)")
    masking.add_argument("--batch-size", type=positive_int, default=128, help="rows (or copies) per step (default 128)")
    masking.add_argument("--quick", action="store_true", help="500 rows, 3 epochs: a smoke run")
    masking.add_argument("--out", help="folder for masking.json and masking.md")
    masking.set_defaults(run=_bench_masking)

    fit = benches.add_parser("fit", help="paper-preset fit time (2000 x 6, 200 epochs) and predict throughput")
    add_seed_threads(fit)
    fit.add_argument("--epochs", type=positive_int, default=200, help="epochs per fit (default 200)")
    fit.add_argument("--repeats", type=positive_int, default=3, help="fits to time (default 3)")
    fit.add_argument("--quick", action="store_true", help="one fit of 5 epochs, 10,000 rows predicted")
    fit.add_argument("--out", help="folder for fit.json and fit.md")
    fit.set_defaults(run=_bench_fit)

    large = benches.add_parser("large", help="the default fit on a generated 100,000-row table, beside the peers'")
    add_seed_threads(large)
    large.add_argument("--rows", type=positive_int, default=100_000, help="rows (default 100,000; 8 feature columns)")
    large.add_argument("--quick", action="store_true", help="5,000 rows")
    large.add_argument("--out", help="folder for large.json and large.md")
    large.set_defaults(run=_bench_large)

    members = benches.add_parser("members", help="an ensemble's cost per step: k fast members vs k packed (vmap)")
    add_seed_threads(members)
    members.add_argument("--members", nargs="+", type=positive_int, default=[1, 4, 8], help="ensemble sizes (default 1 4 8)")
    members.add_argument("--steps", type=positive_int, default=30, help="steps timed per way (default 30)")
    members.add_argument("--batch-size", type=positive_int, default=128, help="rows per step (default 128)")
    members.add_argument("--quick", action="store_true", help="k = 1 and 2, 3 steps")
    members.add_argument("--out", help="folder for members.json and members.md")
    members.set_defaults(run=_bench_members)

    speed = benches.add_parser("speed", help="training and prediction rows/s: paper and 16-column models, 1-2 threads, CUDA")
    speed.add_argument("--seed", type=int, default=0, help="random seed of the generated tables and models (default 0)")
    speed.add_argument("--threads", nargs="+", type=positive_int, default=[1, 2], help="CPU thread counts (default 1 2)")
    speed.add_argument("--quick", action="store_true", help="a few hundred training rows, one epoch: under a minute")
    speed.add_argument("--out", help="folder for speed.md and runs.csv")
    speed.set_defaults(run=_bench_speed)

    chosen = benches.add_parser("defaults", help="candidate defaults on the simulation and the real suite together")
    chosen.add_argument("--candidates", nargs="+", metavar="NAME", help="candidates (default: all of defaults.CANDIDATES)")
    chosen.add_argument("--simulation-seeds", type=positive_int, default=2, help="paper seeds per configuration (default 2)")
    chosen.add_argument("--seeds", type=positive_int, default=2, help="seeds per suite task (default 2)")
    chosen.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1)")
    chosen.add_argument("--threads", type=positive_int, default=1, help="threads per process (default 1)")
    chosen.add_argument("--quick", action="store_true", help="one configuration, two tasks, one seed each")
    chosen.add_argument("--out", help="folder for defaults.md, runs.csv and ranking.csv")
    chosen.set_defaults(run=_bench_defaults)

    categories = benches.add_parser("categories", help="max_categories on a table with a 3,000-level column")
    categories.add_argument("--values", nargs="+", type=positive_int, default=[30, 100, 300, 1000], help="values tried")
    categories.add_argument("--seeds", type=positive_int, default=3, help="seeds (default 3)")
    categories.add_argument("--quick", action="store_true", help="two values, one seed")
    categories.add_argument("--out", help="folder for categories.md and runs.csv")
    categories.set_defaults(run=_bench_categories)

    regression = benches.add_parser("regression", help="the regressor's within-bin means and intervals, suite tasks")
    regression.add_argument("--tasks", nargs="+", metavar="TASK", help="regression tasks (default: all)")
    regression.add_argument("--seeds", type=positive_int, default=3, help="seeds (default 3)")
    regression.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1)")
    regression.add_argument("--threads", type=positive_int, default=1, help="torch threads per fit (default 1)")
    regression.add_argument("--quick", action="store_true", help="one task, one seed")
    regression.add_argument("--out", help="folder for regression.md and runs.csv")
    regression.set_defaults(run=_bench_regression)

    importances = benches.add_parser("importances", help="feature importances and gates: how stable across seeds")
    importances.add_argument("--tasks", nargs="+", metavar="TASK", help="suite tasks (default: all)")
    importances.add_argument("--seeds", type=positive_int, default=3, help="model seeds (default 3)")
    importances.add_argument("--threads", type=positive_int, default=1, help="torch threads per fit (default 1)")
    importances.add_argument("--quick", action="store_true", help="two tasks, two seeds")
    importances.add_argument("--out", help="folder for importances.md and runs.csv")
    importances.set_defaults(run=_bench_importances)

    analogy = benches.add_parser("analogy", help="the Google analogy set against all 400,000 GloVe words: time, memory")
    analogy.add_argument("--threads", type=positive_int, default=2, help="BLAS threads (default 2)")
    analogy.add_argument("--protocol", choices=["paper", "gensim"], default="gensim")
    analogy.add_argument("--quick", action="store_true", help="the 30,000 most frequent words only")
    analogy.add_argument("--out", help="folder for analogy.json and analogy.md")
    analogy.set_defaults(run=_bench_analogy)

    ood = benches.add_parser("ood", help="real tables with natural shifts: ours against every peer, in and out of distribution")
    _comparison(ood, "five small tasks (3 classification, 2 regression), 2 seeds, five cheap models: well under a minute")
    ood.add_argument("--tasks", nargs="+", metavar="TASK", help="task names (default: all)")
    ood.add_argument(
        "--budget",
        type=positive_int,
        default=1,
        help="configurations (grid) or trials (optuna) per model, chosen on an in-distribution split "
        "(default 1: the libraries' defaults)",
    )
    ood.add_argument(
        "--tuner",
        choices=["grid", "optuna"],
        default="grid",
        help="grid: the first BUDGET configurations of each peer's grid (ours untuned); optuna: BUDGET TPE trials "
        "over each model's search space, ours included, defaults first (default grid)",
    )
    ood.add_argument(
        "--with-defaults", action="store_true", help="with --budget > 1, also run the defaults: both tables in the report"
    )
    ood.add_argument("--threads", type=positive_int, default=1, help="threads per worker process (default 1)")
    ood.set_defaults(run=_bench_ood)


def _comparison(p: argparse.ArgumentParser, quick: str) -> None:
    p.add_argument("--quick", action="store_true", help=quick)
    p.add_argument("--seeds", type=positive_int, help="number of seeds")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="model keys (default: all of this comparison's)")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes, one thread each (default 2)")
    p.add_argument("--out", help="folder for report.md, the CSVs and the plots")
    p.add_argument("--verbose", type=int, default=0, help=argparse.SUPPRESS)


def _add_reproductions(commands) -> None:
    reproduce = commands.add_parser("reproduce", help="reproduce the paper's tabular tables (paper.md §2)")
    reproductions = reproduce.add_subparsers(dest="reproduction", required=True, metavar="TABLE")
    simulation = reproductions.add_parser("simulation", help="Tables 3-4: 12 configurations x 20 seeds of the simulation")
    _comparison(simulation, "4 configurations x 2 seeds (under a minute)")
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
    simulation.add_argument(
        "--paper-results",
        metavar="DIR",
        help="a folder of the authors' simulation_*.csv to compare with (default: the copies shipped with wordexperts)",
    )
    simulation.set_defaults(run=_reproduce_simulation)
    auto_mpg = reproductions.add_parser("auto-mpg", help="Table 5: train on US cars, test on European and Japanese ones")
    _comparison(auto_mpg, "3 seeds, no transformers or ensemble")
    auto_mpg.set_defaults(run=_reproduce_auto_mpg)


def _add_analogy_experiments(analogies) -> None:
    train = analogies.add_parser("train", help="CBOW, skip-gram, attention and word experts on one corpus, evaluated")
    train.add_argument(
        "--corpus",
        default="synthetic",
        metavar="synthetic|wiki-sample|PATH",
        help="synthetic (planted analogies; default), gensim's Wikipedia sample, or a text file",
    )
    train.add_argument("--gate-strength", type=float, default=0.0, help="synthetic: word dependence of the gates (0 = CBOW)")
    train.add_argument("--sentences", type=positive_int, default=40_000, help="synthetic: sentences (default 40,000)")
    train.add_argument("--min-count", type=positive_int, default=5, help="real text: rarer words dropped (default 5)")
    train.add_argument("--dim", type=positive_int, default=32, help="real text: embedding width (synthetic: its true width)")
    train.add_argument("--heads", type=positive_int, default=4, help="heads of the multi-head attention model (default 4)")
    train.add_argument("--epochs", type=positive_int, help="attention epochs (default: enough for the synthetic corpus)")
    train.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    train.add_argument("--out", help="folder for report.md, CSVs and accuracy.png")
    add_seed_threads(train)
    train.set_defaults(run=_analogy_train)

    theory = analogies.add_parser("theory", help="sweep the gates' word dependence: analogies of attention vs CBOW")
    theory.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    theory.add_argument("--seeds", type=positive_int, default=3, help="seeds per strength (default 3)")
    theory.add_argument("--sentences", type=positive_int, default=40_000, help="sentences per corpus (default 40,000)")
    theory.add_argument("--quick", action="store_true", help="strengths 0 and 2, one seed, 5,000 sentences")
    theory.add_argument("--out", help="folder for report.md, CSVs and gate_sweep.png")
    add_seed_threads(theory)
    theory.set_defaults(run=_analogy_theory)


def extend(*, commands, analogies) -> None:
    """The hook ``wordexperts.cli.build_parser`` calls: add the experiments' commands.

    ``commands`` is the top-level subparsers action, ``analogies`` the ``analogy`` one; the
    ``demo`` command gets the quick reproductions as its second part.
    """
    _add_benchmarks(commands)
    _add_reproductions(commands)
    _add_analogy_experiments(analogies)
    demo = commands.choices["demo"]
    demo.add_argument("--jobs", type=positive_int, default=2, help="worker processes for the reproductions (default 2)")
    demo.set_defaults(then=quick_reproductions)
