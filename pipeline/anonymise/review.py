"""The anonymisation log and its review: every replacement recorded, doubtful ones confirmed or undone.

Why this shape: the log (``anonymisation_events``) holds type, placeholder, offsets in the anonymised
text, recogniser and score, never the original words, so it can be shown to any coder. A reviewer
sees the anonymised context around a low-confidence replacement and decides; the decision teaches the
project's term lists (confirm -> deny list, encrypted; undo -> allow list), so the next transcript gets
it right without review. These are library functions: the CLI and the web app are thin callers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.anonymise.keys import Keyring
from pipeline.anonymise.pseudonyms import surrogate_text
from pipeline.anonymise.terms import normalise_term
from pipeline.anonymise.types import TURN_SEPARATOR, AnonymisedDocument
from pipeline.errors import ReviewError
from pipeline.store.audit import audit
from pipeline.store.models import AnonymisationEvent, Pseudonym, Segment, TermList, Transcript, Turn, utcnow

if TYPE_CHECKING:
    from pipeline.ingest.types import RawDocument

Decision = Literal["confirm", "undo"]
CONTEXT_CHARS = 60


def encrypted_originals(raw_doc: RawDocument, doc: AnonymisedDocument, keyring: Keyring) -> list[bytes]:
    """Each replacement's own words, encrypted, in the order of ``doc.spans`` (for ``record_events``).

    Taken from the raw document before it is dropped: span offsets index its turn texts joined the way
    the anonymiser joins them. They let an undo put back exactly what was said at that place.
    """
    joined = TURN_SEPARATOR.join(turn.text for turn in raw_doc.turns)
    return [keyring.encrypt(joined[span.start : span.end]) for span in doc.spans]


def record_events(
    session: Session,
    transcript_id: int,
    doc: AnonymisedDocument,
    review_threshold: float,
    *,
    actor: str = "flow",
    originals: Sequence[bytes] | None = None,
) -> list[AnonymisationEvent]:
    """Add one ``AnonymisationEvent`` per replacement (offsets into the anonymised text).

    Detections scoring below ``review_threshold`` get status ``needs_review``. ``originals`` (from
    ``encrypted_originals``) are stored with them. One audit row summarises the counts. Added to
    ``session``; committed with the caller's transaction.
    """
    if originals is not None and len(originals) != len(doc.spans):
        raise ValueError(f"got {len(originals)} encrypted originals for {len(doc.spans)} replacements")
    rows = [
        AnonymisationEvent(
            transcript_id=transcript_id,
            entity_type=span.entity,
            placeholder=span.placeholder,
            start_char=span.out_start,
            end_char=span.out_end,
            recognizer=span.recognizer[:100],
            score=float(span.score),
            status="needs_review" if span.score < review_threshold else "auto",
            encrypted_original=originals[i] if originals is not None else None,
        )
        for i, span in enumerate(doc.spans)
    ]
    session.add_all(rows)
    audit(
        session,
        actor,
        "anonymise",
        "transcript",
        transcript_id,
        replacements=len(rows),
        needs_review=sum(1 for r in rows if r.status == "needs_review"),
        speaker_labels_replaced=doc.labels_replaced,
    )
    return rows


@dataclass(frozen=True, slots=True)
class ReviewCandidate:
    """A low-confidence replacement with its anonymised surroundings (safe to show any coder)."""

    event_id: int
    transcript_id: int
    entity: str
    placeholder: str
    score: float
    recognizer: str
    context: str


def list_for_review(session: Session, *, transcript_id: int | None = None, limit: int = 100) -> list[ReviewCandidate]:
    """Replacements waiting for a person's decision, lowest score first."""
    query = select(AnonymisationEvent).where(AnonymisationEvent.status == "needs_review")
    if transcript_id is not None:
        query = query.where(AnonymisationEvent.transcript_id == transcript_id)
    events = session.scalars(query.order_by(AnonymisationEvent.score, AnonymisationEvent.id).limit(limit)).all()
    texts: dict[int, str] = {}
    out = []
    for event in events:
        if event.transcript_id not in texts:
            transcript = session.get(Transcript, event.transcript_id)
            texts[event.transcript_id] = (transcript.anonymised_text or "") if transcript else ""
        text = texts[event.transcript_id]
        left = text[max(0, event.start_char - CONTEXT_CHARS) : event.start_char]
        right = text[event.end_char : event.end_char + CONTEXT_CHARS]
        out.append(
            ReviewCandidate(
                event.id,
                event.transcript_id,
                event.entity_type,
                event.placeholder,
                event.score,
                event.recognizer,
                f"{left}»{text[event.start_char : event.end_char]}«{right}".replace("\n", " "),
            )
        )
    return out


def _original_for(session: Session, placeholder: str, keyring: Keyring) -> tuple[str, str] | None:
    """(original, entity) of a placeholder's canonical row, decrypted (key holder only)."""
    row = session.scalars(
        select(Pseudonym).where(Pseudonym.placeholder == placeholder, Pseudonym.canonical_id.is_(None))
    ).first()
    if row is None:
        return None
    return keyring.decrypt(row.encrypted_original), row.entity_type


def add_term(
    session: Session,
    kind: Literal["allow", "deny"],
    term: str,
    *,
    entity_type: str | None = None,
    keyring: Keyring | None = None,
    added_by: str | None = None,
) -> TermList:
    """Add a term to the project's allow or deny list (idempotent). Deny terms are stored encrypted."""
    normalised = normalise_term(term)
    if kind == "deny":
        if keyring is None:
            raise ReviewError("deny-list terms are identifying and need the re-identification key to store")
        lookup = keyring.lookup_hash(f"deny:{normalised}")
        hashes = keyring.lookup_hashes(f"deny:{normalised}")
    else:
        lookup = _allow_lookup(term)
        hashes = [lookup]
    existing = session.scalars(select(TermList).where(TermList.kind == kind, TermList.lookup_hash.in_(hashes))).first()
    if existing is not None:
        return existing
    row = TermList(
        kind=kind,
        entity_type=entity_type,
        term=term.strip() if kind == "allow" else None,
        lookup_hash=lookup,
        encrypted_term=keyring.encrypt(term.strip()) if kind == "deny" and keyring else None,
        added_by=added_by,
    )
    session.add(row)
    session.flush()
    audit(session, added_by or "system", f"termlist.{kind}.add", "term_list", row.id, term_entity=entity_type)
    return row


def decide(
    session: Session,
    event_id: int,
    decision: Decision,
    reviewer: str,
    keyring: Keyring | None = None,
    *,
    restore: bool = False,
    style: Literal["placeholder", "surrogate"] = "placeholder",
) -> AnonymisationEvent:
    """Confirm or undo one replacement; with the key, feed the decision into the term lists.

    ``confirm``: the span was identifying; its original joins the deny list (encrypted) so it is always
    masked. ``undo``: it was not; its original joins the allow list so it stays readable next time.
    ``restore=True`` (an undo by the key holder, who must have signed in: it re-identifies) also puts the
    words back into the stored transcript at that place (``restore_original``), when the event kept them
    (events recorded since migration 0004; an older event keeps its placeholder, the safe side). Other
    mentions under the same placeholder keep it: each is its own decision.

    An undo can be taken back: ``confirm`` on an undone event (with the key) masks the place again if
    its words were restored (``remask``: the way the transcript shows its other people, or ``style``),
    puts the term on the deny list and takes it off the allow list unless another mention under the same
    placeholder is still undone. Any other second decision is refused.

    The transcript row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite open the
    transaction with ``session_scope(immediate=True)``) and the place is checked before anything
    changes, so two reviewers in one transcript cannot shift its offsets from stale values, and a
    refusal leaves the event, the term lists and the text as they were.
    """
    event = session.get(AnonymisationEvent, event_id)
    if event is None:
        raise ReviewError(f"anonymisation event {event_id} does not exist")
    if decision not in ("confirm", "undo"):
        raise ReviewError(f"unknown decision {decision!r} (use confirm or undo)")
    session.flush()  # the caller's pending changes, before the rows are re-read (even under no_autoflush)
    session.execute(
        select(Transcript)
        .where(Transcript.id == event.transcript_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    session.refresh(event)  # offsets and status as committed by whoever held the lock before
    taking_back = decision == "confirm" and event.status == "undone"
    if event.status == "confirmed" or (event.status == "undone" and not taking_back):
        raise ReviewError(f"anonymisation event {event_id} was already decided ({event.status})")
    if taking_back and keyring is None:
        raise ReviewError("taking back an undo needs the re-identification key (the term lists and the text)")
    if restore and decision == "undo" and keyring is None:
        raise ReviewError("putting words back into a transcript needs the re-identification key")
    # The words are decrypted only when the text may change: a plain decision never needs them.
    changes_text = (restore and decision == "undo") or taking_back
    words = (
        keyring.decrypt(event.encrypted_original)
        if changes_text and keyring is not None and event.encrypted_original is not None
        else None
    )
    restoring = restore and decision == "undo" and words is not None
    remasking = False
    if restoring and words is not None:
        _transcript_showing_placeholder(session, event, words)  # refuses before anything changes
    elif taking_back and words is not None:
        remasking = _shows_words(session, event, words)  # restored earlier: mask it again
    event.status = "confirmed" if decision == "confirm" else "undone"
    event.reviewed_by = reviewer
    event.reviewed_at = utcnow()
    fed = None
    if keyring is not None:
        original = _original_for(session, event.placeholder, keyring)
        if original is not None:
            term, entity = original
            if taking_back and not _undone_elsewhere(session, event):
                remove_allowed(session, term, removed_by=reviewer)
            kind: Literal["allow", "deny"] = "deny" if decision == "confirm" else "allow"
            fed = add_term(session, kind, term, entity_type=entity, keyring=keyring, added_by=reviewer).id
    if restoring and words is not None:
        restore_original(session, event, words)
    if remasking and words is not None:
        remask(session, event, words, style=style)
    audit(
        session,
        reviewer,
        f"anonymise.review.{decision}",
        "anonymisation_event",
        event.id,
        transcript_id=event.transcript_id,
        placeholder=event.placeholder,
        term_list_id=fed,
        restored_in_text=restoring,
        **({"took_back_undo": True, "masked_again_in_text": remasking} if taking_back else {}),
    )
    return event


def _shows_words(session: Session, event: AnonymisationEvent, words: str) -> bool:
    """Whether the event's place shows its restored words (True), or still its replacement (False);
    anything else means the offsets no longer fit and is refused."""
    _, shown = _place(session, event)
    if shown == words:
        return True
    if shown in _masked_forms(event, words):
        return False
    raise ReviewError(
        f"anonymisation event {event.id}: transcript {event.transcript_id} shows neither its words nor its "
        "placeholder at the recorded place; the text was left as it is"
    )


def _place(session: Session, event: AnonymisationEvent) -> tuple[Transcript | None, str]:
    """The event's transcript and what its text shows at the event's offsets."""
    transcript = session.get(Transcript, event.transcript_id)
    text = (transcript.anonymised_text if transcript is not None else None) or ""
    return transcript, text[event.start_char : event.end_char]


def _masked_forms(event: AnonymisationEvent, words: str) -> tuple[str, str]:
    """How the place looks while masked: the placeholder, or in surrogate style the surrogate for these
    words (``surrogate_text`` is deterministic in the placeholder and the words)."""
    return event.placeholder, surrogate_text(event.placeholder, words)


def _undone_elsewhere(session: Session, event: AnonymisationEvent) -> bool:
    """Whether another mention under the event's placeholder is still undone (and needs the allow entry)."""
    others = select(AnonymisationEvent.id).where(
        AnonymisationEvent.placeholder == event.placeholder,
        AnonymisationEvent.status == "undone",
        AnonymisationEvent.id != event.id,
    )
    return session.execute(others.limit(1)).first() is not None


def _allow_lookup(term: str) -> str:
    """How an allow-list term is found (allow terms are not identifying, so a plain hash)."""
    return hashlib.sha256(f"allow:{normalise_term(term)}".encode()).hexdigest()


def remove_allowed(session: Session, term: str, *, removed_by: str) -> bool:
    """Take ``term`` off the allow list (when an undo is taken back); True if it was there."""
    lookup = _allow_lookup(term)
    row = session.scalars(select(TermList).where(TermList.kind == "allow", TermList.lookup_hash == lookup)).first()
    if row is None:
        return False
    audit(session, removed_by, "termlist.allow.remove", "term_list", row.id, term_entity=row.entity_type)
    session.delete(row)
    session.flush()
    return True


def _transcript_showing_placeholder(session: Session, event: AnonymisationEvent, original: str) -> Transcript:
    """The event's transcript, if its text still shows the event's replacement at the recorded place."""
    transcript, shown = _place(session, event)
    if transcript is None or shown not in _masked_forms(event, original):
        raise ReviewError(
            f"anonymisation event {event.id}: transcript {event.transcript_id} no longer shows its placeholder "
            "at the recorded place; the text was left as it is"
        )
    return transcript


def restore_original(session: Session, event: AnonymisationEvent, original: str) -> int:
    """Put ``original`` back in place of the event's placeholder in the stored transcript; returns the
    change in length.

    Call it through ``decide(..., restore=True)``, which locks the transcript first. Everything that
    indexes the anonymised text moves with it: the transcript text, its turns and segments (offsets;
    the text and text hash of the segments that contain the place, so the next batch embeds them again)
    and the other events' offsets. Codings, suggestions and review items belong to segments and stay.
    Refuses (before changing anything) when the stored text no longer shows the placeholder at the
    event's offsets.
    """
    transcript = _transcript_showing_placeholder(session, event, original)
    return _rewrite_place(session, transcript, event, original)


def remask(
    session: Session,
    event: AnonymisationEvent,
    original: str,
    *,
    style: Literal["placeholder", "surrogate"] = "placeholder",
) -> int:
    """Mask again the place where ``restore_original`` had put ``original`` (an undo taken back).

    A person is shown the way the transcript shows its other masked people (a surrogate such as
    "[Alex Ashdown]" is deterministic in the placeholder and the words); with none to go by, ``style``.
    """
    if not _shows_words(session, event, original):
        return 0
    transcript = session.get(Transcript, event.transcript_id)
    assert transcript is not None  # _shows_words refused otherwise
    shown = event.placeholder
    if event.entity_type == "PERSON":
        text = transcript.anonymised_text or ""
        people = select(AnonymisationEvent).where(
            AnonymisationEvent.transcript_id == transcript.id,
            AnonymisationEvent.entity_type == "PERSON",
            AnonymisationEvent.status != "undone",
            AnonymisationEvent.id != event.id,
        )
        other = session.scalars(people.limit(1)).first()
        surrogates = (
            text[other.start_char : other.end_char] != other.placeholder if other is not None else style == "surrogate"
        )
        if surrogates:
            shown = _masked_forms(event, original)[1]
    return _rewrite_place(session, transcript, event, shown)


def _rewrite_place(session: Session, transcript: Transcript, event: AnonymisationEvent, new_words: str) -> int:
    """Replace the text at the event's place by ``new_words`` and move every offset of the transcript."""
    from pipeline.embed import text_hash

    text = transcript.anonymised_text or ""
    start, end = event.start_char, event.end_char
    delta = len(new_words) - (end - start)

    def moved(position: int, *, is_end: bool) -> int:
        if position <= start:
            return position
        if position >= end:
            return position + delta
        return start + len(new_words) if is_end else start  # inside the old words: clamp to the new ones

    new_text = text[:start] + new_words + text[end:]
    transcript.anonymised_text = new_text
    fresh = {"populate_existing": True}  # rows as committed, even if this session loaded them before
    for turn in session.scalars(select(Turn).where(Turn.transcript_id == transcript.id).execution_options(**fresh)):
        turn.start_char, turn.end_char = moved(turn.start_char, is_end=False), moved(turn.end_char, is_end=True)
    segments = select(Segment).where(Segment.transcript_id == transcript.id).execution_options(**fresh)
    for segment in session.scalars(segments):
        touched = segment.start_char < end and segment.end_char > start
        segment.start_char = moved(segment.start_char, is_end=False)
        segment.end_char = moved(segment.end_char, is_end=True)
        if touched:
            segment.text = new_text[segment.start_char : segment.end_char]
            segment.text_hash = text_hash(segment.text)
    others = (
        select(AnonymisationEvent)
        .where(AnonymisationEvent.transcript_id == transcript.id, AnonymisationEvent.id != event.id)
        .execution_options(**fresh)
    )
    for other in session.scalars(others):
        other.start_char = moved(other.start_char, is_end=False)
        other.end_char = moved(other.end_char, is_end=True)
    event.end_char = start + len(new_words)
    session.flush()
    return delta
