"""The schema migrates on both backends, constraints are named, and the audit trail works."""

from __future__ import annotations

from sqlalchemy import inspect, select

from pipeline.store import audit, ensure_schema, get_engine, session_scope
from pipeline.store.models import AuditLog, Segment, Transcript


def test_migrations_create_every_table_and_are_idempotent(db_url: str) -> None:
    ensure_schema(url=db_url)  # second run is a no-op
    names = set(inspect(get_engine(db_url)).get_table_names())
    for table in ("transcripts", "turns", "segments", "embeddings", "audit_log", "codings", "suggestions",
                  "review_items", "agreement_snapshots", "pseudonyms", "users"):
        assert table in names


def test_constraint_names_follow_the_convention(db_url: str) -> None:
    insp = inspect(get_engine(db_url))
    uniques = {u["name"] for u in insp.get_unique_constraints("transcripts")}
    assert "uq_transcripts_content_hash" in uniques
    assert insp.get_pk_constraint("segments")["name"] in ("pk_segments", None)  # SQLite does not report it


def test_cascade_and_audit_row(db_url: str) -> None:
    with session_scope(db_url) as s:
        t = Transcript(content_hash="h" * 64, source_name="a.txt", format="txt")
        t.segments.append(Segment(index=0, start_char=0, end_char=5, text="hello", text_hash="x" * 64))
        s.add(t)
        s.flush()
        audit(s, "test", "transcript.create", "transcript", t.id, segments=1)
    with session_scope(db_url) as s:
        row = s.scalars(select(AuditLog)).one()
        assert row.details == {"segments": 1} and row.entity_id is not None
        s.delete(s.scalars(select(Transcript)).one())
    with session_scope(db_url) as s:
        assert s.scalars(select(Segment)).all() == []


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    with get_engine(sqlite_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
