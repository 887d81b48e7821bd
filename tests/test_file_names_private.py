"""Issue 16: file names are personal data ("Interview - Jayden Marsh.docx").

No raw inbox file name may reach the audit log, the transcripts table, log lines, the outcomes returned
to Prefect, or Prefect's database. The stored safe name (anonymised when it names someone) or an opaque
content-hash reference is used instead; the original is kept only encrypted. A quarantined file may be
named on the operator's console (they need to find it), nowhere else. All data is SYNTHETIC.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import String, Text, select

from pipeline.settings import get_settings
from pipeline.store import session_scope
from pipeline.store.models import Base, Transcript
from tests.conftest import REPO_ROOT
from tests.test_flow_privacy import _name_part_leaks

pytestmark = pytest.mark.slow

#: SYNTHETIC people, named in the file names (and the first one in its text too).
STORED = "Interview - Jayden Marsh.txt"
QUARANTINED = "notes Kyle Pemberton.txt"
NAME_PARTS = ["Jayden", "Marsh", "Kyle", "Pemberton"]


def _fill(inbox: Path) -> None:
    (inbox / STORED).write_text(
        "Interviewer: How did the referral about Jayden Marsh start?\n"
        "Participant: The school called the MASH and we opened a Child Protection plan for Jayden Marsh.\n",
        encoding="utf-8",
    )
    (inbox / QUARANTINED).write_bytes(b"")  # empty: quarantined


def _database_text(url: str) -> str:
    """Every text and JSON value in every table, as one string."""
    parts: list[str] = []
    with session_scope(url) as session:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns
                    if isinstance(c.type, String | Text) or c.type.__class__.__name__ == "JSON"]
            for row in session.execute(select(*cols)).all() if cols else []:
                parts.extend(json.dumps(v) if not isinstance(v, str) else v for v in row if v is not None)
    return "\n".join(parts)


def test_no_raw_file_name_in_the_database_outcomes_or_logs(
    db_url: str, project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline.anonymise import load_keyring
    from pipeline.batch import run_batch

    monkeypatch.setenv("QUALCODE_RELEASE", "auto")
    inbox = project / "data" / "inbox"
    _fill(inbox)
    caplog.set_level(logging.DEBUG)
    summary = run_batch(inbox, get_settings())
    assert summary.files_done == 1 and summary.files_quarantined == 1, summary.outcomes

    leaks = _name_part_leaks(_database_text(db_url), NAME_PARTS)
    assert not leaks, f"file-name parts stored in the database: {leaks}"
    outcomes = json.dumps(summary.to_dict())
    assert not _name_part_leaks(outcomes, NAME_PARTS), outcomes
    # Log lines: the stored file is never named; the quarantined one only in its console refusal.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not _name_part_leaks(logged, ["Jayden", "Marsh"]), [
        r.getMessage() for r in caplog.records if "Marsh" in r.getMessage()
    ]
    with session_scope(db_url) as session:
        stored = session.scalars(select(Transcript).where(Transcript.status == "done")).one()
        token = stored.meta["source_name_encrypted"].encode("ascii")
        assert load_keyring(get_settings()).decrypt(token) == STORED, "the original is kept, encrypted"


@pytest.mark.prefect
def test_no_raw_file_name_reaches_prefect(tmp_path: Path) -> None:
    """The real flow (Prefect's embedded server, as in tests/test_flow_privacy.py): its database, logs and
    task results hold no part of a file name; the console may name the quarantined file."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _fill(inbox)
    prefect_home = tmp_path / "prefect"
    env = {
        **os.environ,
        "QUALCODE_DATABASE_URL": f"sqlite:///{tmp_path / 'qualcode.db'}",
        "QUALCODE_DATA_DIR": str(tmp_path / "data"),
        "QUALCODE_QUARANTINE_DIR": str(tmp_path / "quarantine"),
        "QUALCODE_MODELS_DIR": str(tmp_path / "models"),
        "QUALCODE_KEY_FILE": str(tmp_path / "qualcode.key"),
        "QUALCODE_RELEASE": "auto",
        "QUALCODE_LOG_LEVEL": "DEBUG",
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", str(inbox), "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["files_done"] == 1 and summary["files_quarantined"] == 1
    assert not _name_part_leaks(json.dumps(summary), NAME_PARTS), "task results carry a file name"
    leaked: dict[str, list[str]] = {}
    for path in prefect_home.rglob("*"):
        if path.is_file():
            found = _name_part_leaks(path.read_bytes().decode("utf-8", errors="ignore"), NAME_PARTS)
            if found:
                leaked[str(path.relative_to(prefect_home))] = found
    assert not leaked, f"file-name parts in Prefect's storage: {leaked}"
    assert not _name_part_leaks(_database_text(f"sqlite:///{tmp_path / 'qualcode.db'}"), NAME_PARTS)
