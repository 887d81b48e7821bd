"""Request-scoped dependencies shared by every view: settings and a database session.

Why a session per request (and not one per app): each request is one transaction, committed when the view
returns, so a decision and its audit row land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from pipeline.settings import Settings
from pipeline.store.db import session_scope


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (``create_app(settings)``)."""
    return request.app.state.settings


def db_url(request: Request) -> str:
    return request.app.state.db_url


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed after the view returns, rolled back on error."""
    with session_scope(db_url(request)) as session:
        yield session


#: Use as a parameter type: ``def view(db: DB)``. ``scope="function"`` makes the commit happen before the
#: response is sent, so a client that sees the response can rely on the change being stored.
DB = Annotated[Session, Depends(get_db, scope="function")]
