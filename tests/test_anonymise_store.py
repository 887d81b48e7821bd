"""The encrypted re-identification map, keys and rotation, review decisions, re-identification, retention.

Database tests run on SQLite and PostgreSQL (``db_url``). All text is SYNTHETIC.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.anonymise import (
    DatabasePseudonymStore,
    Keyring,
    apply_retention,
    build_anonymiser,
    decide,
    init_key_file,
    list_for_review,
    load_keyring,
    record_events,
)
from pipeline.anonymise.reidentify import reidentified_text, reidentify, rotate_map
from pipeline.anonymise.retention import restore_archived
from pipeline.errors import ConfigError, KeyMissingError, ReviewError
from pipeline.ingest.types import RawDocument, RawTurn
from pipeline.settings import Settings
from pipeline.store.db import session_scope
from pipeline.store.models import AnonymisationEvent, AuditLog, Pseudonym, TermList, Transcript

TEXT_A = "Kieran Walsh was referred by Mrs Ahmed after he posted on @kez_w88."
TEXT_B = "Kieron told us Ayesha Ahmed, his mum, rang the MASH."


def _raw(text: str, name: str = "a.txt") -> RawDocument:
    return RawDocument(Path(name), "txt", [RawTurn(text, "Participant", "participant")], content_hash=name * 8)


# ------------------------------------------------------------------------------------------------ keys
def test_encryption_round_trip_and_wrong_key() -> None:
    ring = Keyring.generate()
    token = ring.encrypt("Kieran Walsh")
    assert b"Kieran" not in token
    assert ring.decrypt(token) == "Kieran Walsh"
    with pytest.raises(KeyMissingError, match="wrong key"):
        Keyring.generate().decrypt(token)
    assert "key" not in repr(ring).split("(")[1].lower() or ring.keys[0].decode() not in repr(ring)


def test_lookup_hash_is_keyed() -> None:
    a, b = Keyring.generate(), Keyring.generate()
    assert a.lookup_hash("person:kieran") == a.lookup_hash("person:kieran")
    assert a.lookup_hash("person:kieran") != b.lookup_hash("person:kieran")


def test_key_file_init_and_load(tmp_path: Path) -> None:
    path = tmp_path / "project.key"
    ring = init_key_file(path)
    assert path.stat().st_mode & 0o077 == 0  # owner-only
    assert Keyring.from_file(path).key_id == ring.key_id
    with pytest.raises(ConfigError, match="already exists"):
        init_key_file(path)
    assert load_keyring(Settings(key_file=path)).key_id == ring.key_id
    env_ring = load_keyring(Settings(key=ring.keys[0].decode()))
    assert env_ring.key_id == ring.key_id


def test_missing_and_malformed_keys(tmp_path: Path) -> None:
    with pytest.raises(KeyMissingError):
        load_keyring(Settings(key_file=tmp_path / "absent.key"), create=False)
    bad = tmp_path / "bad.key"
    bad.write_text("not-a-key\n")
    with pytest.raises(ConfigError, match=r"bad\.key:1"):
        Keyring.from_file(bad)


# ------------------------------------------------------------------------------------------------ database map
def test_database_pseudonyms_consistent_encrypted_and_rotatable(db_url: str) -> None:
    anon = build_anonymiser(Settings())
    ring = Keyring.generate()
    with session_scope(db_url) as session:
        doc_a = anon.anonymise_document(_raw(TEXT_A), DatabasePseudonymStore(session, ring))
    with session_scope(db_url) as session:  # a later transcript, a new store: same placeholders
        doc_b = anon.anonymise_document(_raw(TEXT_B, "b.txt"), DatabasePseudonymStore(session, ring))
    kieran_a = next(s.placeholder for s in doc_a.spans if TEXT_A[s.start : s.end].startswith("Kieran"))
    kieran_b = next(s.placeholder for s in doc_b.spans if TEXT_B[s.start : s.end] == "Kieron")
    ahmed_a = next(s.placeholder for s in doc_a.spans if TEXT_A[s.start : s.end] == "Mrs Ahmed")
    ahmed_b = next(s.placeholder for s in doc_b.spans if TEXT_B[s.start : s.end] == "Ayesha Ahmed")
    assert kieran_a == kieran_b and ahmed_a == ahmed_b and kieran_a != ahmed_a

    with session_scope(db_url) as session:
        rows = session.scalars(select(Pseudonym)).all()
        assert rows and all(r.key_id == ring.key_id for r in rows)
        for row in rows:  # no plaintext anywhere in the map
            for value in (row.lookup_hash, row.placeholder, bytes(row.encrypted_original).decode("ascii")):
                assert "kieran" not in value.lower() and "ahmed" not in value.lower()
        assert any(r.canonical_id is not None for r in rows)  # Kieron / Ayesha Ahmed are linked variants

    rotated = ring.rotated()
    with session_scope(db_url) as session:
        report = rotate_map(session, rotated, "test")
    assert report.pseudonyms == len(rows) and report.new_key_id != ring.key_id
    new_only = rotated.current_only()
    with session_scope(db_url) as session:
        assert {r.key_id for r in session.scalars(select(Pseudonym))} == {new_only.key_id}
        doc_c = anon.anonymise_document(_raw("Kieran Walsh again.", "c.txt"), DatabasePseudonymStore(session, new_only))
        assert doc_c.spans[0].placeholder == kieran_a  # HMAC look-ups still find him under the new key
        with pytest.raises(KeyMissingError):
            DatabasePseudonymStore(session, ring.current_only()).placeholder("PERSON", "Someone New")


def test_review_decisions_feed_term_lists_and_reidentify(db_url: str) -> None:
    anon = build_anonymiser(Settings())
    ring = Keyring.generate()
    text = "there was a lad called zandrokel in the chat, and zandrokel shared it on Snapchat"
    with session_scope(db_url) as session:
        transcript = Transcript(content_hash="e" * 64, source_name="synthetic.txt", format="txt")
        session.add(transcript)
        session.flush()
        doc = anon.anonymise_document(_raw(text), DatabasePseudonymStore(session, ring))
        transcript.anonymised_text = doc.text
        events = record_events(session, transcript.id, doc, review_threshold=0.6)
        assert all(e.start_char >= 0 for e in events)
        tid = transcript.id
    with session_scope(db_url) as session:
        candidates = list_for_review(session, transcript_id=tid)
        assert candidates and all("zandrokel" not in c.context for c in candidates)
        decide(session, candidates[0].event_id, "confirm", "lead", ring)
        with pytest.raises(ReviewError, match="already decided"):
            decide(session, candidates[0].event_id, "undo", "lead", ring)
        deny = session.scalars(select(TermList).where(TermList.kind == "deny")).all()
        assert len(deny) == 1 and deny[0].term is None and deny[0].encrypted_term is not None
        assert session.get(AnonymisationEvent, candidates[0].event_id).status == "confirmed"

    with session_scope(db_url) as session:  # the deny entry now masks him with full confidence
        store = DatabasePseudonymStore(session, ring)
        res = anon.anonymise("Zandrokel turned up again.", store)
        assert res.spans[0].recognizer == "DenyList" and res.spans[0].score == 1.0

    with session_scope(db_url) as session:
        found = reidentify(session, ring, [str(tid), events[0].placeholder], "lead")
        assert any("zandrokel" in o for r in found[str(tid)] for o in r.originals)
        assert "zandrokel" in reidentified_text(session, ring, tid, "lead")
    with session_scope(db_url) as session:
        actions = [a.action for a in session.scalars(select(AuditLog))]
        assert actions.count("reidentify") == 2 and "reidentify.text" in actions
        assert all("zandrokel" not in str(a.details) for a in session.scalars(select(AuditLog)))


def test_undo_feeds_allow_list(db_url: str) -> None:
    ring = Keyring.generate()
    anon = build_anonymiser(Settings())
    with session_scope(db_url) as session:
        transcript = Transcript(content_hash="f" * 64, source_name="s.txt", format="txt")
        session.add(transcript)
        session.flush()
        doc = anon.anonymise_document(_raw("a lad called zandrokel said hi"), DatabasePseudonymStore(session, ring))
        transcript.anonymised_text = doc.text
        event = record_events(session, transcript.id, doc, review_threshold=1.1)[0]
        session.flush()
        decide(session, event.id, "undo", "lead", ring)
        allow = session.scalars(select(TermList).where(TermList.kind == "allow")).all()
        assert [a.term for a in allow] == ["zandrokel"]
    with session_scope(db_url) as session:
        res = anon.anonymise("a lad called zandrokel said hi", DatabasePseudonymStore(session, ring))
        assert res.text == "a lad called zandrokel said hi"


# ------------------------------------------------------------------------------------------------ retention
@pytest.mark.parametrize("mode", ["keep", "delete", "encrypted"])
def test_retention(tmp_path: Path, mode: str) -> None:
    raw = tmp_path / "interview 3 Kieran.txt"
    raw.write_text("Interviewer: hello\nKieran: hi\n", encoding="utf-8")
    settings = Settings(retain_raw=mode, data_dir=tmp_path / "data")
    ring = Keyring.generate()
    result = apply_retention(raw, settings, ring)
    assert raw.exists() == (mode == "keep")
    if mode == "encrypted":
        assert result.archive_path is not None and "Kieran" not in result.archive_path.name
        assert b"Kieran" not in result.archive_path.read_bytes()
        assert restore_archived(result.archive_path, ring) == b"Interviewer: hello\nKieran: hi\n"


def test_encrypted_retention_needs_key(tmp_path: Path) -> None:
    raw = tmp_path / "x.txt"
    raw.write_text("hello", encoding="utf-8")
    with pytest.raises(KeyMissingError, match=r"x\.txt"):
        apply_retention(raw, Settings(retain_raw="encrypted", data_dir=tmp_path), None)


def test_concurrent_writers_never_share_a_number(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers: a transaction that read an older snapshot cannot write at all")
    ring = Keyring.generate()
    with session_scope(db_url) as late_session:
        late = DatabasePseudonymStore(late_session, ring)
        assert late.known() == {}  # read the (empty) map before the other writer commits
        with session_scope(db_url) as early_session:
            assert DatabasePseudonymStore(early_session, ring).placeholder("PERSON", "Zephaniah Quill") == "[PERSON_1]"
        assert late.placeholder("PERSON", "Obadiah Thorne") == "[PERSON_2]"  # conflict on [PERSON_1] -> retried
        assert late.placeholder("PERSON", "Zephaniah Quill") == "[PERSON_1]"  # the other writer's row is found


def test_project_map_seeds_later_documents(db_url: str) -> None:
    anon = build_anonymiser(Settings())
    ring = Keyring.generate()
    with session_scope(db_url) as session:
        first = anon.anonymise(
            "Mr Zephaniah Quill chaired the Northmere MASH meeting.", DatabasePseudonymStore(session, ring)
        )
    assert first.text == "[PERSON_1] chaired the [PLACE_1] MASH meeting."
    with session_scope(db_url) as session:  # no recogniser knows these words; the project map does
        later = anon.anonymise("Then Zephaniah moved to Northmere.", DatabasePseudonymStore(session, ring))
    assert later.text == "Then [PERSON_1] moved to [PLACE_1]."


def test_first_key_created_once_under_concurrency(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = Settings(key_file=tmp_path / "race.key")
    with ThreadPoolExecutor(max_workers=8) as pool:
        rings = list(pool.map(lambda _: load_keyring(settings), range(16)))
    assert len({r.key_id for r in rings}) == 1
    assert Keyring.from_file(tmp_path / "race.key").key_id == rings[0].key_id
    assert [p.name for p in tmp_path.iterdir()] == ["race.key"]  # no temporary files left behind


# ------------------------------------------------------------------------------------------------ undo in place
UNDO_TRANSCRIPT = (
    "Interviewer: Can you tell me how the referral came in?\n\n"
    "Participant: John Smith from the youth club rang us first. Later Smith said the boy had been posting "
    "on @kez_w88 every night, and the school in Rochdale was worried too. We met on the Tuesday.\n"
)


def test_undo_puts_the_words_said_back_in_the_stored_transcript(db_url: str, project: Path) -> None:
    """SYNTHETIC interview through the real batch ingest: undoing the second mention of a person puts back
    "Smith" (what was said there, not the map's canonical "John Smith"); the transcript, its turns and
    segments and the other events move with it; the original words stay out of the audit log; a key
    rotation re-encrypts the kept words."""
    from pipeline.batch import backfill_embeddings, embed_pending, ingest_file
    from pipeline.embed import text_hash
    from pipeline.settings import get_settings
    from pipeline.store.models import Segment, Turn

    settings = get_settings().model_copy(update={"release": "auto"})  # about undo, not about holding
    inbox = project / "data" / "inbox"
    (inbox / "undo_interview.txt").write_text(UNDO_TRANSCRIPT, encoding="utf-8")
    assert ingest_file(inbox / "undo_interview.txt", settings).outcome == "done"
    assert embed_pending(settings) > 0
    ring = load_keyring(settings)
    with session_scope(db_url) as session:
        transcript = session.scalars(select(Transcript)).one()
        before = transcript.anonymised_text or ""
        events = session.scalars(select(AnonymisationEvent).order_by(AnonymisationEvent.start_char)).all()
        words = {event.id: ring.decrypt(event.encrypted_original) for event in events}
        assert "Smith" in words.values() and "John Smith" in words.values(), words
        smith = next(e for e in events if words[e.id] == "Smith")
        canonical = next(e for e in events if words[e.id] == "John Smith")
        assert smith.placeholder == canonical.placeholder, "one person, one placeholder"
        later = [e.id for e in events if e.start_char > smith.start_char]
        assert later, "something is replaced after the undone mention"
        tid, smith_id, placeholder = transcript.id, smith.id, smith.placeholder

    with session_scope(db_url, immediate=True) as session:
        decide(session, smith_id, "undo", "lead", ring, restore=True)

    with session_scope(db_url) as session:
        text = session.get(Transcript, tid).anonymised_text or ""
        undone = session.get(AnonymisationEvent, smith_id)
        assert text[undone.start_char : undone.end_char] == "Smith"
        assert len(text) == len(before) + len("Smith") - len(placeholder)
        assert text.count(placeholder) == before.count(placeholder) - 1, "the first mention keeps its placeholder"
        for event in session.scalars(select(AnonymisationEvent).where(AnonymisationEvent.id != smith_id)):
            assert text[event.start_char : event.end_char] == event.placeholder, event.id
        for segment in session.scalars(select(Segment).where(Segment.transcript_id == tid)):
            assert segment.text == text[segment.start_char : segment.end_char]
            assert segment.text_hash == text_hash(segment.text)
        turns = session.scalars(select(Turn).where(Turn.transcript_id == tid).order_by(Turn.index)).all()
        assert turns[-1].end_char <= len(text) and "Smith said" in text[turns[-1].start_char : turns[-1].end_char]
        assert text[turns[0].start_char : turns[0].end_char] == before[turns[0].start_char : turns[0].end_char]
        reviews = select(AuditLog).where(AuditLog.action.like("anonymise.review%"))
        details = [str(a.details) for a in session.scalars(reviews)]
        assert details and "'restored_in_text': True" in details[0] and "Smith" not in " ".join(details)

    # The changed segments have no vector yet: the next batch run embeds them.
    assert backfill_embeddings(settings) >= 1

    rotated = ring.rotated()
    with session_scope(db_url) as session:
        rotate_map(session, rotated, "test")
    with session_scope(db_url) as session:
        kept = session.get(AnonymisationEvent, later[0]).encrypted_original
        assert rotated.current_only().decrypt(kept) == words[later[0]]


def _stored_with_events(session, text: str, ring: Keyring, *, style: str = "placeholder", keep: bool = True):  # type: ignore[no-untyped-def]
    """A SYNTHETIC transcript anonymised in ``style`` with its events (words kept unless ``keep`` is off)."""
    from pipeline.anonymise import encrypted_originals

    raw = _raw(text)
    transcript = Transcript(content_hash=f"{style}{keep}{len(text)}".ljust(64, "0"), source_name="s.txt", format="txt")
    session.add(transcript)
    session.flush()
    anonymiser = build_anonymiser(Settings(pseudonym_style=style))
    doc = anonymiser.anonymise_document(raw, DatabasePseudonymStore(session, ring))
    transcript.anonymised_text = doc.text
    originals = encrypted_originals(raw, doc, ring) if keep else None
    events = record_events(session, transcript.id, doc, review_threshold=1.1, originals=originals)
    session.flush()
    return transcript, events


def test_undo_without_kept_words_or_with_moved_text_leaves_everything_alone(db_url: str) -> None:
    """An event recorded without its words (before migration 0004) keeps its placeholder; a place that no
    longer shows it is refused before the event, the term lists or the text change; no restore without
    the key."""
    ring = Keyring.generate()
    with session_scope(db_url) as session:
        transcript, events = _stored_with_events(session, "a lad called zandrokel said hi", ring, keep=False)
        decide(session, events[0].id, "undo", "lead", ring, restore=True)
        assert events[0].status == "undone" and "zandrokel" not in (transcript.anonymised_text or "")
    with session_scope(db_url) as session:
        transcript, events = _stored_with_events(session, "later Kieran Walsh rang the school", ring)
        with pytest.raises(ReviewError, match="re-identification key"):
            decide(session, events[0].id, "undo", "lead", None, restore=True)
        transcript.anonymised_text = "moved " + (transcript.anonymised_text or "")
        session.flush()
        terms_before = session.scalars(select(TermList)).all()
        with pytest.raises(ReviewError, match="no longer shows its placeholder"):
            decide(session, events[0].id, "undo", "lead", ring, restore=True)
        assert events[0].status == "needs_review" and session.scalars(select(TermList)).all() == terms_before
        assert "Kieran" not in transcript.anonymised_text


def test_undo_restores_surrogates_and_several_places_in_one_transcript(db_url: str) -> None:
    """Surrogate style shows "[Alex Ashdown]" rather than the placeholder: the words still come back; two
    undos in one session each land at their own place."""
    ring = Keyring.generate()
    text = "Kieran Walsh was referred by Mrs Ahmed after he posted on @kez_w88 from Rochdale."
    with session_scope(db_url, immediate=True) as session:
        transcript, events = _stored_with_events(session, text, ring, style="surrogate")
        people = [e for e in events if e.entity_type == "PERSON"]
        shown = transcript.anonymised_text or ""
        assert len(people) >= 2 and all(shown[e.start_char : e.end_char] != e.placeholder for e in people)
        for event in people:
            decide(session, event.id, "undo", "lead", ring, restore=True)
        restored = transcript.anonymised_text or ""
        assert "Kieran Walsh was referred by Mrs Ahmed" in restored, restored
        others = [e for e in events if e.entity_type != "PERSON"]
        assert others and all(restored[e.start_char : e.end_char] == e.placeholder for e in others)


def _undo_in_own_transaction(url: str, event_id: int, key: bytes) -> None:
    with session_scope(url, immediate=True) as session:
        decide(session, event_id, "undo", "lead", Keyring((key,)), restore=True)


def test_two_reviewers_restoring_in_one_transcript_at_once_both_land(db_url: str) -> None:
    """Two undos of the same transcript from two threads at the same time: the transcript lock makes the
    second work from the first's offsets, so both words come back and every offset still fits."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.store.models import Segment

    ring = Keyring.generate()
    text = "Kieran Walsh rang. Later Ayesha Ahmed rang. Then Mrs Ahmed wrote to the school in Rochdale."
    with session_scope(db_url) as session:
        transcript, events = _stored_with_events(session, text, ring)
        tid = transcript.id
        people = [e.id for e in events if e.entity_type == "PERSON"][:2]
    assert len(people) == 2
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda event_id: _undo_in_own_transaction(db_url, event_id, ring.keys[0]), people))
    with session_scope(db_url) as session:
        stored = session.get(Transcript, tid).anonymised_text or ""
        assert stored.startswith("Kieran Walsh rang. Later Ayesha Ahmed rang."), stored
        for event in session.scalars(select(AnonymisationEvent).where(AnonymisationEvent.transcript_id == tid)):
            if event.status != "undone":
                assert stored[event.start_char : event.end_char] == event.placeholder
        for segment in session.scalars(select(Segment).where(Segment.transcript_id == tid)):
            assert segment.text == stored[segment.start_char : segment.end_char]


def test_an_undo_can_be_taken_back_and_the_place_is_masked_again(db_url: str) -> None:
    """Restore, then confirm after all: the placeholder is back at its place with every offset fitting,
    the term leaves the allow list for the deny list, and the next transcript masks it again. A confirmed
    replacement still cannot be undone."""
    ring = Keyring.generate()
    anon = build_anonymiser(Settings())
    text = "a lad called zandrokel ran the chat, and Kieran Walsh rang about zandrokel later"
    with session_scope(db_url, immediate=True) as session:
        transcript, events = _stored_with_events(session, text, ring)
        masked = transcript.anonymised_text
        first = events[0]
        decide(session, first.id, "undo", "lead", ring, restore=True)
        assert transcript.anonymised_text.startswith("a lad called zandrokel ran the chat")
        decide(session, first.id, "confirm", "lead", ring)
        assert transcript.anonymised_text == masked
        for event in events:
            assert masked[event.start_char : event.end_char] == event.placeholder
        assert first.status == "confirmed"
        kinds = [row.kind for row in session.scalars(select(TermList))]
        assert kinds == ["deny"], kinds
        with pytest.raises(ReviewError, match="already decided"):
            decide(session, first.id, "undo", "lead", ring, restore=True)
    with session_scope(db_url) as session:
        again = anon.anonymise("zandrokel turned up again", DatabasePseudonymStore(session, ring))
        assert "zandrokel" not in again.text
        actions = [a.action for a in session.scalars(select(AuditLog))]
        assert "termlist.allow.remove" in actions


def test_taking_back_keeps_the_transcripts_look_and_what_other_undos_need(db_url: str) -> None:
    """Surrogate style: a taken-back person shows the same surrogate as before. Two mentions under one
    placeholder, both undone: taking back one keeps the allow entry the other still stands on."""
    ring = Keyring.generate()
    text = "Kieran Walsh was referred by Mrs Ahmed after a call from the school in Rochdale."
    with session_scope(db_url, immediate=True) as session:
        transcript, events = _stored_with_events(session, text, ring, style="surrogate")
        masked = transcript.anonymised_text
        person = next(e for e in events if e.entity_type == "PERSON")
        decide(session, person.id, "undo", "lead", ring, restore=True)
        assert transcript.anonymised_text != masked
        decide(session, person.id, "confirm", "lead", ring)
        assert transcript.anonymised_text == masked
    with session_scope(db_url, immediate=True) as session:
        transcript, events = _stored_with_events(session, "a lad called zandrokel said hi; later zandrokel left", ring)
        mentions = [e for e in events if e.placeholder == events[0].placeholder]
        assert len(mentions) == 2
        for event in mentions:
            decide(session, event.id, "undo", "lead", ring, restore=True)
        decide(session, mentions[0].id, "confirm", "lead", ring)
        stored = transcript.anonymised_text or ""
        assert stored.endswith("later zandrokel left") and "called zandrokel" not in stored
        kinds = sorted(row.kind for row in session.scalars(select(TermList)))
        assert kinds.count("allow") == 1, "the allow entry stays for the mention still undone"
