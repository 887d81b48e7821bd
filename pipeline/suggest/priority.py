"""Review order (active learning) and near-duplicate grouping.

Why: reviewer time is the scarce resource. A suggestion the model is sure about teaches it little; one
it is torn about teaches most, so the queue is ordered by **uncertainty**: closeness (in log-odds) of the
probability to the code's decision boundary (its apply threshold; 0.5 when the code is never
auto-applied). Two boosts then steer effort to where the model is weakest:

- **rare codes**: a code with few positive examples gains most from each new one
  (``1 + rare_boost / (1 + n_positive / rare_scale)``; cold-start codes have 0 positives);
- **under-covered themes**: a theme with few human decisions relative to the best-covered theme
  (``1 + theme_boost * (1 - coverage)``).

Near-duplicate segments (cosine similarity >= 0.95: repeated answers, boilerplate, the same passage in two
transcripts) get one ``group_key`` per code so the review screen can accept or reject them in one go.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.suggest.policy import CodeThresholds

#: Cosine similarity at or above which two segments count as near-duplicates.
NEAR_DUPLICATE_COSINE = 0.95
_EPS = 1e-6


@dataclass(frozen=True)
class PriorityWeights:
    """How strongly rare codes and under-covered themes are boosted (0 switches a boost off)."""

    rare_boost: float = 1.0
    rare_scale: float = 20.0
    theme_boost: float = 0.5


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def uncertainty(probability: float, thresholds: CodeThresholds) -> float:
    """1.0 exactly at the decision boundary, falling towards 0 as the model becomes sure either way."""
    boundary = thresholds.apply if math.isfinite(thresholds.apply) else 0.5
    return math.exp(-abs(_logit(probability) - _logit(boundary)))


def review_priority(
    probability: float,
    thresholds: CodeThresholds,
    n_positive: int,
    theme_coverage: float = 1.0,
    weights: PriorityWeights | None = None,
) -> float:
    """Priority of one queued suggestion (higher is reviewed first).

    ``theme_coverage`` is the theme's human decisions divided by those of the best-covered theme (0..1).
    """
    w = weights or PriorityWeights()
    rare = 1.0 + w.rare_boost / (1.0 + max(n_positive, 0) / w.rare_scale)
    theme = 1.0 + w.theme_boost * (1.0 - min(max(theme_coverage, 0.0), 1.0))
    return uncertainty(probability, thresholds) * rare * theme


def near_duplicate_groups(X: np.ndarray, threshold: float = NEAR_DUPLICATE_COSINE) -> np.ndarray:
    """Cluster rows of ``X`` (unit vectors) into near-duplicate groups; returns each row's leader index.

    Greedy leader clustering in row order: a row joins the first earlier leader it is at least
    ``threshold`` similar to, or becomes a leader itself. Deterministic, O(n * n_leaders), and exact
    for the tight threshold used here (true near-duplicates are mutually similar).
    """
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = X / np.maximum(norms, 1e-12)
    leaders: list[int] = []
    assignment = np.empty(X.shape[0], dtype=np.int64)
    for i in range(X.shape[0]):
        if leaders:
            sims = X[leaders] @ X[i]
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                assignment[i] = leaders[best]
                continue
        leaders.append(i)
        assignment[i] = i
    return assignment


def group_key(code: str, leader_text_hash: str) -> str:
    """A stable, opaque key shared by one code's suggestions on a group of near-duplicate segments."""
    return hashlib.sha256(f"{code}|{leader_text_hash}".encode()).hexdigest()[:32]


def theme_coverage(decisions_per_theme: dict[str, int], themes: Sequence[str]) -> dict[str, float]:
    """Each theme's human decisions relative to the best-covered theme (all 0 when none exist)."""
    top = max((decisions_per_theme.get(t, 0) for t in themes), default=0)
    return {t: (decisions_per_theme.get(t, 0) / top if top else 0.0) for t in themes}
