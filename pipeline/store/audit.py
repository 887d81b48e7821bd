"""The audit trail: one row per change, written in the same transaction as the change itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from pipeline.store.models import AuditLog


def audit(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    **details: Any,
) -> AuditLog:
    """Add an audit row to ``session`` (committed with the caller's transaction).

    ``details`` must hold ids, counts, codes and versions only, never transcript text.
    """
    row = AuditLog(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        details=details,
    )
    session.add(row)
    return row
