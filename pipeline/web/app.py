"""The web app factory.

Why discovery: every module in ``pipeline/web/views/`` that defines ``router`` (an ``APIRouter``) is
included automatically, so the review queue, the leads' dashboard and later pages never edit a shared file.
A view module may also define ``NAV = [NavLink(...)]`` (``pipeline.web.nav``) to add links to the top
navigation for some roles.

Every included router gets the CSRF check (``pipeline.web.auth.csrf_protect``); every response gets the
security headers below. Pages carry transcript text, so nothing but ``/static`` may be cached.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.errors import AuthError, ConflictError, PermissionDenied, ReviewError
from pipeline.settings import Settings, get_settings
from pipeline.store.db import WRITE_RETRY_AFTER_SECONDS, is_lock_contention
from pipeline.web import views
from pipeline.web.auth import LoginRateLimiter, LoginRequired, csrf_protect, login_redirect_target
from pipeline.web.nav import NavLink

__all__ = ["CONTENT_SECURITY_POLICY", "NavLink", "create_app"]

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).with_name("static")

#: No inline scripts or styles anywhere: every script and stylesheet is a file under /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

#: Deliberate errors a view may let through, and the status each answers with (their messages name ids and
#: fields, never transcript text). The most specific class wins: a ``ConflictError`` is a ``ReviewError``.
ERROR_STATUS: dict[type[Exception], int] = {
    ConflictError: 409,  # someone (or an earlier submission) changed it first
    ReviewError: 422,  # a decision or resolution that cannot be saved as sent
    PermissionDenied: 403,
    AuthError: 401,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: the process settings). The database must be migrated."""
    settings = settings or get_settings()
    app = FastAPI(title="qualcode", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.db_url = settings.resolved_database_url
    secret = settings.secret_key.get_secret_value().encode() if settings.secret_key else None
    app.state.login_limiter = LoginRateLimiter(app.state.db_url, secret=secret)
    app.state.nav_links = []

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    _include_views(app)
    app.state.nav_links.sort(key=lambda link: (link.order, link.label))

    app.middleware("http")(_security_headers)
    _install_error_handlers(app)
    return app


def _include_views(app: FastAPI) -> None:
    for info in sorted(pkgutil.iter_modules(views.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{views.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if router is None:
            continue
        app.include_router(router, dependencies=[Depends(csrf_protect)])
        app.state.nav_links.extend(getattr(module, "NAV", []))


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.app.state.settings.secure_cookies:
        # Served over HTTPS (that is what secure cookies mean here): browsers must not fall back to HTTP.
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
    else:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        target = login_redirect_target(exc.next_path)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.method in ("GET", "HEAD"):
            return RedirectResponse(target, status_code=303)
        return Response("login required", status_code=401, media_type="text/plain")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_page(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default answer echoes every submitted value back as JSON; a form field may hold a note
        # with transcript wording, so only the names of the offending fields are shown.
        return _error_page(request, 422, _invalid_fields_message(exc))

    for error_type, status in ERROR_STATUS.items():
        app.add_exception_handler(error_type, _answer_with(status))

    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: OperationalError) -> Response:
        # A writer that waited its full share (store.db.begin_write) for a lock the batch or another
        # coder held: nothing was saved, and trying again shortly will work. 503 + Retry-After says so
        # (review.js retries the decision by itself and keeps the coder's choice on the page); a 500
        # would say the server is broken. Other operational errors are unexpected.
        if not is_lock_contention(exc):
            logger.error("database error in %s %s: %s", request.method, request.url.path, type(exc).__name__)
            return _with_security_headers(_error_page(request, 500, "something went wrong; the error was logged"))
        logger.warning("database busy in %s %s: answered 503", request.method, request.url.path)
        return _with_security_headers(_error_page(
            request, 503, "The database is busy (a batch is writing). Nothing was saved; trying again shortly.",
            {"Retry-After": str(WRITE_RETRY_AFTER_SECONDS)},
        ))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Runs outside the header middleware (Starlette's outermost error layer), so the page sets the
        # security headers itself; the exception's text (it may quote data) never reaches the browser.
        return _with_security_headers(_error_page(request, 500, "something went wrong; the error was logged"))


def _with_security_headers(response: Response) -> Response:
    """Headers the middleware would have set (error handlers for ``Exception`` run outside it)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Cache-Control"] = "no-store"
    return response


def _answer_with(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        return _error_page(request, status, str(exc))

    return handler


def _error_page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    from pipeline.web.templating import render

    if request.headers.get("hx-request"):
        # htmx swaps the fragment into the page's alert region (see static/app.js).
        return HTMLResponse(
            f'<div class="alert alert-error" role="alert">{_escape(message)}</div>',
            status_code=status,
            headers=headers,
        )
    try:
        response = render(request, "error.html", status_code=status, status=status, message=message)
    except Exception:  # the error page must never fail; fall back to plain text
        logger.exception("error page failed to render (status %s)", status)
        response = Response(message, status_code=status, media_type="text/plain")
    if headers:
        response.headers.update(headers)
    return response


def _invalid_fields_message(exc: RequestValidationError) -> str:
    """'invalid request: segment_id, note' -- field names only, never the values sent."""
    names = sorted({str(error.get("loc", ("?",))[-1]) for error in exc.errors()})
    return "invalid request: check " + ", ".join(names) if names else "invalid request"


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
