"""scikit-learn's own estimator checks, on every estimator (small epochs: the checks fit ~50 times)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from wordexperts.tabular import WordExpertsClassifier, WordExpertsImputer, WordExpertsRegressor
from wordexperts.tabular.estimators import expected_failed_checks

FAST = dict(epochs=40, lr=1e-2, lr_schedule="constant", random_state=0)  # few epochs, a larger constant step
ESTIMATORS = [WordExpertsClassifier(**FAST), WordExpertsRegressor(**FAST), WordExpertsImputer(**FAST)]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
