"""Text corpora for word analogies, all in one tokenised form (paper.md §3).

Three sources, one :class:`Corpus` (sentences of in-vocabulary token ids, a
:class:`Vocabulary` with counts, analogy questions):

- :func:`synthetic_corpus`: sentences drawn from a CBOW model with mixture-of-experts
  weights whose true word vectors hold exact planted analogies, with a knob
  ``gate_strength`` for how strongly the gates depend on the word (0 = plain CBOW).
- :func:`load_wiki_sample`: the 453k-token Wikipedia sample that ships inside gensim's wheel
  (the Google questions, ``questions-words.txt``, sit beside it; see ``data.pretrained``).
- :func:`load_text_file`: any plain-text file, one sentence (or paragraph) a line.

The attention model reads fixed-length rows: :meth:`Corpus.windows` cuts every sentence into
windows of ``L`` tokens. word2vec reads the sentences themselves (:meth:`Corpus.token_lists`).

A leaf of the package (numpy, pandas; gensim for the wiki markup): it imports nothing from
the other layers (only the argument checks every layer shares). So the generator states its
own conditionals, and ``tests/data/test_corpora.py`` checks them against the core's
``WordExperts``.
"""

from __future__ import annotations

import bz2
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..checks import check_positive_int, is_int
from .pretrained import questions_path

QUESTION_COLUMNS = ("category", "section", "a", "b", "c", "d")
WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"

# Letters and underscores, not starting with a digit: gensim's PAT_ALPHABETIC, so that the wiki
# sample tokenises to the 452,944 tokens gensim's WikiCorpus makes of it.
_WORD = re.compile(r"(?:(?!\d)\w)+")


def tokenize(text: str, *, lower: bool = True, min_len: int = 1, max_len: int | None = None) -> list[str]:
    """Words of ``text``: runs of letters (digits and punctuation split them), lower-cased.

    Tokens shorter than ``min_len`` or longer than ``max_len`` characters are dropped, and so
    are tokens starting with ``_`` (wiki markup leftovers), as gensim's wiki tokenizer does.

    Examples:
        >>> tokenize("The cat's 2 hats, and I.")
        ['the', 'cat', 's', 'hats', 'and', 'i']
        >>> tokenize("The cat's 2 hats, and I.", min_len=2)
        ['the', 'cat', 'hats', 'and']
    """
    if lower:
        text = text.lower()
    return [
        t for t in _WORD.findall(text) if min_len <= len(t) and (max_len is None or len(t) <= max_len) and t[0] != "_"
    ]


# ---- vocabulary and corpus ----


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Words and their counts in the corpus; word ``i`` has id ``i``.

    :meth:`from_counts` orders the words by descending count (ties alphabetically), as
    word2vec does; the synthetic corpus keeps its construction order.

    Shape: ``words`` has ``V`` entries, ``counts`` is ``(V,)`` int64.

    Examples:
        >>> vocab = Vocabulary.from_counts(Counter("abracadabra"), min_count=2)
        >>> vocab.words, vocab.counts.tolist(), vocab.id("r")
        (('a', 'b', 'r'), [5, 2, 2], 2)
    """

    words: tuple[str, ...]
    counts: np.ndarray
    min_count: int = 1
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.int64)
        if counts.shape != (len(self.words),):
            raise ValueError(f"counts has shape {counts.shape}, expected ({len(self.words)},) for the words")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "words", tuple(self.words))
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})
        if len(self.index) != len(self.words):
            raise ValueError("the vocabulary has duplicate words")

    @classmethod
    def from_counts(cls, counts: Counter, *, min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        """Keep words seen at least ``min_count`` times, then the ``max_size`` most frequent."""
        min_count = check_positive_int("min_count", min_count)
        max_size = check_positive_int("max_size", max_size, optional=True)
        kept = sorted(((w, n) for w, n in counts.items() if n >= min_count), key=lambda wn: (-wn[1], wn[0]))
        kept = kept[:max_size]
        return cls(tuple(w for w, _ in kept), np.array([n for _, n in kept], dtype=np.int64), min_count)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        return self.index[word]


@dataclass(eq=False)
class Corpus:
    """A tokenised corpus: sentences of token ids over one vocabulary, and analogy questions.

    ``sentences`` holds every sentence as an int64 array of ids into ``vocabulary`` (words below
    ``min_count`` already removed, as word2vec removes them). ``raw_tokens`` counts the tokens
    before that. ``questions`` has the columns of :data:`QUESTION_COLUMNS` (possibly no rows).
    ``truth`` is the generator's :class:`PlantedTruth` for a synthetic corpus, else ``None``.
    """

    name: str
    sentences: list[np.ndarray]
    vocabulary: Vocabulary
    questions: pd.DataFrame
    raw_tokens: int
    description: str = ""
    truth: PlantedTruth | None = None

    @property
    def n_tokens(self) -> int:
        """Tokens kept (in the vocabulary)."""
        return int(sum(len(s) for s in self.sentences))

    @property
    def words(self) -> list[str]:
        return list(self.vocabulary.words)

    def token_lists(self) -> list[list[str]]:
        """The sentences as lists of words, for gensim (each at most 10,000 tokens, its limit)."""
        words = self.vocabulary.words
        return [[words[i] for i in s] for s in self.sentences]

    def ids(self) -> np.ndarray:
        """Every kept token, sentence after sentence: ``(n_tokens,)`` int64."""
        return np.concatenate(self.sentences) if self.sentences else np.zeros(0, dtype=np.int64)

    def windows(self, length: int, *, stride: int | None = None) -> np.ndarray:
        """Rows of ``length`` consecutive tokens of one sentence each: ``(N, length)`` int64.

        ``stride`` (default ``length``: non-overlapping) is the step between window starts;
        sentences shorter than ``length`` give no row, and a sentence's last tokens are left
        out when they do not fill a window.

        Examples:
            >>> vocab = Vocabulary(("a", "b", "c"), np.array([3, 2, 1]))
            >>> corpus = Corpus("toy", [np.arange(3), np.array([0, 0, 1, 2, 0])], vocab, questions_frame(), 8)
            >>> corpus.windows(2).tolist()
            [[0, 1], [0, 0], [1, 2]]
            >>> corpus.windows(3, stride=1).tolist()
            [[0, 1, 2], [0, 0, 1], [0, 1, 2], [1, 2, 0]]
        """
        length = check_positive_int("length", length)
        stride = check_positive_int("stride", length if stride is None else stride)
        rows = [
            np.lib.stride_tricks.sliding_window_view(s, length)[::stride] for s in self.sentences if len(s) >= length
        ]
        if not rows:
            raise ValueError(f"no sentence of the corpus {self.name!r} has {length} tokens")
        return np.ascontiguousarray(np.concatenate(rows), dtype=np.int64)

    def answerable(self) -> pd.DataFrame:
        """The questions whose four words are all in the vocabulary."""
        q = self.questions
        inside = np.ones(len(q), dtype=bool)
        for column in "abcd":
            inside &= q[column].isin(self.vocabulary.index).to_numpy()
        return q[inside].reset_index(drop=True)

    def summary(self) -> dict:
        """Sizes, as reported with every result on this corpus."""
        return {
            "corpus": self.name,
            "tokens": self.n_tokens,
            "raw_tokens": self.raw_tokens,
            "sentences": len(self.sentences),
            "vocabulary": len(self.vocabulary),
            "min_count": self.vocabulary.min_count,
            "questions": len(self.questions),
            "answerable_questions": len(self.answerable()),
        }


def questions_frame(rows: Iterable[tuple] = ()) -> pd.DataFrame:
    """Analogy questions ``a : b :: c : d`` as a DataFrame with :data:`QUESTION_COLUMNS`."""
    return pd.DataFrame(list(rows), columns=list(QUESTION_COLUMNS)).astype(str)


def build_corpus(
    documents: Iterable[list[str]],
    *,
    name: str,
    min_count: int = 1,
    max_vocab: int | None = None,
    questions: pd.DataFrame | None = None,
    description: str = "",
) -> Corpus:
    """The common form of tokenised sentences: a vocabulary and in-vocabulary id arrays.

    Sentences left empty once out-of-vocabulary words are removed are dropped; sentences over
    10,000 tokens are split (gensim's word2vec silently truncates longer ones).

    Examples:
        >>> corpus = build_corpus([["a", "b", "a"], ["c", "a"]], name="toy", min_count=2)
        >>> corpus.words, [s.tolist() for s in corpus.sentences], corpus.raw_tokens
        (['a'], [[0, 0], [0]], 5)
    """
    documents = [list(d) for d in documents]
    counts = Counter(w for d in documents for w in d)
    vocabulary = Vocabulary.from_counts(counts, min_count=min_count, max_size=max_vocab)
    index = vocabulary.index
    sentences = []
    for d in documents:
        ids = np.fromiter((index[w] for w in d if w in index), dtype=np.int64)
        sentences.extend(ids[start : start + 10_000] for start in range(0, len(ids), 10_000))
    questions = questions_frame() if questions is None else _check_questions(questions)
    return Corpus(name, sentences, vocabulary, questions, int(counts.total()), description)


def _check_questions(questions: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in QUESTION_COLUMNS if c not in questions.columns]
    if missing:
        raise ValueError(f"the questions lack the column(s) {missing}; expected {list(QUESTION_COLUMNS)}")
    return questions.reset_index(drop=True)


# ---- the Wikipedia sample in gensim's wheel ----


def wiki_sample_path() -> Path:
    """Path of gensim's shortened English Wikipedia dump (next to ``questions-words.txt``)."""
    path = questions_path().parent / WIKI_SAMPLE  # ImportError naming the extra when gensim is absent
    if not path.is_file():
        raise FileNotFoundError(f"{WIKI_SAMPLE} is not in this gensim's test data ({path.parent})")
    return path


def wiki_documents(path: str | Path | None = None) -> list[str]:
    """Plain text of the articles of a Wikipedia XML dump (``.bz2``), markup removed by gensim.

    Redirects and non-article namespaces are skipped, as gensim's ``WikiCorpus`` skips them.
    """
    from gensim.corpora.wikicorpus import IGNORED_NAMESPACES, extract_pages, filter_wiki

    path = wiki_sample_path() if path is None else Path(path)
    texts = []
    with bz2.open(path) as f:
        for title, text, _ in extract_pages(f, filter_namespaces=("0",)):
            if any(title.startswith(ns + ":") for ns in IGNORED_NAMESPACES):
                continue
            if text.lstrip().lower().startswith("#redirect"):
                continue
            texts.append(filter_wiki(text))
    return texts


def load_wiki_sample(*, min_count: int = 5, max_vocab: int | None = None) -> Corpus:
    """gensim's 106-article Wikipedia sample: 452,944 tokens, one sentence per paragraph.

    Tokenised as gensim's ``WikiCorpus`` does (lower case, letters only, 2 to 15 characters),
    so ``raw_tokens`` is 452,944. No questions attached: the Google set is read by
    ``wordexperts.analogy.evaluate.read_questions`` (its path: ``pretrained.questions_path``).

    An honest caveat: this is 1/40 of text8 (17M tokens, where skip-gram reaches about 40%);
    word2vec trained on it answers about 1% of the Google questions (paper.md §3; measured
    here at ``min_count=5``, 32 dimensions, 5 epochs: CBOW 0.4%, skip-gram 2.9% of the 3,822
    answerable ones), so it tests the pipeline on real text, not the theory.
    """
    paragraphs = [
        tokens
        for text in wiki_documents()
        for line in text.split("\n")
        if (tokens := tokenize(line, min_len=2, max_len=15))
    ]
    return build_corpus(
        paragraphs,
        name="wiki-sample",
        min_count=min_count,
        max_vocab=max_vocab,
        description=(
            "gensim's test-data Wikipedia sample (106 articles), tokenised as gensim's WikiCorpus; "
            "about 1% top-1 for word2vec on the Google set"
        ),
    )


def load_text_file(
    path: str | Path,
    *,
    min_count: int = 5,
    max_vocab: int | None = None,
    questions: pd.DataFrame | None = None,
    encoding: str = "utf-8",
    min_len: int = 1,
) -> Corpus:
    """A plain-text corpus, one sentence (or paragraph) per line, tokenised by :func:`tokenize`.

    ``questions``: analogy questions to attach (columns :data:`QUESTION_COLUMNS`), if any.
    """
    path = Path(path)
    with path.open(encoding=encoding, errors="replace") as f:
        sentences = [tokens for line in f if (tokens := tokenize(line, min_len=min_len))]
    return build_corpus(
        sentences, name=path.stem, min_count=min_count, max_vocab=max_vocab, questions=questions,
        description=f"plain text {path.name}",
    )  # fmt: skip


# ---- the synthetic corpus: CBOW with mixture-of-experts weights and planted analogies ----


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    """The generator of :func:`synthetic_corpus`.

    Words: ``n_categories`` analogy categories of ``n_pairs`` stems with two forms each
    (``w{k}_{i}a``, ``w{k}_{i}b``), then ``n_filler`` unrelated words (``f{n}``). True vectors
    in ``dim`` dimensions: stems ``s_ki`` and form vectors ``o_k0, o_k1`` all ``N(0, I)``,
    word ``(k, i, f) = s_ki + o_kf``, so that ``word(k,i,1) - word(k,i,0) = o_k1 - o_k0`` for
    every stem (the planted analogies); filler words ``N(0, I)``; then every vector is scaled
    by one common factor so that the words' mean-field coupling (:func:`coupling_radius`) is
    ``coupling``: the knob of how much the words depend on each other (keep it below 1).

    ``gate_strength`` scales the word part of the gates (0: uniform gates, plain CBOW).
    ``n_sentences`` sentences of ``length`` words are drawn by Gibbs sampling (see
    :func:`synthetic_corpus`) in ``n_chains`` parallel chains, after ``burn_in`` sweeps, one
    sentence every ``thin`` sweeps per chain.
    """

    n_categories: int = 4
    n_pairs: int = 8
    n_filler: int = 64
    dim: int = 8
    coupling: float = 0.6
    length: int = 6
    gate_strength: float = 0.0
    n_sentences: int = 40_000
    n_chains: int = 1000
    burn_in: int = 30
    thin: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("coupling", "gate_strength"):
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise ValueError(f"{f.name} must be a number, got {value!r}")
                if not math.isfinite(value) or value < 0 or (f.name == "coupling" and value == 0):
                    raise ValueError(f"{f.name} must be finite and {'> 0' if f.name == 'coupling' else '>= 0'}, got {value!r}")
                object.__setattr__(self, f.name, float(value))
                continue
            low = 2 if f.name in ("n_pairs", "length") else 0 if f.name in ("n_filler", "burn_in", "seed") else 1
            if not is_int(value) or value < low:
                raise ValueError(f"{f.name} must be an int >= {low}, got {value!r}")
            object.__setattr__(self, f.name, int(value))

    @property
    def vocab_size(self) -> int:
        return 2 * self.n_categories * self.n_pairs + self.n_filler


def signature(dim: int) -> np.ndarray:
    """``S = diag(+1, .., +1, -1, .., -1)``, ``ceil(dim / 2)`` plus signs: ``(dim,)``."""
    return np.where(np.arange(dim) < (dim + 1) // 2, 1.0, -1.0)


def coupling_radius(vectors: np.ndarray, length: int) -> float:
    """Spectral radius of ``(L-1)/(L V) * rho S rho^T``: the words' mean-field coupling.

    Near uniform word frequencies ``1/V``, a change ``delta`` of the frequencies moves every
    word's logit by about ``(L-1)/L * rho S rho^T delta`` (``L - 1`` context words, each with
    weight ``1/L``), and the frequencies respond with a factor ``1/V``. Above 1 the uniform
    phase is unstable and the chains condense onto a few words (measured: radius 1.3 gave one
    word 40% of the tokens); at 0.6 every word keeps between 1/3 and 3 times its uniform share.
    """
    V = vectors.shape[0]
    eigenvalues = np.linalg.eigvalsh((vectors * signature(vectors.shape[1])) @ vectors.T)
    return float(np.abs(eigenvalues).max()) * (length - 1) / (length * V)


@dataclass(frozen=True, eq=False)
class PlantedTruth:
    """The true model of a synthetic corpus: a one-head CBOW mixture of word experts.

    In the notation of ``wordexperts.core.experts`` (one head, the masked slot ``i`` holding
    the mask token ``m = V``)::

        log p(x_i = w | x_-i) = rho_w . sum_j pi_ij alpha_{x_j} + b_w - log Z
        pi_ij = softmax_j( g_i . u_{x_j} )      over all L slots, x_i := m

    with ``rho = vectors``, ``alpha_v = S rho_v`` (:func:`signature`: a symmetric coupling
    ``rho S rho^T``, neither attracting nor repelling a word to itself on average),
    ``alpha_m = u_m = 0``, and no positional shifts, position-pair gate biases or intercepts.
    Both ``alpha`` and ``rho`` hold the planted analogies exactly.

    Shapes: ``vectors`` ``(V, dim)``; ``alpha`` and ``gate_words`` ``(V+1, dim)``;
    ``gate_vectors`` ``(L, dim)``; ``bias`` ``(V,)``.
    """

    config: SyntheticConfig
    vectors: np.ndarray
    bias: np.ndarray
    gate_vectors: np.ndarray
    gate_words: np.ndarray
    alpha: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        dim = self.vectors.shape[1]
        object.__setattr__(self, "alpha", np.vstack([self.vectors * signature(dim), np.zeros((1, dim))]))

    @property
    def rho(self) -> np.ndarray:
        return self.vectors

    @property
    def mask_token(self) -> int:
        return self.vectors.shape[0]

    def gates(self, x: np.ndarray, position: int) -> np.ndarray:
        """``pi_ij`` over the slots ``j`` of rows ``x`` ``(B, L)`` with ``position`` masked: ``(B, L)``."""
        scores = self.gate_words[x] @ self.gate_vectors[position]  # (B, L)
        scores[:, position] = 0.0  # the masked slot holds m, and u_m = 0
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        return weights / weights.sum(axis=1, keepdims=True)

    def conditional_logits(self, x: np.ndarray, position: int) -> np.ndarray:
        """``log p(x_i = w | x_-i)`` up to a constant per row, ``i = position``: ``(B, V)``."""
        gates = self.gates(x, position)  # (B, L)
        gates[:, position] = 0.0  # alpha_m = 0: the masked slot's weight mixes nothing
        mixed = np.einsum("bj,bjd->bd", gates, self.alpha[x])  # (B, dim)
        return mixed @ self.rho.T + self.bias  # (B, V)


def planted_vectors(config: SyntheticConfig, rng: np.random.Generator) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """Unscaled true vectors ``(V, dim)``, the words, and every planted question.

    Questions of category ``k``: ``(i, form a) : (i, form b) :: (j, form a) : (j, form b)`` for
    every ordered pair of stems ``i != j``; categories alternate between the ``semantic`` and
    ``syntactic`` sections so that the evaluator's section rows are both filled.
    """
    c = config
    K, n, d = c.n_categories, c.n_pairs, c.dim
    stems = rng.normal(size=(K, n, 1, d))
    forms = rng.normal(size=(K, 1, 2, d))
    planted = (stems + forms).reshape(K * n * 2, d)  # word (k, i, f) at row (k * n + i) * 2 + f
    filler = rng.normal(size=(c.n_filler, d))
    words = [f"w{k}_{i}{'ab'[f]}" for k in range(K) for i in range(n) for f in range(2)]
    words += [f"f{m}" for m in range(c.n_filler)]
    rows = [
        (f"planted-{k}", "semantic" if k % 2 == 0 else "syntactic", f"w{k}_{i}a", f"w{k}_{i}b", f"w{k}_{j}a", f"w{k}_{j}b")
        for k in range(K)
        for i in range(n)
        for j in range(n)
        if i != j
    ]
    return np.vstack([planted, filler]), words, questions_frame(rows)


def _sample_rows(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``logits`` ``(B, V)`` by inverse CDF: ``(B,)``."""
    cdf = np.cumsum(np.exp(logits - logits.max(axis=1, keepdims=True)), axis=1)  # (B, V)
    u = rng.random(len(cdf)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def synthetic_corpus(config: SyntheticConfig | None = None, **kwargs) -> Corpus:
    """Draw a corpus from the CBOW mixture of word experts of :class:`PlantedTruth`.

    Pass a :class:`SyntheticConfig` or its fields as keywords. Every sentence is one row of
    ``length`` words (its window); ids follow the construction order of the words (planted
    words first), not their counts, and every word is in the vocabulary even if unseen.

    The sampler: ``n_chains`` sentences at once, started uniformly at random, each swept
    position by position (systematic-scan Gibbs) with ``x_i ~ p(x_i | x_-i)`` of the true
    model; after ``burn_in`` sweeps every chain yields its sentence every ``thin`` sweeps. One
    ``(n_chains, V)`` softmax per position, vectorised over the chains: 40,000 sentences of
    the default take about a second.

    Why it is correct: with uniform gates (``gate_strength=0``) the conditionals are exactly
    those of the joint law ``p(x) ∝ exp(sum_i b_{x_i} + (1/L) sum_{i<j} rho_{x_i} S rho_{x_j})``
    (a pairwise Markov random field; ``S`` symmetric makes the couplings symmetric), so the
    sweeps are Gibbs sampling of that law and its MLM conditionals are exactly plain CBOW.
    Word-dependent gates make the conditionals compatible with no joint law in general: the
    sweeps are then the "pseudo-Gibbs" sampler of a dependency network (Heckerman et al.,
    2000), whose stationary law exists (all conditionals are positive) but whose own
    conditionals differ from the stated ones, more so as the gates sharpen. The corpus then
    follows the sampler's law, not ``truth``'s conditionals (compare ``truth``'s masked-LM loss
    on the corpus with a fitted model's).

    Gates: ``g_i = gate_strength * e_i`` with ``e_i`` a random unit vector per position, and
    ``u_v ~ N(0, I)`` per word, so a word's gate score has standard deviation
    ``gate_strength`` and is independent of the analogy structure (the four words of a
    question get unequal gates). Biases ``b = 0``.

    Examples:
        >>> corpus = synthetic_corpus(n_sentences=50, n_chains=10, burn_in=2, n_filler=4, seed=1)
        >>> corpus.windows(6).shape, len(corpus.vocabulary), len(corpus.questions)
        ((50, 6), 68, 224)
    """
    if config is None:
        config = SyntheticConfig(**kwargs)
    elif kwargs:
        raise TypeError("pass either a SyntheticConfig or its fields as keywords, not both")
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"config must be a SyntheticConfig, got {type(config).__name__}")
    c = config
    rng = np.random.default_rng(c.seed)
    vectors, words, questions = planted_vectors(c, rng)
    vectors *= math.sqrt(c.coupling / coupling_radius(vectors, c.length))  # one factor keeps the analogies exact
    V, L = len(words), c.length
    directions = rng.normal(size=(L, c.dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    gate_words = np.vstack([rng.normal(size=(V, c.dim)), np.zeros((1, c.dim))])  # u_m = 0
    truth = PlantedTruth(c, vectors, np.zeros(V), c.gate_strength * directions, gate_words)

    x = rng.integers(0, V, size=(min(c.n_chains, c.n_sentences), L))  # (chains, L)
    drawn, kept, sweep = [], 0, 0
    while kept < c.n_sentences:
        for i in range(L):
            x[:, i] = _sample_rows(truth.conditional_logits(x, i), rng)
        sweep += 1
        if sweep > c.burn_in and (sweep - c.burn_in) % c.thin == 0:
            drawn.append(x.copy())
            kept += len(x)
    rows = np.concatenate(drawn)[: c.n_sentences]  # (N, L)
    vocabulary = Vocabulary(tuple(words), np.bincount(rows.ravel(), minlength=V))
    return Corpus(
        f"synthetic-g{c.gate_strength:g}-s{c.seed}",
        list(rows),
        vocabulary,
        questions,
        int(rows.size),
        description=f"CBOW mixture of word experts with planted analogies, gate_strength={c.gate_strength:g}",
        truth=truth,
    )
