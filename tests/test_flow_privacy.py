"""The real Prefect flow over the sample transcripts leaks no identifier anywhere it writes.

Runs ``qualcode run`` (Prefect's embedded server, in a subprocess with its own PREFECT_HOME) on every
synthetic sample transcript, then searches the database, the command's output and logs, and everything
Prefect stored (its database and result storage) for every identifier planted in the samples
(``data/sample/identifiers.json``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import String, Text, select

from pipeline.store import session_scope
from pipeline.store.models import Base, Transcript
from tests.conftest import REPO_ROOT, SAMPLE_DIR

pytestmark = [pytest.mark.slow, pytest.mark.prefect]


def planted_identifiers() -> list[str]:
    data = json.loads((SAMPLE_DIR / "identifiers.json").read_text(encoding="utf-8"))
    values: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            values.append(node)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data.get("identifiers", data) if isinstance(data, dict) else data)
    return sorted({v.strip() for v in values if len(v.strip()) >= 3})


def planted_name_parts() -> list[str]:
    """Surnames and first names of planted people on their own: masking "Imran" but not "Siddiqui" leaks."""
    data = json.loads((SAMPLE_DIR / "identifiers.json").read_text(encoding="utf-8"))
    parts: set[str] = set()
    for per_file in data["identifiers"].values():
        for name in per_file.get("PERSON", []):
            parts.update(re.findall(r"[A-Z][a-z']{3,}(?:-[A-Z][a-z']+)?", name))
    return sorted(parts)


def _name_part_leaks(haystack: str, parts: list[str]) -> list[str]:
    # case-sensitive: a capitalised name part, not the same word used in lower case ("green light")
    return [p for p in parts if re.search(r"(?<![\w])" + re.escape(p) + r"(?![\w])", haystack)]


def _pattern(identifier: str) -> re.Pattern[str]:
    # whole-word, case-insensitive: "Kyle" must not hide as "kyle", but "Jo" inside "Journey" is fine
    return re.compile(r"(?<![\w])" + re.escape(identifier) + r"(?![\w])", re.IGNORECASE)


def _leaks(haystack: str, identifiers: list[str]) -> list[str]:
    return [i for i in identifiers if _pattern(i).search(haystack)]


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("privacy")
    inbox = root / "inbox"
    shutil.copytree(SAMPLE_DIR, inbox, ignore=shutil.ignore_patterns("*.json", "README*"))
    prefect_home = root / "prefect"
    db = root / "qualcode.db"
    env = {
        **os.environ,
        "QUALCODE_DATABASE_URL": f"sqlite:///{db}",
        "QUALCODE_DATA_DIR": str(root / "data"),
        "QUALCODE_QUARANTINE_DIR": str(root / "quarantine"),
        "QUALCODE_MODELS_DIR": str(root / "models"),
        "QUALCODE_KEY_FILE": str(root / "qualcode.key"),
        "QUALCODE_LOG_LEVEL": "DEBUG",
        # About what the flow writes, not about holding: every sample goes through to the queue.
        "QUALCODE_RELEASE": "auto",
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", str(inbox)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"root": root, "db": db, "prefect_home": prefect_home, "stdout": proc.stdout, "stderr": proc.stderr,
            "url": f"sqlite:///{db}", "inbox": inbox}


def test_flow_processed_every_sample(flow_run: dict) -> None:
    with session_scope(flow_run["url"]) as s:
        statuses = s.scalars(select(Transcript.status)).all()
    samples = [p for p in SAMPLE_DIR.iterdir() if p.suffix.lower() in {".txt", ".docx", ".vtt", ".srt", ".pdf"}]
    assert len(statuses) == len(samples)
    assert set(statuses) == {"done"}
    assert "new files processed" in flow_run["stdout"]


def test_prefect_recorded_a_completed_flow_run(flow_run: dict) -> None:
    dbs = list(flow_run["prefect_home"].rglob("*.db"))
    assert dbs, "Prefect's embedded server database not found"
    con = sqlite3.connect(dbs[0])
    try:
        states = [r[0] for r in con.execute("select state_type from flow_run")]
    finally:
        con.close()
    assert "COMPLETED" in states


def test_no_identifier_in_the_database(flow_run: dict) -> None:
    identifiers = planted_identifiers()
    assert len(identifiers) >= 20, "the samples should plant many identifiers"
    parts = planted_name_parts()
    found: dict[str, list[str]] = {}
    with session_scope(flow_run["url"]) as s:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns
                    if isinstance(c.type, String | Text) or c.type.__class__.__name__ == "JSON"]
            if not cols:
                continue
            for row in s.execute(select(*cols)).all():
                blob = " ".join(json.dumps(v) if not isinstance(v, str) else v for v in row if v is not None)
                leaks = _leaks(blob, identifiers) + _name_part_leaks(blob, parts)
                if leaks:
                    found.setdefault(table.name, []).extend(leaks)
    assert not found, f"identifiers found in the database: { {k: sorted(set(v))[:10] for k, v in found.items()} }"


def test_no_identifier_in_output_logs_or_prefect_storage(flow_run: dict) -> None:
    identifiers = planted_identifiers()
    assert not _leaks(flow_run["stdout"] + flow_run["stderr"], identifiers)
    leaked_files = {}
    for path in flow_run["prefect_home"].rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="ignore")
            leaks = _leaks(text, identifiers)
            if leaks:
                leaked_files[str(path.relative_to(flow_run["prefect_home"]))] = leaks[:5]
    assert not leaked_files, f"identifiers in Prefect's storage: {leaked_files}"
    data_dir = flow_run["root"] / "data"
    if data_dir.exists():
        for path in data_dir.rglob("*"):
            if path.is_file() and path.suffix not in {".key"}:
                assert not _leaks(path.read_bytes().decode("utf-8", errors="ignore"), identifiers), path
