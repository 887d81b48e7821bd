"""Log-in, log-out and the start page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from pipeline.errors import AuthError
from pipeline.review.accounts import authenticate, end_session, start_session
from pipeline.review.queue import release_all
from pipeline.store.db import session_scope
from pipeline.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    clear_cookie,
    current_user,
    optional_user,
    safe_next,
    session_token,
    set_cookie,
)
from pipeline.web.templating import flash, render

router = APIRouter()


@router.get("/")
def home(user: CurrentUser = Depends(current_user)) -> Response:
    """Everyone starts at the queue; leads reach the dashboard from the navigation."""
    return RedirectResponse("/review", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if optional_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next_path=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    limiter = request.app.state.login_limiter
    client = request.client.host if request.client else "unknown"
    # Counted as a failure until the password proves right: only failed log-ins use up the address's limit.
    attempt = limiter.attempt(client)
    if attempt is None:
        retry = limiter.retry_after(client)
        return render(
            request,
            "login.html",
            status_code=429,
            error=f"Too many failed log-ins from this address. Try again in {retry} seconds.",
            username=username,
            next_path=safe_next(next),
        )
    settings = request.app.state.settings
    error: str | None = None
    with session_scope(request.app.state.db_url) as db:
        # The error is caught inside the transaction so the failure counter and lock-out are committed.
        try:
            user = authenticate(db, username, password)
        except AuthError as exc:
            error = str(exc)
        else:
            # A new session, never the one the browser brought: an existing session (another account's in
            # a shared browser, or one planted by an attacker) ends here rather than living on beside it.
            end_session(db, session_token(request))
            token, _info = start_session(db, user, settings)
    if error is not None:
        return render(request, "login.html", status_code=401, error=error, username=username,
                      next_path=safe_next(next))
    limiter.succeeded(attempt)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600))
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    user = optional_user(request)
    with session_scope(request.app.state.db_url, immediate=True) as db:
        if user is not None:
            release_all(db, user)
        end_session(db, session_token(request))
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    flash(request, response, "You have been logged out.", "success")
    return response
