"""Per-code thresholds and the apply / review / drop decision policy.

Why a separate object from the model: the model says how likely a code is; the policy says what to *do*
about it, which is a project decision (how much auto-coding a team will accept) that can change without
retraining. Thresholds are chosen per code on cross-validated predictions because codes differ wildly
in how separable they are: one global cut-off would either flood the review queue with an easy code or
auto-apply a hard one at coin-flip precision.

How thresholds are chosen (``choose_thresholds``):

- **apply**: with ``confidence`` (default 0.9 in training) the threshold is chosen by a *fixed-sequence
  test* ("Learn then Test", Angelopoulos et al. 2021): the cut-offs are walked from the highest score
  down, and at each one the null hypothesis "precision of apply when p >= t is below
  ``target_precision``" is tested with the exact binomial p-value ``P(Bin(n, target) >= tp)`` over the
  ``n`` cross-validated predictions above ``t`` of which ``tp`` were right. The walk starts at the first
  cut-off with enough predictions for a perfect record to pass (22 at 0.90 / 0.90) and stops at the first
  cut-off whose test fails; the threshold is the last one that passed. Why not "the lowest cut-off whose
  confidence bound passes" (what this module did until 2026-11-24): that scans every cut-off and keeps the
  luckiest, so the bound no longer holds for the cut-off it picked; held out on Narrative Frames, 1-2 codes
  of 14 per split landed below the target (3 splits, 4 misses, e.g. 12 of 14 right). Testing in a fixed
  order needs no correction for the number of cut-offs: the chosen threshold's precision is at least the
  target with probability ``confidence``, *if* new units are exchangeable with the cross-validated ones
  and independent of each other, and precision does not fall as scores rise. The pipeline only comes close:
  segments of one interview are not independent, the blend weights are chosen on the same cross-validated
  scores, and the model that scores new units is refitted on all of them. So read it as a well-founded
  rule, not a proof; held out on Narrative Frames it missed the target on 1 code in 42 (3 splits x 14
  codes: co2, 7 of 9 right), against 4 for the scan. The price is recall: a code whose top scores
  include an early miss is not auto-applied at all. A target of 0 applies everything. With
  ``confidence`` 0 or None the older point rule is used: the lowest cut-off whose posterior-mean
  precision ``(tp + 1) / (n + 2)`` (a Beta(1, 1) prior) reaches the target. If no threshold qualifies,
  the code is never auto-applied.
- **review**: everything between ``review_floor`` and the apply threshold goes to a person; below the
  floor the suggestion is dropped.
- **decision** (``choose_decision_threshold``): the model's plain yes/no for a code, used wherever a
  binary answer is needed (agreement with human coders, F1), is "yes when p >= decision". It is the
  cut-off that maximises Cohen's kappa against the coders on the same cross-validated predictions.
  When vote shares are given it is kappa against a randomly drawn coder (a unit that 2 of 3 coders
  applied counts 2/3 yes and 1/3 no, so split units are not left out), otherwise against the
  resolved labels. Why not 0.5: class weighting and calibration put a rare code's probabilities far from
  0.5, so a fixed 0.5 says "no" to almost every positive of a rare code (or "yes" too often after
  re-weighting); kappa rewards agreement beyond chance, which is what is compared with human coders.
  The decision threshold does not change apply / review / drop.

Cold-start scores (no trained model for the code) are never auto-applied: their probabilities are
rough, so they are at most queued for review.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Decision = Literal["apply", "review", "drop"]
DECISIONS: tuple[Decision, ...] = ("apply", "review", "drop")

#: The yes/no cut-off used when none was chosen (too little evidence, or an old model card).
DEFAULT_DECISION = 0.5
#: Fewer known labels (or positives / negatives) than this: keep ``DEFAULT_DECISION``.
MIN_DECISION_EVIDENCE = 5

#: Beta prior (successes, failures) of the point rule used when no confidence is asked for.
PRECISION_PRIOR = (1.0, 1.0)


@dataclass(frozen=True)
class CodeThresholds:
    """Decision thresholds of one code. ``apply`` is ``inf`` when the code is never auto-applied.

    ``decision`` is the cut-off of the model's binary yes/no (see the module docstring); it defaults to
    0.5 so that cards written before it existed still load.
    """

    apply: float
    review: float
    decision: float = DEFAULT_DECISION

    def to_dict(self) -> dict[str, float | None]:
        return {
            "apply": None if math.isinf(self.apply) else self.apply,
            "review": self.review,
            "decision": self.decision,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CodeThresholds:
        apply = data.get("apply")
        decision = data.get("decision")
        return cls(
            apply=math.inf if apply is None else float(apply),
            review=float(data["review"]),
            decision=DEFAULT_DECISION if decision is None else float(decision),
        )


@dataclass(frozen=True)
class ThresholdReport:
    """How a chosen threshold performed on the cross-validated predictions it was chosen on.

    These figures are optimistic (the threshold was tuned on the same predictions); the evaluation in
    ``bench/eval_suggest.py`` measures them on held-out folds.
    """

    thresholds: CodeThresholds
    n_known: int
    n_positive: int
    apply_precision: float | None  # None when nothing would be applied
    apply_recall: float
    review_share: float
    f1_at_half: float
    kappa_at_decision: float | None = None  # on the predictions it was tuned on, so optimistic

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["thresholds"] = self.thresholds.to_dict()
        return data


def _smoothed_precision(tp: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Posterior mean of precision under a Beta prior: 3 lucky hits out of 3 are not 100 %."""
    a, b = PRECISION_PRIOR
    return (tp + a) / (n + a + b)


def min_apply_support(target_precision: float, confidence: float) -> int:
    """The fewest predictions whose perfect record passes the apply test: n with target**n <= 1 - confidence.

    Below it no test could pass, so the fixed sequence starts there (22 at 0.90 / 0.90, 59 at 0.95 / 0.95).
    Defined for a target below 1: a precision of 100 % can never be shown from a finite sample.
    """
    if not 0.0 <= target_precision < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"need 0 <= target_precision < 1 and 0 < confidence < 1, got {target_precision}, {confidence}")
    if target_precision == 0.0:
        return 1
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(target_precision) - 1e-9))


def _cut_offs(y_sorted: np.ndarray, p_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For "apply the top k" at every k: hits, applied count, and whether a cut may fall after the k-th
    (only between distinct probabilities: "apply if p >= t" includes every tie at t)."""
    return np.cumsum(y_sorted), np.arange(1, len(y_sorted) + 1), np.r_[p_sorted[1:] != p_sorted[:-1], True]


def _fixed_sequence_apply(
    y_sorted: np.ndarray, p_sorted: np.ndarray, target_precision: float, confidence: float
) -> float:
    """The apply threshold by the fixed-sequence test described in the module docstring (inf: never)."""
    from scipy.stats import binom

    if target_precision >= 1.0:
        return math.inf
    if target_precision <= 0.0:  # nothing to show: every unit may be applied
        return float(p_sorted[-1])
    tp, n, last_of_run = _cut_offs(y_sorted, p_sorted)
    candidates = np.flatnonzero(last_of_run & (n >= min_apply_support(target_precision, confidence)))
    p_values = binom.sf(tp[candidates] - 1, n[candidates], target_precision)  # P(Bin(n, target) >= tp)
    # A relative tolerance: where target**n equals 1 - confidence exactly, a perfect run must pass, as
    # min_apply_support assumes, whatever the floating-point rounding of the two sides.
    failed = np.flatnonzero(p_values > (1.0 - confidence) * (1.0 + 1e-9))
    passed = candidates[: failed[0] if len(failed) else len(candidates)]
    return float(p_sorted[passed[-1]]) if len(passed) else math.inf


def _point_apply(y_sorted: np.ndarray, p_sorted: np.ndarray, target_precision: float) -> float:
    """The lowest cut-off whose posterior-mean precision reaches the target (inf: never)."""
    tp, n, last_of_run = _cut_offs(y_sorted, p_sorted)
    ok = (_smoothed_precision(tp, n) >= target_precision) & last_of_run
    return float(p_sorted[np.flatnonzero(ok)[-1]]) if ok.any() else math.inf


def choose_decision_threshold(y_true: np.ndarray, proba: np.ndarray) -> tuple[float, float | None]:
    """The yes/no cut-off maximising Cohen's kappa of "p >= t" against ``y_true``, and that kappa.

    ``y_true`` holds 1/0 labels or vote shares in [0, 1] (fractional yes counts in the 2x2 table).

    Candidate cut-offs lie midway between consecutive distinct probabilities (so a tie is never split
    and a new score equal to a training score is not decided by float noise). With fewer than
    ``MIN_DECISION_EVIDENCE`` positives or negatives, or when no cut-off agrees better than chance,
    ``DEFAULT_DECISION`` is kept and its kappa returned (None when undefined).
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.shape != proba.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and proba must be 1-D of equal length, got {y_true.shape} and {proba.shape}")
    n_pos = float(y_true.sum())
    n_neg = len(y_true) - n_pos
    default_kappa = _kappa_at(y_true, proba, DEFAULT_DECISION)
    if min(n_pos, n_neg) < MIN_DECISION_EVIDENCE:
        return DEFAULT_DECISION, default_kappa
    order = np.argsort(-proba, kind="stable")
    p_sorted, y_sorted = proba[order], y_true[order]
    last_of_run = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], False])
    if not len(last_of_run):
        return DEFAULT_DECISION, default_kappa
    tp = np.cumsum(y_sorted)[last_of_run]
    predicted = (last_of_run + 1).astype(np.float64)
    kappa = _kappa_from_counts(tp, predicted - tp, n_pos - tp, n_neg - (predicted - tp))
    best = int(np.argmax(kappa))
    if not kappa[best] > 0:
        return DEFAULT_DECISION, default_kappa
    i = last_of_run[best]
    return float((p_sorted[i] + p_sorted[i + 1]) / 2), float(kappa[best])


def _kappa_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """Cohen's kappa of a 2x2 table (vectorised; 0 where it is undefined)."""
    num = 2.0 * (tp * tn - fp * fn)
    den = (tp + fp) * (fp + tn) + (tp + fn) * (fn + tn)
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def _kappa_at(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> float | None:
    if not len(y_true):
        return None
    yes = proba >= threshold
    tp = float(y_true[yes].sum())
    fp = float((1.0 - y_true[yes]).sum())
    fn = float(y_true[~yes].sum())
    tn = float((1.0 - y_true[~yes]).sum())
    den = (tp + fp) * (fp + tn) + (tp + fn) * (fn + tn)
    return 2.0 * (tp * tn - fp * fn) / den if den > 0 else None


def choose_thresholds(
    y_true: np.ndarray,
    proba: np.ndarray,
    *,
    target_precision: float,
    review_floor: float,
    confidence: float | None = None,
    decision_votes: tuple[np.ndarray, np.ndarray] | None = None,
) -> ThresholdReport:
    """Choose the apply and review thresholds of one code from cross-validated predictions.

    ``y_true`` holds 1/0 for known labels only (mask unknowns before calling); ``proba`` the matching
    out-of-fold probabilities. ``decision_votes`` = (vote shares, their out-of-fold probabilities), over
    every unit any coder decided (split ones included), is what the decision cut-off is tuned on; by
    default it is ``(y_true, proba)``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.shape != proba.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and proba must be 1-D of equal length, got {y_true.shape} and {proba.shape}")
    if not np.isfinite(proba).all():
        # A NaN would sort anywhere and silently make the threshold NaN (never applied): leave missing
        # scores out before calling.
        raise ValueError("proba must be finite; leave out units without a score")
    apply_t = math.inf
    if len(y_true):
        order = np.argsort(-proba, kind="stable")
        p_sorted, y_sorted = proba[order], y_true[order]
        if confidence:
            apply_t = _fixed_sequence_apply(y_sorted, p_sorted, target_precision, confidence)
        else:
            apply_t = _point_apply(y_sorted, p_sorted, target_precision)
    review_t = min(review_floor, apply_t)
    decision_t, decision_kappa = choose_decision_threshold(*(decision_votes or (y_true, proba)))
    thresholds = CodeThresholds(apply=apply_t, review=review_t, decision=decision_t)
    return ThresholdReport(
        thresholds=thresholds,
        n_known=len(y_true),
        n_positive=int(y_true.sum()),
        **_performance(y_true, proba, thresholds),
        kappa_at_decision=decision_kappa,
    )


def _performance(y_true: np.ndarray, proba: np.ndarray, thresholds: CodeThresholds) -> dict[str, Any]:
    applied = proba >= thresholds.apply
    reviewed = (proba >= thresholds.review) & ~applied
    positives = int(y_true.sum())
    tp = int((applied & (y_true == 1)).sum())
    predicted_half = proba >= 0.5
    tp_half = int((predicted_half & (y_true == 1)).sum())
    denom = int(predicted_half.sum()) + positives
    return {
        "apply_precision": tp / int(applied.sum()) if applied.any() else None,
        "apply_recall": tp / positives if positives else 0.0,
        "review_share": float(reviewed.mean()) if len(y_true) else 0.0,
        "f1_at_half": 2 * tp_half / denom if denom else 0.0,
    }


@dataclass
class DecisionPolicy:
    """Turns code probabilities into apply / review / drop decisions.

    ``thresholds`` holds the codes with a trained model; any other code (or any score flagged as cold
    start) uses ``cold_start_review`` as its review floor and is never applied automatically. In a
    matrix, at most ``cold_start_top_k`` cold-start codes per unit go to review (its most similar ones):
    in a codebook whose codes share one domain (every Prevent code mentions safeguarding), similarity
    alone would otherwise queue a dozen codes for every segment.
    """

    thresholds: dict[str, CodeThresholds] = field(default_factory=dict)
    cold_start_review: float = 0.5
    cold_start_top_k: int = 3

    def thresholds_for(self, code: str, cold_start: bool = False) -> CodeThresholds:
        if cold_start or code not in self.thresholds:
            return CodeThresholds(apply=math.inf, review=self.cold_start_review)
        return self.thresholds[code]

    def decide(self, code: str, probability: float, cold_start: bool = False) -> Decision:
        """The decision for one (code, probability)."""
        t = self.thresholds_for(code, cold_start)
        if probability >= t.apply:
            return "apply"
        if probability >= t.review:
            return "review"
        return "drop"

    def is_positive_matrix(self, codes: Sequence[str], proba: np.ndarray, cold_start: np.ndarray) -> np.ndarray:
        """The model's binary yes/no per (unit, code): ``proba >= decision`` of each code.

        For agreement with human coders and other yes/no measures; it is not the apply decision. Codes
        without a trained model (or flagged as cold start) use ``DEFAULT_DECISION``.
        """
        proba = np.asarray(proba, dtype=np.float64)
        cuts = np.array([self.thresholds_for(c, bool(cold_start[j])).decision for j, c in enumerate(codes)])
        return proba >= cuts[None, :]

    def decide_matrix(self, codes: Sequence[str], proba: np.ndarray, cold_start: np.ndarray) -> np.ndarray:
        """Decisions for a (n_units, n_codes) probability matrix; ``cold_start`` is per code (bool)."""
        proba = np.asarray(proba, dtype=np.float64)
        out = np.full(proba.shape, "drop", dtype=object)
        for j, code in enumerate(codes):
            t = self.thresholds_for(code, bool(cold_start[j]))
            out[proba[:, j] >= t.review, j] = "review"
            out[proba[:, j] >= t.apply, j] = "apply"
        cold = np.flatnonzero(np.asarray(cold_start, dtype=bool))
        if self.cold_start_top_k and len(cold) > self.cold_start_top_k:
            # Rank of each cold-start code within its unit (0 = most likely); beyond top-k: drop.
            rank = np.argsort(np.argsort(-proba[:, cold], axis=1, kind="stable"), axis=1)
            beyond = rank >= self.cold_start_top_k
            sub = out[:, cold]
            sub[beyond & (sub == "review")] = "drop"
            out[:, cold] = sub
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "cold_start_review": self.cold_start_review,
            "cold_start_top_k": self.cold_start_top_k,
            "thresholds": {code: t.to_dict() for code, t in self.thresholds.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionPolicy:
        return cls(
            thresholds={code: CodeThresholds.from_dict(t) for code, t in data.get("thresholds", {}).items()},
            cold_start_review=float(data.get("cold_start_review", 0.5)),
            cold_start_top_k=int(data.get("cold_start_top_k", 3)),
        )
