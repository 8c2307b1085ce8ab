"""The fast prediction path gives what the straightforward one gives: codes, tokens, probabilities."""

import numpy as np
import pandas as pd
import pytest
import torch

from wordexperts.tabular import WordExpertsClassifier
from wordexperts.tabular.encoding import TableEncoder, _quantile_edges, bin_codes
from wordexperts.tabular.estimators import TARGET


@pytest.mark.parametrize("n_bins", [1, 2, 3, 10, 64, 65, 66, 200])
def test_bin_codes_count_the_edges_below_as_searchsorted_does(n_bins):
    rng = np.random.default_rng(n_bins)
    edges = _quantile_edges(rng.normal(size=3000), n_bins)
    close = np.r_[edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)]
    x = np.r_[rng.normal(scale=2.0, size=20_000), close, np.nan, -np.inf, np.inf, -0.0, 0.0]
    expected = np.searchsorted(edges[1:-1], x, side="left")
    codes = bin_codes(edges, x)
    assert codes.dtype == np.int64 and np.array_equal(codes, expected)
    tied = np.array([0.0, 1.0, 1.0, 1.0, 2.0])  # repeated inner edges, as ties can leave them
    assert np.array_equal(bin_codes(tied, x), np.searchsorted(tied[1:-1], x, side="left"))


def test_missing_columns_take_their_missing_token_as_missing_values_do():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"n": rng.normal(size=50), "c": rng.choice(["a", "b"], 50), "t": rng.choice(["y", "z"], 50)})
    for shared in (False, True):
        encoder = TableEncoder(n_bins=4, shared_vocabulary=shared).fit(frame)
        blank = frame.assign(t=pd.Series([None] * 50, dtype=object))
        expected = encoder.transform(blank)
        np.testing.assert_array_equal(encoder.transform(frame.drop(columns="t"), missing=["t"]), expected)
        np.testing.assert_array_equal(encoder.transform(frame.drop(columns="t"), missing=[-1]), expected)
        assert (expected[:, 2] == encoder.missing_token("t")).all()


@pytest.mark.parametrize("params", [{"preset": "paper"}, {"n_members": 3}])
def test_probabilities_are_the_softmax_of_the_masked_logits(params):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.choice(["u", "v", "w"], 600), "c": rng.integers(0, 5, 600)})
    y = np.where(X["a"] + (X["b"] == "u") > 0.3, "yes", "no")
    model = WordExpertsClassifier(epochs=3, random_state=0, **params).fit(X, y)
    proba = model.predict_proba(X)
    tokens = torch.as_tensor(model.encoder_.transform(X.assign(**{TARGET: None})))
    allowed = torch.as_tensor(model.encoder_.column_tokens(TARGET))
    position = torch.tensor([model.target_position_])
    with torch.no_grad():  # the straightforward way: every member's full logits, then the softmax, averaged
        logits = [m.eval().masked_logits_at(tokens, position)[:, 0, allowed] for m in model.models_]  # (N, K) each
        expected = torch.stack([torch.softmax(z.double(), dim=1) for z in logits]).mean(0)
    assert proba.shape == (600, 2) and proba.flags.c_contiguous
    np.testing.assert_allclose(proba, expected.numpy(), rtol=1e-12, atol=1e-15)
