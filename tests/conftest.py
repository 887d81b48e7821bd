"""Shared fixtures.

Databases: every test that takes ``db_url`` runs once on SQLite and once on PostgreSQL. PostgreSQL needs
``QUALCODE_TEST_POSTGRES_URL`` (an admin URL such as ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``;
``.ci/run`` and ``make test`` start a local server and set it). Without it the PostgreSQL half skips with a
message, except under CI where a missing server is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = Path(os.environ.get("QUALCODE_EVAL_DIR", REPO_ROOT.parent / "shared" / "eval")).resolve()
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
CODEBOOK_PATH = REPO_ROOT / "codebook" / "prevent_csc.yaml"

os.environ.setdefault("QUALCODE_HOME", str(REPO_ROOT))
# Nothing may phone home, whatever a library's default.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("QUALCODE_INGEST_SETTLE_SECONDS", "0")  # tests write inbox files a moment before a run


def eval_path(*parts: str) -> Path:
    """Path inside ../shared/eval, skipping the test with a clear message when it is absent."""
    path = EVAL_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared eval data not found at {path}; skipping (see ../shared/eval/README.md)")
    return path


def _postgres_admin_url() -> str | None:
    return os.environ.get("QUALCODE_TEST_POSTGRES_URL")


def _create_postgres_db(admin_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"qc_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return url, name


def _drop_postgres_db(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated database on each backend; also exported as QUALCODE_DATABASE_URL."""
    from pipeline.settings import reset_settings
    from pipeline.store.db import ensure_schema, get_engine

    name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'qualcode.db'}"
    else:
        admin = _postgres_admin_url()
        if not admin:
            if os.environ.get("CI"):
                pytest.fail("QUALCODE_TEST_POSTGRES_URL is not set under CI: .ci/run must start PostgreSQL")
            pytest.skip("PostgreSQL not configured (set QUALCODE_TEST_POSTGRES_URL); SQLite half still runs")
        url, name = _create_postgres_db(admin)
    monkeypatch.setenv("QUALCODE_DATABASE_URL", url)
    reset_settings()
    ensure_schema(url=url)
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()
    if name:
        _drop_postgres_db(_postgres_admin_url() or "", name)
    reset_settings()


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated SQLite database only (for tests that are not about the backend)."""
    from pipeline.settings import reset_settings
    from pipeline.store.db import ensure_schema, get_engine

    url = f"sqlite:///{tmp_path / 'qualcode.db'}"
    monkeypatch.setenv("QUALCODE_DATABASE_URL", url)
    reset_settings()
    ensure_schema(url=url)
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()
    reset_settings()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated project folder: data/, inbox, quarantine and models under tmp_path.

    Combine with ``db_url`` (or ``sqlite_url``) for the database. Sets the environment so every
    command and library call in the test sees this project only.
    """
    from pipeline.settings import reset_settings

    for sub in ("data", "data/inbox", "data/quarantine", "models"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("QUALCODE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUALCODE_INBOX", str(tmp_path / "data" / "inbox"))
    monkeypatch.setenv("QUALCODE_QUARANTINE_DIR", str(tmp_path / "data" / "quarantine"))
    monkeypatch.setenv("QUALCODE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("QUALCODE_CODEBOOK_PATH", str(CODEBOOK_PATH))
    monkeypatch.setenv("QUALCODE_KEY_FILE", str(tmp_path / "qualcode.key"))
    reset_settings()
    return tmp_path


class _NoNetwork(socket.socket):
    def connect(self, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return super().connect(address)
        if self.family == socket.AF_UNIX:
            return super().connect(address)
        raise OSError(f"network access attempted to {host!r} (forbidden in qualcode tests)")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a non-loopback connection (DNS look-ups included)."""

    def _refuse_dns(*args, **kwargs):  # type: ignore[no-untyped-def]
        host = args[0] if args else kwargs.get("host")
        if host in ("localhost", "127.0.0.1", "::1", None):
            return _real_getaddrinfo(*args, **kwargs)
        raise OSError(f"DNS look-up attempted for {host!r} (forbidden in qualcode tests)")

    _real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "socket", _NoNetwork)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse_dns)
