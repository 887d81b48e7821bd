"""Everything the review page (and the terminal command) shows for one item, gathered in one place.

Why a plain view model: the web template and the rich terminal view render the same facts, and the rules
about what a coder may see live here once. A blind item carries no suggestion, no similar segments and no
one else's codes: only the segment, its context and the codebook.

Similar segments are the reason for a suggestion: the two or three already-coded segments (the code
applied by a person or auto-applied by the model) whose embeddings are closest (cosine) to this one. They
are shown without saying who coded them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from pipeline.embed import load_vectors
from pipeline.review.catalogue import Catalogue, CodeInfo
from pipeline.store.models import Coding, ReviewItem, Segment, Suggestion, Transcript, Turn
from pipeline.store.visibility import released

#: How many coded segments are compared against (most recent first) when finding similar ones.
SIMILAR_CANDIDATES = 400
SIMILAR_SHOWN = 3
#: A coded segment less similar than this (cosine) is no reason for a suggestion, so it is not shown.
SIMILAR_MIN_SCORE = 0.3


@dataclass(frozen=True)
class TurnView:
    """A speaker turn; for the item's own turn, ``before``/``segment``/``after`` split out the highlight."""

    speaker: str
    role: str
    text: str = ""
    before: str = ""
    segment: str = ""
    after: str = ""
    is_current: bool = False


@dataclass(frozen=True)
class SimilarSegment:
    text: str
    score: float


@dataclass(frozen=True)
class SuggestionView:
    suggestion_id: int
    code: CodeInfo
    probability: float
    cold_start: bool
    model_version: str
    similar: tuple[SimilarSegment, ...] = ()


@dataclass(frozen=True)
class ItemView:
    item_id: int
    version: int
    kind: str
    segment_id: int
    speaker_role: str
    transcript_id: int
    site_code: str | None
    participant_role: str | None
    interview_date: dt.date | None
    turns: tuple[TurnView, ...]
    suggestion: SuggestionView | None = None
    also_suggested: tuple[tuple[CodeInfo, float], ...] = ()
    group_size: int = 0
    lease_expires_at: dt.datetime | None = None
    codes: tuple[CodeInfo, ...] = field(default_factory=tuple)

    @property
    def is_blind(self) -> bool:
        return self.kind == "blind"


def _turn_text(text: str, turn: Turn) -> str:
    return text[turn.start_char : turn.end_char].strip()


def build_turns(session: Session, segment: Segment, transcript: Transcript) -> tuple[TurnView, ...]:
    """The segment's turn with the segment highlighted, plus the turns before and after as context."""
    text = transcript.anonymised_text or ""
    turn = session.get(Turn, segment.turn_id) if segment.turn_id is not None else None
    if turn is None:
        # A document chunk without speaker turns: show the segment with a little surrounding text.
        start = max(0, segment.start_char - 300)
        end = min(len(text), segment.end_char + 300)
        before = text[start : segment.start_char] if text else ""
        after = text[segment.end_char : end] if text else ""
        return (
            TurnView(speaker="Document", role=segment.speaker_role, before=before.lstrip(),
                     segment=segment.text, after=after.rstrip(), is_current=True),
        )
    neighbours = {
        t.index: t
        for t in session.scalars(
            select(Turn).where(
                Turn.transcript_id == transcript.id,
                Turn.index.in_((turn.index - 1, turn.index + 1)),
            )
        )
    }
    views: list[TurnView] = []
    previous = neighbours.get(turn.index - 1)
    if previous is not None:
        views.append(TurnView(speaker=previous.speaker or previous.role.title(), role=previous.role,
                              text=_turn_text(text, previous)))
    seg_start = max(segment.start_char, turn.start_char)
    seg_end = min(segment.end_char, turn.end_char)
    if text:
        before = text[turn.start_char : seg_start]
        highlighted = text[seg_start:seg_end]
        after = text[seg_end : turn.end_char]
    else:
        before, highlighted, after = "", segment.text, ""
    views.append(
        TurnView(speaker=turn.speaker or turn.role.title(), role=turn.role, before=before.lstrip(),
                 segment=highlighted, after=after.rstrip(), is_current=True)
    )
    following = neighbours.get(turn.index + 1)
    if following is not None:
        views.append(TurnView(speaker=following.speaker or following.role.title(), role=following.role,
                              text=_turn_text(text, following)))
    return tuple(views)


def similar_coded_segments(
    session: Session, segment: Segment, code_key: str, embedding_identity: str, *, limit: int = SIMILAR_SHOWN
) -> tuple[SimilarSegment, ...]:
    """The ``limit`` segments most similar to ``segment`` that already carry ``code_key`` (cosine)."""
    # Segments still waiting for blind coding are never shown: a blind coder must not meet their codes.
    pending_blind = (
        exists()
        .where(ReviewItem.segment_id == Segment.id, ReviewItem.kind == "blind", ReviewItem.status != "done")
        .correlate(Segment)
    )
    candidate_rows = session.execute(
        select(Segment.id, Segment.text_hash)
        .join(Coding, Coding.segment_id == Segment.id)
        .where(
            Coding.code_key == code_key,
            Coding.applied.is_(True),
            Coding.source != "blind",
            Segment.id != segment.id,
            ~pending_blind,
            released(Segment.transcript_id),
        )
        .order_by(Coding.updated_at.desc())
        .limit(SIMILAR_CANDIDATES)
    ).all()
    if not candidate_rows:
        return ()
    hashes = {segment.text_hash, *(h for _id, h in candidate_rows)}
    vectors = load_vectors(session, list(hashes), embedding_identity)
    query = vectors.get(segment.text_hash)
    if query is None:
        return ()
    seen: set[str] = {segment.text_hash}
    ids: list[int] = []
    matrix: list[np.ndarray] = []
    for seg_id, h in candidate_rows:
        if h in seen or h not in vectors:
            continue
        seen.add(h)
        ids.append(seg_id)
        matrix.append(vectors[h])
    if not ids:
        return ()
    stacked = np.vstack(matrix).astype(np.float32)
    norms = np.linalg.norm(stacked, axis=1) * (np.linalg.norm(query) or 1.0)
    scores = stacked @ query.astype(np.float32) / np.where(norms == 0, 1.0, norms)
    order = [i for i in np.argsort(-scores)[:limit] if scores[i] >= SIMILAR_MIN_SCORE]
    if not order:
        return ()
    texts = dict(session.execute(select(Segment.id, Segment.text).where(Segment.id.in_([ids[i] for i in order]))).all())
    return tuple(SimilarSegment(text=texts[ids[i]], score=float(scores[i])) for i in order)


def build_item_view(
    session: Session,
    item: ReviewItem,
    catalogue: Catalogue,
    *,
    embedding_identity: str,
    group_size: int = 0,
) -> ItemView:
    """The view of ``item`` for the coder holding it (blind items reveal no suggestion or codes)."""
    segment = session.get(Segment, item.segment_id)
    if segment is None:
        raise LookupError(f"review item {item.id}: segment {item.segment_id} is missing")
    transcript = session.get(Transcript, segment.transcript_id)
    assert transcript is not None
    suggestion_view: SuggestionView | None = None
    also: tuple[tuple[CodeInfo, float], ...] = ()
    if item.kind == "review" and item.suggestion_id is not None:
        suggestion = session.get(Suggestion, item.suggestion_id)
        if suggestion is not None:
            suggestion_view = SuggestionView(
                suggestion_id=suggestion.id,
                code=catalogue.get(suggestion.code_key),
                probability=float(suggestion.probability),
                cold_start=bool(suggestion.cold_start),
                model_version=suggestion.model_version,
                similar=similar_coded_segments(session, segment, suggestion.code_key, embedding_identity),
            )
            others = session.execute(
                select(Suggestion.code_key, Suggestion.probability)
                .where(
                    Suggestion.segment_id == segment.id,
                    Suggestion.id != suggestion.id,
                    Suggestion.status == "queued",
                )
                .order_by(Suggestion.probability.desc())
                .limit(4)
            ).all()
            also = tuple((catalogue.get(code), float(p)) for code, p in others)
    return ItemView(
        item_id=item.id,
        version=item.version,
        kind=item.kind,
        segment_id=segment.id,
        speaker_role=segment.speaker_role,
        transcript_id=transcript.id,
        site_code=transcript.site_code,
        participant_role=transcript.participant_role,
        interview_date=transcript.interview_date,
        turns=build_turns(session, segment, transcript),
        suggestion=suggestion_view,
        also_suggested=also,
        group_size=group_size,
        lease_expires_at=item.lease_expires_at,
        codes=tuple(catalogue.codes),
    )
