"""``qualcode anonymise``, ``qualcode key`` and ``qualcode reidentify`` end to end (SYNTHETIC inputs)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, Pseudonym

runner = CliRunner()


def test_jsonl_offsets_index_the_original(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "so um jo said her lad kyle went to oakwood academy"},
        {"id": 7, "text": "Kyle lives at 12 Elm Road, LS6 2AB; email kyle@example.co.uk. The MASH knew."},
        {"id": "empty", "text": ""},
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(app, ["anonymise", "--input-jsonl", str(src), "--output-jsonl", str(out)])
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == ["a", 7, "empty"]
    for row, res in zip(rows, got, strict=True):
        for span in res["spans"]:
            assert set(span) == {"start", "end", "entity", "score", "placeholder"}
            surface = row["text"][span["start"] : span["end"]]
            assert surface and surface not in res["text"] and span["placeholder"] in res["text"]
    assert "kyle" not in got[1]["text"].casefold() and "MASH" in got[1]["text"]
    # one store per invocation: Kyle is the same person in both rows
    kyle = {
        s["placeholder"]
        for r, g in zip(rows, got, strict=True)
        for s in g["spans"]
        if r["text"][s["start"] : s["end"]].casefold() == "kyle"
    }
    assert len(kyle) == 1


def test_bad_jsonl_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "fine"}\n{"id": 2}\n', encoding="utf-8")
    result = runner.invoke(app, ["anonymise", "--input-jsonl", str(src), "--output-jsonl", str(tmp_path / "o.jsonl")])
    assert result.exit_code != 0
    assert "in.jsonl" in str(result.exception) and "line 2" in str(result.exception)


def test_files_plain_text_without_turns(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "note.txt").write_text(
        "Case note (synthetic). Kieran Walsh, born 12/03/2008, was discussed at the Channel panel.\n\n"
        "Kieran's mum rang 07700 900461.\n",
        encoding="utf-8",
    )
    (folder / "empty.txt").write_text("", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["anonymise", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = (out / "note.anon.txt").read_text(encoding="utf-8")
    assert "Kieran" not in written and "07700" not in written and "Channel panel" in written
    assert "skipped empty.txt" in result.output


def test_key_init_rotate_and_reidentify(project: Path, sqlite_url: str) -> None:
    from pipeline.anonymise import DatabasePseudonymStore, Keyring, build_anonymiser
    from pipeline.settings import get_settings

    result = runner.invoke(app, ["key", "init"])
    assert result.exit_code == 0, result.output
    key_file = project / "qualcode.key"
    assert key_file.exists()
    assert runner.invoke(app, ["key", "init"]).exit_code != 0  # never overwrite silently

    ring = Keyring.from_file(key_file)
    with session_scope(sqlite_url) as session:
        res = build_anonymiser(get_settings()).anonymise("Kieran Walsh rang.", DatabasePseudonymStore(session, ring))
    placeholder = res.spans[0].placeholder

    result = runner.invoke(app, ["key", "rotate"])
    assert result.exit_code == 0, result.output
    assert Keyring.from_file(key_file).key_id != ring.key_id
    with session_scope(sqlite_url) as session:
        assert {r.key_id for r in session.scalars(select(Pseudonym))} == {Keyring.from_file(key_file).key_id}

    from pipeline.review.accounts import create_user

    with session_scope(sqlite_url) as session:
        create_user(session, "keyholder", "correct horse battery", "lead", key_holder=True, actor="test")
        create_user(session, "otherlead", "correct horse battery", "lead", actor="test")
    refused = runner.invoke(
        app, ["reidentify", placeholder, "--user", "otherlead", "--password-stdin"], input="correct horse battery\n"
    )
    assert refused.exit_code != 0 and "Kieran" not in refused.output  # a lead without the key-holder flag
    wrong = runner.invoke(
        app, ["reidentify", placeholder, "--user", "keyholder", "--password-stdin"], input="wrong password\n"
    )
    assert wrong.exit_code != 0 and "Kieran" not in wrong.output

    result = runner.invoke(
        app, ["reidentify", placeholder, "--user", "keyholder", "--password-stdin"], input="correct horse battery\n"
    )
    assert result.exit_code == 0, result.output
    assert "Kieran Walsh" in result.output
    with session_scope(sqlite_url) as session:
        audits = session.scalars(select(AuditLog).where(AuditLog.action.in_(["reidentify", "key.rotate"]))).all()
        assert {a.action for a in audits} == {"reidentify", "key.rotate"}
        assert {a.actor for a in audits if a.action == "reidentify"} == {"cli:keyholder"}
        assert all("Kieran" not in json.dumps(a.details) for a in audits)


def test_review_command_lists_nothing_on_empty_project(project: Path, sqlite_url: str) -> None:
    result = runner.invoke(app, ["anonymise", "review"])
    assert result.exit_code == 0, result.output
    assert "nothing to review" in result.output


def _store_anonymised(sqlite_url: str, text: str, *, keep_words: bool = False) -> list[int]:
    """Anonymise ``text`` as a stored transcript (SYNTHETIC) with its replacement events; their ids.

    ``keep_words``: the events keep their own words encrypted, as the batch records them since migration 0004.
    """
    import hashlib

    from pipeline.anonymise import (
        DatabasePseudonymStore,
        build_anonymiser,
        encrypted_originals,
        load_keyring,
        record_events,
    )
    from pipeline.ingest.types import RawDocument, RawTurn
    from pipeline.settings import get_settings
    from pipeline.store.models import Transcript

    settings = get_settings()
    ring = load_keyring(settings)  # creates the project's key file on first use
    digest = hashlib.sha256(text.encode()).hexdigest()
    raw = RawDocument(Path("s.txt"), "txt", [RawTurn(text, None, "unknown")], digest)
    with session_scope(sqlite_url) as session:
        transcript = Transcript(content_hash=digest, source_name="s.txt", format="txt")
        session.add(transcript)
        session.flush()
        doc = build_anonymiser(settings).anonymise_document(raw, DatabasePseudonymStore(session, ring))
        transcript.anonymised_text = doc.text
        originals = encrypted_originals(raw, doc, ring) if keep_words else None
        events = record_events(session, transcript.id, doc, settings.anonymiser_review_threshold, originals=originals)
        session.flush()
        return [event.id for event in events]


def test_review_command_lists_and_decides(project: Path, sqlite_url: str) -> None:
    from pipeline.store.models import AnonymisationEvent, TermList

    _store_anonymised(sqlite_url, "a lad called zandrokel ran the chat")
    result = runner.invoke(app, ["anonymise", "review"])
    assert result.exit_code == 0, result.output
    assert "[PERSON_1]" in result.output and "zandrokel" not in result.output
    event_id = result.output.split()[0].lstrip("#")
    result = runner.invoke(app, ["anonymise", "review", "--confirm", event_id, "--as", "lead"])
    assert result.exit_code == 0, result.output
    with session_scope(sqlite_url) as session:
        assert session.get(AnonymisationEvent, int(event_id)).status == "confirmed"
        assert session.scalars(select(TermList)).one().kind == "deny"


def test_review_command_undo_feeds_the_allow_list_and_leaves_the_text(project: Path, sqlite_url: str) -> None:
    """A plain undo: the term joins the allow list; the stored text keeps its placeholder (no --restore)."""
    from pipeline.store.models import AnonymisationEvent, TermList, Transcript

    event_id = _store_anonymised(sqlite_url, "a lad called zandrokel ran the chat", keep_words=True)[0]
    result = runner.invoke(app, ["anonymise", "review", "--undo", str(event_id), "--as", "lead"])
    assert result.exit_code == 0, result.output
    assert "0 confirmed, 1 undone" in result.output and "0 of 1 put back" in result.output
    assert "--restore, as the key holder" in result.output and "zandrokel" not in result.output.lower()
    with session_scope(sqlite_url) as session:
        assert session.get(AnonymisationEvent, event_id).status == "undone"
        assert session.scalars(select(TermList)).one().kind == "allow"
        assert "zandrokel" not in (session.scalars(select(Transcript)).one().anonymised_text or "").lower()


def test_review_command_restore_is_for_the_signed_in_key_holder(project: Path, sqlite_url: str) -> None:
    """--restore re-identifies: another lead is refused and nothing changes; the key holder gets the words
    back into the stored text, and they are never printed."""
    from pipeline.review.accounts import create_user
    from pipeline.store.models import AnonymisationEvent, Transcript

    event_id = _store_anonymised(sqlite_url, "a lad called zandrokel ran the chat", keep_words=True)[0]
    with session_scope(sqlite_url) as session:
        create_user(session, "keyholder", "correct horse battery", "lead", key_holder=True, actor="test")
        create_user(session, "otherlead", "correct horse battery", "lead", actor="test")
    command = ["anonymise", "review", "--undo", str(event_id), "--restore", "--password-stdin", "--user"]
    refused = runner.invoke(app, [*command, "otherlead"], input="correct horse battery\n")
    assert refused.exit_code != 0
    with session_scope(sqlite_url) as session:
        assert session.get(AnonymisationEvent, event_id).status == "needs_review"
    result = runner.invoke(app, [*command, "keyholder"], input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert "1 of 1 put back into the stored text" in result.output and "zandrokel" not in result.output.lower()
    with session_scope(sqlite_url) as session:
        assert session.get(AnonymisationEvent, event_id).reviewed_by == "cli:keyholder"
        stored = session.scalars(select(Transcript)).one().anonymised_text or ""
        assert "a lad called zandrokel ran the chat" in stored
    taken_back = runner.invoke(app, ["anonymise", "review", "--confirm", str(event_id), "--as", "lead"])
    assert taken_back.exit_code == 0, taken_back.output
    assert "1 earlier undo(s) taken back" in taken_back.output and "zandrokel" not in taken_back.output.lower()
    with session_scope(sqlite_url) as session:
        assert "zandrokel" not in (session.scalars(select(Transcript)).one().anonymised_text or "")
