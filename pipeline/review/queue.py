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

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from pipeline.settings import Settings
from pipeline.store.models import ReviewItem, Suggestion, utcnow


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
    """
    has_item = exists().where(ReviewItem.suggestion_id == Suggestion.id, ReviewItem.kind == "review")
    rows = session.execute(
        select(Suggestion.id, Suggestion.segment_id, Suggestion.priority, Suggestion.group_key).where(
            Suggestion.status == "queued", ~has_item
        )
    ).all()
    for suggestion_id, segment_id, priority, group_key in rows:
        session.add(
            ReviewItem(
                kind="review",
                segment_id=segment_id,
                suggestion_id=suggestion_id,
                status="open",
                priority=priority or 0.0,
                group_key=group_key,
                version=0,
            )
        )
    session.flush()
    return len(rows)


def eligible_for(reviewer: Reviewer, now: dt.datetime) -> ColumnElement[bool]:
    """SQL condition: items this reviewer may be handed now (assignment, availability, blindness)."""
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
    query = (
        select(ReviewItem)
        .where(eligible_for(reviewer, now))
        .order_by(
            case((ReviewItem.status == "skipped", 1), else_=0),
            case((ReviewItem.segment_id == (prefer_segment or -1), 0), else_=1),
            ReviewItem.priority.desc(),
            ReviewItem.id,
        )
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=ReviewItem)
    item = session.scalar(query)
    if item is None:
        return None
    item.status = "leased"
    item.lease_owner = reviewer.user_id
    item.lease_expires_at = now + dt.timedelta(seconds=settings.lease_seconds)
    item.version = (item.version or 0) + 1
    session.flush()
    return item


def release_lease(session: Session, item: ReviewItem, *, status: str = "open") -> None:
    """Give an item back to the queue (skip, log-out)."""
    item.status = status
    item.lease_owner = None
    item.lease_expires_at = None
    item.version = (item.version or 0) + 1


def queue_stats(session: Session, reviewer: Reviewer, *, now: dt.datetime | None = None) -> QueueStats:
    now = now or utcnow()
    available = session.scalar(select(func.count()).select_from(ReviewItem).where(eligible_for(reviewer, now)))
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
    """
    now = now or utcnow()
    item = session.get(ReviewItem, item_id)
    if item is None or item.status != "leased" or item.lease_owner != reviewer.user_id:
        return False
    item.lease_expires_at = now + dt.timedelta(seconds=settings.lease_seconds)
    return True


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
