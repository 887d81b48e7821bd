"""Issue 16, write-lock contention: short write transactions, retries, 503 instead of 500, dead batches.

Found by testing: on SQLite a batch held the write lock for 34-45 s (it anonymised each file inside its
write transaction), coders got HTTP 500 "database is locked", and a batch that crashed at its agreement
snapshot left its ``batches`` row ``running`` forever. Every test runs on SQLite and PostgreSQL. All data
is SYNTHETIC.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from pipeline.settings import get_settings
from pipeline.store import db as store_db
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, Batch, Coding, Transcript
from tests.conftest import SAMPLE_DIR
from tests.e2e.http import current_item, logged_in
from tests.e2e.seed import fast_password_hashing, seed_all

HX = {"HX-Request": "true"}


def _sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


class HeldLock:
    """Another client holding the database's write lock (SQLite: ``BEGIN IMMEDIATE`` on a raw sqlite3
    connection; PostgreSQL: an exclusive lock on ``table``) until ``release`` (or after ``seconds``)."""

    def __init__(self, url: str, table: str = "batches") -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.conn = sqlite3.connect(_sqlite_path(url), isolation_level=None, check_same_thread=False)
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.engine = create_engine(url)
            self.conn = self.engine.connect()
            self.conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self.url.startswith("sqlite"):
            self.conn.execute("ROLLBACK")
            self.conn.close()
        else:
            self.conn.rollback()
            self.conn.close()
            self.engine.dispose()

    def release_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.release)
        timer.start()
        return timer


def _short_waits(monkeypatch: pytest.MonkeyPatch, url: str, wait: float = 0.4, postgres: bool = True) -> None:
    """Writers give up after ``wait`` seconds (attempts of 50 ms on SQLite); with ``postgres``, PostgreSQL's
    lock_timeout is ``wait`` too (a statement there waits for its lock, it cannot be retried alone)."""
    monkeypatch.setattr(store_db, "WRITE_WAIT_SECONDS", wait)
    monkeypatch.setattr(store_db, "WRITE_ATTEMPT_SECONDS", 0.05)
    if postgres:
        monkeypatch.setattr(store_db, "POSTGRES_LOCK_TIMEOUT_MS", int(wait * 1000))
    store_db.get_engine(url).dispose()
    store_db.get_engine.cache_clear()  # new connections pick up the PostgreSQL lock timeout


# --------------------------------------------------------------------------------------------------
# Retry with backoff
# --------------------------------------------------------------------------------------------------
def test_a_writer_that_finds_the_database_locked_retries_and_succeeds(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _short_waits(monkeypatch, db_url, wait=0.2, postgres=False)
    held = HeldLock(db_url)
    held.release_after(0.8)  # longer than one attempt (and than the default wait here): only retries get in
    started = time.monotonic()
    with session_scope(db_url, immediate=True, wait=10.0) as session:
        session.add(Batch(status="done"))
        session.flush()
    assert time.monotonic() - started >= 0.5, "the writer should have waited for the lock"
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 1


def test_a_writer_that_cannot_get_the_lock_in_time_raises_a_lock_contention_error(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _short_waits(monkeypatch, db_url, wait=0.3)
    held = HeldLock(db_url)
    try:
        with pytest.raises(OperationalError) as caught:
            with session_scope(db_url, immediate=True) as session:
                session.add(Batch(status="done"))
                session.flush()
        assert store_db.is_lock_contention(caught.value)
    finally:
        held.release()


def test_the_batch_start_waits_for_a_lock_held_longer_than_one_attempt(
    db_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.batch import start_batch

    _short_waits(monkeypatch, db_url, wait=0.2, postgres=False)
    held = HeldLock(db_url)
    held.release_after(0.8)
    batch_id = start_batch(get_settings())
    with session_scope(db_url) as session:
        assert session.get(Batch, batch_id).status == "running"


# --------------------------------------------------------------------------------------------------
# The web app: 503 + Retry-After, never 500
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def client(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    fast_password_hashing(monkeypatch)
    from pipeline.review.queue import enqueue_suggestions
    from pipeline.web.app import create_app

    with session_scope(db_url) as session:
        seed_all(session, coders=2, leads=1)
    with session_scope(db_url) as session:
        enqueue_suggestions(session)
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_decision_during_a_held_write_lock_gets_503_with_retry_after_and_saves_on_retry(
    client: TestClient, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = logged_in(client, "coder1")
    item_id, version, _ = current_item(client.get("/review").text)
    _short_waits(monkeypatch, db_url, wait=0.3)
    form = {"version": version, "action": "accept", "certainty": "4"}
    held = HeldLock(db_url, table="review_items")
    try:
        busy = client.post(f"/review/items/{item_id}", data=form, headers={"X-CSRF-Token": token, **HX})
    finally:
        held.release()
    assert busy.status_code == 503, busy.text[:300]
    assert int(busy.headers["Retry-After"]) > 0
    assert "busy" in busy.text and "Nothing was saved" in busy.text
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Coding).where(Coding.coder == "coder1")) == 0
    again = client.post(f"/review/items/{item_id}", data=form, headers={"X-CSRF-Token": token, **HX})
    assert again.status_code == 200
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Coding).where(Coding.coder == "coder1")) == 1


def test_the_review_script_resends_a_decision_answered_503() -> None:
    script = (Path(__file__).resolve().parents[1] / "pipeline" / "web" / "static" / "review.js").read_text()
    assert "xhr.status !== 503" in script and "Retry-After" in script


# --------------------------------------------------------------------------------------------------
# Dead batches and failure-tolerant last steps
# --------------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_running_batch_whose_process_is_gone_is_marked_failed_by_the_next_run(
    db_url: str, project: Path
) -> None:
    from pipeline.batch import process_owner, start_batch

    with session_scope(db_url) as session:
        dead = Batch(status="running", owner=process_owner(_dead_pid()))
        alive = Batch(status="running", owner=process_owner())
        elsewhere = Batch(status="running", owner="another-host.example:4242:1")
        session.add_all([dead, alive, elsewhere])
        session.flush()
        ids = dead.id, alive.id, elsewhere.id
    new_id = start_batch(get_settings())
    with session_scope(db_url) as session:
        rows = {b.id: b for b in session.scalars(select(Batch)).all()}
        assert rows[ids[0]].status == "failed" and "gone" in (rows[ids[0]].error or "")
        assert rows[ids[0]].finished_at is not None
        assert rows[ids[1]].status == "running", "a live batch of this host is left alone"
        assert rows[ids[2]].status == "running", "another host's batch cannot be checked from here"
        assert rows[new_id].status == "running" and rows[new_id].owner == process_owner()
        audited = session.scalars(select(AuditLog.entity_id).where(AuditLog.action == "batch.abandoned")).all()
        assert [str(a) for a in audited] == [str(ids[0])]


def test_an_agreement_snapshot_that_fails_is_a_problem_in_the_summary_not_a_running_batch(
    db_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import batch

    def locked(*_args: object, **_kwargs: object) -> list[str]:
        raise OperationalError("INSERT INTO agreement_snapshots", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(batch, "agreement_alerts", locked)
    summary = batch.run_batch(project / "data" / "inbox", get_settings())
    assert any("agreement snapshot failed" in p for p in summary.problems), summary.problems
    with session_scope(db_url) as session:
        row = session.get(Batch, summary.batch_id)
        assert row.status == "done" and "agreement snapshot" in (row.error or "")


def test_a_batch_that_stops_on_an_error_is_marked_failed(
    db_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import batch

    def broken(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("Gwendolyn said so")  # SYNTHETIC words a message might quote

    monkeypatch.setattr(batch, "embed_pending", broken)
    with pytest.raises(RuntimeError):
        batch.run_batch(project / "data" / "inbox", get_settings())
    with session_scope(db_url) as session:
        row = session.scalars(select(Batch)).one()
        assert row.status == "failed" and row.error and "RuntimeError" in row.error
        assert "Gwendolyn" not in row.error


# --------------------------------------------------------------------------------------------------
# Short transactions: no file is anonymised while the write lock is held
# --------------------------------------------------------------------------------------------------
def _write_lock_taken(url: str) -> bool:
    """Is a write transaction open in another connection right now?"""
    if url.startswith("sqlite"):
        probe = sqlite3.connect(_sqlite_path(url), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            )))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_no_file_is_anonymised_inside_a_write_transaction(
    db_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import batch
    from pipeline.anonymise.anonymiser import Anonymiser

    monkeypatch.setenv("QUALCODE_RELEASE", "auto")
    inbox = project / "data" / "inbox"
    for name in ("site_a_social_worker_01.txt", "site_b_team_manager_03.txt"):
        shutil.copy(SAMPLE_DIR / name, inbox / name)
    # SYNTHETIC: a new person in every file, so anonymising gives out new pseudonyms.
    (inbox / "extra_interview.txt").write_text(
        "Interviewer: Who made the referral?\nParticipant: Gwendolyn Throssell from the school rang us.\n",
        encoding="utf-8",
    )
    real = Anonymiser.anonymise_document
    inside: list[bool] = []

    def watched(self, raw, *args, **kwargs):  # type: ignore[no-untyped-def]
        doc = real(self, raw, *args, **kwargs)
        inside.append(_write_lock_taken(db_url))  # after it gave out its pseudonyms
        return doc

    monkeypatch.setattr(Anonymiser, "anonymise_document", watched)
    summary = batch.run_batch(inbox, get_settings())
    assert summary.files_done == 3, [(o.name, o.reason) for o in summary.outcomes]
    assert len(inside) == 3
    assert sum(inside) == 0, f"{sum(inside)} of {len(inside)} files were anonymised inside a write transaction"
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Transcript)) == 3
