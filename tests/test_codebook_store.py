"""Stored codebook versions load back exactly as they were stored (SQLite and PostgreSQL).

The codebooks here are SYNTHETIC (``tests.test_suggest_synthetic``).
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from pipeline.codebook.store import active_codebook, codebook_row, store_codebook
from pipeline.errors import CodebookError
from pipeline.store.db import session_scope
from pipeline.store.models import CodebookVersion
from tests.test_suggest_synthetic import synthetic_codebook


def test_empty_theme_description_is_stored_and_loads_back(db_url: str) -> None:
    """Regression: a codebook with an empty theme description was stored but then could not be loaded."""
    book = synthetic_codebook()
    blank = dataclasses.replace(
        book, description="", themes=(dataclasses.replace(book.themes[0], description=""), *book.themes[1:])
    )
    with session_scope(db_url) as session:
        row = store_codebook(session, blank)
        stored_hash = row.content_hash
    with session_scope(db_url) as session:
        loaded = active_codebook(session)
        assert loaded == blank
        assert loaded.content_hash == stored_hash
        assert codebook_row(session, loaded).id == row.id


def test_a_codebook_that_could_not_be_loaded_back_is_not_stored(db_url: str) -> None:
    book = synthetic_codebook()
    code = book.themes[0].codes[0]
    theme = dataclasses.replace(
        book.themes[0], codes=(dataclasses.replace(code, definition=""), *book.themes[0].codes[1:])
    )
    broken = dataclasses.replace(book, themes=(theme, *book.themes[1:]))
    with pytest.raises(CodebookError, match=f"code '{code.id}' field 'definition' is empty"):
        with session_scope(db_url) as session:
            store_codebook(session, broken)
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(CodebookVersion)) == 0


def test_stored_hash_is_the_hash_of_what_loads_back(db_url: str) -> None:
    """Text padded with spaces (possible in a codebook built in code) is stored normalised, as it loads."""
    book = synthetic_codebook()
    code = book.themes[0].codes[0]
    theme = dataclasses.replace(
        book.themes[0],
        codes=(dataclasses.replace(code, definition=f"  {code.definition}  "), *book.themes[0].codes[1:]),
    )
    padded = dataclasses.replace(book, themes=(theme, *book.themes[1:]))
    with session_scope(db_url) as session:
        row = store_codebook(session, padded)
        assert active_codebook(session) == book
        assert row.content_hash == book.content_hash


def test_two_processes_storing_the_same_new_version_at_once_share_one_row(db_url: str) -> None:
    """The batch and a retrain on a new project may both store the configured codebook at once: the
    second waits for the first one's row and uses it instead of failing on the unique content hash.

    PostgreSQL only (SQLite has one writer at a time, so the two cannot overlap).
    """
    import threading
    import time

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from pipeline.store.db import get_engine
    from pipeline.store.models import AuditLog

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers; the race needs two concurrent PostgreSQL transactions")
    book = synthetic_codebook()
    engine = get_engine(db_url)
    first = Session(bind=engine, expire_on_commit=False)
    first_id = store_codebook(first, book).id  # inserted, not yet committed
    outcome: dict[str, object] = {}

    def second_process() -> None:
        try:
            with session_scope(db_url) as session:
                outcome["id"] = store_codebook(session, book).id
        except Exception as exc:  # reported to the main thread below
            outcome["error"] = exc

    worker = threading.Thread(target=second_process)
    worker.start()
    deadline = time.monotonic() + 60
    with engine.connect() as watcher:  # commit once the second insert waits on the first one's row
        while time.monotonic() < deadline and worker.is_alive():
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if watcher.execute(text(query)).scalar():
                break
            time.sleep(0.05)
    first.commit()
    first.close()
    worker.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["id"] == first_id
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(CodebookVersion)) == 1
        assert active_codebook(session) == book
        stored = session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "codebook.store"))
        assert stored == 1
