"""Authentication, roles and CSRF for the web app, as FastAPI dependencies.

Use in a view module::

    from pipeline.web.auth import CurrentUser, current_user, require_role

    @router.get("/dashboard")
    def dashboard(user: CurrentUser = Depends(require_role("lead"))): ...

CSRF needs no code in a view: ``create_app`` adds ``csrf_protect`` to every router it includes, so every
POST/PUT/PATCH/DELETE must carry the session's token, either as the form field ``csrf_token`` (use
``{{ csrf_field() }}`` in templates) or as the ``X-CSRF-Token`` header (htmx requests get it from the
``csrf-token`` meta tag in ``base.html``). Requests without it are refused with 403.

Why synchronizer tokens stored with the server-side session (and not only SameSite cookies): SameSite is a
browser policy that older browsers and some proxies do not enforce; the token makes each state-changing
request prove it came from a page we rendered for this session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, Response
from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from pipeline.review.accounts import SessionInfo, resolve_session
from pipeline.store.db import lock_writes, session_scope
from pipeline.store.models import LoginAttempt, utcnow

SESSION_COOKIE = "qualcode_session"
LOGIN_CSRF_COOKIE = "qualcode_login_csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: The logged-in user for a request (an immutable snapshot; never an ORM object).
CurrentUser = SessionInfo


class LoginRequired(Exception):
    """Raised by ``current_user`` when there is no live session; the app redirects to the log-in page."""

    def __init__(self, next_path: str = "/") -> None:
        self.next_path = next_path
        super().__init__("login required")


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def optional_user(request: Request) -> SessionInfo | None:
    """The live session's user, or None. Cached on the request so several dependencies share one look-up."""
    if hasattr(request.state, "user"):
        return request.state.user
    with session_scope(request.app.state.db_url) as db:
        info = resolve_session(db, session_token(request))
    request.state.user = info
    return info


def current_user(request: Request) -> SessionInfo:
    """The logged-in user; unauthenticated requests are sent to the log-in page."""
    info = optional_user(request)
    if info is None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        raise LoginRequired(target)
    return info


def require_role(*roles: str) -> Callable[..., SessionInfo]:
    """A dependency that admits only the given roles (admins are always admitted).

    ``Depends(require_role("lead"))`` is what lead-only pages use; coders get 403, never a redirect, so a
    forbidden page is not mistaken for a log-in problem.
    """
    allowed = frozenset(roles) | {"admin"}

    def dependency(user: SessionInfo = Depends(current_user)) -> SessionInfo:
        if user.role not in allowed:
            raise HTTPException(status_code=403, detail="your role does not allow this page")
        return user

    dependency.__name__ = f"require_role_{'_'.join(sorted(allowed))}"
    return dependency


def require_key_holder(user: SessionInfo = Depends(current_user)) -> SessionInfo:
    """Only the key holder may re-identify pseudonyms."""
    if not user.is_key_holder:
        raise HTTPException(status_code=403, detail="only the key holder can re-identify")
    return user


async def csrf_protect(request: Request) -> None:
    """Refuse state-changing requests that do not carry this session's CSRF token (403).

    Before log-in there is no session, so the log-in form uses a double-submit token: a random value in a
    SameSite=Strict cookie that the form must echo.
    """
    if request.method in SAFE_METHODS:
        return
    if not _same_origin(request):
        raise HTTPException(status_code=403, detail="cross-origin request refused")
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FORM_FIELD)
            sent = value if isinstance(value, str) else None
    user = optional_user(request)
    expected = user.csrf_token if user is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(status_code=403, detail="missing or invalid CSRF token")


def _same_origin(request: Request) -> bool:
    """Reject requests whose Origin header names another site (defence in depth next to the token)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        # Absent (non-browser clients) or opaque (privacy settings): the token check alone decides.
        return True
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def csrf_token_for(request: Request) -> str:
    """The token a page must embed: the session's, or (before log-in) the log-in cookie's."""
    user = optional_user(request)
    if user is not None:
        return user.csrf_token
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_login_csrf = token
    return token


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    """Set a cookie with the project's flags: HttpOnly, SameSite=Strict, Secure when configured."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=bool(request.app.state.settings.secure_cookies),
        path="/",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path="/",
        httponly=True,
        samesite="strict",
        secure=bool(request.app.state.settings.secure_cookies),
    )


def login_redirect_target(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


def safe_next(next_path: str | None) -> str:
    """Only same-site relative paths are followed after log-in (no open redirects)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//") or "\\" in next_path:
        return "/"
    return next_path


class LoginRateLimiter:
    """At most ``limit`` failed log-ins per client address per ``window`` seconds, across every worker.

    Complements the per-account lock-out (``pipeline.review.accounts``: ``MAX_FAILED_LOGINS`` failures in a
    row lock the account, a success clears them): this slows one address trying many usernames. Only
    failures count, so a team behind one office address can all log in at nine o'clock (issue 16): each
    attempt is recorded before the password is checked (so racing workers cannot overshoot the limit) and
    its row is deleted again when the password was right (``succeeded``). The attempts are
    rows in the database every server process shares (a count kept in one process's memory would give an
    address ``limit`` attempts per worker). An address already at its limit is refused by a plain read;
    otherwise the attempt is counted again and recorded under a write lock named after the address
    (``lock_writes``: per address on PostgreSQL, SQLite's single writer lock there), so two workers
    cannot both let the last allowed attempt through. Counts only look inside the window, so a clock
    stepping back cannot block an address (attempts more than a window ahead are ignored and deleted).

    What is kept: an HMAC of the address, keyed with ``secret_key`` (set it, the same on every worker;
    unset, the hash is unkeyed and an IPv4 address can be recovered by trying all of them), and the time.
    Attempts older than the window are deleted on each attempt and when the app starts (``prune``), so
    the table holds the last window of attempts at most (after a quiet spell, those of the last window
    before it, until the next attempt or restart).
    """

    def __init__(
        self, db_url: str | None, limit: int = 10, window: float = 60.0, *, secret: bytes | None = None
    ) -> None:
        self.db_url = db_url
        self.limit = limit
        self.window = window
        self.secret = secret

    def address_hash(self, key: str) -> str:
        return hmac.new(self.secret or b"qualcode-login", key.encode(), hashlib.sha256).hexdigest()

    def allow(self, key: str, *, now: dt.datetime | None = None) -> bool:
        """Record an attempt from ``key`` and say whether it may go ahead (a refused one is not recorded)."""
        return self.attempt(key, now=now) is not None

    def attempt(self, key: str, *, now: dt.datetime | None = None) -> int | None:
        """Record an attempt from ``key`` as a failure until ``succeeded`` says otherwise; returns its id,
        or ``None`` when the address is at its limit (a refused attempt is not recorded)."""
        now = utcnow() if now is None else now
        address = self.address_hash(key)
        with session_scope(self.db_url) as db:
            if self._recent(db, address, now) >= self.limit:
                return None
        with session_scope(self.db_url) as db:
            lock_writes(db, f"login_attempts:{address}")
            self._delete_old(db, now)
            if self._recent(db, address, now) >= self.limit:
                return None
            row = LoginAttempt(address_hash=address, attempted_at=now)
            db.add(row)
            db.flush()
            return row.id

    def succeeded(self, attempt_id: int) -> None:
        """The attempt's password was right: it no longer counts against its address."""
        with session_scope(self.db_url) as db:
            db.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt_id))

    def retry_after(self, key: str, *, now: dt.datetime | None = None) -> int:
        """Seconds until the oldest counted attempt from ``key`` leaves the window (0: not limited)."""
        now = utcnow() if now is None else now
        with session_scope(self.db_url) as db:
            oldest = db.scalar(
                select(func.min(LoginAttempt.attempted_at)).where(
                    LoginAttempt.address_hash == self.address_hash(key), *self._in_window(now)
                )
            )
        if oldest is None:
            return 0
        seconds = math.ceil((oldest + self._window - now).total_seconds())
        return min(max(1, seconds), math.ceil(self.window))

    def prune(self, *, now: dt.datetime | None = None) -> int:
        """Delete attempts older than the window; returns how many."""
        with session_scope(self.db_url) as db:
            return self._delete_old(db, utcnow() if now is None else now)

    def _recent(self, db: Session, address: str, now: dt.datetime) -> int:
        return int(
            db.scalar(
                select(func.count())
                .select_from(LoginAttempt)
                .where(LoginAttempt.address_hash == address, *self._in_window(now))
            )
            or 0
        )

    def _delete_old(self, db: Session, now: dt.datetime) -> int:
        result = db.execute(delete(LoginAttempt).where(~and_(*self._in_window(now))))
        return int(getattr(result, "rowcount", 0) or 0)

    def _in_window(self, now: dt.datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """Attempts that count at ``now``: within the last window, or up to one window ahead (workers'
        clocks differ a little; an attempt further ahead is from before the clock stepped back)."""
        return (
            LoginAttempt.attempted_at > now - self._window,
            LoginAttempt.attempted_at <= now + self._window,
        )

    @property
    def _window(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.window)
