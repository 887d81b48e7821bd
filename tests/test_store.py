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


def test_migrations_match_the_models(db_url: str) -> None:
    """Alembic's autogenerate finds nothing to add: every model change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from pipeline.store.models import Base

    with get_engine(db_url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_the_database_refuses_a_second_active_model(db_url: str) -> None:
    """At most one active model version, whatever the code does (partial unique index)."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from pipeline.store.models import ModelVersion

    def version(name: str, active: bool) -> ModelVersion:
        return ModelVersion(version=name, path=f"/m/{name}", embedding_model="e", is_active=active)

    with session_scope(db_url) as s:
        s.add_all([version("a", True), version("b", False), version("c", False)])  # inactive ones: any number
    with pytest.raises(IntegrityError), session_scope(db_url) as s:
        s.add(version("d", True))
    with session_scope(db_url) as s:
        assert s.scalars(select(ModelVersion.version).where(ModelVersion.is_active.is_(True))).all() == ["a"]


def test_lock_writes_serialises_the_same_section_across_sessions(db_url: str) -> None:
    """The second holder gets the lock only after the first commits, and then sees what it wrote."""
    import threading
    import time

    from pipeline.store.db import lock_writes

    events: list[str] = []
    first_has_lock = threading.Event()

    def first() -> None:
        with session_scope(db_url) as s:
            lock_writes(s, "test-section")
            first_has_lock.set()
            time.sleep(0.5)
            audit(s, "first", "test.lock", "lock", "1")
            events.append("first commits")

    thread = threading.Thread(target=first)
    thread.start()
    assert first_has_lock.wait(10)
    with session_scope(db_url) as s:
        lock_writes(s, "test-section")
        events.append("second has lock")
        seen = s.scalars(select(AuditLog.actor).where(AuditLog.action == "test.lock")).all()
    thread.join()
    assert events == ["first commits", "second has lock"] and seen == ["first"]


def test_migration_0002_keeps_the_newest_of_several_active_models(db_url: str) -> None:
    """A database where a race left two models active upgrades cleanly, keeping the newest one active."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from pipeline.store.db import alembic_config
    from pipeline.store.models import ModelVersion

    with get_engine(db_url).begin() as connection:
        cfg = alembic_config(db_url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0001")
    with get_engine(db_url).begin() as connection:
        for name, day in (("old", 1), ("new", 2), ("older", 0)):
            connection.execute(
                text(
                    "INSERT INTO model_versions (version, path, embedding_model, card, stale_codes, is_active, "
                    "created_at) VALUES (:v, :p, 'e', '{}', '[]', :a, :c)"
                ),
                {"v": name, "p": f"/m/{name}", "a": True, "c": dt.datetime(2026, 11, 1 + day)},
            )
    ensure_schema(url=db_url)
    with session_scope(db_url) as s:
        assert s.scalars(select(ModelVersion.version).where(ModelVersion.is_active.is_(True))).all() == ["new"]
