"""Linear word analogies (paper.md §3): the Google analogy set and one fast evaluator, two protocols.

A question ``a b c d`` (``athens greece baghdad iraq``) asks for the word ``d`` nearest, by
cosine, to the query ``f = b - a + c``, the words ``a``, ``b`` and ``c`` excluded::

    protocol  query f                 words searched                         question words
    "paper"   x_b - x_a + x_c  (raw)  all, or those in candidates=;          lowercased, then
                                      less a, b, c                           matched exactly
    "gensim"  u_b + u_c - u_a         the first restrict_vocab (300000);     upper-cased, as the
              (u = x / |x|)           less every case variant of a, b, c     words (first variant)

``"paper"`` is the authors' protocol (raw input embeddings, Tables 1-2); ``"gensim"`` is
``KeyedVectors.evaluate_word_analogies`` question for question (its ``case_insensitive`` is
``lowercase``, its ``dummy4unknown`` is ``oov="wrong"``). ``method="3cosmul"`` ranks by Levy &
Goldberg's (2014) ``cos'(w, b) cos'(w, c) / (cos'(w, a) + eps)``, ``cos' = (1 + cos) / 2``,
``eps = 1e-3``: cosines do not see the vectors' lengths, so under both protocols it differs only
in the words searched and the case handling. (gensim's own ``most_similar_cosmul`` uses
``eps = 1e-6`` and ignores ``restrict_vocab``.)

A question is *answerable* when its four words are in the searched vocabulary (under
``"paper"`` with ``candidates=``, all four must pass the filter, as the paper's BERT filter
asks); other questions are skipped (``oov="skip"``) or counted wrong (``oov="wrong"``).

The search is a matrix product: the unit queries of a chunk of questions ``(chunk, d)``
against the unit vectors of a block of searched words ``(block, d)``, one float32 score matrix
``(chunk, block)`` of at most 128 MiB at a time, a, b, c set to ``-inf``, argmax, and a running
maximum over the blocks.
Ties go to the lowest index, the most frequent word in a frequency-ordered vocabulary (gensim
orders exact ties by ``np.argsort``, unspecified). gensim scores ``(X @ f) / |x|`` one question
at a time, this ``U @ f`` in blocks: the float32 roundings differ, so two words within about
1e-7 of each other could swap. On GloVe 6B 50d, restricted to 20,000, 30,000 and all 400,000
words, every answered question agrees with gensim (20,000: tests/analogy).

Decisions on bad input: duplicate vocabulary entries are an error naming a few (which vector
would a duplicated word mean?); non-finite rows are an error naming how many and a word;
all-zero rows have no direction: they are left out of the searched words (counted in
``AnalogyResult.excluded_rows``), so questions using them are unanswerable.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..checks import check_positive_int
from ..errors import DataError

SEMANTIC, SYNTACTIC, ALL = "semantic", "syntactic", "all"
PROTOCOLS = ("paper", "gensim")
METHODS = ("3cosadd", "3cosmul")
OOV_POLICIES = ("skip", "wrong")
GENSIM_RESTRICT_VOCAB = 300_000  # gensim's default for evaluate_word_analogies
COSMUL_EPS = 1e-3  # Levy & Goldberg (2014)
SCORE_BUDGET = 2**25  # float32 scores held at once: 128 MiB
MIN_CHUNK = 512  # queries per product: fewer leave BLAS repacking the words for too little work
BERT_WHOLE_WORDS = (1996, 29612)  # bert-base-uncased: whole words from "the" to before "##!"
REPORTED_LINES = 5  # line numbers kept per kind of skipped line
SUMMARY_COLUMNS = ["section", "questions", "answerable", "answered", "correct", "accuracy", "mean_cos"]


def section_of(category: str) -> str:
    """``"syntactic"`` for the Google set's ``gram*`` categories, ``"semantic"`` for the others."""
    return SYNTACTIC if category.startswith("gram") else SEMANTIC


# ---------------------------------------------------------------------------------------------
# The questions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalogySet:
    """Analogy questions as read from a file.

    ``questions``: one row per question, indexed by question id (0, 1, ... in file order),
    columns ``category, section, a, b, c, d, line`` (``line``: 1-based line number). Words keep
    the file's case. Duplicate questions are kept, as gensim keeps them.
    ``skipped``: how many ``blank``, ``comment`` and ``malformed`` lines were passed over;
    ``first_skipped``: the first line numbers of each kind.
    """

    questions: pd.DataFrame
    source: str | None = None
    skipped: dict[str, int] = field(default_factory=lambda: {"blank": 0, "comment": 0, "malformed": 0})
    first_skipped: dict[str, list[int]] = field(default_factory=lambda: {"blank": [], "comment": [], "malformed": []})

    def __len__(self) -> int:
        return len(self.questions)

    @property
    def categories(self) -> list[str]:
        """Categories in file order."""
        return list(dict.fromkeys(self.questions["category"]))


def read_questions(path: str | os.PathLike | None = None, *, strict: bool = False) -> AnalogySet:
    """Read an analogy file in the Google format (default: gensim's ``questions-words.txt``).

    ``: category`` lines open a category (names starting with ``gram`` are syntactic, the
    others semantic); each other line is a question ``a b c d``. Skipped and counted, never
    silently: blank lines, comment lines (starting with ``#`` or ``//``) and malformed lines
    (not four words, a question before any category, a ``:`` with no name). With
    ``strict=True`` a malformed line raises ValueError naming its line number and content;
    blank and comment lines are layout and are skipped either way.

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "q.txt"
        >>> _ = path.write_text(": capitals\\nathens greece paris france\\n\\nbad line\\n: gram-plural\\ncat cats dog dogs\\n")
        >>> questions = read_questions(path)
        >>> questions.questions[["section", "a", "d", "line"]].values.tolist()
        [['semantic', 'athens', 'france', 2], ['syntactic', 'cat', 'dogs', 6]]
        >>> questions.skipped, questions.first_skipped["malformed"]
        ({'blank': 1, 'comment': 0, 'malformed': 1}, [4])
    """
    if path is None:
        from ..data.pretrained import questions_path

        path = questions_path()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"analogy file {str(path)!r} does not exist")
    rows, lines = [], []
    skipped = {"blank": 0, "comment": 0, "malformed": 0}
    first = {kind: [] for kind in skipped}
    category = None
    with open(path, encoding="utf-8-sig") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line:
                kind = "blank"
            elif line.startswith(("#", "//")):
                kind = "comment"
            elif line.startswith(":"):
                name = line[1:].strip()
                if name:
                    category = name
                    continue
                kind, why = "malformed", "a ':' category line without a name"
            else:
                words = line.split()
                if len(words) != 4:
                    kind, why = "malformed", f"{len(words)} words where a question has 4 (a b c d)"
                elif category is None:
                    kind, why = "malformed", "a question before the first ': category' line"
                else:
                    rows.append((category, *words))
                    lines.append(number)
                    continue
            if kind == "malformed" and strict:
                raise DataError(f"{str(path)!r}, line {number}: {why}: {line!r}")
            skipped[kind] += 1
            if len(first[kind]) < REPORTED_LINES:
                first[kind].append(number)
    if not rows:
        raise DataError(f"{str(path)!r} holds no analogy questions (': category' lines followed by 'a b c d' lines)")
    questions = pd.DataFrame(rows, columns=["category", "a", "b", "c", "d"])
    questions.insert(1, "section", [section_of(c) for c in questions["category"]])
    questions["line"] = lines
    questions.index.name = "question"
    return AnalogySet(questions, str(path), skipped, first)


def _question_set(questions) -> AnalogySet:
    if questions is None or isinstance(questions, (str, os.PathLike)):
        return read_questions(questions)
    if isinstance(questions, AnalogySet):
        return questions
    if isinstance(questions, pd.DataFrame):
        missing = [c for c in ("category", "a", "b", "c", "d") if c not in questions.columns]
        if missing:
            raise ValueError(f"a questions DataFrame needs the columns category, a, b, c, d; missing {missing}")
        table = questions.copy()
        if "section" not in table.columns:
            table.insert(1, "section", [section_of(str(c)) for c in table["category"]])
        if "line" not in table.columns:
            table["line"] = pd.NA
        return AnalogySet(table, None)
    raise TypeError(f"questions must be a path, an AnalogySet or a DataFrame, got {type(questions).__name__}")


# ---------------------------------------------------------------------------------------------
# Embeddings, vocabularies, candidate filters
# ---------------------------------------------------------------------------------------------


def bert_whole_word_filter(vocabulary: Sequence[str]) -> np.ndarray:
    """The paper's BERT filter: index in ``[1996, 29612)`` and not a ``##`` word piece: ``(V,)`` bool.

    In bert-base-uncased's layout (shared by all-MiniLM-L6-v2) indices below 1996 are padding,
    ``[unused]``, special tokens and single characters, and 29612 on are ``##`` pieces.
    """
    start, stop = BERT_WHOLE_WORDS
    mask = np.zeros(len(vocabulary), dtype=bool)
    mask[start:stop] = True
    for i in range(start, min(stop, len(vocabulary))):
        if vocabulary[i].startswith("##"):
            mask[i] = False
    return mask


def lowercase_filter(vocabulary: Sequence[str]) -> np.ndarray:
    """Words equal to their lowercase form (``"paris"`` yes, ``"Paris"`` no): ``(V,)`` bool."""
    return np.fromiter((w == w.lower() for w in vocabulary), dtype=bool, count=len(vocabulary))


def _embedding_matrix(embeddings, vocabulary) -> tuple[np.ndarray, list[str]]:
    """``(V, d)`` float32 array and ``V`` words from an array, a KeyedVectors or a wordexperts model."""
    if hasattr(embeddings, "vectors") and hasattr(embeddings, "index_to_key"):  # gensim KeyedVectors
        if vocabulary is not None:
            hint = " (questions go in questions=)" if isinstance(vocabulary, (AnalogySet, pd.DataFrame, str, os.PathLike)) else ""
            raise ValueError(f"a KeyedVectors carries its own vocabulary (index_to_key): pass vocabulary=None{hint}")
        matrix, vocabulary = embeddings.vectors, embeddings.index_to_key
    else:
        import torch

        if isinstance(embeddings, torch.nn.Module):
            matrix = _model_word_vectors(embeddings)
            if vocabulary is None:
                raise ValueError(f"a {type(embeddings).__name__} has token ids, not words: pass vocabulary= (word of id i)")
        else:
            matrix = embeddings
        if isinstance(matrix, torch.Tensor):
            matrix = matrix.detach().cpu().numpy()
        if vocabulary is None:
            raise ValueError("embeddings given as a matrix need vocabulary= (the word of each row)")
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be a (V, d) matrix, got shape {matrix.shape}")
    if matrix.dtype != np.float32:
        if not np.issubdtype(matrix.dtype, np.number) or np.iscomplexobj(matrix):
            raise ValueError(f"embeddings must hold real numbers, got dtype {matrix.dtype}")
        matrix = matrix.astype(np.float32)
    words = list(vocabulary)
    if len(words) != len(matrix):
        raise ValueError(f"embeddings have {len(matrix)} rows but the vocabulary has {len(words)} words")
    bad = [w for w in words[:1000] if not isinstance(w, str)] or [w for w in words if not isinstance(w, str)]
    if bad:
        raise TypeError(f"vocabulary entries must be str, found {type(bad[0]).__name__} {bad[0]!r}")
    if len(set(words)) != len(words):
        duplicated = [w for w, n in Counter(words).items() if n > 1]
        raise ValueError(
            f"the vocabulary has {len(duplicated)} duplicated words, e.g. {duplicated[:5]}; a word must name one "
            "vector: deduplicate first (keeping the first occurrence keeps a frequency order)"
        )
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise ValueError(
            f"embeddings have {len(rows)} rows with NaN or infinite values, e.g. row {rows[0]} ({words[rows[0]]!r}); "
            "drop those words (rows and vocabulary entries) first"
        )
    return matrix, words


def _model_word_vectors(model):
    """Input word embeddings of a fitted wordexperts model, the mask token's row left out."""
    config = getattr(model, "config", None)
    if hasattr(model, "token_embedding"):  # BidirectionalAttention
        return model.word_embeddings()[: config.vocab_size]
    if getattr(model, "structure", None) == "attention" and hasattr(model, "word_vectors"):  # WordExperts
        return model.word_vectors[: config.vocab_size]
    raise TypeError(
        f"cannot take word embeddings from a {type(model).__name__}: pass a BidirectionalAttention, an "
        "attention-structured WordExperts, or the (V, d) matrix itself"
    )


def _candidate_mask(candidates, words: list[str]) -> tuple[np.ndarray, str]:
    """``(V,)`` bool from a mask, an index range or array, or a callable on the word; and a description."""
    V = len(words)
    if callable(candidates):
        name = getattr(candidates, "__name__", type(candidates).__name__)
        return np.fromiter((bool(candidates(w)) for w in words), dtype=bool, count=V), f"callable {name}"
    if isinstance(candidates, slice):
        candidates = range(*candidates.indices(V))
    if isinstance(candidates, tuple) and len(candidates) == 2:
        candidates = range(*candidates)
    if isinstance(candidates, range):
        mask = np.zeros(V, dtype=bool)
        mask[candidates] = True
        return mask, f"indices {candidates.start}..{candidates.stop - 1}" + (f" step {candidates.step}" if candidates.step != 1 else "")
    array = np.asarray(candidates)
    if array.dtype == bool:
        if array.shape != (V,):
            raise ValueError(f"a boolean candidates mask must have shape ({V},), got {array.shape}")
        return array.copy(), f"mask of {int(array.sum())} words"
    if np.issubdtype(array.dtype, np.integer) and array.ndim == 1:
        if len(array) and (array.min() < -V or array.max() >= V):
            raise ValueError(f"candidate indices must lie in [0, {V}), got {array.min()}..{array.max()}")
        mask = np.zeros(V, dtype=bool)
        mask[array] = True
        return mask, f"{int(mask.sum())} listed indices"
    raise TypeError(
        "candidates must be a boolean mask, an index range (range, slice, (start, stop)), an index array or a "
        f"callable on the word; got {type(candidates).__name__}"
    )


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalogyResult:
    """The answers of one set of embeddings to a set of analogy questions.

    ``summary``: one row per category, then ``semantic``, ``syntactic``, ``all``; columns
    ``section, questions, answerable, answered, correct, accuracy, mean_cos``. ``answered`` are
    the questions scored: the answerable ones, plus, with ``oov="wrong"``, the others as wrong.
    ``accuracy = correct / answered`` (NaN when nothing was answered), ``mean_cos``: mean
    ``cos(f, d)`` over answerable questions, ``f`` the protocol's additive query (also under 3CosMul).
    ``questions``: per question (indexed by question id), ``category, section, a, b, c, d,
    answerable, answered, predicted, correct, cos``. ``oov``: questions not answerable.
    ``excluded_rows``: vocabulary rows left out of the search (``zero_norm``).
    ``skipped_lines``: the question file's skipped lines (see :class:`AnalogySet`).
    """

    summary: pd.DataFrame
    questions: pd.DataFrame
    settings: dict
    oov: int
    excluded_rows: dict[str, int]
    skipped_lines: dict[str, int]

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy over every answered question."""
        return float(self.summary.loc[ALL, "accuracy"])

    @property
    def answered(self) -> int:
        return int(self.summary.loc[ALL, "answered"])

    def subset(self, ids: Iterable | np.ndarray) -> AnalogyResult:
        """The same answers, summarised over the questions ``ids`` only (ids or a boolean mask).

        Each question is answered on its own, so this equals evaluating with ``only=ids``.
        """
        table = self.questions.loc[_selection(self.questions.index, ids)]
        return replace(
            self,
            summary=_summarise(table),
            questions=table,
            oov=int((~table["answerable"]).sum()),
            settings={**self.settings, "subset": len(table)},
        )


def _selection(index: pd.Index, ids) -> pd.Index:
    array = np.asarray(ids) if not isinstance(ids, pd.Index) else ids.to_numpy()
    if array.dtype == bool:
        if array.shape != (len(index),):
            raise ValueError(f"a boolean question mask must have {len(index)} entries, got {array.shape}")
        return index[array]
    chosen = pd.Index(array)
    unknown = chosen.difference(index)
    if len(unknown):
        raise KeyError(f"{len(unknown)} question ids are not in the question set, e.g. {list(unknown[:5])}")
    return chosen


def answerable_intersection(*results: AnalogyResult) -> pd.Index:
    """Ids of the questions every result could answer: the common question set of a comparison.

    How the paper built its 9,522-question tables. Use it as ``evaluate_analogies(...,
    only=ids)`` or, without recomputing, ``result.subset(ids)``.

    For example, ``ids = answerable_intersection(*results.values())`` then
    ``{name: r.subset(ids) for name, r in results.items()}``.
    """
    if not results:
        raise ValueError("answerable_intersection needs at least one result")
    first = results[0].questions
    ids = first.index[first["answerable"].to_numpy()]
    for other in results[1:]:
        table = other.questions
        common = first.index.intersection(table.index)
        words = ["a", "b", "c", "d"]
        if not first.loc[common, words].reset_index(drop=True).equals(table.loc[common, words].reset_index(drop=True)):
            raise ValueError("the results were computed on different question sets: their question ids disagree")
        ids = ids.intersection(table.index[table["answerable"].to_numpy()])
    return ids.sort_values()


def _summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per category, then per section and overall: counts, top-1 accuracy, mean cos(f, d)."""
    frame = pd.DataFrame(
        {
            "category": table["category"].astype(str).to_numpy(),
            "section": table["section"].astype(str).to_numpy(),
            "questions": 1,
            "answerable": table["answerable"].to_numpy(dtype=bool),
            "answered": table["answered"].to_numpy(dtype=bool),
            "correct": table["correct"].to_numpy(dtype=bool),
            "cos": table["cos"].to_numpy(dtype=float),
        }
    )

    def block(groups) -> pd.DataFrame:
        counts = groups[["questions", "answerable", "answered", "correct"]].sum()
        counts["mean_cos"] = groups["cos"].mean()  # NaN for unanswerable questions, skipped by mean
        return counts

    categories = list(dict.fromkeys(frame["category"]))
    per_category = block(frame.groupby("category", sort=False)).reindex(categories)
    per_category.insert(0, "section", frame.groupby("category", sort=False)["section"].first().reindex(categories))
    per_section = block(frame.groupby("section")).reindex([SEMANTIC, SYNTACTIC])
    per_section.insert(0, "section", per_section.index)
    overall = block(frame.assign(all=ALL).groupby("all"))
    overall.insert(0, "section", ALL)
    summary = pd.concat([per_category, per_section, overall])
    for column in ("questions", "answerable", "answered", "correct"):
        summary[column] = summary[column].fillna(0).astype(np.int64)
    answered = summary["answered"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        summary["accuracy"] = np.where(answered > 0, summary["correct"] / np.where(answered > 0, answered, 1), np.nan)
    summary.index.name = "category"
    return summary[SUMMARY_COLUMNS]


# ---------------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------------


def _fold(protocol: str, lowercase: bool) -> Callable[[str], str]:
    """How question (and, for gensim, vocabulary) words are matched."""
    if not lowercase:
        return str
    return str.upper if protocol == "gensim" else str.lower


def _lookup(words, cand, wanted, fold, protocol) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Vocabulary index of each wanted (folded) word, and every searched variant of it.

    ``"gensim"``: gensim's ``ok_vocab``, a folded word means its first variant among the
    searched words, and all its variants are excluded when it is a, b or c. ``"paper"``: exact
    match, one variant.
    """
    lookup, variants = {}, {}
    if protocol == "gensim":
        for i in cand.tolist():
            key = fold(words[i])
            if key in wanted:
                lookup.setdefault(key, i)
                variants.setdefault(key, []).append(i)
    else:
        for i in cand.tolist():
            if words[i] in wanted:
                lookup[words[i]] = i
                variants[words[i]] = [i]
    return lookup, variants


def _exclusions(triples, variants, key_of, position) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(query row, searched position)`` pairs to exclude, sorted by row, and the rows to replay.

    A query excludes every variant of its a, b, c. Rows with 5 or more variants beyond the
    first ones are those where gensim's top five could hold no other word (see :class:`_GensimReplay`).
    """
    rows, cols, replay = [], [], []
    for r, (ia, ib, ic) in enumerate(triples.tolist()):
        excluded = {int(position[i]) for key in {key_of[ia], key_of[ib], key_of[ic]} for i in variants[key]}
        rows.extend([r] * len(excluded))
        cols.extend(excluded)
        if len(excluded) - len({ia, ib, ic}) >= 5:
            replay.append(r)
    return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(replay, dtype=np.int64)


def _scores(U, queries, rows: slice | int, *, method: str, eps: float, out=None, buffers=None) -> np.ndarray:
    """Scores of every searched word for the queries ``rows``: ``(m, M')`` for ``U`` ``(M', d)``.

    3CosAdd: ``cos(w, f)``. 3CosMul: ``cos'(w,b) cos'(w,c) / (cos'(w,a) + eps)`` with
    ``cos' = (1 + cos) / 2``, times 2 (the same order, three products instead of one).
    """
    UT = U.T  # (d, M'), a view: BLAS reads it transposed
    if method == "3cosadd":
        return np.matmul(queries[rows], UT, out=out)
    a, b, c = queries
    C, A = buffers if buffers is not None else (None, None)
    S = np.matmul(b[rows], UT, out=out)
    C = np.matmul(c[rows], UT, out=C)
    A = np.matmul(a[rows], UT, out=A)
    S += 1
    C += 1
    S *= C
    A += 1 + 2 * eps
    S /= A
    return S


def _search(U, queries, exclude_rows, exclude_cols, *, method, eps, chunk_size, block_size) -> np.ndarray:
    """Searched position of the best word for each query, the excluded pairs at ``-inf``: ``(n,)``.

    ``U`` ``(M, d)`` unit vectors; ``queries`` the unit queries ``(n, d)`` (3CosAdd) or the unit
    vectors of a, b, c (3CosMul); ``exclude_rows`` sorted. Scores are made ``(chunk_size,
    block_size)`` at a time: many queries per product keep BLAS fast, a block of words at a time
    bounds the memory, and a running maximum joins the blocks. Ties go to the lowest position.
    """
    n = len(queries) if method == "3cosadd" else len(queries[0])
    M = len(U)
    scores = np.empty((chunk_size, block_size), dtype=np.float32)  # (chunk, block)
    buffers = (np.empty_like(scores), np.empty_like(scores)) if method == "3cosmul" else None
    best = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        m = stop - start
        lo, hi = np.searchsorted(exclude_rows, [start, stop])
        rows, cols = exclude_rows[lo:hi] - start, exclude_cols[lo:hi]
        best_score = np.full(m, -np.inf, dtype=np.float32)
        best_position = np.zeros(m, dtype=np.int64)
        for first in range(0, M, block_size):
            last = min(first + block_size, M)
            out = scores[:m, : last - first]
            parts = None if buffers is None else tuple(buffer[:m, : last - first] for buffer in buffers)
            S = _scores(U[first:last], queries, slice(start, stop), method=method, eps=eps, out=out, buffers=parts)
            inside = (cols >= first) & (cols < last)
            S[rows[inside], cols[inside] - first] = -np.inf
            position = S.argmax(axis=1)  # (m,)
            score = S[np.arange(m), position]
            better = score > best_score  # strictly: a tie keeps the earlier block's word
            best_score[better] = score[better]
            best_position[better] = position[better] + first
        best[start:stop] = best_position
    return best


class _GensimReplay:
    """gensim's own choice for queries where case variants of a, b, c could fill its top five.

    ``evaluate_word_analogies`` takes ``most_similar(topn=5)`` (the top 8 by score, less the
    first variants of a, b, c, cut to 5) and keeps the first word not a variant of a, b, c, or
    the fifth if all are: an argmax with every variant excluded, unless 5 or more variants
    beyond the first ones exist. For those rare queries this replays it exactly.
    """

    def __init__(self, rows, triples, position, key_of, folded_searched):
        self.rows = np.sort(np.asarray(rows, dtype=np.int64))
        self.triples, self.position = triples, position
        self.key_of, self.folded_searched = key_of, folded_searched

    def pick(self, r: int, scores: np.ndarray) -> int:
        """gensim's answer (a searched position, -1 for none) to query ``r`` with ``scores`` ``(M,)``."""
        ia, ib, ic = self.triples[r].tolist()
        firsts = [int(self.position[i]) for i in (ia, ib, ic)]  # gensim's all_keys: a list, repeats kept
        ignore = {self.key_of[i] for i in (ia, ib, ic)}
        topn = 5 + len(firsts)
        x = -scores  # gensim.matutils.argsort(dists, topn, reverse=True)
        if topn >= x.size:
            order = np.argsort(x)[:topn]
        else:
            part = np.argpartition(x, topn)[:topn]
            order = part.take(np.argsort(x.take(part)))
        predicted = -1
        for p in [p for p in order.tolist() if p not in firsts][:5]:
            predicted = p
            if self.folded_searched[p] not in ignore:
                break
        return predicted


def evaluate_analogies(
    embeddings,
    vocabulary: Sequence[str] | None = None,
    questions: AnalogySet | str | os.PathLike | pd.DataFrame | None = None,
    *,
    protocol: Literal["paper", "gensim"] = "paper",
    method: Literal["3cosadd", "3cosmul"] = "3cosadd",
    restrict_vocab: int | None = None,
    candidates=None,
    lowercase: bool = True,
    oov: Literal["skip", "wrong"] = "skip",
    only: Iterable | np.ndarray | None = None,
    chunk_size: int | None = None,
    cosmul_eps: float = COSMUL_EPS,
) -> AnalogyResult:
    """Answer analogy questions with a word-vector matrix: top-1 accuracy and mean cos(f, d).

    Args:
        embeddings: a ``(V, d)`` array or tensor with ``vocabulary`` (word of each row), a gensim
            ``KeyedVectors``, or a fitted ``BidirectionalAttention`` (its input embeddings
            ``token_embedding.weight[:vocab_size]``) / attention-structured ``WordExperts``
            with ``vocabulary`` (word of each token id).
        questions: an :class:`AnalogySet`, a path, or a DataFrame with ``category, a, b, c, d``;
            default gensim's ``questions-words.txt``.
        protocol: ``"paper"`` or ``"gensim"`` (see the module docstring).
        method: ``"3cosadd"`` (nearest to ``b - a + c``) or ``"3cosmul"``.
        restrict_vocab: search (and answer with) only the first ``restrict_vocab`` words.
            Default: 300000 under ``"gensim"`` (gensim's default), everything under ``"paper"``.
        candidates: ``"paper"`` only: the words searched, as a ``(V,)`` boolean mask, an index
            range (``range``, ``slice``, ``(start, stop)``), an index array, or a callable
            ``word -> bool``; e.g. :func:`bert_whole_word_filter`, :func:`lowercase_filter`.
            All four words of a question must pass it for the question to be answerable.
        lowercase: ``"paper"``: lowercase the question words, then match exactly (uncased
            vocabularies). ``"gensim"``: gensim's ``case_insensitive`` (upper-case both sides;
            a word's first case variant gives its vector; every variant of a, b, c is excluded).
        oov: unanswerable questions are ``"skip"``-ped or counted ``"wrong"`` (gensim's ``dummy4unknown``).
        only: evaluate only these question ids (or a boolean mask over the questions), e.g.
            :func:`answerable_intersection` of several results.
        chunk_size: distinct queries per matrix product (default: 512, or more while one block
            holds every searched word); the word blocks then keep each score matrix near 128 MiB.
        cosmul_eps: the 3CosMul denominator's epsilon.

    Shape:
        embeddings ``(V, d)``; the search holds ``U (M, d)``, the unit vectors of the ``M``
        searched words, and ``1`` (3CosAdd) or ``3`` (3CosMul) float32 score buffers
        ``(chunk, block)`` of 128 MiB in all.

    Examples:
        >>> words = ["king", "queen", "man", "woman", "apple"]
        >>> vectors = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1], [-1, 0, 0]], dtype=np.float32)
        >>> questions = pd.DataFrame({"category": ["family"], "a": ["man"], "b": ["king"], "c": ["woman"], "d": ["queen"]})
        >>> result = evaluate_analogies(vectors, words, questions)
        >>> result.questions[["predicted", "correct"]].values.tolist(), round(result.accuracy, 3)
        ([['queen', True]], 1.0)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if oov not in OOV_POLICIES:
        raise ValueError(f"oov must be one of {OOV_POLICIES}, got {oov!r}")
    if protocol == "gensim" and candidates is not None:
        raise ValueError("candidates= is a 'paper' protocol option; the 'gensim' protocol searches the first restrict_vocab words")
    restrict_vocab = check_positive_int("restrict_vocab", restrict_vocab, optional=True)
    chunk_size = check_positive_int("chunk_size", chunk_size, optional=True)
    if not cosmul_eps > 0:
        raise ValueError(f"cosmul_eps must be positive, got {cosmul_eps!r}")

    matrix, words = _embedding_matrix(embeddings, vocabulary)
    question_set = _question_set(questions)
    table = question_set.questions
    if only is not None:
        table = table.loc[_selection(table.index, only)]
    if not len(table):
        raise ValueError("no questions to evaluate (only= selected none)")
    V = len(words)
    if restrict_vocab is None:
        restrict_vocab = GENSIM_RESTRICT_VOCAB if protocol == "gensim" else V
    N = min(int(restrict_vocab), V)

    # the searched words: the first N, less zero rows, less what candidates= filters out
    norms = np.linalg.norm(matrix[:N], axis=1)  # (N,) float32, as gensim's fill_norms
    searched = norms > 0
    zero_norm = int((~searched).sum())
    description = "all words" if N == V else f"first {N} words"
    if candidates is not None:
        mask, filter_description = _candidate_mask(candidates, words)
        searched &= mask[:N]
        description = filter_description if N == V else f"{filter_description}, in the first {N} words"
    cand = np.flatnonzero(searched)  # (M,) vocabulary index of each searched word
    if not len(cand):
        raise ValueError("no word is searched: every word is filtered out by restrict_vocab, candidates= or zero vectors")
    position = np.full(V, -1, dtype=np.int64)
    position[cand] = np.arange(len(cand))

    fold = _fold(protocol, lowercase)
    folded = {col: [fold(w) for w in table[col].astype(str)] for col in ("a", "b", "c", "d")}
    lookup, variants = _lookup(words, cand, set().union(*folded.values()), fold, protocol)
    index = {col: np.array([lookup.get(w, -1) for w in folded[col]], dtype=np.int64) for col in folded}
    answerable = (index["a"] >= 0) & (index["b"] >= 0) & (index["c"] >= 0) & (index["d"] >= 0)
    if not answerable.any():
        example = table.iloc[0]
        raise ValueError(
            f"no question answerable with this vocabulary: none of the {len(table)} questions has all four words "
            f"among the {len(cand)} searched words (first question: {example['a']} {example['b']} {example['c']} "
            f"{example['d']}; vocabulary starts {words[:5]}); check lowercase=, restrict_vocab= and candidates="
        )

    # one query per distinct (a, b, c): duplicated questions are answered once
    triples = np.stack([index["a"][answerable], index["b"][answerable], index["c"][answerable]], axis=1)
    triples, inverse = np.unique(triples, axis=0, return_inverse=True)  # (n, 3), (answerable,)
    inverse = inverse.reshape(-1)

    def unit(rows: np.ndarray) -> np.ndarray:  # (n, d): gensim's get_vector(norm=True)
        return matrix[rows] / norms[rows][:, None]

    a, b, c = (unit(triples[:, k]) for k in range(3))  # (n, d) each
    raw = (a, b, c) if protocol == "gensim" else tuple(matrix[triples[:, k]] for k in range(3))
    f = (raw[1] + raw[2]) - raw[0]  # (n, d) float32: gensim sums b + c, then adds -a
    f_norm = np.linalg.norm(f, axis=1, keepdims=True)
    f = f / np.where(f_norm > 0, f_norm, 1)  # a zero query stays zero, as gensim's unitvec leaves it

    key_of = {i: key for key, indices in variants.items() for i in indices}
    exclude_rows, exclude_cols, replay = _exclusions(triples, variants, key_of, position)
    replayer = None
    if protocol == "gensim":
        if len(cand) < 9:  # gensim's top 8 is then the whole vocabulary: replay everything
            replay = np.arange(len(triples))
        if len(replay):
            replayer = _GensimReplay(replay, triples, position, key_of, [fold(words[i]) for i in cand.tolist()])

    U = matrix[cand]  # (M, d) copy, made unit in place
    U /= norms[cand][:, None]
    queries = f if method == "3cosadd" else (a, b, c)
    budget = SCORE_BUDGET // (1 if method == "3cosadd" else 3)  # scores per buffer
    if chunk_size is None:
        chunk_size = max(MIN_CHUNK, budget // len(cand))
    chunk_size = int(min(chunk_size, len(triples)))
    block_size = int(min(len(cand), max(1, budget // chunk_size)))
    best = _search(
        U, queries, exclude_rows, exclude_cols, method=method, eps=cosmul_eps, chunk_size=chunk_size, block_size=block_size
    )
    if replayer is not None:
        for r in replayer.rows.tolist():
            best[r] = replayer.pick(r, _scores(U, queries, slice(r, r + 1), method=method, eps=cosmul_eps)[0])
    predicted_index = np.where(best >= 0, cand[best], -1)  # (n,) vocabulary index of each distinct query's answer

    # back to questions
    n_questions = len(table)
    predicted = np.full(n_questions, None, dtype=object)
    correct = np.zeros(n_questions, dtype=bool)
    cos = np.full(n_questions, np.nan)
    answer = predicted_index[inverse]  # (answerable,)
    d_index = index["d"][answerable]
    predicted[answerable] = [words[i] if i >= 0 else None for i in answer.tolist()]
    if protocol == "gensim":  # gensim compares folded words: another case variant of d is right
        d_folded = np.asarray(folded["d"], dtype=object)[answerable]
        correct[answerable] = [i >= 0 and fold(words[i]) == w for i, w in zip(answer.tolist(), d_folded.tolist())]
    else:
        correct[answerable] = answer == d_index
    cos[answerable] = np.einsum("nd,nd->n", f[inverse], unit(d_index)).astype(float)

    per_question = table[["category", "section", "a", "b", "c", "d"]].copy()
    per_question["answerable"] = answerable
    per_question["answered"] = answerable | (oov == "wrong")
    per_question["predicted"] = predicted
    per_question["correct"] = correct
    per_question["cos"] = cos
    settings = {
        "protocol": protocol,
        "method": method,
        "restrict_vocab": N,
        "vocabulary": V,
        "dimension": matrix.shape[1],
        "searched": len(cand),
        "candidates": description,
        "lowercase": lowercase,
        "oov": oov,
        "questions": question_set.source or "DataFrame",
    }
    if method == "3cosmul":
        settings["cosmul_eps"] = cosmul_eps
    if only is not None:
        settings["subset"] = n_questions
    return AnalogyResult(
        summary=_summarise(per_question),
        questions=per_question,
        settings=settings,
        oov=int((~answerable).sum()),
        excluded_rows={"zero_norm": zero_norm},
        skipped_lines=dict(question_set.skipped),
    )
