"""The review queue pages: the next item, decisions in one round trip, undo, and the decisions list.

Round trip: a decision is an htmx POST whose response is the next item's panel (the decision, the next
lease and the audit row are one transaction), swapped in without a page reload. Without htmx the same
POST answers with a redirect to ``/review``, so the page still works.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from pipeline.embed import settings_identity
from pipeline.errors import ConflictError, ReviewError
from pipeline.review.catalogue import Catalogue, load_catalogue
from pipeline.review.context import ItemView, build_item_view
from pipeline.review.decisions import (
    CERTAINTY_RANGE,
    DecisionResult,
    bulk_accept,
    decide_review,
    group_size,
    skip,
    submit_blind,
    undo_last,
)
from pipeline.review.queue import QueueStats, lease_next, queue_stats, renew_lease
from pipeline.settings import Settings
from pipeline.store.db import session_scope
from pipeline.store.models import Coding, ReviewItem, User
from pipeline.store.visibility import released_segment
from pipeline.web.auth import CurrentUser, current_user
from pipeline.web.nav import NavLink
from pipeline.web.params import Id, count_form
from pipeline.web.templating import render

router = APIRouter()
NAV = [
    NavLink("Review queue", "/review", order=10),
    NavLink("Decisions", "/decisions", order=20),
]
DECISION_ACTIONS = ("accept", "reject", "recode", "skip", "bulk", "blind")
LEAD_ROLES = ("lead", "admin")
CERTAINTY_LEVELS = {str(level): level for level in CERTAINTY_RANGE}


@dataclass(frozen=True)
class Outcome:
    """A short, text-free summary of what the last action did (announced to screen readers).

    ``moves_on``: the action finished the item, so the message says what comes next.
    """

    message: str
    level: str = "success"
    moves_on: bool = False

    def followed_by(self, same_segment: bool, has_item: bool) -> Outcome:
        if not self.moves_on:
            return self
        if not has_item:
            after = "Your queue is empty."
        elif same_segment:
            after = "Next: another suggestion for the same segment."
        else:
            after = "Next item loaded."
        return Outcome(f"{self.message} {after}", self.level)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _url(request: Request) -> str:
    return request.app.state.db_url


def _panel(
    request: Request, user: CurrentUser, *, item_id: int | None = None, outcome: Outcome | None = None,
    status_code: int = 200, prefer_segment: int | None = None,
) -> Response:
    """Lease (or re-show) an item and render the panel; a full page unless this is an htmx request."""
    settings = _settings(request)
    with session_scope(_url(request), immediate=True) as db:
        item = _held_item(db, user, item_id) if item_id is not None else None
        if item is None:
            item = lease_next(db, user, settings, prefer_segment=prefer_segment)
        leased_id = item.id if item is not None else None
        if outcome is not None:
            same = item is not None and prefer_segment is not None and prefer_segment == item.segment_id
            outcome = outcome.followed_by(same, item is not None)
    with session_scope(_url(request)) as db:
        view, stats = _view(db, user, settings, leased_id)
    template = "review/_panel.html" if request.headers.get("hx-request") else "review/queue.html"
    # The page renews its lease at a third of the lease time, so an open tab never loses its item.
    heartbeat = max(10, settings.lease_seconds // 3)
    return render(request, template, status_code=status_code, item=view, stats=stats, outcome=outcome,
                  heartbeat_seconds=heartbeat)


def _held_item(db: Session, user: CurrentUser, item_id: int) -> ReviewItem | None:
    item = db.get(ReviewItem, item_id)
    if item is None or item.status != "leased" or item.lease_owner != user.user_id:
        return None
    return item


def _view(
    db: Session, user: CurrentUser, settings: Settings, item_id: int | None
) -> tuple[ItemView | None, QueueStats]:
    stats = queue_stats(db, user)
    if item_id is None:
        return None, stats
    item = db.get(ReviewItem, item_id)
    assert item is not None
    catalogue = load_catalogue(db, settings.codebook_path)
    view = build_item_view(
        db, item, catalogue, embedding_identity=settings_identity(settings), group_size=group_size(db, item, user)
    )
    return view, stats


@router.get("/review")
def review_page(request: Request, user: CurrentUser = Depends(current_user)) -> Response:
    return _panel(request, user)


@router.get("/review/items/{item_id}")
def review_item(item_id: Id, request: Request, user: CurrentUser = Depends(current_user)) -> Response:
    """Re-open an item you hold. Anyone else's item (blind or not) is refused."""
    with session_scope(_url(request)) as db:
        item = db.get(ReviewItem, item_id)
        allowed = item is not None and item.status == "leased" and item.lease_owner == user.user_id
    if not allowed:
        raise HTTPException(status_code=403, detail=f"review item {item_id} is not assigned to you")
    return _panel(request, user, item_id=item_id)


@router.post("/review/items/{item_id}")
def decide(
    item_id: Id,
    request: Request,
    user: CurrentUser = Depends(current_user),
    version: int = count_form(),
    action: str = Form(...),
    codes: list[str] = Form(default_factory=list),
    ruled_out: list[str] = Form(default_factory=list),
    note: str = Form(""),
    certainty: str = Form(""),
) -> Response:
    if action not in DECISION_ACTIONS:
        raise HTTPException(status_code=400, detail=f"unknown action {action!r}")
    level = CERTAINTY_LEVELS.get(certainty.strip())
    if certainty.strip() and level is None:
        # Only the five radio values are accepted (int() on "²" or a 5,000-digit string would be a 500).
        return _after_error(request, user, "certainty must be 1-5", 422, item_id=item_id)
    settings = _settings(request)
    try:
        with session_scope(_url(request), immediate=True) as db:
            known = _known_codes(load_catalogue(db, settings.codebook_path))
            result = _apply(db, user, item_id, version, action, codes, ruled_out, note, level, known)
            # After a review decision the segment's other suggestions come next; not after a skip, and not
            # straight after blind coding (the coder moves on rather than meeting the model's view at once).
            decided_segment = None if action in ("skip", "blind") else db.get(ReviewItem, item_id).segment_id
    except ConflictError as exc:
        return _after_error(request, user, str(exc), 409)
    except ReviewError as exc:
        return _after_error(request, user, str(exc), 422, item_id=item_id)
    outcome = Outcome(_describe(result), moves_on=True)
    if not request.headers.get("hx-request"):
        return RedirectResponse("/review", status_code=303)
    return _panel(request, user, outcome=outcome, prefer_segment=decided_segment)


def _apply(
    db: Session, user: CurrentUser, item_id: int, version: int, action: str, codes: list[str],
    ruled_out: list[str], note: str, certainty: int | None, known: set[str] | None,
) -> DecisionResult:
    if action == "skip":
        return skip(db, item_id, version, user)
    if action == "bulk":
        return bulk_accept(db, item_id, version, user, note=note, certainty=certainty)
    if action == "blind":
        return submit_blind(db, item_id, version, user, codes, ruled_out, note=note, certainty=certainty,
                            known_codes=known)
    return decide_review(db, item_id, version, user, action, codes=codes, note=note, certainty=certainty,
                         known_codes=known)


def _known_codes(catalogue: Catalogue) -> set[str] | None:
    """Codes a coder may pick; None (no check) when no codebook is available at all."""
    keys = {code.key for code in catalogue.codes}
    return keys or None


def _describe(result: DecisionResult) -> str:
    n = len(result.item_ids)
    return {
        "accept": "Accepted.",
        "reject": "Rejected.",
        "recode": "Saved with the code(s) you picked.",
        "skip": "Skipped; it will come back later.",
        "bulk_accept": f"Accepted {n} near-duplicate item{'s' if n != 1 else ''}.",
        "blind": "Blind coding saved.",
        "undo": "Undone: decide this item again.",
    }.get(result.action, "Saved.")


def _after_error(
    request: Request, user: CurrentUser, message: str, status: int, *, item_id: int | None = None
) -> Response:
    """A stale or invalid decision: show why, together with the item the coder should look at now."""
    if not request.headers.get("hx-request"):
        raise HTTPException(status_code=status, detail=message)
    # 200 so htmx swaps the panel in; the message is in the panel's alert region.
    return _panel(request, user, item_id=item_id, outcome=Outcome(message, "error"))


@router.post("/review/items/{item_id}/renew")
def renew(item_id: Id, request: Request, user: CurrentUser = Depends(current_user)) -> Response:
    """Heartbeat from an open review page: keep the lease while the coder is still reading."""
    with session_scope(_url(request), immediate=True) as db:
        kept = renew_lease(db, item_id, user, _settings(request))
    if kept:
        return Response(status_code=204)
    return Response("Your lease on this item expired and it went back to the queue. Press s or reload for the "
                    "next item.", status_code=409, media_type="text/plain")


@router.post("/review/undo")
def undo(request: Request, user: CurrentUser = Depends(current_user)) -> Response:
    try:
        with session_scope(_url(request), immediate=True) as db:
            result = undo_last(db, user, _settings(request))
    except ReviewError as exc:
        return _after_error(request, user, str(exc), 409)
    if not request.headers.get("hx-request"):
        return RedirectResponse(f"/review/items/{result.item_ids[0]}", status_code=303)
    return _panel(request, user, item_id=result.item_ids[0], outcome=Outcome(_describe(result), "info"))


def _blind_work_pending(user: CurrentUser, segment_id: ColumnElement[int]) -> ColumnElement[bool]:
    """SQL: ``user`` still has to blind-code ``segment_id``.

    In a small team leads take part in blind double-coding, so a lead's view of everyone's decisions must
    not show a segment (anyone's codes on it) before the lead has coded it blind too.
    """
    return (
        exists()
        .where(
            ReviewItem.segment_id == segment_id,
            ReviewItem.kind == "blind",
            ReviewItem.assigned_to == user.user_id,
            ReviewItem.status != "done",
        )
    )


@router.get("/decisions")
def decisions(request: Request, coder: str = "", user: CurrentUser = Depends(current_user)) -> Response:
    """Recent decisions: coders see their own; leads see everyone's and can filter by coder."""
    is_lead = user.role in LEAD_ROLES
    if coder and not is_lead and coder != user.username:
        raise HTTPException(status_code=403, detail="only leads can see other coders' decisions")
    shown_coder = coder or (None if is_lead else user.username)
    settings = _settings(request)
    with session_scope(_url(request)) as db:
        query = (
            select(Coding)
            .where(
                Coding.source.in_(("review", "manual", "blind", "adjudication")),
                released_segment(Coding.segment_id),
            )
            .order_by(Coding.updated_at.desc(), Coding.id.desc())
            .limit(200)
        )
        if shown_coder:
            query = query.where(Coding.coder == shown_coder)
        if is_lead:
            query = query.where(~_blind_work_pending(user, Coding.segment_id))
        rows = list(db.scalars(query))
        catalogue = load_catalogue(db, settings.codebook_path)
        coders = list(db.scalars(select(User.username).order_by(User.username))) if is_lead else []
    return render(
        request,
        "review/decisions.html",
        rows=rows,
        catalogue=catalogue,
        coders=coders,
        shown_coder=shown_coder or "",
        is_lead=is_lead,
        now=dt.datetime.now(dt.UTC),
    )
