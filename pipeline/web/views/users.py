"""Accounts page for leads and admins: who can log in, their role, and unlocking locked accounts.

Accounts are created with ``qualcode user add`` (the password never passes through a web form that a
lead fills in for someone else).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from pipeline.review.accounts import unlock_user
from pipeline.store.db import session_scope
from pipeline.store.models import ReviewItem, User, utcnow
from pipeline.web.auth import CurrentUser, require_role
from pipeline.web.nav import NavLink
from pipeline.web.params import Id
from pipeline.web.templating import flash, render

router = APIRouter()
NAV = [NavLink("Users", "/users", roles=("lead", "admin"), order=80)]


@router.get("/users")
def users_page(request: Request, user: CurrentUser = Depends(require_role("lead"))) -> Response:
    with session_scope(request.app.state.db_url) as db:
        users = list(db.scalars(select(User).order_by(User.role, User.username)))
        done = dict(
            db.execute(
                select(ReviewItem.lease_owner, func.count())
                .where(ReviewItem.status == "done")
                .group_by(ReviewItem.lease_owner)
            ).all()
        )
    return render(request, "users.html", users=users, done=done, now=utcnow())


@router.post("/users/{user_id}/unlock")
def unlock(user_id: Id, request: Request, user: CurrentUser = Depends(require_role("lead"))) -> Response:
    with session_scope(request.app.state.db_url) as db:
        target = db.get(User, user_id)
        if target is None:
            raise HTTPException(status_code=404, detail=f"user {user_id} does not exist")
        name = unlock_user(db, target.username, actor=user.username).username
    response = RedirectResponse("/users", status_code=303)
    flash(request, response, f"Unlocked {name}.", "success")
    return response
