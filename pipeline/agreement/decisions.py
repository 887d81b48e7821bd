"""Turn stored codings into the ``Decision``s agreement is computed from.

Semantics (what a "no" is), decided here once for every report, snapshot and dashboard:

* **Blind double-coding** (``Coding.source == "blind"``). A coder *completed* a segment when their blind
  review item for it is ``done`` (or, for blind codings without a review item, when they have any blind
  coding row on it). For a completed segment, every code of the codebook the coder did not apply counts
  as ``0`` ("codes not mentioned count as not applied", as the review queue records blind work); an
  explicit ``applied=False`` row is ``0`` too. Blind rows of an item that is not done (for example undone)
  are ignored: the coder has not finished that segment.
* **The model.** On every segment the model scored (any ``Suggestion`` row), its decision for a code is
  ``1`` when the suggestion's probability reaches that model's yes/no cut-off for the code (the
  ``decision`` threshold in its model card, tuned for kappa with the coders on cross-validated scores;
  0.5 for cold-start scores and models without one) or the policy auto-applied it
  (``decision == "apply"``, or a ``Coding`` row with ``source == "model"`` and ``applied``), else ``0``;
  codes without a suggestion row on a scored segment are ``0``. The most recent model version wins when a
  segment was scored more than once.
* **Human decisions against the model.** Blind decisions (with the negatives above), review decisions
  (accept = 1, reject = 0, for the suggested code only) and manual additions (1). A coder with several
  kinds of decision on the same segment and code counts once, preferring blind over review over manual
  (blind is the one made without seeing the model). Human-model units are (segment, coder) pairs, so each
  human decision is compared with the model's decision on the same segment and code.

Only ids, codes and 0/1 values leave this module: never segment text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.agreement.report import (
    AgreementRecord,
    CodebookLike,
    Decision,
    ReportOptions,
    agreement_report,
    scope_record,
)
from pipeline.store.models import (
    Code,
    CodebookVersion,
    Coding,
    ModelVersion,
    ReviewItem,
    Segment,
    Suggestion,
    Transcript,
    User,
)
from pipeline.store.visibility import released_segment

Comparison = Literal["human_human", "human_model"]
COMPARISONS: tuple[Comparison, ...] = ("human_human", "human_model")
MODEL = "model"
HUMAN = "human"
MODEL_THRESHOLD = 0.5
HUMAN_SOURCES: tuple[str, ...] = ("blind", "review", "manual")
_SOURCE_RANK = {"blind": 0, "review": 1, "manual": 2}


@dataclass(frozen=True)
class Scope:
    """Which segments and when: a transcript batch, and/or decisions made up to a moment."""

    batch_id: int | None = None
    until: dt.datetime | None = None


def _segment_filter(session: Session, scope: Scope) -> set[int] | None:
    """Segment ids of the batch (``None`` = no batch restriction)."""
    if scope.batch_id is None:
        return None
    rows = session.scalars(
        select(Segment.id)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(Transcript.batch_id == scope.batch_id)
    )
    return set(rows)


def code_universe(session: Session, code_ids: Sequence[str] | None = None) -> list[str]:
    """The codes negatives are implied for: the given ids, else the active codebook's, else codes used."""
    if code_ids:
        return list(code_ids)
    active = list(
        session.scalars(
            select(Code.code_key)
            .join(CodebookVersion, CodebookVersion.id == Code.codebook_id)
            .where(CodebookVersion.is_active.is_(True))
            .order_by(Code.id)
        )
    )
    if active:
        return list(dict.fromkeys(active))
    return sorted(set(session.scalars(select(Coding.code_key).distinct())))


def _completed_blind(session: Session, scope: Scope, segments: set[int] | None) -> set[tuple[int, str]]:
    """(segment id, coder username) pairs whose blind coding is finished."""
    query = (
        select(ReviewItem.segment_id, User.username, ReviewItem.done_at)
        .join(User, User.id == ReviewItem.lease_owner)
        .where(ReviewItem.kind == "blind", ReviewItem.status == "done", released_segment(ReviewItem.segment_id))
    )
    done: set[tuple[int, str]] = set()
    for segment_id, username, done_at in session.execute(query):
        if scope.until is not None and done_at is not None and done_at > scope.until:
            continue
        if segments is None or segment_id in segments:
            done.add((int(segment_id), str(username)))
    orphan = select(Coding.segment_id, Coding.coder, Coding.created_at).where(
        Coding.source == "blind", Coding.review_item_id.is_(None), released_segment(Coding.segment_id)
    )
    for segment_id, coder, created_at in session.execute(orphan):
        if scope.until is not None and created_at is not None and created_at > scope.until:
            continue
        if segments is None or segment_id in segments:
            done.add((int(segment_id), str(coder)))
    return done


def blind_decisions(
    session: Session, code_ids: Sequence[str] | None = None, scope: Scope | None = None
) -> list[Decision]:
    """Human decisions on the blind double-coded sample, with implied negatives (see module docstring)."""
    scope = scope or Scope()
    segments = _segment_filter(session, scope)
    codes = code_universe(session, code_ids)
    completed = _completed_blind(session, scope, segments)
    applied: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    for segment_id, coder, code_key, is_applied in session.execute(
        select(Coding.segment_id, Coding.coder, Coding.code_key, Coding.applied).where(
            Coding.source == "blind", released_segment(Coding.segment_id)
        )
    ):
        key = (int(segment_id), str(coder))
        if key in completed:
            applied[key][str(code_key)] = int(bool(is_applied))
    known = set(codes)
    out: list[Decision] = []
    for segment_id, coder in sorted(completed):
        chosen = applied.get((segment_id, coder), {})
        for code in codes:
            out.append(Decision(str(segment_id), code, coder, chosen.get(code, 0)))
        for code, value in chosen.items():  # codes outside the universe still count when recorded
            if code not in known:
                out.append(Decision(str(segment_id), code, coder, value))
    return out


def decision_thresholds(session: Session, versions: Iterable[str]) -> dict[str, dict[str, float]]:
    """version -> {code: the model's yes/no cut-off} from the model cards of trained codes.

    Cold-start codes, cold-start model versions (which have no ``ModelVersion`` row) and cards written
    before the cut-off existed are absent, so callers fall back to ``MODEL_THRESHOLD``.
    """
    wanted = set(versions)
    if not wanted:
        return {}
    out: dict[str, dict[str, float]] = {}
    for version, card in session.execute(
        select(ModelVersion.version, ModelVersion.card).where(ModelVersion.version.in_(wanted))
    ):
        cuts: dict[str, float] = {}
        for code, entry in ((card or {}).get("codes") or {}).items():
            decision = ((entry or {}).get("thresholds") or {}).get("decision")
            if entry.get("mode") == "model" and isinstance(decision, int | float):
                cuts[str(code)] = float(decision)
        out[str(version)] = cuts
    return out


def model_decisions(
    session: Session, code_ids: Sequence[str] | None = None, scope: Scope | None = None
) -> dict[int, dict[str, int]]:
    """segment id -> {code: 0/1} for every segment the model scored (see module docstring)."""
    scope = scope or Scope()
    segments = _segment_filter(session, scope)
    query = select(
        Suggestion.segment_id,
        Suggestion.code_key,
        Suggestion.probability,
        Suggestion.decision,
        Suggestion.model_version,
        Suggestion.created_at,
        Suggestion.id,
    ).where(released_segment(Suggestion.segment_id)).order_by(Suggestion.created_at, Suggestion.id)
    latest_version: dict[int, tuple[dt.datetime, str]] = {}
    rows = []
    for segment_id, code, proba, decision, version, created, _id in session.execute(query):
        if segments is not None and segment_id not in segments:
            continue
        if scope.until is not None and created is not None and created > scope.until:
            continue
        rows.append((int(segment_id), str(code), float(proba), str(decision), str(version)))
        latest_version[int(segment_id)] = (created, str(version))
    cut_offs = decision_thresholds(session, {version for _, version in latest_version.values()})
    codes = code_universe(session, code_ids)
    out: dict[int, dict[str, int]] = {seg: dict.fromkeys(codes, 0) for seg in latest_version}
    for segment_id, code, proba, decision, version in rows:
        if version != latest_version[segment_id][1]:
            continue
        cut = cut_offs.get(version, {}).get(code, MODEL_THRESHOLD)
        out[segment_id][code] = int(proba >= cut or decision == "apply")
    auto = select(Coding.segment_id, Coding.code_key).where(Coding.source == "model", Coding.applied.is_(True))
    for segment_id, code in session.execute(auto):
        if int(segment_id) in out:
            out[int(segment_id)][str(code)] = 1
    return out


def human_decisions(
    session: Session,
    code_ids: Sequence[str] | None = None,
    scope: Scope | None = None,
    sources: Iterable[str] = HUMAN_SOURCES,
) -> list[Decision]:
    """One decision per (segment, code, human coder): blind (with negatives) > review > manual."""
    scope = scope or Scope()
    sources = tuple(sources)
    best: dict[tuple[str, str, str], tuple[int, int]] = {}
    if "blind" in sources:
        for d in blind_decisions(session, code_ids, scope):
            best[(d.unit_id, d.code, d.coder)] = (_SOURCE_RANK["blind"], int(d.value))
    others = [s for s in sources if s != "blind"]
    if others:
        segments = _segment_filter(session, scope)
        query = select(
            Coding.segment_id, Coding.code_key, Coding.coder, Coding.applied, Coding.source, Coding.updated_at
        ).where(Coding.source.in_(others), released_segment(Coding.segment_id))
        for segment_id, code, coder, applied, source, updated in session.execute(query):
            if segments is not None and segment_id not in segments:
                continue
            if scope.until is not None and updated is not None and updated > scope.until:
                continue
            key = (str(segment_id), str(code), str(coder))
            rank = _SOURCE_RANK.get(str(source), 9)
            if key not in best or rank < best[key][0]:
                best[key] = (rank, int(bool(applied)))
    return [Decision(u, c, coder, value) for (u, c, coder), (_rank, value) in sorted(best.items())]


def human_model_pairs(
    session: Session, code_ids: Sequence[str] | None = None, scope: Scope | None = None
) -> list[Decision]:
    """Pooled human-vs-model decisions: unit ``"<segment>|<coder>"``, coders ``model`` and ``human``."""
    model = model_decisions(session, code_ids, scope)
    out: list[Decision] = []
    for d in human_decisions(session, code_ids, scope):
        seg = int(d.unit_id)
        if seg not in model or d.code not in model[seg]:
            continue
        unit = f"{d.unit_id}|{d.coder}"
        out.append(Decision(unit, d.code, HUMAN, d.value))
        out.append(Decision(unit, d.code, MODEL, model[seg][d.code]))
    return out


def load_decisions(
    session: Session,
    comparison: Comparison = "human_human",
    *,
    batch_id: int | None = None,
    code_ids: Sequence[str] | None = None,
    until: dt.datetime | None = None,
) -> list[Decision]:
    """Decisions for ``comparison``: the blind sample (human_human) or pooled human-model pairs."""
    scope = Scope(batch_id, until)
    if comparison == "human_human":
        return blind_decisions(session, code_ids, scope)
    if comparison == "human_model":
        return human_model_pairs(session, code_ids, scope)
    raise ValueError(f"unknown comparison {comparison!r}; use one of {', '.join(COMPARISONS)}")


def db_report(
    session: Session,
    comparison: Comparison,
    codebook: CodebookLike | None = None,
    options: ReportOptions | None = None,
    *,
    batch_id: int | None = None,
    until: dt.datetime | None = None,
) -> list[AgreementRecord]:
    """The agreement report from stored decisions; human_model adds one model-vs-coder row per code."""
    options = options or ReportOptions()
    code_ids = [c.id for c in codebook.codes] if codebook is not None else None
    decisions = load_decisions(session, comparison, batch_id=batch_id, code_ids=code_ids, until=until)
    if comparison == "human_human":
        return agreement_report(decisions, codebook, options)
    pooled = dataclasses.replace(options, pairwise=False)
    records = agreement_report(decisions, codebook, pooled)
    if options.pairwise:
        records.extend(_model_vs_each_coder(session, code_ids, Scope(batch_id, until), codebook, options))
    return records


def _model_vs_each_coder(
    session: Session,
    code_ids: Sequence[str] | None,
    scope: Scope,
    codebook: CodebookLike | None,
    options: ReportOptions,
) -> list[AgreementRecord]:
    model = model_decisions(session, code_ids, scope)
    rows: dict[tuple[str, str], list[tuple[str, str, int]]] = defaultdict(list)
    for d in human_decisions(session, code_ids, scope):
        seg = int(d.unit_id)
        if seg in model and d.code in model[seg]:
            rows[(d.code, d.coder)].append((d.unit_id, d.coder, int(d.value)))
            rows[(d.code, d.coder)].append((d.unit_id, MODEL, model[seg][d.code]))
    out = []
    for (code, coder), code_rows in sorted(rows.items()):
        theme = None
        if codebook is not None and code in {c.id for c in codebook.codes}:
            t = codebook.theme_of(code)
            theme = (t.id, t.name)
        out.append(
            scope_record(
                "pair",
                f"{code}:{MODEL}|{coder}",
                code_rows,
                options,
                code=code,
                theme=theme,  # type: ignore[arg-type]
                coders=(MODEL, coder),
            )
        )
    return out
