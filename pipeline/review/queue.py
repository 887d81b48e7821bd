"""The review queue: turning queued suggestions into work items and handing them out with leases.

How an item is handed out (``lease_next``):

1. A coder who already holds a live lease gets that item again (a page reload never loses your place).
2. Otherwise the best available item is locked and leased: open items, or leased items whose lease has
   expired (an abandoned browser tab returns its item to the queue), that are assigned to this coder or,
   for suggestion reviews, to nobody. Skipped items come after everything else.
3. The lock: PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` lets concurrent coders pass over each
   other's candidate rows instead of queueing behind them; on SQLite the caller's transaction must be
   ``session_scope(url, immediate=True)`` (``BEGIN IMMEDIATE``), which serialises writers. Either way two
   coders never hold the same item at the same time.

Blindness: a coder is never offered a suggestion review for a segment they still have to code blind,
because seeing the model's suggestion first would bias the blind coding.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, Select, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from pipeline.settings import Settings
from pipeline.store.models import ReviewItem, Suggestion, utcnow
from pipeline.store.visibility import released_segment


class Reviewer(Protocol):
    """Who is acting: a web session (``SessionInfo``) or a CLI user both fit."""

    @property
    def user_id(self) -> int: ...

    @property
    def username(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class ActingUser:
    """A plain ``Reviewer`` (for the CLI and tests)."""

    user_id: int
    username: str
    role: str = "coder"


@dataclass(frozen=True)
class QueueStats:
    """Counts shown above the queue for one coder."""

    available: int
    blind_waiting: int
    done_today: int


def enqueue_suggestions(session: Session) -> int:
    """Create a review item for every queued suggestion that has none yet; returns how many were created.

    Idempotent: the anti-join on ``suggestion_id`` means a second call creates nothing. Priority and
    near-duplicate group are copied from the suggestion so the queue needs no join to order itself.
    Items whose suggestion is no longer queued (re-scored, superseded, decided through another item) are
    marked ``withdrawn`` so the queue's counts stay exact.
    """
    withdraw_stale_items(session)
    has_item = exists().where(ReviewItem.suggestion_id == Suggestion.id, ReviewItem.kind == "review")
    rows = session.execute(
        select(Suggestion.id, Suggestion.segment_id, Suggestion.priority, Suggestion.group_key).where(
            Suggestion.status == "queued", ~has_item, released_segment(Suggestion.segment_id)
        )
    ).all()
    if rows:
        session.execute(
            insert(ReviewItem),
            [
                {"kind": "review", "segment_id": segment_id, "suggestion_id": suggestion_id, "status": "open",
                 "priority": priority or 0.0, "group_key": group_key, "version": 0, "created_at": utcnow()}
                for suggestion_id, segment_id, priority, group_key in rows
            ],
        )
    session.flush()
    return len(rows)


def withdraw_stale_items(session: Session) -> int:
    """Mark waiting review items whose suggestion is no longer queued as ``withdrawn``; returns how many."""
    stale = (
        exists()
        .where(Suggestion.id == ReviewItem.suggestion_id, Suggestion.status != "queued")
        .correlate(ReviewItem)
    )
    result = session.execute(
        update(ReviewItem)
        .where(ReviewItem.kind == "review", ReviewItem.status.in_(("open", "skipped")), stale)
        .values(status="withdrawn", version=ReviewItem.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def eligible_for(reviewer: Reviewer, now: dt.datetime) -> ColumnElement[bool]:
    """SQL condition: items this reviewer may be handed now (assignment, availability, blindness, and the
    segment's transcript released from anonymisation review)."""
    blind = aliased(ReviewItem)
    pending_blind_same_segment = (
        exists()
        .where(
            blind.segment_id == ReviewItem.segment_id,
            blind.kind == "blind",
            blind.assigned_to == reviewer.user_id,
            blind.status != "done",
        )
        .correlate(ReviewItem)
    )
    suggestion_still_queued = (
        exists()
        .where(Suggestion.id == ReviewItem.suggestion_id, Suggestion.status == "queued")
        .correlate(ReviewItem)
    )
    return and_(
        released_segment(ReviewItem.segment_id),
        or_(
            ReviewItem.status.in_(("open", "skipped")),
            and_(ReviewItem.status == "leased", ReviewItem.lease_expires_at <= now),
        ),
        or_(
            and_(ReviewItem.kind == "blind", ReviewItem.assigned_to == reviewer.user_id),
            and_(
                ReviewItem.kind == "review",
                or_(ReviewItem.assigned_to.is_(None), ReviewItem.assigned_to == reviewer.user_id),
                suggestion_still_queued,
                ~pending_blind_same_segment,
            ),
        ),
    )


def current_lease(session: Session, reviewer: Reviewer, now: dt.datetime | None = None) -> ReviewItem | None:
    """The item this reviewer holds a live lease on, if any (most recently leased first, so an undone item
    is shown before the one that was on screen when the coder pressed undo)."""
    now = now or utcnow()
    return session.scalar(
        select(ReviewItem)
        .where(
            ReviewItem.status == "leased",
            ReviewItem.lease_owner == reviewer.user_id,
            ReviewItem.lease_expires_at > now,
        )
        .order_by(ReviewItem.lease_expires_at.desc(), ReviewItem.id)
        .limit(1)
    )


def lease_next(
    session: Session,
    reviewer: Reviewer,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    prefer_segment: int | None = None,
) -> ReviewItem | None:
    """Lease the next item for ``reviewer`` (see the module docstring); None when the queue is empty.

    ``prefer_segment`` (the segment just decided) puts that segment's other suggestions first: reading a
    segment is the expensive part of a decision, so its remaining suggestions are judged while it is fresh.

    Call inside ``session_scope(url, immediate=True)`` so that SQLite takes its write lock first.
    """
    now = now or utcnow()
    held = current_lease(session, reviewer, now)
    if held is not None:
        held.lease_expires_at = now + dt.timedelta(seconds=settings.lease_seconds)
        return held
    item = _pick(session, reviewer, now, prefer_segment)
    if item is None:
        return None
    item.status = "leased"
    item.lease_owner = reviewer.user_id
    item.lease_expires_at = now + dt.timedelta(seconds=settings.lease_seconds)
    item.version = (item.version or 0) + 1
    session.flush()
    return item


def _pick(
    session: Session, reviewer: Reviewer, now: dt.datetime, prefer_segment: int | None
) -> ReviewItem | None:
    """The best eligible item, locked on PostgreSQL: the preferred segment's, else the highest priority
    among open blind work, open reviews and expired leases, else a skipped item.

    Why several small queries rather than one ``ORDER BY CASE ...``: each of these walks an index in
    priority order and stops at the first eligible row, so a 100,000-item queue costs milliseconds;
    one query ordered by expressions must rank every eligible row first.
    """
    eligible = eligible_for(reviewer, now)
    by_priority = (ReviewItem.priority.desc(), ReviewItem.id)
    if prefer_segment is not None:
        found = _first(session, select(ReviewItem).where(eligible, ReviewItem.segment_id == prefer_segment)
                       .order_by(*by_priority))
        if found is not None:
            return found
    candidates = [
        _first(session, select(ReviewItem).where(
            ReviewItem.status == "open", ReviewItem.kind == "blind", ReviewItem.assigned_to == reviewer.user_id
        ).order_by(*by_priority)),
        _first(session, select(ReviewItem).where(ReviewItem.status == "open", ReviewItem.kind == "review", eligible)
               .order_by(*by_priority)),
        _first(session, select(ReviewItem).where(ReviewItem.status == "leased", eligible).order_by(*by_priority)),
    ]
    live = [c for c in candidates if c is not None]
    if live:
        return min(live, key=lambda c: (-(c.priority or 0.0), c.id))
    return _first(session, select(ReviewItem).where(ReviewItem.status == "skipped", eligible).order_by(*by_priority))


def _first(session: Session, query: Select[tuple[ReviewItem]]) -> ReviewItem | None:
    query = query.limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=ReviewItem)
    return session.scalar(query)


def release_lease(session: Session, item: ReviewItem, *, status: str = "open") -> None:
    """Give an item back to the queue (skip, log-out)."""
    item.status = status
    item.lease_owner = None
    item.lease_expires_at = None
    item.version = (item.version or 0) + 1


def queue_stats(session: Session, reviewer: Reviewer, *, now: dt.datetime | None = None) -> QueueStats:
    """Counts for the queue page. ``available`` counts open and skipped items this reviewer may get, from
    the queue index alone (no per-row checks), so it stays cheap on large queues; it includes reviews held
    back until the reviewer finishes a blind coding of the same segment.
    """
    now = now or utcnow()
    available = session.scalar(
        select(func.count())
        .select_from(ReviewItem)
        .where(
            ReviewItem.status.in_(("open", "skipped")),
            or_(
                and_(ReviewItem.kind == "review",
                     or_(ReviewItem.assigned_to.is_(None), ReviewItem.assigned_to == reviewer.user_id)),
                and_(ReviewItem.kind == "blind", ReviewItem.assigned_to == reviewer.user_id),
            ),
        )
    )
    blind_waiting = session.scalar(
        select(func.count())
        .select_from(ReviewItem)
        .where(
            ReviewItem.kind == "blind",
            ReviewItem.assigned_to == reviewer.user_id,
            ReviewItem.status != "done",
        )
    )
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    done_today = session.scalar(
        select(func.count())
        .select_from(ReviewItem)
        .where(
            ReviewItem.status == "done",
            ReviewItem.lease_owner == reviewer.user_id,
            ReviewItem.done_at >= midnight,
        )
    )
    return QueueStats(available=int(available or 0), blind_waiting=int(blind_waiting or 0),
                      done_today=int(done_today or 0))


def renew_lease(
    session: Session, item_id: int, reviewer: Reviewer, settings: Settings, *, now: dt.datetime | None = None
) -> bool:
    """Extend the reviewer's live lease on an item (the page sends a heartbeat while it is open).

    Returns False when the lease has already gone to someone else or the item was decided. The version is
    not bumped: a heartbeat must not invalidate the form the coder is filling in.

    One conditional UPDATE, not read-then-write: on PostgreSQL a coder who takes over the expired lease
    between the read and the write would otherwise have their new lease extended while the old holder is
    told it kept the item.
    """
    now = now or utcnow()
    result = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item_id,
            ReviewItem.status == "leased",
            ReviewItem.lease_owner == reviewer.user_id,
        )
        .values(lease_expires_at=now + dt.timedelta(seconds=settings.lease_seconds))
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


def release_all(session: Session, reviewer: Reviewer) -> int:
    """Hand back every item the reviewer holds (log-out), so others need not wait for the leases to expire."""
    items = list(
        session.scalars(
            select(ReviewItem).where(ReviewItem.status == "leased", ReviewItem.lease_owner == reviewer.user_id)
        )
    )
    for item in items:
        release_lease(session, item)
    return len(items)
