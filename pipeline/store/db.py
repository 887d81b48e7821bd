"""Engine, sessions and migrations.

Why here: one place decides how we talk to the database. SQLite is put in WAL mode with a busy timeout
(several processes — the flow, the web app, the CLI — share it); PostgreSQL is used as given by its URL.
Migrations are applied with Alembic from code so that every command can bring a fresh database up to
date (``ensure_schema``).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.settings import Settings, get_settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


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
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with the project's connection policy."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True)


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the settings' database), cached per URL."""
    return make_engine(url or get_settings().resolved_database_url)


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextlib.contextmanager
def session_scope(url: str | None = None, *, immediate: bool = False) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error.

    ``immediate=True`` takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``) so read-then-write
    sequences such as handing out a review lease cannot interleave; on PostgreSQL it is a no-op (use
    ``SELECT ... FOR UPDATE SKIP LOCKED`` there).
    """
    engine = get_engine(url)
    options = {"sqlite_begin": "IMMEDIATE"} if immediate and engine.dialect.name == "sqlite" else {}
    with Session(bind=engine.execution_options(**options), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


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
    connection = session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
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
