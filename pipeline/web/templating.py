"""Jinja2 templates and the context every page gets (user, CSRF token, flash messages, nav).

Views call ``render(request, "page.html", key=value)``. Templates extend ``base.html`` and get
``user``, ``csrf_token``, ``csrf_field()`` and ``flashes`` without passing them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from pipeline.web.auth import CSRF_FORM_FIELD, LOGIN_CSRF_COOKIE, csrf_token_for, optional_user, set_cookie

TEMPLATES_DIR = Path(__file__).with_name("templates")
FLASH_COOKIE = "qualcode_flash"
FLASH_LEVELS = ("info", "success", "warning", "error")

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """Render a template with the common context; sets the log-in CSRF cookie on first visit."""
    token = csrf_token_for(request)
    base = {
        "user": optional_user(request),
        "csrf_token": token,
        "csrf_field": lambda: _csrf_field(token),
        "flashes": _read_flashes(request),
        "nav_links": request.app.state.nav_links,
        "current_path": request.url.path,
    }
    base.update(context)
    response = templates.TemplateResponse(request, name, base, status_code=status_code)
    new_login_token = getattr(request.state, "new_login_csrf", None)
    if new_login_token:
        set_cookie(request, response, LOGIN_CSRF_COOKIE, new_login_token, max_age=3600)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def flash(request: Request, response: Response, message: str, level: str = "info") -> None:
    """Show ``message`` on the next page rendered (after a redirect). Never put transcript text here."""
    if level not in FLASH_LEVELS:
        level = "info"
    payload = base64.urlsafe_b64encode(json.dumps([[level, message]]).encode()).decode()
    set_cookie(request, response, FLASH_COOKIE, payload, max_age=60)


def _read_flashes(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return [(str(level), str(text)) for level, text in items if level in FLASH_LEVELS][:5]
    except (ValueError, TypeError):
        return []


def _csrf_field(token: str) -> Markup:
    """The hidden form field carrying the CSRF token (the token is escaped; the rest is a constant)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FORM_FIELD, token)
