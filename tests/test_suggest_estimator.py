"""The CodeSuggester honours scikit-learn's estimator contract and masks unknown labels.

All data here is synthetic (random Gaussian blobs); no transcript text is involved.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline.suggest.estimator import UNKNOWN, CodeSuggester


@parametrize_with_checks([CodeSuggester(), CodeSuggester(calibration=None, class_weighting=None)])
def test_sklearn_estimator_contract(estimator, check) -> None:
    check(estimator)


def _blobs(n: int = 240, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic multi-label data: code j is present when feature j is shifted up."""
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, k)) < 0.3).astype(np.int64)
    X = rng.normal(size=(n, 8)) + np.pad(Y * 3.0, ((0, 0), (0, 8 - k)))
    return X, Y


def test_multilabel_probabilities_follow_codes() -> None:
    X, Y = _blobs()
    model = CodeSuggester().fit(X, Y)
    proba = model.predict_proba(X)
    assert proba.shape == Y.shape
    assert list(model.classes_) == [0, 1, 2]
    assert model.learned_.all()
    # Each column ranks its own code's positives above its negatives.
    for j in range(Y.shape[1]):
        assert proba[Y[:, j] == 1, j].mean() > proba[Y[:, j] == 0, j].mean() + 0.5
    assert set(np.unique(model.predict(X))) <= {0, 1}


def test_unknown_labels_are_left_out_not_negative() -> None:
    X, Y = _blobs()
    masked = Y.copy()
    # Hide every positive of code 0 except 12, and make half the rest unknown: the known set shrinks,
    # but no hidden positive is taught as a negative.
    pos = np.flatnonzero(Y[:, 0] == 1)
    masked[pos[12:], 0] = UNKNOWN
    model = CodeSuggester().fit(X, masked)
    assert model.n_positive_[0] == 12
    assert model.n_negative_[0] == int((Y[:, 0] == 0).sum())
    hidden = pos[12:]
    assert model.predict_code_proba(X[hidden])[:, 0].mean() > 0.5


def test_codes_below_min_positive_predict_base_rate_and_are_not_learned() -> None:
    X, Y = _blobs()
    Y[:, 2] = 0
    Y[:3, 2] = 1
    model = CodeSuggester(min_positive=5).fit(X, Y)
    assert model.learned_.tolist() == [True, True, False]
    assert model.estimators_[2] is None
    np.testing.assert_allclose(model.predict_code_proba(X)[:, 2], 3 / len(Y))


def test_calibrated_probabilities_are_roughly_honest() -> None:
    X, Y = _blobs(n=2000, k=1, seed=1)
    X_test, Y_test = _blobs(n=2000, k=1, seed=2)
    proba = CodeSuggester().fit(X, Y).predict_code_proba(X_test)[:, 0]
    for lo, hi in ((0.0, 0.2), (0.8, 1.0)):
        band = (proba >= lo) & (proba < hi)
        assert band.sum() > 50
        assert lo - 0.1 <= Y_test[band, 0].mean() <= hi + 0.1


def test_rejects_invalid_targets_and_params() -> None:
    X, _ = _blobs(n=20)
    with pytest.raises(ValueError, match="-1 \\(unknown\\)"):
        CodeSuggester().fit(X, np.full((20, 2), 2))
    with pytest.raises(ValueError, match="min_positive"):
        CodeSuggester(min_positive=0).fit(X, np.zeros((20, 2), dtype=int))
    assert clone(CodeSuggester(C=3.0)).get_params()["C"] == 3.0
