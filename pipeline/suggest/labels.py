"""Training labels from human decisions, and the rule that resolves disagreeing coders.

Every human decision is kept per coder (``Coding`` rows, or rows of an examples file). A model needs one
label per (unit, code), so they are resolved with this rule, applied per (unit, code):

1. **Model decisions never count.** Rows made by a model (``source == "model"`` or a ``model:`` coder)
   are ignored, so the model never learns from its own auto-applied output.
2. **Adjudication wins.** If a lead adjudicated the pair, the latest adjudication is the label.
3. **Otherwise one vote per coder, majority wins.** A coder's vote is their latest decision from any
   human source (review accept/reject, manual, blind, import). If more coders said "applied" than "not
   applied" the label is 1, if fewer it is 0.
4. **A tie is unknown.** Two coders who disagree give no evidence either way; the pair is left out of
   that code's training set rather than guessed.
5. **Missing is unknown, not negative.** A unit coded for other codes says nothing about this one
   (matrix value ``-1``; see :data:`pipeline.suggest.estimator.UNKNOWN`).

The resolved label is what thresholds are tuned and precision is reported against. The estimator itself
is fitted on **vote shares** (:func:`resolve_shares`): the same rules 1-2 and 5, but instead of a majority
the label is the share of coders who applied the code (1 of 2 gives 0.5). Why: on double-coded material
ties are common (a third of the units of some codes in the Narrative Frames corpus), and a tie is
evidence that a unit is borderline, not an absence of evidence. Dropping those units throws away the
most informative examples; a soft label keeps them and teaches the model that such units sit near the
boundary, so its probability estimates "how likely a coder would apply this code".
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.suggest.estimator import UNKNOWN

#: Sources of Coding rows that are human decisions and therefore training evidence.
HUMAN_SOURCES = frozenset({"review", "manual", "blind", "import", "adjudication"})


@dataclass(frozen=True)
class HumanDecision:
    """One coder's decision on one (unit, code). ``order`` breaks ties in time (later wins)."""

    unit: Hashable
    code: str
    coder: str
    applied: bool
    source: str
    at: dt.datetime | None = None
    order: int = 0


def is_model_decision(decision: HumanDecision) -> bool:
    return decision.source == "model" or decision.coder.startswith("model:")


def _latest(decisions: Sequence[HumanDecision]) -> HumanDecision:
    return max(decisions, key=lambda d: (d.at or dt.datetime.min, d.order))


def resolve_labels(decisions: Iterable[HumanDecision]) -> dict[tuple[Hashable, str], int]:
    """Resolve decisions into ``{(unit, code): 1 | 0}``; unknown pairs (ties, none) are absent."""
    labels: dict[tuple[Hashable, str], int] = {}
    for pair, pair_decisions in _pairs(decisions).items():
        votes = _votes(pair_decisions)
        yes = sum(votes)
        no = len(votes) - yes
        if yes != no:
            labels[pair] = int(yes > no)
    return labels


def _pairs(decisions: Iterable[HumanDecision]) -> dict[tuple[Hashable, str], list[HumanDecision]]:
    """Human decisions grouped by (unit, code); model output and non-human sources left out (rule 1)."""
    by_pair: dict[tuple[Hashable, str], list[HumanDecision]] = defaultdict(list)
    for d in decisions:
        if is_model_decision(d) or d.source not in HUMAN_SOURCES:
            continue
        by_pair[(d.unit, d.code)].append(d)
    return by_pair


def _votes(pair_decisions: Sequence[HumanDecision]) -> list[bool]:
    """The votes that decide one pair: the latest adjudication alone (rule 2), else one per coder, their
    latest decision (rule 3)."""
    adjudications = [d for d in pair_decisions if d.source == "adjudication"]
    if adjudications:
        return [_latest(adjudications).applied]
    per_coder: dict[str, list[HumanDecision]] = defaultdict(list)
    for d in pair_decisions:
        per_coder[d.coder].append(d)
    return [_latest(ds).applied for ds in per_coder.values()]


def resolve_shares(decisions: Iterable[HumanDecision]) -> dict[tuple[Hashable, str], float]:
    """``{(unit, code): share of coders who applied it}`` (adjudicated pairs: 1.0 or 0.0).

    The soft training label described in the module docstring; pairs no human decided are absent.
    """
    shares: dict[tuple[Hashable, str], float] = {}
    for pair, pair_decisions in _pairs(decisions).items():
        votes = _votes(pair_decisions)
        shares[pair] = sum(votes) / len(votes)
    return shares


def share_matrix(
    units: Sequence[Hashable], codes: Sequence[str], shares: Mapping[tuple[Hashable, str], float]
) -> np.ndarray:
    """An (n_units, n_codes) float matrix of vote shares in [0, 1], ``-1`` where unknown."""
    S = np.full((len(units), len(codes)), float(UNKNOWN), dtype=np.float64)
    row = {u: i for i, u in enumerate(units)}
    col = {c: j for j, c in enumerate(codes)}
    for (unit, code), value in shares.items():
        i, j = row.get(unit), col.get(code)
        if i is not None and j is not None:
            S[i, j] = value
    return S


def label_matrix(
    units: Sequence[Hashable], codes: Sequence[str], labels: dict[tuple[Hashable, str], int]
) -> np.ndarray:
    """An (n_units, n_codes) int matrix of 1 / 0 / -1 (unknown) from resolved labels."""
    return share_matrix(units, codes, labels).astype(np.int64)
