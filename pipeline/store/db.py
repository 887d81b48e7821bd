"""Engine, sessions and migrations.

Why here: one place decides how we talk to the database. SQLite is put in WAL mode with a busy timeout
(several processes — the flow, the web app, the CLI — share it); PostgreSQL is used as given by its URL.
Migrations are applied with Alembic from code so that every command can bring a fresh database up to
date (``ensure_schema``).

Write locks (issue 16): SQLite has one writer at a time, so every writer keeps its transaction short
(slow work — anonymising, embedding, scoring — happens before it, outside any transaction that writes)
and a writer that finds the lock taken waits: SQLite's busy timeout per attempt, then
``session_scope(immediate=True)`` tries ``BEGIN IMMEDIATE`` again with exponential backoff until
``WRITE_WAIT_SECONDS`` have passed. A writer that still cannot get the lock raises the
``OperationalError``; the web app answers it with 503 and ``Retry-After`` (``is_lock_contention``).
Every immediate transaction is timed (``timed_write``) and logged at DEBUG with how long it held the lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from pipeline.fileperms import private_folder, tighten
from pipeline.settings import Settings, get_settings

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How long a writer waits for the write lock in all (busy timeouts and backoff together) before it gives
#: up. A web request that gives up is answered 503 with ``Retry-After: WRITE_RETRY_AFTER_SECONDS``.
WRITE_WAIT_SECONDS = 20.0
#: The batch has no one waiting on a page, so its writers wait longer before a stage gives up.
BATCH_WRITE_WAIT_SECONDS = 120.0
#: SQLite's busy timeout for one attempt at ``BEGIN IMMEDIATE`` (at most; never past the deadline).
WRITE_ATTEMPT_SECONDS = 5.0
#: First pause between attempts; doubled after each (with jitter), up to ``WRITE_BACKOFF_MAX_SECONDS``.
WRITE_BACKOFF_FIRST_SECONDS = 0.05
WRITE_BACKOFF_MAX_SECONDS = 2.0
WRITE_RETRY_AFTER_SECONDS = 5
#: PostgreSQL: a statement waiting longer than this for a lock fails (SQLSTATE 55P03) instead of hanging.
POSTGRES_LOCK_TIMEOUT_MS = 20_000
#: SQLSTATEs of lock contention on PostgreSQL: lock not available (lock_timeout), deadlock, serialization.
_PG_LOCK_STATES = frozenset({"55P03", "40P01", "40001"})


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    # pysqlite's own transaction handling is switched off (see make_engine); emit BEGIN ourselves so a
    # caller can ask for BEGIN IMMEDIATE (write lock up front) through execution options.
    options = conn.get_execution_options()
    mode = options.get("sqlite_begin", "DEFERRED")
    busy_ms = options.get("sqlite_busy_ms")
    if busy_ms is not None:  # this attempt's share of the writer's wait (see session_scope)
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_ms)}")
    try:
        conn.exec_driver_sql(f"BEGIN {mode}")
    finally:
        if busy_ms is not None:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite file owner-only (0600) in owner-only folders (0700), or tighten an existing one.

    Why: the database holds anonymised text, the audit log and account hashes; SQLite would create it
    with the umask's mode (usually world-readable). An empty file is a valid new database, so creating
    it here with ``O_EXCL`` and mode 0600 decides its mode; SQLite gives its ``-wal``, ``-shm`` and
    ``-journal`` files the database file's mode. Folders that already exist are left alone (they may
    be shared on purpose); an existing file more open than 0600 is tightened with a warning.
    """
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600))
        return
    except FileExistsError:
        pass
    for item in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        tighten(item, "database file")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the project's connection policy."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_sqlite_file(Path(path))
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True,
        # A writer waiting on a row lock fails after this (SQLSTATE 55P03: the web app answers 503) instead of
        # hanging a request; the batch's transactions are short, so nobody should wait that long.
        connect_args={"options": f"-c lock_timeout={POSTGRES_LOCK_TIMEOUT_MS}"} if url.startswith("postgresql") else {},
    )


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the settings' database), cached per URL."""
    return make_engine(url or get_settings().resolved_database_url)


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextlib.contextmanager
def session_scope(
    url: str | None = None, *, immediate: bool = False, wait: float | None = None, label: str = "write"
) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error.

    ``immediate=True`` takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``) so read-then-write
    sequences such as handing out a review lease cannot interleave; on PostgreSQL it is a no-op (use
    ``SELECT ... FOR UPDATE SKIP LOCKED`` there). On SQLite the lock is taken before the body runs, with
    retries and backoff for up to ``wait`` seconds (default ``WRITE_WAIT_SECONDS``): once it is held no
    statement of the body can fail as "database is locked", so retrying the BEGIN is all it takes. Keep
    the body short: everything slow belongs before it. The time the lock was held is logged at DEBUG
    under ``label``.
    """
    engine = get_engine(url)
    sqlite_write = immediate and engine.dialect.name == "sqlite"
    options = {"sqlite_begin": "IMMEDIATE"} if sqlite_write else {}
    with Session(bind=engine.execution_options(**options), expire_on_commit=False) as session:
        if sqlite_write:
            begin_write(session, WRITE_WAIT_SECONDS if wait is None else wait)
        with timed_write(label) if sqlite_write else contextlib.nullcontext():
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


def is_lock_contention(exc: BaseException) -> bool:
    """True for "the database is busy, try again later": SQLite's locked/busy, PostgreSQL's lock timeout,
    deadlock or serialization failure. Why: these deserve a retry (or 503), not a 500."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _PG_LOCK_STATES or getattr(orig, "pgcode", None) in _PG_LOCK_STATES:
        return True
    message = str(orig if orig is not None else exc).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in message or "database is busy" in message
                                                  or "lock timeout" in message)


def begin_write(session: Session, wait: float = WRITE_WAIT_SECONDS) -> None:
    """Begin ``session``'s transaction with SQLite's write lock, retrying with exponential backoff.

    Each attempt lets SQLite's busy handler wait up to ``WRITE_ATTEMPT_SECONDS`` (never past the
    deadline); between attempts the writer sleeps 50 ms, 100 ms, ... up to 2 s, with jitter so that
    waiting writers do not retry in lockstep. After ``wait`` seconds the last ``OperationalError`` is
    raised (the web app turns it into 503 + Retry-After). On PostgreSQL this only begins the transaction.
    """
    deadline = time.monotonic() + wait
    delay = WRITE_BACKOFF_FIRST_SECONDS
    attempt = 0
    while True:
        attempt += 1
        remaining = max(0.0, deadline - time.monotonic())
        busy_ms = int(min(remaining, WRITE_ATTEMPT_SECONDS) * 1000)
        try:
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE", "sqlite_busy_ms": busy_ms})
            if attempt > 1:
                log.debug("write lock acquired after %d attempt(s)", attempt)
            return
        except OperationalError as exc:
            session.rollback()
            if not is_lock_contention(exc) or time.monotonic() + delay >= deadline:
                log.warning("write lock not acquired after %d attempt(s) in %.1fs", attempt, wait)
                raise
            time.sleep(delay * random.uniform(0.5, 1.0))  # jitter, not cryptography
            delay = min(delay * 2, WRITE_BACKOFF_MAX_SECONDS)


class WriteTimings:
    """The longest write-lock hold seen in this process, per label (for measurements and debugging)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.longest: dict[str, float] = {}
        self.count = 0

    def record(self, label: str, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self.longest[label] = max(self.longest.get(label, 0.0), seconds)

    def reset(self) -> None:
        with self._lock:
            self.longest.clear()
            self.count = 0


write_timings = WriteTimings()


@contextlib.contextmanager
def timed_write(label: str) -> Iterator[None]:
    """Time a section that holds the write lock; log it at DEBUG and keep the longest per label.

    Why: issue 16 found batch transactions holding SQLite's lock for 34-45 s; this makes a long hold
    visible (``QUALCODE_LOG_LEVEL=DEBUG``) without a profiler.
    """
    started = time.perf_counter()
    try:
        yield
    finally:
        held = time.perf_counter() - started
        write_timings.record(label, held)
        log.debug("write lock held %.3fs (%s)", held, label)


def lock_writes(session: Session, name: str) -> None:
    """Begin the session's next transaction holding a write lock called ``name``, across processes.

    Why: a read-then-write section that must not interleave with the same section in another process
    (two retrains deciding which model is active). PostgreSQL takes a transaction-level advisory lock
    keyed by ``name``; the statements after it see everything committed before it was granted (READ
    COMMITTED takes a snapshot per statement). SQLite has one writer at a time, so the transaction begins
    with ``BEGIN IMMEDIATE``, which waits (busy timeout) for the database write lock. Both locks end
    with the transaction. Call it between transactions (after a commit), never in the middle of one.
    """
    if session.in_transaction():
        raise RuntimeError("lock_writes must start a transaction: commit or roll back the session first")
    if session.get_bind().dialect.name == "sqlite":
        begin_write(session)  # BEGIN IMMEDIATE, retried with backoff
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(f"qualcode:{name}".encode()) - 2**31  # a signed 32-bit key, stable across runs
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def ensure_schema(settings: Settings | None = None, url: str | None = None) -> str:
    """Apply all migrations to the configured database (idempotent). Returns the URL used."""
    url = url or (settings or get_settings()).resolved_database_url
    engine = get_engine(url)
    with engine.begin() as connection:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")
    return url


def table_names(url: str | None = None) -> list[str]:
    return inspect(get_engine(url)).get_table_names()


def safe_url(url: str) -> str:
    """The URL with any password masked, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
