"""Per-code thresholds reach the target precision; the decision policy and the review order behave.

Synthetic scores only (drawn from known distributions); no text.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.suggest.estimator import CodeSuggester
from pipeline.suggest.policy import (
    CodeThresholds,
    DecisionPolicy,
    choose_decision_threshold,
    choose_thresholds,
    min_apply_support,
)
from pipeline.suggest.priority import near_duplicate_groups, review_priority, theme_coverage, uncertainty
from pipeline.suggest.training import cross_val_code_proba


def _separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic code: positives (25 %) shifted along the first axis, overlapping the negatives."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(np.int64)
    X = rng.normal(size=(n, 6))
    X[:, 0] += 2.0 * y
    return X, y[:, None]


def test_thresholds_chosen_on_cv_predictions_reach_target_precision_on_new_data() -> None:
    X, Y = _separable(600, seed=0)
    oof = cross_val_code_proba(CodeSuggester(), X, Y, n_splits=5)
    report = choose_thresholds(Y[:, 0], oof[:, 0], target_precision=0.9, review_floor=0.15)
    assert math.isfinite(report.thresholds.apply)
    assert report.apply_precision is not None and report.apply_precision >= 0.9
    assert report.thresholds.review == 0.15

    model = CodeSuggester().fit(X, Y)
    X_new, Y_new = _separable(4000, seed=1)
    p = model.predict_code_proba(X_new)[:, 0]
    applied = p >= report.thresholds.apply
    assert applied.sum() > 50
    assert Y_new[applied, 0].mean() >= 0.87  # target 0.90, minus sampling noise on held-out data
    # Lower thresholds would have applied more at lower precision: the cut is not needlessly strict.
    assert Y_new[p >= 0.5, 0].mean() < Y_new[applied, 0].mean()


def test_unreachable_precision_means_never_apply() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    report = choose_thresholds(y, rng.random(400), target_precision=0.9, review_floor=0.2)
    assert math.isinf(report.thresholds.apply)
    assert report.apply_precision is None
    assert report.thresholds.review == 0.2


def test_smoothing_needs_more_than_a_few_lucky_hits() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.99, 0.98, 0.97, 0.5, 0.4, 0.3, 0.2, 0.1])
    # 3/3 correct is (3+1)/(3+2) = 0.8 smoothed: not enough evidence for 0.9.
    assert math.isinf(choose_thresholds(y, p, target_precision=0.9, review_floor=0.1).thresholds.apply)
    y10 = np.r_[np.ones(20, int), np.zeros(20, int)]
    p10 = np.r_[np.linspace(0.99, 0.8, 20), np.linspace(0.5, 0.1, 20)]
    assert choose_thresholds(y10, p10, target_precision=0.9, review_floor=0.1).thresholds.apply <= 0.8


def test_apply_test_needs_a_perfect_run_long_enough_to_pass() -> None:
    # 0.9**22 = 0.098 <= 0.10 < 0.9**21 = 0.109: 22 hits in a row are the least that shows 0.90 at 90 %.
    assert min_apply_support(0.9, 0.9) == 22
    assert min_apply_support(0.95, 0.95) == 59
    assert min_apply_support(0.0, 0.9) == 1
    with pytest.raises(ValueError):
        min_apply_support(1.0, 0.9)
    p = np.linspace(0.99, 0.01, 60)
    for run, expected in ((21, math.inf), (22, p[21])):
        y = np.r_[np.ones(run, int), np.zeros(60 - run, int)]
        report = choose_thresholds(y, p, target_precision=0.9, review_floor=0.1, confidence=0.9)
        assert report.thresholds.apply == expected
    # Where target**n equals 1 - confidence exactly (0.1**1 = 0.1), a perfect run passes despite rounding.
    ones = np.ones(60, int)
    assert choose_thresholds(ones, p, target_precision=0.1, review_floor=0.1, confidence=0.9).thresholds.apply == p[-1]
    # A target of 0 asks for nothing: everything is applied, misses included.
    y = np.r_[0, np.ones(59, int)]
    assert choose_thresholds(y, p, target_precision=0.0, review_floor=0.1, confidence=0.9).thresholds.apply == p[-1]
    with pytest.raises(ValueError, match="finite"):
        choose_thresholds(y, np.r_[np.nan, p[1:]], target_precision=0.9, review_floor=0.1, confidence=0.9)
    # 100 % can never be shown from a sample: never applied, however perfect the record.
    y = np.r_[np.ones(50, int), np.zeros(10, int)]
    assert math.isinf(choose_thresholds(y, p, target_precision=1.0, review_floor=0.1, confidence=0.9).thresholds.apply)


def test_apply_test_stops_at_the_first_cut_off_that_fails() -> None:
    """30 hits, then 8 misses, then 60 hits: the cumulative precision recovers (90 of 98), but the walk
    down the cut-offs stopped at the misses, so the threshold stays above them."""
    y = np.r_[np.ones(30, int), np.zeros(8, int), np.ones(60, int), np.zeros(40, int)]
    p = np.linspace(0.99, 0.01, len(y))
    report = choose_thresholds(y, p, target_precision=0.9, review_floor=0.1, confidence=0.9)
    assert p[29] <= report.thresholds.apply < p[25]  # the last passing cut lies within the first run
    point = choose_thresholds(y, p, target_precision=0.9, review_floor=0.1)  # the point rule scans on
    assert point.thresholds.apply < p[37]


def test_chosen_apply_threshold_keeps_the_confidence_it_promises() -> None:
    """The guarantee itself, on a known curve: P(y=1 | s) = 0.8 + 0.15 s for scores s ~ U(0, 1), so the
    true precision of "apply when s >= t" is 0.8 + 0.075 (1 + t), at least 0.90 exactly when t >= 1/3.
    Over 400 draws of 200 cross-validated scores, the fixed-sequence test picks a threshold below 1/3
    in at most 10 % of draws (plus sampling slack); the point rule, which keeps the lowest cut-off whose
    estimate reaches the target, does so about half the time."""
    rng = np.random.default_rng(0)
    too_low = {"fixed sequence": 0, "point": 0}
    applied = 0
    draws = 400
    for _ in range(draws):
        s = rng.random(200)
        y = (rng.random(200) < 0.8 + 0.15 * s).astype(int)
        fixed = choose_thresholds(y, s, target_precision=0.9, review_floor=0.1, confidence=0.9)
        point = choose_thresholds(y, s, target_precision=0.9, review_floor=0.1)
        too_low["fixed sequence"] += fixed.thresholds.apply < 1 / 3
        too_low["point"] += point.thresholds.apply < 1 / 3
        applied += math.isfinite(fixed.thresholds.apply)
    assert applied / draws >= 0.2  # cautious, but not a rule that never applies
    assert too_low["fixed sequence"] / draws <= 0.13
    assert too_low["point"] / draws >= 0.3


def test_policy_decisions_and_cold_start_never_applies() -> None:
    policy = DecisionPolicy({"a": CodeThresholds(apply=0.8, review=0.3)}, cold_start_review=0.5)
    assert [policy.decide("a", p) for p in (0.9, 0.8, 0.5, 0.29)] == ["apply", "apply", "review", "drop"]
    assert policy.decide("a", 0.99, cold_start=True) == "review"
    assert policy.decide("unknown_code", 0.99) == "review"
    assert policy.decide("unknown_code", 0.4) == "drop"
    matrix = policy.decide_matrix(["a", "b"], np.array([[0.9, 0.9], [0.1, 0.1]]), np.array([False, True]))
    assert matrix.tolist() == [["apply", "review"], ["drop", "drop"]]
    assert DecisionPolicy.from_dict(policy.to_dict()) == policy
    never = CodeThresholds(apply=math.inf, review=0.2)
    assert CodeThresholds.from_dict(never.to_dict()) == never


def test_cold_start_queues_at_most_top_k_codes_per_unit() -> None:
    policy = DecisionPolicy({"a": CodeThresholds(apply=0.8, review=0.3)}, cold_start_review=0.5, cold_start_top_k=2)
    codes = ["a", "c1", "c2", "c3", "c4"]
    proba = np.array([[0.9, 0.9, 0.6, 0.7, 0.95], [0.4, 0.55, 0.1, 0.2, 0.3]])
    cold = np.array([False, True, True, True, True])
    # Row 0: four cold codes above the floor, only the two most likely are queued; the trained code is
    # unaffected. Row 1: one cold code above the floor.
    assert policy.decide_matrix(codes, proba, cold).tolist() == [
        ["apply", "review", "drop", "drop", "review"],
        ["review", "review", "drop", "drop", "drop"],
    ]


def test_priority_prefers_uncertain_rare_and_under_covered() -> None:
    t = CodeThresholds(apply=0.8, review=0.2)
    assert uncertainty(0.8, t) == 1.0
    assert uncertainty(0.75, t) > uncertainty(0.3, t)
    common = review_priority(0.7, t, n_positive=500, theme_coverage=1.0)
    rare = review_priority(0.7, t, n_positive=2, theme_coverage=1.0)
    neglected = review_priority(0.7, t, n_positive=500, theme_coverage=0.0)
    assert rare > common and neglected > common
    assert theme_coverage({"x": 10, "y": 5}, ["x", "y", "z"]) == {"x": 1.0, "y": 0.5, "z": 0.0}


def test_near_duplicates_share_a_group() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 16))
    X = np.vstack([base[0], base[1], base[0] + 0.01, base[2], base[1] * 1.5])
    assert near_duplicate_groups(X).tolist() == [0, 1, 0, 3, 1]


def test_decision_threshold_chosen_on_cv_predictions_agrees_better_than_half_on_new_data() -> None:
    """A rare, weakly separable code: calibrated probabilities rarely reach 0.5, so "p >= 0.5" says no to
    almost every positive; the kappa-maximising cut chosen on cross-validated scores does better."""

    def rare(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = (rng.random(n) < 0.08).astype(np.int64)
        X = rng.normal(size=(n, 6))
        X[:, 0] += 1.5 * y
        return X, y[:, None]

    X, Y = rare(800, seed=0)
    oof = cross_val_code_proba(CodeSuggester(), X, Y, n_splits=5)
    report = choose_thresholds(Y[:, 0], oof[:, 0], target_precision=0.9, review_floor=0.15)
    cut = report.thresholds.decision
    assert 0.0 < cut < 0.5
    assert report.kappa_at_decision is not None and report.kappa_at_decision > 0

    from sklearn.metrics import cohen_kappa_score

    model = CodeSuggester().fit(X, Y)
    X_new, Y_new = rare(4000, seed=1)
    p = model.predict_code_proba(X_new)[:, 0]
    policy = DecisionPolicy({"a": report.thresholds})
    yes = policy.is_positive_matrix(["a"], p[:, None], np.array([False]))[:, 0]
    assert cohen_kappa_score(Y_new[:, 0], yes) > cohen_kappa_score(Y_new[:, 0], p >= 0.5) + 0.05
    # The decision threshold never changes apply / review / drop, and survives a round trip.
    assert CodeThresholds.from_dict(report.thresholds.to_dict()) == report.thresholds
    assert CodeThresholds.from_dict({"apply": None, "review": 0.2}).decision == 0.5


def test_decision_threshold_needs_evidence_and_never_splits_ties() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    p = np.linspace(0.9, 0.1, 8)
    assert choose_decision_threshold(y, p)[0] == 0.5  # 2 positives: too little evidence to move the cut
    y = np.r_[np.ones(10, int), np.zeros(10, int)]
    p = np.r_[np.full(10, 0.3), np.full(10, 0.1)]
    cut, kappa = choose_decision_threshold(y, p)
    assert 0.1 < cut < 0.3 and kappa == 1.0
