"""Persistence: models, engine/session handling, migrations and the audit trail."""

from pipeline.store.audit import audit
from pipeline.store.db import ensure_schema, get_engine, session_scope

__all__ = ["audit", "ensure_schema", "get_engine", "session_scope"]
