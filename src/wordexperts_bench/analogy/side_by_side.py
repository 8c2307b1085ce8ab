"""Word-analogy experiments (paper.md §3): embeddings side by side, and the gate sweep.

- :func:`train_side_by_side`: word2vec and the masked language models trained on one corpus,
  every candidate embedding evaluated on the same questions (those every embedding can
  answer), with throughput and, for the attention models, the theory's diagnostics.
- :func:`gate_sweep`: synthetic corpora with planted analogies, the generator's
  ``gate_strength`` swept over several seeds: top-1 accuracy of every embedding with a 95%
  interval over seeds, and the diagnostics of :mod:`wordexperts.analogy.theory` per strength.
- :func:`write_side_by_side_report`, :func:`write_gate_sweep_report`: ``report.md``, CSV
  tables and PNG plots, written atomically. The computing functions return data only.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from wordexperts.analogy.evaluate import answerable_intersection, evaluate_analogies, read_questions
from wordexperts.analogy.theory import gate_inequality, planted_experts, random_questions, ratio_condition, summarize
from wordexperts.core import BidirectionalAttention, WordExperts
from wordexperts.data.corpora import Corpus, SyntheticConfig, synthetic_corpus
from wordexperts.reporting import interval_table, markdown_table, report_header, write_report

from .embeddings import (
    AttentionSpec,
    Embedding,
    Spec,
    default_specs,
    spec_table,
    train_embeddings,
    train_mlm_model,
)

GATE_MEASURES = ["gate_ratio", "gate_cv", "odds_ratio"]
RATIO_MEASURES = ["spread", "noise", "excess"]


# ---- evaluation of many embeddings on one question set ----


def evaluate_embeddings(
    embeddings: dict[str, Embedding],
    questions: pd.DataFrame,
    *,
    common: bool = True,
    **evaluate_kwargs,
) -> pd.DataFrame:
    """Top-1 accuracy and mean cos(f, d) of every embedding: one row each.

    With ``common=True`` every embedding is scored on the questions all of them can answer
    (as the paper's tables are). Columns: ``name, model, embedding, dim, words, answered,
    correct, accuracy, semantic, syntactic, mean_cos, chance`` (``chance = 1 / (words - 3)``,
    a uniform guess). Extra keyword arguments go to ``evaluate_analogies``.
    """
    results = {name: evaluate_analogies(m, w, questions, **evaluate_kwargs) for name, (m, w) in embeddings.items()}
    if common:
        ids = answerable_intersection(*results.values())
        results = {name: r.subset(ids) for name, r in results.items()}
    rows = []
    for name, result in results.items():
        matrix, words = embeddings[name]
        s = result.summary
        rows.append({
            "name": name, "model": name.split(":")[0], "embedding": name.split(":", 1)[-1],
            "dim": matrix.shape[1], "words": len(words),
            "answered": int(s.loc["all", "answered"]), "correct": int(s.loc["all", "correct"]),
            "accuracy": s.loc["all", "accuracy"], "semantic": s.loc["semantic", "accuracy"],
            "syntactic": s.loc["syntactic", "accuracy"], "mean_cos": s.loc["all", "mean_cos"],
            "chance": 1.0 / max(len(words) - 3, 1),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _mlm_models(models: dict[str, object]) -> dict[str, BidirectionalAttention | WordExperts]:
    return {
        name: m
        for name, m in models.items()
        if isinstance(m, (BidirectionalAttention, WordExperts)) and m.config.n_layers == 1
    }


@torch.no_grad()
def truth_loss(corpus: Corpus, windows: np.ndarray) -> float:
    """Masked-LM loss of the generator's stated conditionals on ``windows`` (synthetic corpora).

    A fitted model below it has found the sampler's law sharper than the stated model (see
    :func:`~wordexperts.data.corpora.synthetic_corpus` on pseudo-Gibbs sampling).
    """
    return float(planted_experts(corpus.truth).mlm_loss(torch.from_numpy(windows)))


def _diagnostics(corpus: Corpus, questions: pd.DataFrame, models: dict, windows: np.ndarray, *, n_random: int, seed: int):
    """Gate inequality per model (and for the truth), and the ratio condition vs random quadruples."""
    words = corpus.words
    sources = dict(_mlm_models(models))
    if corpus.truth is not None:
        sources = {"truth": planted_experts(corpus.truth), **sources}
    gates = [
        gate_inequality(model, questions, words, windows).assign(model=name) for name, model in sources.items()
    ]
    gates = pd.concat(gates, ignore_index=True) if gates else pd.DataFrame()
    counts = np.bincount(windows.ravel(), minlength=len(words))
    asked = set(questions[["a", "b", "c", "d"]].to_numpy().ravel())
    pool = [w for w, n in zip(words, counts) if n > 0 and (corpus.truth is not None or w in asked)]
    control = random_questions(words, n_random, seed=seed, pool=pool)
    ratio = pd.concat(
        [
            ratio_condition(windows, questions, words).assign(set="questions"),
            ratio_condition(windows, control, words).assign(set="random"),
        ],
        ignore_index=True,
    )
    return gates, ratio


# ---- side by side ----


@dataclass(eq=False)
class SideBySideResult:
    """What :func:`train_side_by_side` returns.

    ``table``: one row per embedding (:func:`evaluate_embeddings`); ``timings``: one row per
    model (``train_embeddings``); ``gates``: per question, head and MLM model (and ``truth``
    for a synthetic corpus), :func:`~wordexperts.analogy.theory.gate_inequality`; ``ratio``:
    per question (``set="questions"``) and random quadruple (``set="random"``),
    :func:`~wordexperts.analogy.theory.ratio_condition`.
    """

    corpus: dict
    table: pd.DataFrame
    timings: pd.DataFrame
    specs: pd.DataFrame
    gates: pd.DataFrame | None = None
    ratio: pd.DataFrame | None = None
    settings: dict = field(default_factory=dict)


def train_side_by_side(
    corpus: Corpus,
    specs: list[Spec] | None = None,
    *,
    questions: pd.DataFrame | None = None,
    length: int | None = None,
    stride: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    n_threads: int | None = 1,
    protocol: str = "paper",
    method: str = "3cosadd",
    restrict_vocab: int | None = None,
    lowercase: bool = True,
    theory: bool = True,
    n_random: int = 200,
) -> SideBySideResult:
    """Train ``specs`` (default :func:`~wordexperts_bench.analogy.embeddings.default_specs`) on
    ``corpus``, evaluate every candidate embedding, measure the theory's conditions.

    ``questions`` default to the corpus's own (planted ones for a synthetic corpus), else the
    Google set. With ``lowercase`` (default, as the corpora are tokenised) the question words
    are lower-cased, for the evaluator and the diagnostics alike. Throughput and losses are
    in ``timings``; for a synthetic corpus ``settings["truth_loss"]`` is the stated model's
    masked-LM loss on the same windows.
    """
    if questions is None:
        questions = corpus.questions if len(corpus.questions) else read_questions().questions
    if lowercase:
        questions = questions.assign(**{c: questions[c].astype(str).str.lower() for c in ("a", "b", "c", "d")})
    trained = train_embeddings(corpus, specs, length=length, stride=stride, seed=seed, device=device, n_threads=n_threads)
    table = evaluate_embeddings(
        trained.embeddings, questions, protocol=protocol, method=method, restrict_vocab=restrict_vocab, lowercase=lowercase
    )
    settings = {
        "seed": seed, "device": str(device), "n_threads": n_threads, "protocol": protocol, "method": method,
        "restrict_vocab": restrict_vocab, "lowercase": lowercase, "questions": len(questions), "windows": list(trained.windows.shape)
        if trained.windows is not None else None,
    }  # fmt: skip
    gates = ratio = None
    if trained.windows is not None:
        if corpus.truth is not None:
            settings["truth_loss"] = truth_loss(corpus, trained.windows)
        if theory:
            gates, ratio = _diagnostics(corpus, questions, trained.models, trained.windows, n_random=n_random, seed=seed)
    return SideBySideResult(trained.corpus, table, trained.timings, spec_table(trained.specs), gates, ratio, settings)


def measure_throughput(
    corpus: Corpus,
    specs: list[AttentionSpec],
    *,
    devices: tuple[str, ...] | None = None,
    epochs: int = 3,
    length: int | None = None,
    seed: int = 0,
    n_threads: int | None = 1,
) -> pd.DataFrame:
    """Masked-LM training throughput (window tokens a second) of each spec on each device.

    ``devices`` default to ``("cpu",)``, plus ``"cuda"`` when available. Each spec is trained
    ``epochs`` epochs on the corpus's windows; with more than one, the first (warm-up) is left
    out of the rate. Every window token is one masked prediction.
    """
    if devices is None:
        devices = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    if length is None:
        length = corpus.truth.config.length if corpus.truth is not None else 8
    windows = corpus.windows(length)
    rows = []
    for device in devices:
        for spec in specs:
            model, history = train_mlm_model(
                windows, len(corpus.words), replace(spec, epochs=epochs), seed=seed, device=device, n_threads=n_threads
            )
            timed = history.seconds[1:] if len(history.seconds) > 1 else history.seconds
            rows.append({
                "model": spec.name, "device": device, "window_tokens": windows.size, "epochs_timed": len(timed),
                "seconds_per_epoch": float(np.mean(timed)), "tokens_per_second": windows.size * len(timed) / sum(timed),
                "parameters": sum(p.numel() for p in model.parameters()), "n_threads": n_threads,
            })  # fmt: skip
    return pd.DataFrame(rows)


# ---- the gate sweep ----


@dataclass(eq=False)
class GateSweepResult:
    """What :func:`gate_sweep` returns.

    ``runs``: one row per (strength, seed, embedding): accuracy, mean_cos, answered.
    ``summary``: per (strength, embedding): ``seeds``, mean accuracy with its 95% interval
    (``accuracy_low``, ``accuracy_high``: Student t over seeds, clipped to [0, 1]) and the
    same for mean_cos (clipped to [-1, 1]).
    ``models``: per (strength, seed, model): final loss, the truth's loss, throughput.
    ``theory``: long form, per (strength, seed, source, measure): the median over questions
    of each diagnostic (source ``truth`` or a model for the gates; ``questions`` or
    ``random`` for the ratio condition); ``theory_summary`` its mean and interval over seeds.
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    models: pd.DataFrame
    theory: pd.DataFrame
    theory_summary: pd.DataFrame
    settings: dict = field(default_factory=dict)


def gate_sweep(
    strengths: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0),
    seeds: tuple[int, ...] = (0, 1, 2),
    *,
    config: SyntheticConfig | None = None,
    specs: list[Spec] | None = None,
    device: str | torch.device = "cpu",
    n_threads: int | None = 1,
    n_random: int = 200,
    callback=None,
) -> GateSweepResult:
    """Analogy accuracy of every embedding against the generator's ``gate_strength``.

    For each strength and seed: a synthetic corpus (``config`` with that ``gate_strength`` and
    ``seed``; default :class:`~wordexperts.data.corpora.SyntheticConfig`), every spec trained
    on it (default :func:`~wordexperts_bench.analogy.embeddings.default_specs` at the config's ``dim``) with the same seed, every
    candidate embedding scored on the planted questions, and the theory's diagnostics: gate
    inequality of the truth and of each trained MLM, and the ratio condition on the corpus
    for the planted questions and for ``n_random`` random quadruples. ``callback(strength,
    seed, table)``, if given, runs after each corpus (for progress).
    """
    base = SyntheticConfig() if config is None else config
    specs = default_specs(base.dim) if specs is None else specs
    runs, models, theory = [], [], []
    for strength in strengths:
        for seed in seeds:
            corpus = synthetic_corpus(replace(base, gate_strength=float(strength), seed=int(seed)))
            result = train_side_by_side(
                corpus, specs, seed=int(seed), device=device, n_threads=n_threads, n_random=n_random
            )
            key = {"strength": float(strength), "seed": int(seed)}
            runs.append(result.table.assign(**key))
            loss = result.settings.get("truth_loss", math.nan)
            models.append(result.timings.assign(truth_loss=loss, excess_loss=result.timings["final_loss"] - loss, **key))
            if result.gates is not None and len(result.gates):
                per_head = result.gates.groupby(["model", "head"], sort=False)[GATE_MEASURES].median()
                worst = per_head.groupby(level="model", sort=False).max()  # the least equal head
                for source, row in worst.iterrows():
                    theory += [{**key, "source": source, "measure": m, "value": row[m]} for m in GATE_MEASURES]
            if result.ratio is not None:
                medians = result.ratio.groupby("set", sort=False)[RATIO_MEASURES].median()
                for source, row in medians.iterrows():
                    theory += [{**key, "source": source, "measure": f"ratio_{m}", "value": row[m]} for m in RATIO_MEASURES]
            if callback is not None:
                callback(strength, seed, result.table)
    runs = pd.concat(runs, ignore_index=True)
    models = pd.concat(models, ignore_index=True)
    theory = pd.DataFrame(theory)
    summary = interval_table(
        runs, ["strength", "name", "model", "embedding"], ["accuracy", "mean_cos"],
        bounds={"accuracy": (0.0, 1.0), "mean_cos": (-1.0, 1.0)},
    )  # fmt: skip
    theory_summary = interval_table(theory, ["strength", "source", "measure"], ["value"])
    settings = {
        "strengths": list(map(float, strengths)), "seeds": list(map(int, seeds)), "config": asdict(base),
        "specs": spec_table(specs).to_dict(orient="records"), "device": str(device), "n_threads": n_threads,
        "n_random": n_random,
    }  # fmt: skip
    return GateSweepResult(runs, summary, models, theory, theory_summary, settings)


# ---- reports ----


def side_by_side_figure(result: SideBySideResult):
    """Horizontal bars: top-1 accuracy of every embedding, with the chance level. A Figure (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = result.table
    figure = Figure(figsize=(7, 0.28 * len(table) + 1.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    models = list(dict.fromkeys(table["model"]))
    colours = {m: f"C{k}" for k, m in enumerate(models)}
    positions = np.arange(len(table))
    axes.barh(positions, table["accuracy"].fillna(0), color=[colours[m] for m in table["model"]])
    axes.set_yticks(positions, table["name"], fontsize=8)
    axes.invert_yaxis()
    axes.axvline(float(table["chance"].max()), color="k", linestyle=":", linewidth=1, label="chance")
    axes.set_xlim(0, 1)
    axes.set_xlabel(f"top-1 accuracy ({int(table['answered'].max()):,} questions)")
    axes.set_title(f"analogies on {result.corpus.get('corpus', 'corpus')}")
    axes.legend(loc="lower right", fontsize=8)
    return figure


def write_side_by_side_report(
    result: SideBySideResult, out_dir: str | os.PathLike, *, command: str | None = None
) -> dict[str, str]:
    """Write ``report.md``, ``side_by_side.csv``, ``timings.csv``, ``gates.csv``, ``ratio.csv``
    and ``accuracy.png`` to ``out_dir``; return ``{file name: path}``."""
    figure = side_by_side_figure(result)
    tables = {"side_by_side": result.table, "timings": result.timings}
    lines = report_header(f"Word analogies side by side: {result.corpus.get('corpus')}", command)
    lines += ["## Corpus", "", markdown_table(pd.DataFrame([result.corpus])), ""]
    lines += [
        "## Top-1 accuracy and mean cos(f, d)", "",
        (f"Protocol `{result.settings.get('protocol')}`, method `{result.settings.get('method')}`, on the questions "
         "every embedding can answer."), "",
        markdown_table(result.table.drop(columns=["name"])), "",
        "## Training", "",
        ("Throughput: tokens seen per second of training (word2vec: corpus tokens x epochs; masked LMs: window "
         "tokens x epochs, every token a masked prediction)."), "",
        markdown_table(result.timings), "",
    ]  # fmt: skip
    if "truth_loss" in result.settings:
        loss = result.settings["truth_loss"]
        lines += [f"Masked-LM loss of the generator's stated conditionals on the same windows: {loss:.4f}.", ""]
    if result.gates is not None and len(result.gates):
        gates = pd.concat(
            [summarize(g, GATE_MEASURES, by="section").assign(model=m) for m, g in result.gates.groupby("model", sort=False)]
        )
        lines += [
            "## Gate inequality of the four words of each question", "",
            ("Median over questions (all heads pooled) of: max/min mean gate of the four words as context words "
             "(uniform gates: 1), their coefficient of variation, and the gate odds ratio exp(max - min score)."), "",
            markdown_table(gates[["model", "section", "rows", *[f"{m}_median" for m in GATE_MEASURES]]]), "",
        ]  # fmt: skip
        tables["gates"] = result.gates
    if result.ratio is not None:
        ratio = pd.concat(
            [summarize(g, RATIO_MEASURES, by="section").assign(set=s) for s, g in result.ratio.groupby("set", sort=False)]
        )
        lines += [
            "## Ratio condition p(w|a)/p(w|b) = p(w|c)/p(w|d) in the windows", "",
            ("Weighted spread over w of log p(w|a) - log p(w|b) - log p(w|c) + log p(w|d); noise: the spread "
             "finite counts alone give; excess: the rest. Medians over questions; random: quadruples of random "
             "words."), "",
            markdown_table(ratio[["set", "section", "rows", *[f"{m}_median" for m in RATIO_MEASURES]]]), "",
        ]  # fmt: skip
        tables["ratio"] = result.ratio
    lines += ["## Settings", "", markdown_table(pd.DataFrame([result.settings]).astype(str)), "",
              markdown_table(result.specs.astype(str)), ""]  # fmt: skip
    return write_report(out_dir, "\n".join(lines), tables=tables, figures={"accuracy": figure})


def gate_sweep_figure(result: GateSweepResult, names: list[str] | None = None):
    """Left: accuracy against gate strength with 95% intervals; right: the diagnostics. A Figure (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    summary = result.summary
    names = names or _headline_names(summary)
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    left, middle, right = figure.subplots(1, 3)
    for k, name in enumerate(names):
        s = summary[summary["name"] == name].sort_values("strength")
        style = "--" if name.endswith(":rho") else "-"
        left.plot(s["strength"], s["accuracy"], style, marker="o", color=f"C{k}", label=name)
        left.fill_between(s["strength"], s["accuracy_low"], s["accuracy_high"], color=f"C{k}", alpha=0.08)
    left.set_xlabel("gate_strength")
    left.set_ylabel("top-1 accuracy, planted analogies")
    left.set_ylim(0, 1.02)
    left.legend(fontsize=7)
    left.set_title("analogies vs gate strength (95% interval)")
    theory = result.theory_summary
    gates = theory[theory["measure"] == "gate_ratio"]
    for k, source in enumerate(dict.fromkeys(gates["source"])):
        s = gates[gates["source"] == source].sort_values("strength")
        yerr = _yerr(s, positive=True)
        middle.errorbar(s["strength"], s["value"], yerr=yerr, marker="o", capsize=3, label=source, color=f"C{k}")
    middle.set_yscale("log")
    middle.set_ylim(bottom=0.9)  # the ratio is at least 1
    middle.set_xlabel("gate_strength")
    middle.set_ylabel("median max/min mean gate of a question's words")
    middle.legend(fontsize=7)
    middle.set_title("gate inequality (worst head)")
    ratio = theory[theory["measure"] == "ratio_excess"]
    for k, source in enumerate(dict.fromkeys(ratio["source"])):
        s = ratio[ratio["source"] == source].sort_values("strength")
        right.errorbar(s["strength"], s["value"], yerr=_yerr(s), marker="o", capsize=3, label=source, color=f"C{k}")
    right.set_xlabel("gate_strength")
    right.set_ylabel("median excess spread of the log ratio")
    right.legend(fontsize=7)
    right.set_title("ratio condition in the corpus")
    return figure


def _yerr(s: pd.DataFrame, *, positive: bool = False) -> np.ndarray:
    """Error bar lengths; with ``positive`` the lower bar stops above zero (log axes)."""
    floor = s["value"] * 0.999 if positive else np.inf
    low = np.minimum(s["value"] - s["value_low"], floor).clip(lower=0).fillna(0)
    high = (s["value_high"] - s["value"]).clip(lower=0).fillna(0)
    return np.vstack([low.to_numpy(), high.to_numpy()])


def _headline_names(summary: pd.DataFrame) -> list[str]:
    """word2vec's input vectors; the MLMs' (summed) expert vectors and output embeddings."""
    names = list(dict.fromkeys(summary["name"]))
    wanted = [n for n in names if n.endswith((":input", ":alpha", ":alpha-sum")) or (":alpha" not in n and n.endswith(":rho"))]
    return wanted or names[:6]


def write_gate_sweep_report(
    result: GateSweepResult, out_dir: str | os.PathLike, *, command: str | None = None
) -> dict[str, str]:
    """Write ``report.md``, ``runs.csv``, ``summary.csv``, ``models.csv``, ``theory.csv``,
    ``theory_summary.csv`` and ``gate_sweep.png`` to ``out_dir``; return ``{file name: path}``."""
    figure = gate_sweep_figure(result)
    summary = result.summary
    strengths = sorted(summary["strength"].unique())

    def pivot(frame: pd.DataFrame, index: str, value: str) -> pd.DataFrame:
        cells = frame.assign(
            cell=[
                f"{m:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{m:.3f}"
                for m, lo, hi in zip(frame[value], frame[f"{value}_low"], frame[f"{value}_high"])
            ]
        )
        table = cells.pivot(index=index, columns="strength", values="cell").reindex(columns=strengths)
        table.columns = [f"g={s:g}" for s in table.columns]
        return table.reindex(list(dict.fromkeys(frame[index]))).reset_index()

    theory = result.theory_summary.assign(key=lambda t: t["source"] + ": " + t["measure"])
    losses = ["final_loss", "truth_loss", "excess_loss", "tokens_per_second"]
    models = result.models.groupby(["strength", "model"], sort=False)[losses].mean()
    config = result.settings.get("config", {})
    fixed = ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("gate_strength", "seed"))
    lines = report_header("Word analogies against the gate strength of the generator", command)
    lines += [
        (f"Synthetic corpora (`SyntheticConfig`: {fixed}); seeds {result.settings.get('seeds')}; each cell: mean "
         "over seeds [95% Student-t interval, clipped to the measure's range]."), "",
        "## Top-1 accuracy on the planted analogies", "",
        markdown_table(pivot(summary, "name", "accuracy")), "",
        "## Mean cos(f, d)", "",
        markdown_table(pivot(summary, "name", "mean_cos")), "",
        "## Theory diagnostics (medians over questions, worst head; mean over seeds)", "",
        ("`gate_ratio`: max/min mean gate of a question's four words (1 = equal); `odds_ratio`: exp(max - min gate "
         "score); `ratio_excess`: spread of the log-ratio difference beyond count noise, for the planted questions "
         "and for random quadruples."), "",
        markdown_table(pivot(theory, "key", "value")), "",
        "## Losses and throughput (mean over seeds)", "",
        ("`truth_loss`: the stated conditionals' masked-LM loss on the corpus; a fitted model below it shows "
         "the pseudo-Gibbs corpus is not distributed by those conditionals."), "",
        markdown_table(models.reset_index()), "",
    ]  # fmt: skip
    tables = {
        "runs": result.runs,
        "summary": result.summary,
        "models": result.models,
        "theory": result.theory,
        "theory_summary": result.theory_summary,
    }
    return write_report(out_dir, "\n".join(lines), tables=tables, figures={"gate_sweep": figure})
