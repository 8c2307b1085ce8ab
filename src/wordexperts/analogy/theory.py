"""The conditions of paper.md §3, measured: equal gates, and the distributional ratio condition.

For a question ``a : b :: c : d``:

- **Gate inequality** (:func:`gate_inequality`). In the mixture form of a trained model the
  context words enter through gates ``pi_ij = softmax_j(g_i . u_{x_j} + beta_ij)``; a linear
  relation among the embeddings needs (for example) equal gates for the four words. Two
  measures per question and head: the *mean gate* each word receives as a context word over
  the corpus windows where it occurs, times ``L`` (uniform gates give 1 to every word), with
  its max/min ratio and coefficient of variation over the four words; and the *gate odds
  ratio* ``exp(max - min)`` of the four words' gate scores ``g_i . u_w``, averaged over masked
  positions ``i``: the factor by which the model's gate odds for one word exceed another's in
  the same slot of the same window (exact, free of what else the windows hold).
- **Ratio condition** (:func:`ratio_condition`). ``p(w|a)/p(w|b) = p(w|c)/p(w|d)`` for every
  ``w``, with ``p(w|v)`` the co-occurrence distribution of ``v`` within the windows. Per
  question, ``D(w) = log p(w|a) - log p(w|b) - log p(w|c) + log p(w|d)`` (smoothed), and its
  spread over ``w`` weighted by the frequency of ``w``. A constant ``D`` satisfies the CBOW
  argument as well as ``D = 0`` does (it is absorbed by the normalisers), so the spread is
  taken around the weighted mean. Finite counts alone give a spread: ``noise`` is its
  split-half estimate, and ``excess = sqrt(max(spread^2 - noise^2, 0))``.

The gates come from the core (``WordExperts.gates``, ``gate_vectors``, ``gate_words``):
nothing is re-derived here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..core import AttentionConfig, BidirectionalAttention, WordExperts, to_experts
from ..data.corpora import PlantedTruth, questions_frame

QUESTION_WORDS = ("a", "b", "c", "d")


def planted_experts(truth: PlantedTruth) -> WordExperts:
    """The generator's true model as a free one-head :class:`WordExperts` (float64).

    Its ``masked_logits`` are the truth's conditional logits (up to a constant per row), so
    the theory's diagnostics apply to the truth as to a trained model.
    """
    V, dim = truth.vectors.shape
    L = truth.gate_vectors.shape[0]
    model = WordExperts(AttentionConfig(vocab_size=V, max_len=L, d_model=dim, n_heads=1), structure="free").double()
    with torch.no_grad():
        m = model.mixture
        for name, value in (
            ("alpha", truth.alpha[None]), ("gate_vectors", truth.gate_vectors[None]), ("gate_words", truth.gate_words),
        ):  # fmt: skip
            getattr(m, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        for t in (m.gamma, m.gate_positions, m.intercept):
            t.zero_()
        model.rho.copy_(torch.from_numpy(truth.rho))
        model.bias.copy_(torch.from_numpy(truth.bias))
    return model.eval()


def _experts(model: BidirectionalAttention | WordExperts) -> WordExperts:
    if isinstance(model, BidirectionalAttention):
        model = to_experts(model)
    if not isinstance(model, WordExperts):
        raise TypeError(f"expected a BidirectionalAttention or WordExperts, got {type(model).__name__}")
    if model.config.n_layers != 1:
        raise ValueError(f"the gate diagnostics are for a single layer; this model has {model.config.n_layers}")
    return model


def _question_ids(questions: pd.DataFrame, words: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The questions whose four words are all in ``words``, and their ids ``(Q, 4)``."""
    index = {w: i for i, w in enumerate(words)}
    inside = np.ones(len(questions), dtype=bool)
    for column in QUESTION_WORDS:
        inside &= questions[column].isin(index).to_numpy()
    kept = questions[inside].reset_index(drop=True)
    ids = np.array([[index[w] for w in row] for row in kept[list(QUESTION_WORDS)].itertuples(index=False)], dtype=np.int64)
    return kept, ids.reshape(-1, 4)


@torch.no_grad()
def mean_gates(model: BidirectionalAttention | WordExperts, windows: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
    """Mean gate each word receives as a context word, times ``L``: ``(H, V)``.

    Over every window of ``windows`` ``(N, L)`` and every masked position ``i``, the gate
    ``pi^h_ij`` of each other slot ``j`` is credited to the word ``x_j``; a word's mean is over
    all its (window, masked position) occurrences as context. NaN for words never seen.
    """
    experts = _experts(model).eval()
    H, V = experts.config.n_heads, experts.config.vocab_size
    N, L = windows.shape
    x_all = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.int64))
    total = torch.zeros(H, V, dtype=torch.float64)
    count = torch.zeros(V, dtype=torch.float64)
    for start in range(0, N, batch_size):
        x = x_all[start : start + batch_size].to(next(experts.parameters()).device)  # (B, L)
        gates = experts.gates(x).to("cpu", torch.float64)  # (B, H, L_i, L_j)
        x = x.cpu()
        context = ~torch.eye(L, dtype=torch.bool)  # (L_i, L_j): j != i
        weights = gates.permute(1, 0, 2, 3)[:, :, context]  # (H, B, L*(L-1)): pairs in row-major (i, j) order
        words = x[:, None, :].expand(-1, L, -1)[:, context]  # (B, L*(L-1)): x_j of each pair
        total.index_add_(1, words.reshape(-1), weights.reshape(H, -1))
        count.index_add_(0, words.reshape(-1), torch.ones(words.numel(), dtype=torch.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).numpy() * L


@torch.no_grad()
def gate_scores(model: BidirectionalAttention | WordExperts) -> np.ndarray:
    """Word part of the gate logits, ``g^h_i . u_w`` for every head, masked position and word: ``(H, L, V)``."""
    experts = _experts(model)
    V = experts.config.vocab_size
    scores = torch.einsum("hid,vd->hiv", experts.gate_vectors, experts.gate_words[:V])
    return scores.to("cpu", torch.float64).numpy()


def gate_inequality(
    model: BidirectionalAttention | WordExperts,
    questions: pd.DataFrame,
    words: list[str],
    windows: np.ndarray | None = None,
) -> pd.DataFrame:
    """How unequal the gates of each question's four words are: one row per question and head.

    Columns: the question's ``category, section, a, b, c, d``, ``head``; with ``windows``,
    ``gate_a .. gate_d`` (:func:`mean_gates`, uniform = 1), ``gate_ratio`` (max/min of the
    four) and ``gate_cv`` (their standard deviation over their mean); always
    ``score_spread`` (mean over masked positions of the four gate scores' max minus min) and
    ``odds_ratio = exp(score_spread)``. Uniform gates give ratio 1, cv 0, spread 0.
    """
    kept, ids = _question_ids(questions, list(words))
    scores = gate_scores(model)  # (H, L, V)
    H = scores.shape[0]
    four = scores[:, :, ids]  # (H, L, Q, 4)
    spread = (four.max(-1) - four.min(-1)).mean(1)  # (H, Q)
    gates = mean_gates(model, windows) if windows is not None else None  # (H, V)
    frames = []
    for h in range(H):
        frame = kept.copy()
        frame["head"] = h
        if gates is not None:
            g = gates[h][ids]  # (Q, 4)
            for k, column in enumerate(QUESTION_WORDS):
                frame[f"gate_{column}"] = g[:, k]
            with np.errstate(invalid="ignore", divide="ignore"):
                frame["gate_ratio"] = g.max(1) / g.min(1)
                frame["gate_cv"] = g.std(1) / g.mean(1)
        frame["score_spread"] = spread[h]
        frame["odds_ratio"] = np.exp(spread[h])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def cooccurrence(windows: np.ndarray, rows: np.ndarray, vocab_size: int) -> np.ndarray:
    """Counts ``C[r, w]`` of word ``w`` at another slot of a window holding ``rows[r]``: ``(R, V)``.

    Every ordered pair of distinct slots of every window counts once (a word twice in a
    window co-occurs with itself).
    """
    L = windows.shape[1]
    position = np.full(vocab_size, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    flat = np.zeros(len(rows) * vocab_size, dtype=np.int64)
    for i in range(L):
        r = position[windows[:, i]]  # (N,)
        hit = r >= 0
        for j in range(L):
            if j != i:
                flat += np.bincount(r[hit] * vocab_size + windows[hit, j], minlength=flat.size)
    return flat.reshape(len(rows), vocab_size)


def ratio_condition(
    windows: np.ndarray,
    questions: pd.DataFrame,
    words: list[str],
    *,
    smoothing: float = 0.5,
    min_count: int = 1,
) -> pd.DataFrame:
    """How far ``p(w|a)/p(w|b) = p(w|c)/p(w|d)`` is from holding in the windows, per question.

    ``p(w|v) = (C[v, w] + smoothing) / (C[v] + smoothing * V')`` over the ``V'`` words seen at
    least ``min_count`` times; ``D(w)`` as in the module docstring, weighted by the unigram
    frequency of ``w``. Columns: the question's, ``mean`` (weighted mean of ``D``),
    ``spread`` (weighted standard deviation), ``noise`` (the spread finite counts alone give,
    estimated split-half: ``D`` of the even and of the odd windows differ by noise alone, of
    twice the full data's variance each, so ``noise = sd_w(D_even - D_odd) / 2``), ``excess``
    (``sqrt(max(spread^2 - noise^2, 0))``) and ``pairs`` (the fewest co-occurrences of one of
    the four words). Ratio condition exact and counts unlimited: spread = excess = 0.

    Where the four words are rare, smoothing dominates their rows and the split-half noise is
    only a rough guide (on the 453k-token wiki sample, most Google-set words are).
    """
    if smoothing <= 0:
        raise ValueError(f"smoothing must be positive, got {smoothing!r}")
    V = len(words)
    kept, ids = _question_ids(questions, list(words))
    unigram = np.bincount(windows.ravel(), minlength=V).astype(np.float64)
    seen = unigram >= min_count
    w = unigram[seen] / unigram[seen].sum()  # (V',)
    rows = np.unique(ids)
    r = np.searchsorted(rows, ids)  # (Q, 4)
    halves = [cooccurrence(windows[k::2], rows, V)[:, seen].astype(np.float64) for k in (0, 1)]  # (R, V') each
    full = halves[0] + halves[1]

    def log_ratio(C: np.ndarray) -> np.ndarray:
        logp = np.log(C + smoothing) - np.log(C.sum(1, keepdims=True) + smoothing * len(w))  # (R, V')
        return logp[r[:, 0]] - logp[r[:, 1]] - logp[r[:, 2]] + logp[r[:, 3]]  # (Q, V')

    def weighted_sd(D: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(((D - (D @ w)[:, None]) ** 2) @ w, 0.0))

    D = log_ratio(full)
    spread = weighted_sd(D)
    noise = weighted_sd(log_ratio(halves[0]) - log_ratio(halves[1])) / 2
    frame = kept.copy()
    frame["mean"] = D @ w
    frame["spread"] = spread
    frame["noise"] = noise
    frame["excess"] = np.sqrt(np.maximum(spread**2 - noise**2, 0.0))
    frame["pairs"] = full.sum(1)[r].min(1).astype(np.int64)
    return frame


def random_questions(
    words: list[str],
    n: int,
    *,
    seed: int = 0,
    pool: list[str] | None = None,
    category: str = "random",
) -> pd.DataFrame:
    """``n`` quadruples of four distinct words drawn uniformly from ``pool`` (default: ``words``).

    The control for :func:`ratio_condition` and the evaluator: no analogy is planted in them.
    """
    pool = list(words if pool is None else pool)
    if len(pool) < 4:
        raise ValueError(f"need at least four words to draw quadruples from, got {len(pool)}")
    rng = np.random.default_rng(seed)
    rows = [(category, "semantic", *(pool[i] for i in rng.choice(len(pool), 4, replace=False))) for _ in range(n)]
    return questions_frame(rows)


def summarize(frame: pd.DataFrame, columns: list[str], *, by: str = "category") -> pd.DataFrame:
    """Median, mean and 90th percentile of ``columns`` per ``by`` group and over all rows ("all")."""
    groups = [(name, g) for name, g in frame.groupby(by, sort=False)] + [("all", frame)]
    rows = []
    for name, g in groups:
        row = {by: name, "rows": len(g)}
        for column in columns:
            values = g[column].dropna()
            row[f"{column}_median"] = values.median()
            row[f"{column}_mean"] = values.mean()
            row[f"{column}_p90"] = values.quantile(0.9)
        rows.append(row)
    return pd.DataFrame(rows)
