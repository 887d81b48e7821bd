"""Nothing reaches a coder before it is safe: held transcripts, their release, and masking missed words.

All transcripts here are SYNTHETIC (invented names and places). The batch tests run the real ingest
(Presidio, MiniLM) on both backends; holding is made certain by a review threshold above every score, so
the tests do not depend on how sure a recogniser happens to be about a name.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from pipeline.anonymise import load_keyring
from pipeline.anonymise.release import (
    doubtful_maskings,
    held_transcripts,
    mask_missed,
    release_transcript,
    text_version,
)
from pipeline.anonymise.review import decide
from pipeline.batch import ingest_file, run_batch
from pipeline.cli import app
from pipeline.errors import ReleaseError, ReviewError
from pipeline.review.accounts import create_user
from pipeline.review.queue import ActingUser, enqueue_suggestions, lease_next
from pipeline.settings import Settings, get_settings
from pipeline.store import session_scope
from pipeline.store.models import (
    AnonymisationEvent,
    AuditLog,
    Coding,
    Embedding,
    ReviewItem,
    Segment,
    Suggestion,
    TermList,
    Transcript,
    Turn,
)
from tests.e2e.http import logged_in, page_token
from tests.e2e.seed import PASSWORD, fast_password_hashing

pytestmark = pytest.mark.slow
runner = CliRunner()

#: SYNTHETIC interviews: invented people, places and a made-up club.
HELD_TEXT = (
    "Interviewer: How did the referral start?\n"
    "Participant: Mrs Penhallow at Tregarrow Academy rang me about Kieran Trevithick in March.\n"
    "Interviewer: What happened next?\n"
    "Participant: We met at the Zennor youth club and talked it through with his mum.\n"
)
CLEAN_TEXT = (
    "Interviewer: What training did you have?\n"
    "Participant: Honestly the training did not cover online material, we learned as we went.\n"
    "Interviewer: Who did you ask for advice?\n"
    "Participant: I asked my manager and the duty desk whether it met the threshold.\n"
)


def _settings(**changes: object) -> Settings:
    return get_settings().model_copy(update=changes)


def _ingest(project: Path, name: str, text: str, settings: Settings) -> int:
    path = project / "data" / "inbox" / name
    path.write_text(text, encoding="utf-8")
    outcome = ingest_file(path, settings)
    assert outcome.outcome == "done" and outcome.transcript_id is not None, outcome
    path.unlink()  # keep the inbox empty: later batches only run the stages after ingest
    return outcome.transcript_id


def _two_coders(url: str) -> None:
    with session_scope(url) as session:
        create_user(session, "coder1", PASSWORD, "coder", actor="test")
        create_user(session, "coder2", PASSWORD, "coder", actor="test")


def _segment_ids(url: str, transcript_id: int) -> set[int]:
    with session_scope(url) as session:
        return set(session.scalars(select(Segment.id).where(Segment.transcript_id == transcript_id)))


def test_a_held_transcript_reaches_no_queue_sample_export_or_training_until_released(
    db_url: str, project: Path, tmp_path: Path
) -> None:
    """The held transcript is stored anonymised and audited with counts; the batch embeds, scores, queues
    and samples only the released one; stray codings on held segments stay out of exports, agreement and
    training; the release is refused while doubtful maskings remain, and once released the next batch
    embeds and queues it."""
    from pipeline.agreement.decisions import human_decisions as agreement_decisions
    from pipeline.export.qdpx import export_qdpx
    from pipeline.export.tabular import export_csv
    from pipeline.suggest.service import human_decisions as training_decisions

    _two_coders(db_url)
    held_id = _ingest(project, "held_interview.txt", HELD_TEXT, _settings(anonymiser_review_threshold=1.01))
    clean_id = _ingest(project, "clean_interview.txt", CLEAN_TEXT, _settings(anonymiser_review_threshold=0.0))
    with session_scope(db_url) as session:
        held = session.get(Transcript, held_id)
        assert held.status == "held" and "Penhallow" not in (held.anonymised_text or "")
        assert session.get(Transcript, clean_id).status == "segmented"
        hold = session.scalars(select(AuditLog).where(AuditLog.action == "transcript.hold")).one()
        assert hold.entity_id == str(held_id) and hold.details["needs_review"] > 0
        assert set(hold.details) <= {"needs_review", "replacements", "segments", "batch"}
        assert [row.transcript_id for row in held_transcripts(session)] == [held_id]

    inbox = tmp_path / "empty-inbox"
    inbox.mkdir()
    summary = run_batch(inbox, _settings(blind_share=1.0))
    held_segments, clean_segments = _segment_ids(db_url, held_id), _segment_ids(db_url, clean_id)
    with session_scope(db_url) as session:
        assert session.get(Transcript, held_id).status == "held"
        assert session.get(Transcript, clean_id).status == "done"
        scored = set(session.scalars(select(Suggestion.segment_id)))
        items = set(session.scalars(select(ReviewItem.segment_id)))
        assert scored and scored <= clean_segments and items and items <= clean_segments
        blind = set(session.scalars(select(ReviewItem.segment_id).where(ReviewItem.kind == "blind")))
        assert blind and not blind & held_segments
        held_hashes = set(session.scalars(select(Segment.text_hash).where(Segment.transcript_id == held_id)))
        clean_hashes = set(session.scalars(select(Segment.text_hash).where(Segment.transcript_id == clean_id)))
        embedded = set(session.scalars(select(Embedding.text_hash)))
        assert not (held_hashes - clean_hashes) & embedded, "held segments are never embedded"
    assert summary.review_items > 0

    # Stray work on a held segment (as if something had slipped through) is filtered everywhere.
    stray = min(held_segments)
    with session_scope(db_url) as session:
        session.add(Coding(segment_id=stray, code_key="stray_code", coder="coder1", applied=True, source="review"))
        suggestion = Suggestion(segment_id=stray, code_key="stray_code", probability=0.9, decision="review",
                                model_version="test", status="queued", priority=99.0)
        session.add(suggestion)
        session.flush()
        assert enqueue_suggestions(session) == 0, "no review item for a held segment"
        session.add(ReviewItem(kind="review", segment_id=stray, suggestion_id=suggestion.id, status="open",
                               priority=99.0, version=0))
    with session_scope(db_url) as session:
        coder = session.scalar(select(func.min(ReviewItem.assigned_to)).where(ReviewItem.kind == "blind"))
        reviewer = ActingUser(int(coder), "coder1")
        handed = []
        for _ in range(len(clean_segments) * 4):
            item = lease_next(session, reviewer, get_settings())
            if item is None:
                break
            handed.append(item.segment_id)
            item.status = "done"
            session.flush()
        assert handed and stray not in handed
        assert all(d.unit_id != str(stray) for d in agreement_decisions(session))
        assert all(d.unit != stray for d in training_decisions(session, ["stray_code"]))
        csv_path = tmp_path / "codings.csv"
        export_csv(session, csv_path, level="coding", include_text=True)
        rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
        assert all(int(r["segment_id"]) not in held_segments for r in rows)
        qdpx = export_qdpx(session, tmp_path / "project.qdpx")
        assert qdpx.sources == 1, "only the released transcript is exported"

    with session_scope(db_url, immediate=True) as session:
        with pytest.raises(ReleaseError, match="doubtful"):
            release_transcript(session, held_id, "test:keyholder")
    ring = load_keyring(get_settings())
    with session_scope(db_url, immediate=True) as session:
        pending = session.scalars(
            select(AnonymisationEvent.id).where(
                AnonymisationEvent.transcript_id == held_id, AnonymisationEvent.status == "needs_review"
            )
        ).all()
        for event_id in pending:
            decide(session, event_id, "confirm", "test:keyholder", ring)
        release_transcript(session, held_id, "test:keyholder")
    with session_scope(db_url) as session:
        assert session.get(Transcript, held_id).status == "segmented"
        release = session.scalars(select(AuditLog).where(AuditLog.action == "transcript.release")).one()
        assert release.details == {"undecided": 0, "forced": False}
        with pytest.raises(ReleaseError, match="not held"):
            release_transcript(session, held_id, "test:keyholder")

    run_batch(inbox, _settings(blind_share=1.0))
    with session_scope(db_url) as session:
        assert session.get(Transcript, held_id).status == "done"
        scored = set(session.scalars(select(Suggestion.segment_id).where(Suggestion.segment_id.in_(held_segments))))
        queued = set(session.scalars(select(ReviewItem.segment_id).where(ReviewItem.segment_id.in_(held_segments))))
        assert scored and queued, "released: the next batch scores and queues it"


def test_with_release_auto_nothing_is_held(sqlite_url: str, project: Path) -> None:
    transcript_id = _ingest(project, "auto.txt", HELD_TEXT, _settings(anonymiser_review_threshold=1.01, release="auto"))
    with session_scope(sqlite_url) as session:
        assert session.get(Transcript, transcript_id).status == "segmented"
        holds = select(func.count()).select_from(AuditLog).where(AuditLog.action == "transcript.hold")
        assert session.scalar(holds) == 0


def _consistent(session, transcript_id: int) -> str:  # type: ignore[no-untyped-def]
    """The stored text, after checking every segment and event still indexes it."""
    text = session.get(Transcript, transcript_id).anonymised_text or ""
    for segment in session.scalars(select(Segment).where(Segment.transcript_id == transcript_id)):
        assert segment.text == text[segment.start_char : segment.end_char]
    for event in session.scalars(select(AnonymisationEvent).where(AnonymisationEvent.transcript_id == transcript_id)):
        if event.status != "undone":
            assert text[event.start_char : event.end_char].startswith(("[", event.placeholder[:1]))
    return text


def test_mask_missed_rewrites_text_and_segments_and_later_transcripts_mask_the_words(
    db_url: str, project: Path
) -> None:
    held_id = _ingest(project, "held_interview.txt", HELD_TEXT, _settings(anonymiser_review_threshold=1.01))
    ring = load_keyring(get_settings())
    with session_scope(db_url) as session:
        text = session.get(Transcript, held_id).anonymised_text or ""
        version = text_version(text)
    word = "Zennor"
    if word not in text:  # the recognisers caught it: pick the made-up club's word instead
        word = "youth"
    start = text.index(word)
    with session_scope(db_url, immediate=True) as session:
        with pytest.raises(ReviewError, match="changed since"):
            mask_missed(session, held_id, start, start + len(word), "test:keyholder", "PLACE", keyring=ring,
                        expected_version="0" * 16)
        # A selection with a trailing space is trimmed to the words.
        result = mask_missed(session, held_id, start, start + len(word) + 1, "test:keyholder", "PLACE",
                             keyring=ring, expected_version=version)
    with session_scope(db_url) as session:
        after = _consistent(session, held_id)
        assert word not in after and result.placeholder in after
        assert after[start : start + len(result.placeholder)] == result.placeholder
        assert any(result.placeholder in s.text for s in session.scalars(select(Segment)))
        event = session.get(AnonymisationEvent, result.event_id)
        assert event.status == "confirmed" and event.recognizer == "manual"
        assert ring.decrypt(event.encrypted_original) == word
        deny = session.get(TermList, result.term_list_id)
        assert deny.kind == "deny" and deny.term is None and ring.decrypt(deny.encrypted_term) == word
        audits = session.scalars(select(AuditLog).where(AuditLog.action == "anonymise.mask_missed")).all()
        assert len(audits) == 1 and word not in json.dumps(audits[0].details)
        turns = session.scalars(select(Turn).where(Turn.transcript_id == held_id).order_by(Turn.index)).all()
        assert turns[-1].end_char <= len(after)
    with session_scope(db_url, immediate=True) as session:
        with pytest.raises(ReviewError, match="overlaps"):
            mask_missed(session, held_id, start, start + 3, "test:keyholder", keyring=ring)
        space = after.index(" ")
        with pytest.raises(ReviewError, match="no words"):
            mask_missed(session, held_id, space, space + 1, "test:keyholder", keyring=ring)

    later = _ingest(project, "later.txt", f"Participant: We went to {word} again on Friday.\n",
                    _settings(anonymiser_review_threshold=0.0))
    with session_scope(db_url) as session:
        assert word not in (session.get(Transcript, later).anonymised_text or "")


def test_doubtful_maskings_show_originals_only_with_the_key_and_audit_the_view(sqlite_url: str, project: Path) -> None:
    held_id = _ingest(project, "held_interview.txt", HELD_TEXT, _settings(anonymiser_review_threshold=1.01))
    ring = load_keyring(get_settings())
    with session_scope(sqlite_url) as session:
        plain = doubtful_maskings(session, held_id)
        assert plain and all(m.original is None for m in plain)
        assert all(m.shown in (m.before + m.shown + m.after) for m in plain)
        assert not session.scalars(select(AuditLog).where(AuditLog.action == "anonymise.view_originals")).all()
        shown = doubtful_maskings(session, held_id, keyring=ring, viewer="web:keyholder")
        assert any(m.original and "Penhallow" in m.original for m in shown)
    with session_scope(sqlite_url) as session:
        view = session.scalars(select(AuditLog).where(AuditLog.action == "anonymise.view_originals")).one()
        assert view.actor == "web:keyholder" and view.details["events"] == len(plain)
        assert "Penhallow" not in json.dumps(view.details)


# --------------------------------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------------------------------
def _users(url: str) -> None:
    with session_scope(url) as session:
        create_user(session, "keyholder", PASSWORD, "lead", key_holder=True, actor="test")
        create_user(session, "otherlead", PASSWORD, "lead", actor="test")
        create_user(session, "keycoder", PASSWORD, "coder", key_holder=True, actor="test")


def _cli(*args: str, user: str = "keyholder") -> object:
    return runner.invoke(app, ["anonymise", *args, "--user", user, "--password-stdin"], input=f"{PASSWORD}\n")


def test_held_release_and_mask_commands_are_for_the_key_holder(db_url: str, project: Path) -> None:
    _users(db_url)
    held_id = _ingest(project, "held_interview.txt", HELD_TEXT, _settings(anonymiser_review_threshold=1.01))

    refused = _cli("held", user="otherlead")
    assert refused.exit_code != 0 and "key holder" in str(refused.exception or refused.output)
    listed = _cli("held")
    assert listed.exit_code == 0, listed.output
    assert f"transcript {held_id}" in listed.output and "doubtful" in listed.output
    assert "Penhallow" not in listed.output and f"review --transcript {held_id}" in listed.output

    with session_scope(db_url) as session:
        text = session.get(Transcript, held_id).anonymised_text or ""
    word = "youth"
    start = text.index(word)
    masked = _cli("mask", str(held_id), "--start", str(start), "--end", str(start + len(word)), "--entity", "org")
    assert masked.exit_code == 0, masked.output
    assert "[ORG_" in masked.output and "deny list" in masked.output and word not in masked.output

    blocked = _cli("release", str(held_id))
    assert blocked.exit_code != 0 and isinstance(blocked.exception, ReleaseError)
    not_lead = _cli("release", str(held_id), "--force", user="keycoder")
    assert not_lead.exit_code != 0 and "only a lead" in str(not_lead.exception)
    forced = _cli("release", str(held_id), "--force")
    assert forced.exit_code == 0, forced.output
    assert "qualcode run" in forced.output
    with session_scope(db_url) as session:
        assert session.get(Transcript, held_id).status == "segmented"
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "transcript.release")).one()
        assert audit.actor == "cli:keyholder" and audit.details["forced"] is True and audit.details["undecided"] > 0
    assert "no transcripts are held" in _cli("held").output


def test_qualcode_run_reports_held_transcripts_and_the_next_command(
    sqlite_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "data" / "inbox" / "held_interview.txt").write_text(HELD_TEXT, encoding="utf-8")
    monkeypatch.setenv("QUALCODE_ANONYMISER_REVIEW_THRESHOLD", "1.01")
    result = runner.invoke(app, ["run", "--no-prefect", str(project / "data" / "inbox")])
    assert result.exit_code == 0, result.output
    assert "held for anonymisation review" in result.output
    assert "qualcode anonymise held" in result.output and "qualcode anonymise release ID" in result.output
    as_json = runner.invoke(app, ["run", "--no-prefect", "--json", str(project / "data" / "inbox")])
    assert json.loads(as_json.output[as_json.output.index("{"):])["files_held"] == 0  # nothing new the second time


# --------------------------------------------------------------------------------------------------
# The web page over HTTP (the browser test is in tests/e2e/test_anonymisation_browser.py)
# --------------------------------------------------------------------------------------------------
def test_the_page_refuses_everyone_but_the_key_holder(sqlite_url: str, project: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.web.app import create_app

    fast_password_hashing(monkeypatch)
    _users(sqlite_url)
    held_id = _ingest(project, "held_interview.txt", HELD_TEXT, _settings(anonymiser_review_threshold=1.01))
    with TestClient(create_app(get_settings())) as client:
        token = logged_in(client, "otherlead")
        assert client.get("/anonymisation", follow_redirects=False).status_code == 403
        assert client.get(f"/anonymisation/{held_id}", follow_redirects=False).status_code == 403
        refused = client.post(f"/anonymisation/{held_id}/release", data={"csrf_token": token, "force": "yes"},
                              follow_redirects=False)
        assert refused.status_code == 403
        assert 'href="/anonymisation"' not in client.get("/review").text
        client.cookies.clear()

        token = logged_in(client, "keyholder")
        assert 'href="/anonymisation"' in client.get("/review").text
        listing = client.get("/anonymisation")
        assert listing.status_code == 200 and f"/anonymisation/{held_id}" in listing.text
        page = client.get(f"/anonymisation/{held_id}")
        assert page.status_code == 200 and "Penhallow" in page.text  # the key holder sees what was masked
        assert 'id="release-button" disabled' in page.text
        no_csrf = client.post(f"/anonymisation/{held_id}/release", data={"force": "yes"}, follow_redirects=False)
        assert no_csrf.status_code == 403
        token = page_token(page.text)
        forced = client.post(f"/anonymisation/{held_id}/release", data={"csrf_token": token, "force": "yes"},
                             follow_redirects=False)
        assert forced.status_code == 303
    with session_scope(sqlite_url) as session:
        assert session.get(Transcript, held_id).status == "segmented"
        assert session.scalars(select(AuditLog).where(AuditLog.action == "anonymise.view_originals")).all()



def test_demo_releases_the_held_samples_and_ends_with_a_populated_queue(project: Path, tmp_path: Path) -> None:
    """`qualcode demo --no-serve` (the real Prefect flow): the held synthetic sample is released by the demo
    key holder, audited, the output says so and why, and the second batch queues it."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    inbox = tmp_path / "demo-inbox"
    inbox.mkdir()
    (inbox / "held_interview.txt").write_text(HELD_TEXT, encoding="utf-8")
    db = tmp_path / "demo.db"
    env = {**os.environ, "QUALCODE_DATABASE_URL": f"sqlite:///{db}", "QUALCODE_ANONYMISER_REVIEW_THRESHOLD": "1.01",
           "PREFECT_HOME": str(tmp_path / "prefect")}
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--no-serve", "--inbox", str(inbox)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = " ".join(proc.stdout.split())  # rich wraps long lines
    assert "1 transcript(s) were held" in out and "synthetic" in out and "demo-lead" in out
    with session_scope(f"sqlite:///{db}") as session:
        assert {t.status for t in session.scalars(select(Transcript))} == {"done"}
        release = session.scalars(select(AuditLog).where(AuditLog.action == "transcript.release")).one()
        assert release.actor == "demo:demo-lead" and release.details["forced"] is True
        assert session.scalar(select(func.count()).select_from(ReviewItem)) > 0
