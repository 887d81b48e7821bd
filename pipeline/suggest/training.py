"""Training: fit the estimator, choose per-code thresholds on cross-validated predictions, build the card.

Why cross-validated predictions: thresholds tuned on the training predictions of a model that has seen
those very units would be far too low (a fitted model is over-confident on its own training data). Each
unit's score is therefore produced by a model trained without it (K-fold, grouped by ``groups`` when
given, so near-duplicate units or all segments of one transcript stay on one side of a split).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold

from pipeline.codebook import Codebook
from pipeline.suggest.card import build_card
from pipeline.suggest.coldstart import ColdStartScorer
from pipeline.suggest.counts import FEATURE_NAMES, CountCodeSuggester
from pipeline.suggest.estimator import UNKNOWN, CodeSuggester, evidence
from pipeline.suggest.lexical import TextCodeSuggester
from pipeline.suggest.model import WEIGHT_TOLERANCE, SuggestionModel, blend
from pipeline.suggest.policy import DecisionPolicy, ThresholdReport, choose_thresholds
from pipeline.suggest.subspace import SubspaceCodeSuggester

if TYPE_CHECKING:
    from pipeline.embed import Embedder
    from pipeline.settings import Settings

#: Shares of a text channel (words, counts) tried per code when the blend weights are chosen automatically;
#: with both channels, every pair of shares from this grid that sums to at most 1 is tried.
LEXICAL_WEIGHT_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)

#: Cold-start suggestions are queued for review only when at least this likely (see policy.py).
COLD_START_REVIEW = 0.5


#: Shared subspaces need codes to share: with fewer learnable codes the embedding channel is fitted on the
#: full embedding. Chosen a priori, not tuned on the evaluation data: with one or two codes there is
#: little to share, and the PLS directions are then fitted to those codes' own labels (and their noise).
SUBSPACE_MIN_CODES = 5


@dataclass(frozen=True)
class TrainingConfig:
    """Knobs of one training run (defaults mirror ``pipeline.settings.Settings``)."""

    target_precision: float = 0.90
    review_floor: float = 0.15
    min_positive_examples: int = 10
    n_splits: int = 5
    precision_confidence: float | None = 0.90
    #: The embedding channel's C: 10 measured best on Narrative Frames (ROC AUC with sentence pooling 0.784,
    #: against 0.782 at C=3 and 0.773 at C=30; with token windows 0.757 against 0.747 at C=1).
    C: float = 10.0
    #: Fit the embedding channel in low-rank subspaces shared by all codes (``pipeline.suggest.subspace``).
    subspace: bool = True
    #: Its C, on standardised projections: 1 measured best on Narrative Frames.
    subspace_C: float = 1.0
    random_state: int = 0
    #: Blend a TF-IDF word channel with the embeddings (needs the texts; see ``pipeline.suggest.lexical``).
    lexical: bool = True
    #: The word channel's share of the blend; ``None`` chooses it per code from LEXICAL_WEIGHT_GRID.
    lexical_weight: float | None = None
    lexical_C: float = 10.0
    lexical_min_df: int = 2
    #: Blend a counts channel (how often sums of money, percentages, ... occur; see ``pipeline.suggest.counts``).
    counts: bool = True
    counts_C: float = 0.1

    @classmethod
    def from_settings(cls, settings: Settings) -> TrainingConfig:
        return cls(
            target_precision=settings.target_precision,
            precision_confidence=settings.precision_confidence,
            review_floor=settings.review_floor,
            min_positive_examples=settings.min_positive_examples,
            lexical=settings.lexical_features,
            lexical_weight=settings.lexical_weight,
            lexical_min_df=settings.lexical_min_df,
            counts=settings.count_features,
            subspace=settings.shared_subspace,
        )


def cross_val_code_proba(
    estimator: CodeSuggester | TextCodeSuggester | CountCodeSuggester,
    X: np.ndarray,
    Y: np.ndarray,
    groups: np.ndarray | None = None,
    n_splits: int = 5,
    random_state: int = 0,
) -> np.ndarray:
    """Out-of-fold code probabilities, shape (n_units, n_codes).

    ``sklearn.model_selection.cross_val_predict`` cannot be used directly: it requires every fold's
    model to expose the same classes, and it has no notion of masked labels. ``X`` may be an object
    array of texts (for the text channels: words, counts).
    """
    n = X.shape[0]
    n_splits = min(n_splits, n if groups is None else len(np.unique(groups)))
    if n_splits < 2:
        raise ValueError(f"need at least 2 units (or groups) for cross-validation, got {n_splits}")
    if groups is not None:
        splitter: GroupKFold | KFold = GroupKFold(n_splits=n_splits)
    else:
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    oof = np.full(Y.shape, np.nan, dtype=np.float64)
    for train, test in splitter.split(X, Y, groups):
        fold = clone(estimator).fit(X[train], Y[train])
        oof[test] = fold.predict_code_proba(X[test])
    return oof


def _version_id(codebook: Codebook, X: np.ndarray, Y: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(codebook.content_hash.encode())
    digest.update(np.ascontiguousarray(Y, dtype=np.int8).tobytes())
    digest.update(np.ascontiguousarray(X, dtype=np.float32).tobytes())
    # Microseconds: two retrains on the same labels within one second must still get distinct versions.
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
    return f"{stamp}-{digest.hexdigest()[:8]}"


def train_model(
    codebook: Codebook,
    X: np.ndarray,
    Y: np.ndarray,
    *,
    texts: Sequence[str] | None = None,
    Y_fit: np.ndarray | None = None,
    embedder: Embedder | None = None,
    coldstart: ColdStartScorer | None = None,
    embedding_model: str | None = None,
    groups: np.ndarray | None = None,
    config: TrainingConfig | None = None,
    version: str | None = None,
) -> SuggestionModel:
    """Train a complete :class:`SuggestionModel` from unit embeddings ``X`` and labels ``Y``.

    ``Y`` is (n_units, n_codes) in codebook order with 1 / 0 / -1 (unknown): the resolved labels that
    thresholds are tuned and reported against. ``Y_fit`` (same shape, default ``Y``) is what the
    estimators are fitted on, normally the coders' vote shares (see :mod:`pipeline.suggest.labels`).
    ``texts`` (the units' anonymised text, in the order of ``X``) add the lexical channel when
    ``config.lexical`` is on and the counts channel when ``config.counts`` is on. The cold-start scorer
    comes from ``coldstart`` or is built with ``embedder`` from the codebook text; it is calibrated on
    ``Y`` and keeps scoring the codes that have too few examples.
    """
    config = config or TrainingConfig()
    X = np.asarray(X, dtype=np.float32)
    Y = np.asarray(Y, dtype=np.int64)
    if Y.shape != (X.shape[0], len(codebook)):
        raise ValueError(f"labels must be (n_units, n_codes) = ({X.shape[0]}, {len(codebook)}), got {Y.shape}")
    Y_fit = Y.astype(np.float64) if Y_fit is None else np.asarray(Y_fit, dtype=np.float64)
    if Y_fit.shape != Y.shape:
        raise ValueError(f"Y_fit must have the shape of Y {Y.shape}, got {Y_fit.shape}")
    if texts is not None and len(texts) != X.shape[0]:
        raise ValueError(f"got {len(texts)} texts for {X.shape[0]} units")
    use_words = config.lexical and texts is not None and config.lexical_weight != 0
    # A pinned word share may leave the counts no room on the weight grid: then they are not fitted at all.
    pinned = config.lexical_weight if use_words and config.lexical_weight is not None else 0.0
    room = 1.0 - pinned + WEIGHT_TOLERANCE >= min(w for w in LEXICAL_WEIGHT_GRID if w > 0)
    use_counts = config.counts and texts is not None and room
    text_array = np.array(list(texts), dtype=object) if (use_words or use_counts) and texts is not None else None
    if coldstart is None:
        if embedder is None:
            raise ValueError("give either a cold-start scorer or an embedder to build one")
        coldstart = ColdStartScorer.from_codebook(codebook, embedder)
    identity = embedding_model or (embedder.identity if embedder is not None else None)
    if identity is None:
        raise ValueError("embedding_model is required when no embedder is given")
    coldstart.calibrate(X, Y)

    estimator: CodeSuggester = (
        SubspaceCodeSuggester(C=config.subspace_C, min_positive=config.min_positive_examples)
        if config.subspace and _n_learnable(Y_fit, config.min_positive_examples) >= SUBSPACE_MIN_CODES
        else CodeSuggester(C=config.C, min_positive=config.min_positive_examples)
    )
    estimator.fit(X, Y_fit)
    text_estimator: TextCodeSuggester | None = None
    count_estimator: CountCodeSuggester | None = None
    if text_array is not None and use_words:
        text_estimator = TextCodeSuggester(
            C=config.lexical_C, min_df=config.lexical_min_df, min_positive=config.min_positive_examples
        ).fit(text_array, Y_fit)
    if text_array is not None and use_counts:
        count_estimator = CountCodeSuggester(C=config.counts_C, min_positive=config.min_positive_examples).fit(
            text_array, Y_fit
        )
    reports: dict[str, ThresholdReport] = {}
    lexical_weights: np.ndarray | None = None
    count_weights: np.ndarray | None = None
    # Thresholds need out-of-fold scores from at least two independent groups. With one (every labelled
    # segment from one interview, whose overlapping windows leak into each other) there is no honest way
    # to tune an auto-apply threshold, so every code stays in cold start until a second group arrives.
    n_groups = X.shape[0] if groups is None else len(np.unique(groups))
    if estimator.learned_.any() and X.shape[0] >= 4 and n_groups >= 2:
        oof = cross_val_code_proba(estimator, X, Y_fit, groups, config.n_splits, config.random_state)
        oof_text = oof_counts = None
        if text_estimator is not None and text_array is not None:
            oof_text = cross_val_code_proba(
                text_estimator, text_array, Y_fit, groups, config.n_splits, config.random_state
            )
        if count_estimator is not None and text_array is not None:
            oof_counts = cross_val_code_proba(
                count_estimator, text_array, Y_fit, groups, config.n_splits, config.random_state
            )
        if oof_text is not None or oof_counts is not None:
            lexical_weights, count_weights = choose_channel_weights(
                Y_fit, oof, oof_text, oof_counts, config.lexical_weight
            )
            oof = blend(oof, oof_text, lexical_weights, oof_counts, count_weights)
        for j, code in enumerate(codebook.code_ids):
            if not estimator.learned_[j]:
                continue
            scored = np.isfinite(oof[:, j])  # a unit without an out-of-fold score tells nothing
            known = (Y[:, j] != UNKNOWN) & scored
            voted = (Y_fit[:, j] != UNKNOWN) & scored
            reports[code] = choose_thresholds(
                Y[known, j],
                oof[known, j],
                target_precision=config.target_precision,
                review_floor=config.review_floor,
                confidence=config.precision_confidence,
                decision_votes=(Y_fit[voted, j], oof[voted, j]),
            )
    policy = DecisionPolicy(
        thresholds={code: report.thresholds for code, report in reports.items()},
        cold_start_review=max(COLD_START_REVIEW, config.review_floor),
    )
    # A code learnable on all data but never in CV has no thresholds: treat it as cold start.
    for j, code in enumerate(codebook.code_ids):
        if estimator.learned_[j] and code not in reports:
            estimator.unlearn(j)
    learned_any = bool(estimator.learned_.any())
    model = SuggestionModel(
        version=version or _version_id(codebook, X, Y),
        codebook=codebook,
        embedding_model=identity,
        coldstart=coldstart,
        policy=policy,
        estimator=estimator if learned_any else None,
        text_estimator=text_estimator if learned_any else None,
        lexical_weights=lexical_weights if text_estimator is not None else None,
        count_estimator=count_estimator if learned_any else None,
        count_weights=count_weights if count_estimator is not None else None,
    )
    model.card = build_card(
        model,
        reports,
        training={
            "n_units": int(X.shape[0]),
            "n_labels": int((Y != UNKNOWN).sum()),
            "n_soft_labels": int(((Y_fit > 0) & (Y_fit < 1)).sum()),
            "label_rule": "fitted on coders' vote shares; thresholds tuned on majority labels (ties excluded)",
            "lexical": _lexical_card(text_estimator, config, codebook, lexical_weights) if learned_any else None,
            "counts": _counts_card(count_estimator, config, codebook, count_weights) if learned_any else None,
            "embedding_dim": int(X.shape[1]),
            "embedding_channel": _embedding_card(estimator, config) if learned_any else None,
            "target_precision": config.target_precision,
            "precision_confidence": config.precision_confidence,
            "review_floor": config.review_floor,
            "min_positive_examples": config.min_positive_examples,
            "cv": {"n_splits": config.n_splits, "grouped": groups is not None, "n_groups": int(n_groups)},
        },
    )
    return model


def choose_channel_weights(
    Y_fit: np.ndarray,
    oof_embedding: np.ndarray,
    oof_text: np.ndarray | None,
    oof_counts: np.ndarray | None,
    fixed_lexical: float | None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per code, the word channel's and the counts channel's shares of the blend (embeddings get the rest).

    Each code gets the pair of shares from ``LEXICAL_WEIGHT_GRID`` (summing to at most 1) whose blended
    out-of-fold probabilities have the lowest log loss against the coders' vote shares; a missing channel
    keeps share 0 (and ``None`` is returned for it), and ``fixed_lexical`` pins the word share for every
    code. Why per code: some codes hinge on particular words (costs, blame), some on how often sums of
    money come up, others on what a passage is about, and the out-of-fold scores show which channel
    predicts a code better. Log loss (a proper scoring rule) rewards honest probabilities, not one
    cut-off, and a coarse grid leaves little room to overfit. Ties go to the pair with the least weight
    on the text channels (then the least on words).
    """
    n_codes = Y_fit.shape[1]
    if oof_text is None:
        text_grid: tuple[float, ...] = (0.0,)
    elif fixed_lexical is not None:
        text_grid = (float(fixed_lexical),)
    else:
        text_grid = LEXICAL_WEIGHT_GRID
    count_grid = LEXICAL_WEIGHT_GRID if oof_counts is not None else (0.0,)
    pairs = sorted(
        ((a, b) for a in text_grid for b in count_grid if a + b <= 1.0 + WEIGHT_TOLERANCE),
        key=lambda pair: (pair[0] + pair[1], pair[0]),
    )
    default = (text_grid[0], 0.0) if fixed_lexical is not None or oof_text is None else (0.5, 0.0)
    text_w = np.full(n_codes, default[0])
    count_w = np.full(n_codes, default[1])
    zeros = np.zeros_like(oof_embedding)
    for j in range(n_codes):
        known = (Y_fit[:, j] != UNKNOWN) & np.isfinite(oof_embedding[:, j])
        for channel in (oof_text, oof_counts):
            if channel is not None:
                known &= np.isfinite(channel[:, j])
        if not known.any():
            continue
        y = Y_fit[known, j]
        words = (oof_text if oof_text is not None else zeros)[known, j]
        counts = (oof_counts if oof_counts is not None else zeros)[known, j]
        losses = [_log_loss(y, blend(oof_embedding[known, j], words, a, counts, b)) for a, b in pairs]
        text_w[j], count_w[j] = pairs[int(np.argmin(losses))]
    return (text_w if oof_text is not None else None), (count_w if oof_counts is not None else None)


def _n_learnable(Y_fit: np.ndarray, min_positive: int) -> int:
    """How many codes have enough evidence either way to be learned (as ``CodeSuggester.fit`` decides)."""
    positive, negative = evidence(Y_fit)
    return int(((positive >= min_positive) & (negative >= min_positive)).sum())


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean log loss of probabilities ``p`` against labels or vote shares ``y``."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


def choose_lexical_weights(
    Y_fit: np.ndarray, oof_embedding: np.ndarray, oof_text: np.ndarray, fixed: float | None
) -> np.ndarray:
    """Per code, the word channel's share of a two-channel blend (see :func:`choose_channel_weights`)."""
    if oof_text is None:
        raise ValueError("choose_lexical_weights needs the word channel's out-of-fold scores")
    weights, _ = choose_channel_weights(Y_fit, oof_embedding, oof_text, None, fixed)
    return np.asarray(weights)


def _embedding_card(estimator: CodeSuggester, config: TrainingConfig) -> str:
    """One line on how the embedding channel was fitted, for the model card."""
    if isinstance(estimator, SubspaceCodeSuggester) and hasattr(estimator, "projections_"):
        sizes = ", ".join(str(p.shape[1]) for p in estimator.projections_)
        return (
            f"per-code logistic regressions (C={config.subspace_C}) in subspaces shared by all codes "
            f"(partial least squares on every code's labels; sizes {sizes}, scores averaged)"
        )
    return f"per-code logistic regressions (C={config.C}) on the full embedding"


def _lexical_card(
    text_estimator: TextCodeSuggester | None,
    config: TrainingConfig,
    codebook: Codebook,
    weights: np.ndarray | None,
) -> dict[str, object]:
    """What the model card says about the word channel (never the words themselves)."""
    if text_estimator is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "weights": None if weights is None else dict(zip(codebook.code_ids, weights.tolist(), strict=True)),
        "weight_rule": "fixed" if config.lexical_weight is not None else "per code, lowest out-of-fold log loss",
        "number_shapes": bool(text_estimator.number_shapes),
        "vocabulary_size": len(text_estimator.vectorizer_.vocabulary_),
        "min_df": config.lexical_min_df,
        "C": config.lexical_C,
    }


def _counts_card(
    count_estimator: CountCodeSuggester | None,
    config: TrainingConfig,
    codebook: Codebook,
    weights: np.ndarray | None,
) -> dict[str, object]:
    """What the model card says about the counts channel."""
    if count_estimator is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "weights": None if weights is None else dict(zip(codebook.code_ids, weights.tolist(), strict=True)),
        "features": list(FEATURE_NAMES),
        "C": config.counts_C,
    }
