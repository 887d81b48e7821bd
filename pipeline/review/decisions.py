"""Decisions on review items: accept, reject, another code, blind coding, skip, bulk-accept and undo.

Why each decision is safe under concurrency:
- The item is claimed with one conditional UPDATE (``WHERE id = ? AND version = ? AND lease_owner = ?
  AND status = 'leased'``). If a second coder has since taken an expired lease, or the same form is
  submitted twice, nothing matches and ``ConflictError`` is raised: a decision is never applied twice
  and never silently overwrites someone else's.
- Codings, the suggestion's status and the audit row are written in the same transaction as the claim,
  so they land together or not at all.

A done item keeps ``lease_owner`` = the coder who decided it (that is how "undo" and "done today" find
it). Codings are one row per (segment, code, coder, source); a later decision by the same coder on the same
code updates the row and bumps its ``version`` (unless it repeats the verdict of another live decision,
which keeps the row so that undo removes only what it added); the audit log keeps the history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from pipeline.errors import ConflictError, ReviewError
from pipeline.review.queue import Reviewer, eligible_for
from pipeline.settings import Settings
from pipeline.store.audit import audit
from pipeline.store.models import Coding, ReviewItem, Suggestion, utcnow

REVIEW_ACTIONS = ("accept", "reject", "recode")
CERTAINTY_RANGE = range(1, 6)
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class DecisionResult:
    """What a decision did: the items it completed and the codings it wrote (ids only)."""

    action: str
    item_ids: tuple[int, ...]
    codings: int


def _check_extras(note: str | None, certainty: int | None) -> str | None:
    if certainty is not None and certainty not in CERTAINTY_RANGE:
        raise ReviewError(f"certainty must be 1-5, got {certainty}")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise ReviewError(f"note is too long ({len(note)} characters; at most {MAX_NOTE_CHARS})")
    return note


def claim(
    session: Session, item_id: int, version: int, reviewer: Reviewer, *, status: str = "done", now: dt.datetime
) -> ReviewItem:
    """Atomically move a leased item out of the reviewer's lease, checking its version; see module docs."""
    values: dict[str, object] = {"status": status, "version": version + 1}
    if status == "done":
        values["done_at"] = now
    else:
        values.update(lease_owner=None, lease_expires_at=None)
    result = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item_id,
            ReviewItem.version == version,
            ReviewItem.status == "leased",
            ReviewItem.lease_owner == reviewer.user_id,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = session.get(ReviewItem, item_id, populate_existing=True)
        if current is None:
            raise ReviewError(f"review item {item_id} does not exist")
        if current.status == "done":
            raise ConflictError(f"review item {item_id} was already decided")
        if current.lease_owner != reviewer.user_id:
            raise ConflictError(f"your lease on review item {item_id} expired and the item moved on")
        raise ConflictError(f"review item {item_id} changed since you opened it (version {version})")
    item = session.get(ReviewItem, item_id, populate_existing=True)
    assert item is not None
    return item


def _record(
    session: Session,
    *,
    item: ReviewItem,
    reviewer: Reviewer,
    code_key: str,
    applied: bool,
    source: str,
    suggestion: Suggestion | None,
    note: str | None,
    certainty: int | None,
) -> Coding:
    row = session.scalar(
        select(Coding).where(
            Coding.segment_id == item.segment_id,
            Coding.code_key == code_key,
            Coding.coder == reviewer.username,
            Coding.source == source,
        )
    )
    if row is None:
        row = Coding(segment_id=item.segment_id, code_key=code_key, coder=reviewer.username, source=source, version=0)
        session.add(row)
    elif row.applied == applied and row.review_item_id not in (None, item.id) and _still_decided(session, row):
        # The same verdict is already recorded by another of this coder's decisions (e.g. picking the
        # same "other code" on two suggestions of one segment). Leave that row with its decision, so that
        # undoing this one does not take the earlier one with it.
        return row
    else:
        row.version = (row.version or 0) + 1
    row.user_id = reviewer.user_id
    row.applied = applied
    row.suggestion_id = suggestion.id if suggestion is not None else None
    row.model_version = suggestion.model_version if suggestion is not None else None
    row.review_item_id = item.id
    row.note = note
    row.certainty = certainty
    return row


def _still_decided(session: Session, row: Coding) -> bool:
    other = session.get(ReviewItem, row.review_item_id) if row.review_item_id is not None else None
    return other is not None and other.status == "done"


def decide_review(
    session: Session,
    item_id: int,
    version: int,
    reviewer: Reviewer,
    action: str,
    *,
    codes: Iterable[str] = (),
    note: str | None = None,
    certainty: int | None = None,
    known_codes: set[str] | None = None,
) -> DecisionResult:
    """Accept or reject the item's suggestion, or reject it in favour of other ``codes`` (``recode``).

    ``known_codes`` (the active codebook's keys) guards ``recode`` against codes that do not exist.
    """
    if action not in REVIEW_ACTIONS:
        raise ReviewError(f"unknown review action {action!r}; expected one of {', '.join(REVIEW_ACTIONS)}")
    note = _check_extras(note, certainty)
    chosen = list(dict.fromkeys(c for c in codes if c))
    if action == "recode":
        if not chosen:
            raise ReviewError(f"review item {item_id}: pick at least one code")
        unknown = [c for c in chosen if known_codes is not None and c not in known_codes]
        if unknown:
            raise ReviewError(f"review item {item_id}: unknown code(s) {', '.join(unknown)}")
    now = utcnow()
    item = claim(session, item_id, version, reviewer, now=now)
    if item.kind != "review" or item.suggestion_id is None:
        raise ReviewError(f"review item {item_id} is a blind coding task; submit codes instead")
    suggestion = session.get(Suggestion, item.suggestion_id)
    if suggestion is None:
        raise ReviewError(f"review item {item_id}: its suggestion no longer exists")
    if action == "recode" and chosen == [suggestion.code_key]:
        action = "accept"
    accepted = action == "accept"
    rows = [
        _record(session, item=item, reviewer=reviewer, code_key=suggestion.code_key, applied=accepted,
                source="review", suggestion=suggestion, note=note, certainty=certainty)
    ]
    if action == "recode":
        rows += [
            _record(session, item=item, reviewer=reviewer, code_key=code, applied=True, source="manual",
                    suggestion=None, note=note, certainty=certainty)
            for code in chosen
            if code != suggestion.code_key
        ]
    if suggestion.status == "queued":
        suggestion.status = "accepted" if accepted else "rejected"
    audit(
        session,
        reviewer.username,
        f"review.{action}",
        "review_item",
        item.id,
        segment_id=item.segment_id,
        suggestion_id=suggestion.id,
        code=suggestion.code_key,
        model_version=suggestion.model_version,
        probability=round(float(suggestion.probability), 4),
        added_codes=[c for c in chosen if c != suggestion.code_key],
        certainty=certainty,
        has_note=note is not None,
    )
    session.flush()
    return DecisionResult(action=action, item_ids=(item.id,), codings=len(rows))


def submit_blind(
    session: Session,
    item_id: int,
    version: int,
    reviewer: Reviewer,
    applied: Iterable[str],
    rejected: Iterable[str] = (),
    *,
    note: str | None = None,
    certainty: int | None = None,
    known_codes: set[str] | None = None,
) -> DecisionResult:
    """Record a blind coding: one applied row per code chosen and an applied=False row per code the coder
    explicitly considered and ruled out. Codes not mentioned count as not applied for agreement.
    """
    note = _check_extras(note, certainty)
    applied_codes = list(dict.fromkeys(c for c in applied if c))
    rejected_codes = list(dict.fromkeys(c for c in rejected if c))
    both = set(applied_codes) & set(rejected_codes)
    if both:
        raise ReviewError(f"review item {item_id}: code(s) both applied and ruled out: {', '.join(sorted(both))}")
    unknown = [c for c in applied_codes + rejected_codes if known_codes is not None and c not in known_codes]
    if unknown:
        raise ReviewError(f"review item {item_id}: unknown code(s) {', '.join(unknown)}")
    now = utcnow()
    item = claim(session, item_id, version, reviewer, now=now)
    if item.kind != "blind":
        raise ReviewError(f"review item {item_id} is a suggestion review, not a blind coding task")
    if item.assigned_to != reviewer.user_id:
        raise ReviewError(f"review item {item_id} is assigned to another coder")
    rows = [
        _record(session, item=item, reviewer=reviewer, code_key=code, applied=True, source="blind",
                suggestion=None, note=note, certainty=certainty)
        for code in applied_codes
    ] + [
        _record(session, item=item, reviewer=reviewer, code_key=code, applied=False, source="blind",
                suggestion=None, note=note, certainty=certainty)
        for code in rejected_codes
    ]
    audit(
        session,
        reviewer.username,
        "blind.submit",
        "review_item",
        item.id,
        segment_id=item.segment_id,
        applied=applied_codes,
        ruled_out=rejected_codes,
        certainty=certainty,
        has_note=note is not None,
    )
    session.flush()
    return DecisionResult(action="blind", item_ids=(item.id,), codings=len(rows))


def skip(session: Session, item_id: int, version: int, reviewer: Reviewer) -> DecisionResult:
    """Put the item back; it returns after every open item (for this coder and others)."""
    item = claim(session, item_id, version, reviewer, status="skipped", now=utcnow())
    audit(session, reviewer.username, "review.skip", "review_item", item.id, segment_id=item.segment_id)
    return DecisionResult(action="skip", item_ids=(item.id,), codings=0)


def bulk_accept(
    session: Session,
    item_id: int,
    version: int,
    reviewer: Reviewer,
    *,
    note: str | None = None,
    certainty: int | None = None,
) -> DecisionResult:
    """Accept this item's suggestion and the same code on every available near-duplicate in its group.

    Group members another coder is holding right now are left alone (they are deciding them).
    """
    first = decide_review(session, item_id, version, reviewer, "accept", note=note, certainty=certainty)
    item = session.get(ReviewItem, item_id)
    assert item is not None and item.suggestion_id is not None
    suggestion = session.get(Suggestion, item.suggestion_id)
    if not item.group_key or suggestion is None:
        return DecisionResult(action="bulk_accept", item_ids=first.item_ids, codings=first.codings)
    now = item.done_at or utcnow()
    query = (
        select(ReviewItem)
        .join(Suggestion, Suggestion.id == ReviewItem.suggestion_id)
        .where(
            ReviewItem.group_key == item.group_key,
            ReviewItem.id != item.id,
            Suggestion.code_key == suggestion.code_key,
            eligible_for(reviewer, now)
            | ((ReviewItem.status == "leased") & (ReviewItem.lease_owner == reviewer.user_id)
               & (ReviewItem.kind == "review")),
        )
        .order_by(ReviewItem.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=ReviewItem)
    siblings = list(session.scalars(query))
    codings = first.codings
    for sibling in siblings:
        sibling_suggestion = session.get(Suggestion, sibling.suggestion_id)
        if sibling_suggestion is None or sibling_suggestion.status != "queued":
            continue
        sibling.status = "done"
        sibling.lease_owner = reviewer.user_id
        sibling.lease_expires_at = None
        sibling.done_at = now
        sibling.version = (sibling.version or 0) + 1
        _record(session, item=sibling, reviewer=reviewer, code_key=sibling_suggestion.code_key, applied=True,
                source="review", suggestion=sibling_suggestion, note=note, certainty=certainty)
        sibling_suggestion.status = "accepted"
        codings += 1
    done = (item.id, *(s.id for s in siblings if s.status == "done"))
    audit(
        session,
        reviewer.username,
        "review.bulk_accept",
        "review_item",
        item.id,
        group_key=item.group_key,
        code=suggestion.code_key,
        model_version=suggestion.model_version,
        item_ids=list(done),
        suggestion_ids=[s.suggestion_id for s in siblings if s.status == "done"],
    )
    session.flush()
    return DecisionResult(action="bulk_accept", item_ids=done, codings=codings)


def group_size(session: Session, item: ReviewItem, reviewer: Reviewer, *, now: dt.datetime | None = None) -> int:
    """How many other items bulk-accept would decide with this one (0 when it has no group)."""
    if not item.group_key or item.suggestion_id is None:
        return 0
    suggestion = session.get(Suggestion, item.suggestion_id)
    if suggestion is None:
        return 0
    now = now or utcnow()
    rows = session.scalars(
        select(ReviewItem.id)
        .join(Suggestion, Suggestion.id == ReviewItem.suggestion_id)
        .where(
            ReviewItem.group_key == item.group_key,
            ReviewItem.id != item.id,
            Suggestion.code_key == suggestion.code_key,
            eligible_for(reviewer, now),
        )
    )
    return len(list(rows))


def undo_last(session: Session, reviewer: Reviewer, settings: Settings) -> DecisionResult:
    """Take back the reviewer's most recent decision (all items of a bulk-accept together).

    The items are leased back to the reviewer so they can decide again; their codings are deleted and
    their suggestions return to ``queued``. The audit log keeps both the decision and the undo.
    """
    last = session.scalar(
        select(ReviewItem.done_at)
        .where(ReviewItem.status == "done", ReviewItem.lease_owner == reviewer.user_id)
        .order_by(ReviewItem.done_at.desc())
        .limit(1)
    )
    if last is None:
        raise ReviewError("nothing to undo")
    query = (
        select(ReviewItem)
        .where(
            ReviewItem.status == "done",
            ReviewItem.lease_owner == reviewer.user_id,
            ReviewItem.done_at == last,
        )
        .order_by(ReviewItem.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two presses of "u" racing (two tabs, a double submit) must undo once: the second waits for the
        # first, then finds the items no longer done (SQLite callers hold BEGIN IMMEDIATE already).
        query = query.with_for_update(of=ReviewItem)
    items = list(session.scalars(query))
    if not items:
        raise ReviewError("nothing to undo (your last decision was undone meanwhile)")
    now = utcnow()
    removed = 0
    for item in items:
        result = session.execute(
            delete(Coding).where(Coding.review_item_id == item.id, Coding.user_id == reviewer.user_id)
        )
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        if item.suggestion_id is not None:
            suggestion = session.get(Suggestion, item.suggestion_id)
            if suggestion is not None and suggestion.status in ("accepted", "rejected"):
                suggestion.status = "queued"
        item.status = "leased"
        item.lease_expires_at = now + dt.timedelta(seconds=settings.lease_seconds)
        item.done_at = None
        item.version = (item.version or 0) + 1
    audit(
        session,
        reviewer.username,
        "review.undo",
        "review_item",
        items[0].id,
        item_ids=[i.id for i in items],
        codings_removed=removed,
    )
    session.flush()
    return DecisionResult(action="undo", item_ids=tuple(i.id for i in items), codings=removed)
