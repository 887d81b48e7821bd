"""The batch run end to end on real components: readers, Presidio, MiniLM, the database.

Covers: idempotency (a second run does no work and creates no duplicates), interruption at any point and
resume to completion (a real process killed mid-batch), quarantine of bad files without losing stored
work, and both database backends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.batch import run_batch
from pipeline.settings import get_settings
from pipeline.store import session_scope
from pipeline.store.models import AuditLog, Embedding, Segment, Transcript, Turn
from tests.conftest import REPO_ROOT, SAMPLE_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _release_automatically(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about idempotency, resume and quarantine, so every transcript goes straight on
    (QUALCODE_RELEASE=auto, inherited by the subprocesses); holding is tested in test_anonymise_release.py."""
    monkeypatch.setenv("QUALCODE_RELEASE", "auto")

#: A small mixed inbox: one file of each format keeps these tests quick; the demo test uses all samples.
def _pick_samples(n_per_format: int = 1) -> list[Path]:
    chosen: dict[str, list[Path]] = {}
    for path in sorted(SAMPLE_DIR.iterdir()):
        ext = path.suffix.lower()
        if ext in {".txt", ".docx", ".vtt", ".srt", ".pdf"} and not path.name.startswith("."):
            chosen.setdefault(ext, [])
            if len(chosen[ext]) < n_per_format:
                chosen[ext].append(path)
    return [p for paths in chosen.values() for p in paths]


def _fill_inbox(inbox: Path, files: list[Path]) -> None:
    for path in files:
        shutil.copy(path, inbox / path.name)
        for sidecar in (path.with_name(path.stem + ".meta.yaml"),):
            if sidecar.exists():
                shutil.copy(sidecar, inbox / sidecar.name)


def _table_counts(url: str) -> dict[str, int]:
    with session_scope(url) as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model))
            for model in (Transcript, Turn, Segment, Embedding)
        }


def test_batch_is_idempotent_on_both_backends(db_url: str, project: Path) -> None:
    files = _pick_samples()
    assert len(files) >= 4, "sample data should cover every format"
    inbox = project / "data" / "inbox"
    _fill_inbox(inbox, files)

    first = run_batch(inbox, get_settings())
    assert first.files_done == len(files), [(o.name, o.outcome, o.reason) for o in first.outcomes]
    assert first.segments_created > 0 and first.segments_embedded > 0
    after_first = _table_counts(db_url)

    second = run_batch(inbox, get_settings())
    assert second.files_done == 0 and second.files_skipped == len(files)
    assert second.segments_created == 0 and second.segments_embedded == 0
    assert _table_counts(db_url) == after_first

    with session_scope(db_url) as s:
        statuses = set(s.scalars(select(Transcript.status)).all())
        assert statuses == {"done"}
        # every segment's text is exactly its slice of the stored anonymised text
        for seg in s.scalars(select(Segment)).all():
            t = s.get(Transcript, seg.transcript_id)
            assert t.anonymised_text[seg.start_char:seg.end_char] == seg.text
        actions = set(s.scalars(select(AuditLog.action)).all())
        assert {"batch.start", "transcript.ingest", "transcript.embed", "batch.finish"} <= actions


def test_bad_files_are_quarantined_and_the_batch_goes_on(sqlite_url: str, project: Path) -> None:
    inbox = project / "data" / "inbox"
    good = _pick_samples()[:2]
    _fill_inbox(inbox, good)
    run_batch(inbox, get_settings())
    before = _table_counts(sqlite_url)

    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "binary.txt").write_bytes(b"\x00\x01\x02PK\x00" * 50)
    (inbox / "broken.docx").write_bytes(b"this is not a zip file")
    (inbox / "broken.vtt").write_text("not a webvtt file\n\n00:00 --> nonsense\n", encoding="utf-8")
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4\n garbage without objects")
    summary = run_batch(inbox, get_settings())

    assert summary.files_quarantined == 5, [(o.name, o.outcome, o.reason) for o in summary.outcomes]
    assert summary.files_skipped == len(good)
    quarantine = project / "data" / "quarantine"
    for name in ("empty.txt", "binary.txt", "broken.docx", "broken.vtt", "broken.pdf"):
        assert (quarantine / name).exists() and not (inbox / name).exists()
        reason = (quarantine / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert reason.strip(), f"{name} has no reason"
    for o in summary.outcomes:
        if o.outcome == "quarantined":
            assert o.reason and "\n" not in o.reason
    after = _table_counts(sqlite_url)
    assert after["segments"] == before["segments"] and after["embeddings"] == before["embeddings"]


def _spawn_run(project: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run", "--no-prefect", "--json", str(project / "data" / "inbox")],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_a_killed_run_resumes_to_completion(sqlite_url: str, project: Path) -> None:
    files = _pick_samples(n_per_format=2)
    _fill_inbox(project / "data" / "inbox", files)
    env = {**os.environ, "QUALCODE_DATABASE_URL": sqlite_url}

    proc = _spawn_run(project, env)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:  # kill as soon as the first transcript is committed
            if proc.poll() is not None:
                break
            with session_scope(sqlite_url) as s:
                if s.scalar(select(func.count()).select_from(Transcript)):
                    break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)

    with session_scope(sqlite_url) as s:
        partial = s.scalar(select(func.count()).select_from(Transcript))
    assert partial < len(files), "the run finished before it could be interrupted"

    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--no-prefect", "--json", str(project / "data" / "inbox")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["files_done"] + summary["files_skipped"] == len(files)
    with session_scope(sqlite_url) as s:
        assert s.scalar(select(func.count()).select_from(Transcript)) == len(files)
        assert set(s.scalars(select(Transcript.status)).all()) == {"done"}
        hashes = s.scalars(select(Transcript.content_hash)).all()
        assert len(hashes) == len(set(hashes))
        for t in s.scalars(select(Transcript)).all():
            idx = s.scalars(select(Segment.index).where(Segment.transcript_id == t.id)).all()
            assert sorted(idx) == list(range(len(idx))), "segments duplicated or missing after resume"


def test_file_names_and_sidecars_that_name_people_are_anonymised(sqlite_url: str, project: Path) -> None:
    from pipeline.anonymise import load_keyring

    inbox = project / "data" / "inbox"
    # SYNTHETIC: a fictitious interview whose file name and sidecar notes name the participant
    (inbox / "interview_jo_pemberton.txt").write_text(
        "Interviewer: How did the referral start?\n"
        "Participant: The school called the MASH and we opened a Child Protection plan.\n",
        encoding="utf-8",
    )
    (inbox / "interview_jo_pemberton.meta.yaml").write_text(
        "site_code: LA-Z\nnotes: interviewed by Sarah Pemberton at Oakfield Academy\n", encoding="utf-8"
    )
    (inbox / "kyle_pemberton_unreadable.txt").write_bytes(b"")
    summary = run_batch(inbox, get_settings())
    assert summary.files_done == 1 and summary.files_quarantined == 1
    with session_scope(sqlite_url) as s:
        rows = s.scalars(select(Transcript)).all()
        for row in rows:
            assert "pemberton" not in row.source_name.lower()
            assert "pemberton" not in json.dumps(row.meta).lower()
            assert "oakfield" not in json.dumps(row.meta).lower()
        stored = next(r for r in rows if r.status == "done")
        assert stored.site_code == "LA-Z"
        token = stored.meta["source_name_encrypted"].encode("ascii")
        assert load_keyring(get_settings()).decrypt(token) == "interview_jo_pemberton.txt"


def test_parallel_workers_on_sqlite_queue_for_the_write_lock(sqlite_url: str, project: Path) -> None:
    """``--workers N`` on SQLite: concurrent files wait for each other instead of failing as locked."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.batch import discover_new, embed_pending, ingest_file_safely, start_batch

    inbox = project / "data" / "inbox"
    _fill_inbox(inbox, [p for p in _pick_samples(n_per_format=3) if p.suffix == ".txt"][:3])
    settings = get_settings()
    batch_id = start_batch(settings)
    files = discover_new(inbox, settings)
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda p: ingest_file_safely(p, settings, batch_id), files))
    assert [o.outcome for o in outcomes] == ["done"] * len(files), [(o.name, o.reason) for o in outcomes]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: embed_pending(settings), range(2)))
    with session_scope(sqlite_url) as s:
        assert set(s.scalars(select(Transcript.status)).all()) == {"embedded"}
        placeholders = s.scalars(select(Transcript.anonymised_text)).all()
        assert all(placeholders)
