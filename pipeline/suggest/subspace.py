"""The embedding channel's classifier on a low-rank subspace learned jointly for all codes.

Why: a codebook's codes are related (a "hero" and a "villain" are parts of one story; several codes
ask about the same passages), yet one logistic regression per code on the full 384-dimensional
embedding learns each code alone from a few hundred units and fits noise in directions no code uses.
Partial least squares (PLS) finds the few directions of the embedding space that co-vary most with
*all* codes' labels at once; each code's classifier is then fitted (and later calibrated) in that small space. The
shared directions are estimated from every label in the training set, so a code borrows strength from
the others. The number of directions is a bias/variance trade-off that a few hundred units cannot
pin down, so the scores of several sizes (8, 12, 16 and 24 by default) are averaged.

Measured on Narrative Frames (265 articles, 5-fold CV grouped by article, 14 targeted codes;
``bench/eval_suggest.py``): out-of-fold ROC AUC of the embedding channel 0.784 → 0.797 (0.821 → 0.830
once blended with the word and counts channels), and mean model-coder kappa 0.34 → 0.36 (coders
among themselves: 0.37), with kappa at least the coders' on 9 of the 14 codes instead of 6.

Calibration is done out of fold: the projections are learned from the very labels the classifiers are
fitted on, so probabilities calibrated on training scores would be overconfident. Training uses this
estimator only when at least ``training.SUBSPACE_MIN_CODES`` codes can be learned (there must be codes
to share).

Everything else follows :class:`~pipeline.suggest.estimator.CodeSuggester`, which this extends: masked
(-1) and soft (vote share) labels, class weighting, calibration, ``learned_`` per code. Unknown labels
enter the PLS target as the code's mean known label, so they pull the directions nowhere. The fitted
state is a mean vector, one projection matrix per size and the per-code classifiers: no text and no
training vector is kept.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, logit
from sklearn.cross_decomposition import PLSRegression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from pipeline.suggest.estimator import UNKNOWN, CodeSuggester

#: Subspace sizes whose scores are averaged (capped by the number of units, features and codes).
DEFAULT_COMPONENTS: tuple[int, ...] = (8, 12, 16, 24)


class SubspaceCodeSuggester(CodeSuggester):
    """Per-code classifiers on PLS projections of the features shared by all codes, calibrated out of fold.

    Parameters
    ----------
    n_components : int or tuple of int, default=(8, 12, 16, 24)
        Sizes of the shared subspace; one set of per-code classifiers is fitted per size and their
        probabilities are averaged. Sizes above ``min(n_samples - 1, n_features, n_codes)`` are capped.
    C : float, default=1.0
        Inverse regularisation of each code's logistic regression (on standardised projections).
    calibration : {"sigmoid", None}, default="sigmoid"
        Platt scaling of each code's averaged logit, fitted on scores of the whole pipeline refitted on
        ``calibration_cv`` folds (the projections are learned from the labels, so calibrating on the
        training scores would be overconfident); None leaves the class-weighted logistic scores.
    class_weighting, calibration_cv, min_positive
        As in :class:`CodeSuggester`.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Feature means of the training data (the projections are centred).
    projections_ : list of ndarray
        One (n_features, k) matrix per subspace size, scaled so the projected training data has unit
        variance per direction and unit expected norm (the identity when no label varies).
    members_ : list of CodeSuggester
        The per-code (uncalibrated) classifiers fitted in each subspace.
    sigmoids_ : ndarray of shape (n_codes, 2)
        Slope and intercept of each code's calibration sigmoid on the averaged logit.
    classes_, learned_, base_rate_, n_positive_, n_negative_, multilabel_, n_features_in_
        As in :class:`CodeSuggester`.
    """

    def __init__(
        self,
        n_components: int | tuple[int, ...] = DEFAULT_COMPONENTS,
        C: float = 1.0,
        class_weighting: Literal["balanced"] | None = "balanced",
        calibration: Literal["sigmoid"] | None = "sigmoid",
        calibration_cv: int = 3,
        min_positive: int = 1,
    ) -> None:
        super().__init__(
            C=C,
            class_weighting=class_weighting,
            calibration=calibration,
            calibration_cv=calibration_cv,
            min_positive=min_positive,
        )
        self.n_components = n_components

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # PLS needs dense features (embeddings are dense)
        return tags

    def _sizes(self) -> tuple[int, ...]:
        sizes = tuple(self.n_components) if isinstance(self.n_components, tuple | list) else (self.n_components,)
        if not sizes or not all(isinstance(k, int | np.integer) and not isinstance(k, bool) and k >= 1 for k in sizes):
            raise ValueError(
                f"n_components must be an integer >= 1 or a non-empty tuple of them, got {self.n_components!r}"
            )
        return tuple(int(k) for k in sizes)

    def _validate_params_values(self) -> None:
        super()._validate_params_values()
        self._sizes()
        if self.calibration == "isotonic":
            raise ValueError("calibration must be 'sigmoid' or None: the subspace channel is calibrated out of fold")

    def _member(self, min_positive: int) -> CodeSuggester:
        # Uncalibrated: a calibrator fitted inside a projection learned from the same labels would be
        # overconfident. The whole pipeline is calibrated out of fold instead (see ``fit``).
        return CodeSuggester(
            C=self.C, class_weighting=self.class_weighting, calibration=None, min_positive=min_positive
        )

    def _fit_raw(self, X: np.ndarray, indicator: np.ndarray, min_positive: int | None = None) -> _Raw:
        """Centre, find one projection per size on all codes' labels, fit the per-code classifiers."""
        target = _pls_target(indicator)
        mean = X.mean(axis=0)
        centred = X - mean
        # Beyond one direction per code, PLS directions only chase label noise.
        limit = min(X.shape[0] - 1, X.shape[1], target.shape[1])
        sizes = sorted({min(k, limit) for k in self._sizes() if limit >= 1})
        projections = [self._projection(centred, target, k) for k in sizes or [0]]
        minimum = self.min_positive if min_positive is None else min_positive
        members = [self._member(minimum).fit(centred @ p, indicator) for p in projections]
        return _Raw(mean, projections, members)

    def fit(self, X: ArrayLike, y: ArrayLike) -> SubspaceCodeSuggester:
        """Find the shared subspaces on all codes' labels, fit every code's classifier in each, calibrate.

        Calibration is honest: the whole pipeline (projection and classifiers) is refitted on
        ``calibration_cv`` folds, and each code's sigmoid is fitted on the held-out scores.
        """
        self._validate_params_values()
        X, y = validate_data(self, X, y, multi_output=True, dtype=np.float64)
        y = np.asarray(y)
        indicator = self._binarise(y)  # sets classes_ and multilabel_ as the parent does
        raw = self._fit_raw(X, indicator)
        self.mean_, self.projections_, self.members_ = raw.mean, raw.projections, raw.members
        first = self.members_[0]
        self.learned_ = first.learned_.copy()
        self.base_rate_ = first.base_rate_.copy()
        self.n_positive_ = first.n_positive_.copy()
        self.n_negative_ = first.n_negative_.copy()
        self.estimators_ = first.estimators_  # per code: None where unlearned (kept in step with learned_)
        # (slope, intercept) of each code's sigmoid on the averaged logit; (1, 0) leaves it as it is.
        self.sigmoids_ = np.tile([1.0, 0.0], (indicator.shape[1], 1))
        folds = min(self.calibration_cv, X.shape[0])
        if self.calibration is not None and self.learned_.any() and folds >= 2:
            held_out = np.full(indicator.shape, np.nan)
            for train, test in KFold(n_splits=folds, shuffle=True, random_state=0).split(X):
                # Every code with any evidence in the fold is fitted (min_positive=1): a code left out
                # would get a constant score there, which runs against the truth in that fold's test part
                # and can turn the fitted sigmoid upside down. A code with no evidence at all scores NaN.
                fold = self._fit_raw(X[train], indicator[train], min_positive=1)
                scores = fold.logits(X[test])
                scores[:, ~fold.members[0].learned_] = np.nan
                held_out[test] = scores
            for j in np.flatnonzero(self.learned_):
                known = (indicator[:, j] != UNKNOWN) & np.isfinite(held_out[:, j])
                self.sigmoids_[j] = _sigmoid_fit(held_out[known, j], indicator[known, j])
        return self

    @staticmethod
    def _projection(centred: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
        """The (n_features, k) PLS rotation scaled to unit variance per direction (identity-like fallback)."""
        if k < 1 or not np.any(target.std(axis=0) > 0) or not np.any(centred.std(axis=0) > 0):
            # No label varies (or one unit): nothing to align with; keep the features as they are.
            return np.eye(centred.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            pls = PLSRegression(n_components=k, scale=False).fit(centred, target)
        rotation = np.nan_to_num(pls.x_rotations_)
        spread = (centred @ rotation).std(axis=0)
        spread = np.where(spread > 1e-12, spread, 1.0)
        return rotation / (spread * np.sqrt(rotation.shape[1]))

    def unlearn(self, j: int) -> None:
        """Send code ``j`` back to cold start (no thresholds could be tuned for it)."""
        for member in self.members_:
            member.unlearn(j)
        super().unlearn(j)

    def predict_code_proba(self, X: ArrayLike) -> np.ndarray:
        """Each code's calibrated probability from the logits averaged over the subspace sizes.

        Unlearned codes hold the base rate.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        logits = _Raw(self.mean_, self.projections_, self.members_).logits(X)
        scores = expit(logits * self.sigmoids_[:, 0] + self.sigmoids_[:, 1])
        return np.where(self.learned_[None, :], scores, self.base_rate_[None, :])


@dataclass(frozen=True)
class _Raw:
    """One uncalibrated fit: centring, projections and per-code classifiers."""

    mean: np.ndarray
    projections: list[np.ndarray]
    members: list[CodeSuggester]

    def logits(self, X: np.ndarray) -> np.ndarray:
        centred = X - self.mean
        proba = [m.predict_code_proba(centred @ p) for m, p in zip(self.members, self.projections, strict=True)]
        return np.mean([logit(np.clip(q, 1e-9, 1 - 1e-9)) for q in proba], axis=0)


def _sigmoid_fit(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Platt scaling: (slope, intercept) of P(yes | score), fitted on held-out scores and vote shares.

    A split unit (0 < y < 1) counts as a weighted yes and a weighted no. Without both outcomes among
    the known labels there is nothing to fit, and the score is left as it is; scores that rank against
    the labels (slope <= 0) give way to the base rate.
    """
    soft = (y > 0) & (y < 1)
    s = np.r_[scores, scores[soft]]
    hard = np.r_[(y > 0).astype(np.int64), np.zeros(int(soft.sum()), dtype=np.int64)]
    weight = np.r_[np.where(soft, y, 1.0), 1.0 - y[soft]]
    if len(np.unique(hard)) < 2:
        return np.array([1.0, 0.0])
    platt = LogisticRegression(C=1e4, max_iter=1000).fit(s[:, None], hard, sample_weight=weight)
    slope = float(platt.coef_[0, 0])
    if slope <= 0:
        # The held-out scores do not rank this code at all: say its base rate, never the reverse ranking.
        rate = float(np.average(hard, weights=weight))
        return np.array([0.0, float(logit(np.clip(rate, 1e-6, 1 - 1e-6)))])
    return np.array([slope, float(platt.intercept_[0])])


def _pls_target(indicator: np.ndarray) -> np.ndarray:
    """Labels for PLS: vote shares, with each unknown replaced by its code's mean known label."""
    target = np.asarray(indicator, dtype=np.float64).copy()
    for j in range(target.shape[1]):
        unknown = target[:, j] == UNKNOWN
        known = target[~unknown, j]
        target[unknown, j] = known.mean() if len(known) else 0.0
    return target
