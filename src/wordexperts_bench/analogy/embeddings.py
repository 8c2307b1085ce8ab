"""Word embeddings trained side by side on one tokenised corpus (paper.md §3).

word2vec (gensim, CBOW and skip-gram) reads the corpus's sentences; the attention MLM and
its free word-experts form read the same tokens cut into fixed-length windows
(:meth:`~wordexperts.data.corpora.Corpus.windows`). Every model hands back *all* of its
candidate embeddings, each a ``(matrix (V, d), words)`` pair:

    word2vec          input (wv)             output (syn1neg, the context vectors)
    attention         E (token embedding)    alpha per head, summed and concatenated
                      rho (head weight)      (alpha from ``to_experts``, paper.md §1)
    word experts      alpha ...              u (gate words)          rho

Names are ``"{model}:{embedding}"``, e.g. ``"cbow:input"``, ``"attention-4h:alpha-sum"``.
Nothing here evaluates analogies; see ``wordexperts_bench.analogy.side_by_side``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch

from wordexperts.core import AttentionConfig, BidirectionalAttention, WordExperts, to_experts
from wordexperts.data.corpora import Corpus
from wordexperts.fast_step import FAST_KEYS
from wordexperts.train import resolve_device, torch_threads, train_mlm

Embedding = tuple[np.ndarray, list[str]]


@dataclass(frozen=True, kw_only=True)
class Word2VecSpec:
    """gensim ``Word2Vec`` settings; ``window=None`` takes the attention windows' ``L - 1``.

    ``sg=True`` is skip-gram, else CBOW (with ``cbow_mean=1``: the uniform context average of
    paper.md §1). ``shrink_windows=False`` keeps every window at full width, as the attention
    model's windows are; ``sample=0`` keeps every token.
    """

    name: str = "cbow"
    sg: bool = False
    vector_size: int = 100
    window: int | None = None
    negative: int = 5
    epochs: int = 5
    alpha: float = 0.025
    sample: float = 0.0
    shrink_windows: bool = False

    @property
    def kind(self) -> str:
        return "word2vec"


@dataclass(frozen=True, kw_only=True)
class AttentionSpec:
    """A masked language model on windows: attention (``structure="attention"``) or free word experts.

    ``structure="free"`` trains ``WordExperts(config, structure="free")`` directly (one
    linear layer, no residual). The other fields are those of ``AttentionConfig`` and
    ``train_mlm``; ``fast=None`` takes ``train_mlm``'s hand-derived step only while the
    windows have at most :data:`~wordexperts.fast_step.FAST_KEYS` (column, word) keys, ``length * (V + 1)``: its
    tables grow as ``length * V`` squared (measured at ``L = 8``, d 32: 0.3x the autograd
    step's speed at ``V = 1000``, 0.16x at 3000, and 5 GB of tables at 9000 words; 1.3x
    faster at ``V = 128``, ``L = 6``).
    """

    name: str = "attention"
    structure: Literal["attention", "free"] = "attention"
    d_model: int = 16
    n_heads: int = 1
    d_head: int | None = None
    block: Literal["linear", "bert"] = "linear"
    d_ff: int = 32
    positional: Literal["learned", "sinusoidal", "none"] = "learned"
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-2
    fast: bool | None = None

    @property
    def kind(self) -> str:
        return "attention" if self.structure == "attention" else "experts"

    def config(self, vocab_size: int, length: int) -> AttentionConfig:
        return AttentionConfig(
            vocab_size=vocab_size, max_len=length, d_model=self.d_model, n_heads=self.n_heads, d_head=self.d_head,
            block=self.block, d_ff=self.d_ff, positional=self.positional,
        )  # fmt: skip


Spec = Word2VecSpec | AttentionSpec


def default_specs(
    dim: int = 8, *, heads: int = 4, epochs: int = 100, experts_epochs: int = 60, w2v_epochs: int = 5
) -> list[Spec]:
    """CBOW, skip-gram, attention with one head and with ``heads`` heads, free word experts.

    All ``dim`` wide (per head ``dim / heads`` in the multi-head model), linear blocks. The
    defaults suit the synthetic corpus: ``dim`` its true dimension (wider models fit the same
    loss but spread noise over the spare dimensions, which costs analogy accuracy: 0.80
    against 0.97 top-1 for one attention head at ``dim = 16`` against a truth of 8), and
    ``epochs`` that bring a one-head attention model within 0.003 nats of the truth's loss on
    40,000 sentences (the free experts get there in 60).
    """
    return [
        Word2VecSpec(name="cbow", sg=False, vector_size=dim, epochs=w2v_epochs),
        Word2VecSpec(name="skipgram", sg=True, vector_size=dim, epochs=w2v_epochs),
        AttentionSpec(name="attention-1h", d_model=dim, n_heads=1, epochs=epochs),
        AttentionSpec(name=f"attention-{heads}h", d_model=dim, n_heads=heads, epochs=epochs),
        AttentionSpec(name="experts", structure="free", d_model=dim, n_heads=1, epochs=experts_epochs),
    ]


@dataclass(eq=False)
class TrainedEmbeddings:
    """What :func:`train_embeddings` returns.

    ``embeddings``: name -> ``(matrix (V, d), words)``; ``timings``: one row a model with
    ``model, kind, device, seconds, tokens, tokens_per_second, final_loss``; ``models``: name
    -> the trained gensim or torch model; ``windows``: the ``(N, L)`` rows the MLMs read.
    """

    corpus: dict
    embeddings: dict[str, Embedding]
    timings: pd.DataFrame
    models: dict[str, object] = field(default_factory=dict)
    windows: np.ndarray | None = None
    specs: list[Spec] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row an embedding: ``name, model, embedding, words, dim``."""
        rows = [
            {"name": n, "model": n.split(":")[0], "embedding": n.split(":", 1)[1], "words": len(w), "dim": m.shape[1]}
            for n, (m, w) in self.embeddings.items()
        ]
        return pd.DataFrame(rows)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


@torch.no_grad()
def mlm_embeddings(model: BidirectionalAttention | WordExperts, words: list[str]) -> dict[str, Embedding]:
    """Every candidate embedding of a masked language model, keyed ``E``, ``alpha...``, ``u``, ``rho``.

    ``alpha`` is the first layer's expert vector of each word, ``(H, V+1, d)`` with the mask
    row dropped: ``alpha`` for one head, else ``alpha[h]`` per head, ``alpha-sum`` (the sum
    over heads, what a word contributes when all heads gate alike) and ``alpha-concat``
    ``(V, H*d)``. ``E`` is the token embedding (attention, structured experts), ``u`` the free
    form's gate word vectors, ``rho`` the output embedding (head weight).

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> model = BidirectionalAttention(vocab_size=5, max_len=4, d_model=6, n_heads=2)
        >>> {k: v[0].shape for k, v in mlm_embeddings(model, list("abcde")).items()}  # doctest: +NORMALIZE_WHITESPACE
        {'E': (5, 6), 'alpha[0]': (5, 6), 'alpha[1]': (5, 6), 'alpha-sum': (5, 6), 'alpha-concat': (5, 12),
         'rho': (5, 6)}
    """
    V = model.config.vocab_size
    if len(words) != V:
        raise ValueError(f"{len(words)} words for a model with vocab_size={V}")
    words = list(words)
    out: dict[str, Embedding] = {}
    experts = to_experts(model) if isinstance(model, BidirectionalAttention) else model
    if isinstance(model, BidirectionalAttention):
        out["E"] = (_numpy(model.token_embedding.weight[:V]), words)
    elif not experts.free:
        out["E"] = (_numpy(experts.word_vectors[:V]), words)
    alpha = _numpy(experts.alpha[:, :V])  # (H, V, d)
    if alpha.shape[0] == 1:
        out["alpha"] = (alpha[0], words)
    else:
        for h, a in enumerate(alpha):
            out[f"alpha[{h}]"] = (a, words)
        out["alpha-sum"] = (alpha.sum(0), words)
        out["alpha-concat"] = (np.concatenate(list(alpha), axis=1), words)
    if experts.free:
        out["u"] = (_numpy(experts.gate_words[:V]), words)
    out["rho"] = (_numpy(experts.rho), words)
    return out


def train_word2vec(corpus: Corpus, spec: Word2VecSpec, *, length: int, seed: int = 0):
    """Fit gensim's ``Word2Vec`` on the corpus's sentences (one worker: deterministic given ``seed``).

    Returns ``(model, {"input": ..., "output": ...}, seconds)``. gensim keeps its own word
    order; every word of the corpus vocabulary that occurs is in it (``min_count=1``).
    """
    from gensim.models import Word2Vec

    sentences = corpus.token_lists()
    window = length - 1 if spec.window is None else spec.window
    model = Word2Vec(
        vector_size=spec.vector_size, window=window, min_count=1, sg=int(spec.sg), negative=spec.negative, hs=0,
        cbow_mean=1, alpha=spec.alpha, sample=spec.sample, shrink_windows=spec.shrink_windows, workers=1, seed=seed,
    )  # fmt: skip
    model.build_vocab(sentences)
    started = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=spec.epochs)
    seconds = time.perf_counter() - started
    words = list(model.wv.index_to_key)
    found = {"input": (model.wv.vectors.astype(np.float64), words), "output": (model.syn1neg.astype(np.float64), words)}
    return model, found, seconds


def train_mlm_model(
    windows: np.ndarray,
    vocab_size: int,
    spec: AttentionSpec,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    n_threads: int | None = 1,
):
    """Build and fit the spec's model on ``windows`` ``(N, L)``; returns ``(model, history)``.

    The initial weights are drawn from ``torch.manual_seed(seed)`` inside a forked random
    state (the caller's is left alone); ``train_mlm`` shuffles with the same seed.
    """
    config = spec.config(vocab_size, windows.shape[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.structure == "free":
            model = WordExperts(config, structure="free")
        else:
            model = BidirectionalAttention(config)
    fast = spec.fast
    if fast is None and windows.shape[1] * config.n_tokens > FAST_KEYS:
        fast = False
    history = train_mlm(
        model, torch.from_numpy(windows), epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr, seed=seed,
        device=resolve_device(device), n_threads=n_threads, fast=fast,
    )  # fmt: skip
    return model.cpu().eval(), history


def train_embeddings(
    corpus: Corpus,
    specs: list[Spec] | None = None,
    *,
    length: int | None = None,
    stride: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    n_threads: int | None = 1,
) -> TrainedEmbeddings:
    """Train every spec on ``corpus`` and collect all their candidate embeddings.

    ``length`` is the MLM window (default: the synthetic corpus's sentence length, else 8),
    ``stride`` the step between windows (default: ``length``, no overlap). ``device`` applies
    to the MLMs (gensim runs on CPU). Throughput is tokens seen per second of training:
    ``tokens * epochs / seconds`` (for the MLMs, every window token is a masked prediction).
    """
    specs = default_specs() if specs is None else list(specs)
    names = [s.name for s in specs]
    if len(set(names)) != len(names) or any(":" in n for n in names):
        raise ValueError(f"spec names must be unique and free of ':', got {names}")
    if length is None:
        length = corpus.truth.config.length if corpus.truth is not None else 8
    windows = corpus.windows(length, stride=stride) if any(s.kind != "word2vec" for s in specs) else None
    words = corpus.words
    where = resolve_device(device)
    embeddings, rows, models = {}, [], {}
    with torch_threads(n_threads):
        for spec in specs:
            if spec.kind == "word2vec":
                model, found, seconds = train_word2vec(corpus, spec, length=length, seed=seed)
                tokens, loss, on = corpus.n_tokens * spec.epochs, float("nan"), "cpu"
            else:
                model, history = train_mlm_model(windows, len(words), spec, seed=seed, device=where, n_threads=n_threads)
                seconds = sum(history.seconds)
                found = mlm_embeddings(model, words)
                tokens, loss, on = windows.size * len(history.loss), history.loss[-1], where.type
            models[spec.name] = model
            embeddings.update({f"{spec.name}:{k}": v for k, v in found.items()})
            rows.append({
                "model": spec.name, "kind": spec.kind, "device": on, "seconds": seconds, "tokens": tokens,
                "tokens_per_second": tokens / seconds if seconds > 0 else float("nan"), "final_loss": loss,
            })  # fmt: skip
    return TrainedEmbeddings(corpus.summary(), embeddings, pd.DataFrame(rows), models, windows, specs)


def spec_table(specs: list[Spec]) -> pd.DataFrame:
    """The specs as a table (one row each, missing fields blank), for reports."""
    return pd.DataFrame([{"kind": s.kind, **asdict(s)} for s in specs])
