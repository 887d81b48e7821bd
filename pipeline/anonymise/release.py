"""Held transcripts: what the key holder sees, and how a transcript is released to coders.

Why a hold at all: a name the anonymiser missed, or a doubtful masking undone wrongly, cannot be taken back
once a coder has read it, or once it sits in an export or a trained model. With ``settings.release ==
"review"`` the batch stores a transcript with any doubtful masking (score below
``anonymiser_review_threshold``) as ``held`` (``pipeline.store.visibility``); nothing coder-facing reads it.
The key holder then decides each doubtful masking (``review.decide``: keep = confirm, unmask = undo with
restore), masks what the anonymiser missed (``mask_missed``) and releases it (``release_transcript``),
which moves it to ``segmented`` so the next batch embeds, scores and queues it.

Library functions only: the CLI (``qualcode anonymise held|release|mask``) and the web page
(``/anonymisation``) check that the caller is the signed-in key holder and call these. Originals are
decrypted only in ``doubtful_maskings(..., keyring=..., viewer=...)``, which audits that they were shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.anonymise.entities import TYPE_PRIORITY
from pipeline.anonymise.keys import Keyring
from pipeline.anonymise.review import add_term, remask
from pipeline.errors import ReleaseError, ReviewError
from pipeline.store.audit import audit
from pipeline.store.models import AnonymisationEvent, Segment, Transcript, Turn, utcnow
from pipeline.store.visibility import HELD

#: Where a released transcript goes: the batch's embed stage picks it up from here.
RELEASED_TO = "segmented"
#: Roles that may release a transcript whose doubtful maskings are not all decided (``force``).
FORCE_ROLES: tuple[str, ...] = ("lead", "admin")
#: Entity types a person may give a missed span (the anonymiser's own types).
MASKABLE_ENTITIES: tuple[str, ...] = TYPE_PRIORITY
#: How far a masking's sentence is looked for on either side (characters).
SENTENCE_REACH = 240
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n")


@dataclass(frozen=True, slots=True)
class HeldTranscript:
    """A transcript awaiting anonymisation review (counts only; safe to list for the key holder)."""

    transcript_id: int
    name: str
    created_at: dt.datetime | None
    doubtful: int
    decided: int
    replacements: int
    segments: int


@dataclass(frozen=True, slots=True)
class DoubtfulMasking:
    """One low-confidence masking in its sentence. ``before``/``after`` are the (already masked) text
    around it; ``original`` is set only when the key holder asked with the key (and that was audited)."""

    event_id: int
    status: str
    entity: str
    placeholder: str
    shown: str
    recognizer: str
    score: float
    start: int
    end: int
    before: str
    after: str
    original: str | None = None


def may_force(role: str) -> bool:
    """Whether a key holder with ``role`` may release despite undecided doubtful maskings."""
    return role in FORCE_ROLES


def text_version(text: str | None) -> str:
    """A short fingerprint of a transcript's stored text: a page sends it back with offsets, so a
    selection made on text that has changed since (another decision shifted it) is refused, not misplaced."""
    return hashlib.sha256((text or "").encode()).hexdigest()[:16]


def held_transcripts(session: Session) -> list[HeldTranscript]:
    """Every held transcript, oldest first, with its counts of doubtful and decided maskings."""
    rows = session.execute(
        select(Transcript.id, Transcript.source_name, Transcript.created_at)
        .where(Transcript.status == HELD)
        .order_by(Transcript.id)
    ).all()
    if not rows:
        return []
    ids = [r[0] for r in rows]
    by_status: dict[int, dict[str, int]] = {}
    for tid, status, n in session.execute(
        select(AnonymisationEvent.transcript_id, AnonymisationEvent.status, func.count())
        .where(AnonymisationEvent.transcript_id.in_(ids))
        .group_by(AnonymisationEvent.transcript_id, AnonymisationEvent.status)
    ):
        by_status.setdefault(int(tid), {})[str(status)] = int(n)
    segments: dict[int, int] = {
        int(tid): int(n)
        for tid, n in session.execute(
            select(Segment.transcript_id, func.count())
            .where(Segment.transcript_id.in_(ids))
            .group_by(Segment.transcript_id)
        )
    }
    out = []
    for tid, name, created in rows:
        counts = by_status.get(int(tid), {})
        out.append(
            HeldTranscript(
                transcript_id=int(tid),
                name=str(name),
                created_at=created,
                doubtful=counts.get("needs_review", 0),
                decided=counts.get("confirmed", 0) + counts.get("undone", 0),
                replacements=sum(counts.values()),
                segments=int(segments.get(tid, 0)),
            )
        )
    return out


def doubtful_maskings(
    session: Session,
    transcript_id: int,
    *,
    keyring: Keyring | None = None,
    viewer: str | None = None,
    include_decided: bool = True,
) -> list[DoubtfulMasking]:
    """The transcript's low-confidence maskings in reading order, each in its sentence.

    Doubtful = recorded as ``needs_review``; with ``include_decided`` those decided since (confirmed or
    undone by a person, not the automatic ones) are listed too, so a page can show what was done.
    With ``keyring`` and ``viewer`` (the signed-in key holder) the original words of the still-undecided
    ones are decrypted and shown: the key holder must see what was masked to decide. That view is
    audited (``anonymise.view_originals``, ids and counts only) in the caller's transaction.
    """
    transcript = session.get(Transcript, transcript_id)
    if transcript is None:
        raise ReviewError(f"transcript {transcript_id} does not exist")
    text = transcript.anonymised_text or ""
    statuses = ("needs_review", "confirmed", "undone") if include_decided else ("needs_review",)
    query = select(AnonymisationEvent).where(
        AnonymisationEvent.transcript_id == transcript_id, AnonymisationEvent.status.in_(statuses)
    )
    if include_decided:  # decided ones: only those a person decided (doubtful ones, or missed ones masked)
        query = query.where(AnonymisationEvent.reviewed_by.is_not(None) | (AnonymisationEvent.status == "needs_review"))
    events = session.scalars(query.order_by(AnonymisationEvent.start_char, AnonymisationEvent.id)).all()
    shown_originals: list[int] = []
    out = []
    for event in events:
        start, end = _sentence(text, event.start_char, event.end_char)
        original = None
        if (
            keyring is not None
            and viewer is not None
            and event.status == "needs_review"
            and event.encrypted_original is not None
        ):
            original = keyring.decrypt(event.encrypted_original)
            shown_originals.append(event.id)
        out.append(
            DoubtfulMasking(
                event_id=event.id,
                status=event.status,
                entity=event.entity_type,
                placeholder=event.placeholder,
                shown=text[event.start_char : event.end_char],
                recognizer=event.recognizer,
                score=float(event.score),
                start=event.start_char,
                end=event.end_char,
                before=text[start : event.start_char],
                after=text[event.end_char : end],
                original=original,
            )
        )
    if shown_originals:
        audit(session, viewer or "unknown", "anonymise.view_originals", "transcript", transcript_id,
              events=len(shown_originals), first_event=shown_originals[0], last_event=shown_originals[-1])
    return out


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """Bounds of the sentence around [start, end): after the last sentence end (or line break) before it
    and through the first one after it, within ``SENTENCE_REACH`` characters either side."""
    lo = max(0, start - SENTENCE_REACH)
    left = lo
    for match in _SENTENCE_END.finditer(text, lo, start):
        left = match.end()
    hi = min(len(text), end + SENTENCE_REACH)
    match = _SENTENCE_END.search(text, end, hi)
    right = match.end() if match else hi
    while left < start and text[left].isspace():
        left += 1
    while right > end and text[right - 1].isspace():
        right -= 1
    return left, right


def _locked_transcript(session: Session, transcript_id: int) -> Transcript:
    """The transcript row, locked (``FOR UPDATE`` on PostgreSQL; on SQLite the caller opens the
    transaction with ``session_scope(immediate=True)``), re-read as committed."""
    session.flush()
    transcript = session.execute(
        select(Transcript)
        .where(Transcript.id == transcript_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if transcript is None:
        raise ReviewError(f"transcript {transcript_id} does not exist")
    return transcript


def release_transcript(session: Session, transcript_id: int, actor: str, *, force: bool = False) -> Transcript:
    """Move a held transcript on to ``segmented`` (the next batch embeds, scores and queues it).

    Refused while any of its maskings is still ``needs_review``, unless ``force`` (a lead's call: the
    caller checks ``may_force``); the undecided ones stay listed for review afterwards. Audited as
    ``transcript.release`` with the counts and whether it was forced.
    """
    transcript = _locked_transcript(session, transcript_id)
    if transcript.status != HELD:
        raise ReleaseError(f"transcript {transcript_id} is not held (status {transcript.status})")
    undecided = int(
        session.scalar(
            select(func.count())
            .select_from(AnonymisationEvent)
            .where(AnonymisationEvent.transcript_id == transcript_id, AnonymisationEvent.status == "needs_review")
        )
        or 0
    )
    if undecided and not force:
        raise ReleaseError(
            f"transcript {transcript_id} still has {undecided} doubtful masking(s) to decide (keep or unmask "
            "each: qualcode anonymise review --transcript ID, or the web page); a lead can release it anyway "
            "with --force"
        )
    transcript.status = RELEASED_TO
    transcript.updated_at = utcnow()
    session.flush()
    audit(session, actor, "transcript.release", "transcript", transcript_id, undecided=undecided, forced=bool(force))
    return transcript


@dataclass(frozen=True, slots=True)
class MaskResult:
    """What ``mask_missed`` did (ids and counts only)."""

    event_id: int
    placeholder: str
    term_list_id: int
    other_mentions: int


def mask_missed(
    session: Session,
    transcript_id: int,
    start: int,
    end: int,
    actor: str,
    entity: str = "PERSON",
    *,
    keyring: Keyring,
    style: Literal["placeholder", "surrogate"] = "placeholder",
    expected_version: str | None = None,
) -> MaskResult:
    """Mask words the anonymiser missed, at [start, end) of the stored (anonymised) text.

    The words get the project's consistent placeholder for them (the same person keeps the same
    placeholder everywhere), and everything that indexes the text moves with it (``review.remask``,
    the same rewrite an undo taken back uses). An event records it (``recognizer="manual"``, score 1,
    status ``confirmed``, the words encrypted) and the words join the encrypted deny list, so later
    transcripts mask them too. Leading and trailing spaces and punctuation of a selection are dropped.
    Refused, before anything changes, when the span is empty, crosses a turn or an existing masking, or
    (with ``expected_version``, see ``text_version``) the text changed since the caller read it.
    Other mentions of the same words in this transcript are counted, not masked: each is its own place.
    """
    from pipeline.anonymise.pseudonyms import DatabasePseudonymStore

    if entity not in MASKABLE_ENTITIES:
        raise ReviewError(f"unknown entity type {entity!r}; use one of {', '.join(MASKABLE_ENTITIES)}")
    transcript = _locked_transcript(session, transcript_id)
    text = transcript.anonymised_text or ""
    if expected_version is not None and expected_version != text_version(text):
        raise ReviewError(f"transcript {transcript_id} changed since it was shown; reload and select again")
    if not (0 <= start < end <= len(text)):
        raise ReviewError(f"span {start}-{end} is outside transcript {transcript_id} (0-{len(text)})")
    while start < end and not (text[start].isalnum()):
        start += 1
    while end > start and not (text[end - 1].isalnum() or text[end - 1] == "."):
        end -= 1
    if start >= end:
        raise ReviewError("the selection holds no words to mask")
    words = text[start:end]
    turns = session.scalars(select(Turn).where(Turn.transcript_id == transcript_id)).all()
    if turns and not any(t.start_char <= start and end <= t.end_char for t in turns):
        raise ReviewError("a masking must lie within one turn; select the words in one speaker's turn")
    overlapping = session.scalar(
        select(AnonymisationEvent.id).where(
            AnonymisationEvent.transcript_id == transcript_id,
            AnonymisationEvent.start_char < end,
            AnonymisationEvent.end_char > start,
            AnonymisationEvent.status != "undone",
        ).limit(1)
    )
    if overlapping is not None:
        raise ReviewError(f"the selection overlaps masking #{overlapping}; select only unmasked words")
    placeholder = DatabasePseudonymStore(session, keyring).placeholder(entity, words)
    event = AnonymisationEvent(
        transcript_id=transcript_id,
        entity_type=entity,
        placeholder=placeholder,
        start_char=start,
        end_char=end,
        recognizer="manual",
        score=1.0,
        status="confirmed",
        reviewed_by=actor,
        reviewed_at=utcnow(),
        encrypted_original=keyring.encrypt(words),
    )
    session.add(event)
    session.flush()
    delta = remask(session, event, words, style=style)
    term = add_term(session, "deny", words, entity_type=entity, keyring=keyring, added_by=actor)
    others = _mentions(transcript.anonymised_text or "", words)
    audit(session, actor, "anonymise.mask_missed", "transcript", transcript_id, event_id=event.id,
          entity=entity, placeholder=placeholder, term_list_id=term.id, length_change=delta,
          other_mentions=others, status=transcript.status)
    return MaskResult(event.id, placeholder, term.id, others)


def _mentions(text: str, words: str) -> int:
    """Whole-word, case-insensitive occurrences of ``words`` in ``text``."""
    pattern = re.compile(rf"(?<!\w){re.escape(words)}(?!\w)", re.IGNORECASE)
    return sum(1 for _ in pattern.finditer(text))
