"""REFI-QDA project export: structure, schema validity, exact offsets, determinism, privacy, audit.

Runs on SQLite and PostgreSQL (``db_url``) against the SYNTHETIC project of ``test_export_fixtures``.
Schema checks read the official REFI project XSD from ../shared/eval/refi_qda and skip without it.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
import zipfile
from pathlib import Path

import defusedxml.ElementTree
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pipeline.codebook.refi import codebook_to_qdc
from pipeline.errors import ExportError
from pipeline.export import export_qdpx, guids, parse_project, read_qdpx, read_source_text, validate_qde
from pipeline.export.records import PROJECT_SOURCES
from pipeline.export.refi import RefiCode
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, Coding, Segment, Transcript
from tests.conftest import eval_path
from tests.test_export_fixtures import RAW_ONLY, T1_FILE, SeededProject, seed_project


def _xsd() -> Path:
    return eval_path("refi_qda", "Project-mrt2019.xsd")


def _export(url: str, path: Path, **kwargs) -> object:  # type: ignore[no-untyped-def]
    with session_scope(url) as session:
        return export_qdpx(session, path, actor="tester", **kwargs)


def _qde(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read("project.qde")


@pytest.fixture
def seeded(db_url: str) -> SeededProject:
    return seed_project(db_url)


def _db_codings(url: str) -> set[tuple[int, str, str]]:
    """(segment id, code, coder) of applied project decisions, read straight from the table."""
    with session_scope(url) as session:
        rows = session.execute(
            select(Coding.segment_id, Coding.code_key, Coding.coder).where(
                Coding.applied.is_(True), Coding.source.in_(PROJECT_SOURCES)
            )
        )
        return {(int(s), str(c), str(u)) for s, c, u in rows}


def _code_key(code: RefiCode) -> str:
    """The qualcode id a code carries in its description (``[qualcode id: x]``), else its name."""
    match = re.search(r"\[qualcode id: ([a-z0-9_]+)\]", code.description or "")
    return match.group(1) if match else code.name


def _exported_codings(path: Path, url: str) -> set[tuple[int, str, str]]:
    """(segment id, code, coder) read back from the archive, mapping selections to segments by offsets."""
    project = read_qdpx(path)
    code_keys = {guid: _code_key(code) for guid, code in project.code_by_guid().items()}
    with session_scope(url) as session:
        by_offsets = {
            (guids.source_guid(h), s, e): seg
            for seg, s, e, h in session.execute(
                select(Segment.id, Segment.start_char, Segment.end_char, Transcript.content_hash).join(Transcript)
            )
        }
    out = set()
    for source in project.text_sources:
        for selection in source.selections:
            segment = by_offsets[(source.guid, selection.start, selection.end)]
            for coding in selection.codings:
                out.add((segment, code_keys[coding.code_guid], project.users[coding.user_guid or ""]))
    return out


def test_archive_holds_project_and_anonymised_sources(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "project.qdpx"
    summary = _export(db_url, out)
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert "project.qde" in names
        texts = sorted(
            archive.read(n).decode("utf-8") for n in names if n.startswith("Sources/") and n.endswith(".txt")
        )
    # Three transcripts with text; the quarantined file has none and is not exported.
    assert texts == sorted(seeded.anonymised.values())
    assert (summary.sources, summary.selections, summary.notes, summary.codes_not_in_codebook) == (3, 6, 1, 1)
    assert summary.codings == len(_db_codings(db_url))


def test_project_xml_validates_against_official_schema(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    xsd = _xsd()
    for resolve in ("all", "adjudicated"):
        out = tmp_path / f"{resolve}.qdpx"
        _export(db_url, out, resolve=resolve, validate_with=xsd)  # validate_with raises when invalid
        assert validate_qde(_qde(out), xsd) == []


def test_validate_qde_reports_schema_problems_and_refuses_entities(tmp_path: Path) -> None:
    xsd = _xsd()
    missing_attr = (
        b'<Project xmlns="urn:QDA-XML:project:1.0" name="p"><CodeBook><Codes>'
        b'<Code guid="9995ec92-710b-50ba-b7a0-55aeb4867de8" name="x"/></Codes></CodeBook></Project>'
    )
    problems = validate_qde(missing_attr, xsd)
    assert len(problems) == 1 and "isCodable" in problems[0]
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<Project xmlns="urn:QDA-XML:project:1.0" name="&b;"/>'
    )
    refused = validate_qde(bomb, xsd)
    assert refused and "refused" in refused[0]
    with pytest.raises(ExportError, match="DTDs and entities"):
        parse_project(bomb)


def test_selection_offsets_slice_the_exported_text_exactly(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "p.qdpx"
    _export(db_url, out)
    project = read_qdpx(out)
    with session_scope(db_url) as session:
        texts = {
            (guids.source_guid(h), s, e): t
            for s, e, t, h in session.execute(
                select(Segment.start_char, Segment.end_char, Segment.text, Transcript.content_hash).join(Transcript)
            )
        }
    checked = 0
    byte_offsets_differ = False
    for source in project.text_sources:
        text = read_source_text(out, source.plain_text_path or "")
        for sel in source.selections:
            assert text[sel.start : sel.end] == texts[(source.guid, sel.start, sel.end)]
            byte_offsets_differ |= len(text[: sel.start].encode("utf-8")) != sel.start
            checked += 1
    assert checked == 6
    # After "—", "é" and a non-BMP emoji, byte and character offsets part ways: positions are characters.
    assert byte_offsets_differ


def test_codings_are_the_applied_decisions_per_coder(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "p.qdpx"
    _export(db_url, out)
    assert _exported_codings(out, db_url) == _db_codings(db_url)
    project = read_qdpx(out)
    assert sorted(project.users.values()) == ["alice", "bob", "lead", "model:v1", "qualcode"]
    assert project.users[guids.user_guid("alice")] == "alice"  # stable GUID per coder name


def test_adjudicated_resolution_replaces_coders(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "adj.qdpx"
    _export(db_url, out, resolve="adjudicated")
    got = _exported_codings(out, db_url)
    seg = seeded.segments
    delay = {(s, c, u) for s, c, u in got if c == "referral_delay"}
    # T1 seg 2: alice yes, lead no -> nothing. T1 seg 3: bob yes, lead yes -> only the lead. Model untouched.
    assert delay == {(seg[("T1", 3)], "referral_delay", "lead"), (seg[("T2", 1)], "referral_delay", "model:v1")}
    assert (seg[("T1", 1)], "referral_route", "alice") in got  # pairs without a resolution keep every coder
    assert (seg[("T1", 1)], "family_support", "bob") in got

    # Filtering coders keeps the leads' resolutions: they stand whoever made them.
    alice = tmp_path / "alice.qdpx"
    _export(db_url, alice, resolve="adjudicated", coders=["alice"])
    got = _exported_codings(alice, db_url)
    assert {u for _s, _c, u in got} == {"alice", "lead"}
    assert (seg[("T1", 2)], "referral_delay", "alice") not in got


def test_export_is_byte_identical_when_nothing_changed(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    first, second = tmp_path / "a.qdpx", tmp_path / "b.qdpx"
    _export(db_url, first)
    _export(db_url, second)
    assert first.read_bytes() == second.read_bytes()


def test_codebook_notes_variables_and_cases(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "p.qdpx"
    _export(db_url, out)
    project = read_qdpx(out)
    codes = project.code_by_guid()
    by_key = {_code_key(code): code for code in codes.values()}
    route = by_key["referral_route"]
    assert route.is_codable
    assert (route.description or "").startswith(seeded.codebook.code("referral_route").definition)
    theme = codes[route.parent_guid or ""]
    assert (theme.name, theme.is_codable) == ("Referral", False)
    orphan = by_key["school_involvement"]
    assert codes[orphan.parent_guid or ""].name == "Not in codebook"
    # The CodeBook is the .qdc exporter's: same GUIDs as a codebook-only export of the same codebook.
    qdc = defusedxml.ElementTree.fromstring(codebook_to_qdc(seeded.codebook))
    assert {c.get("guid") for c in qdc.iter("{urn:QDA-XML:codebook:1.0}Code")} <= set(codes)

    noted = [c for s in project.text_sources for sel in s.selections for c in sel.codings if c.note_guids]
    assert len(noted) == 1
    assert project.notes[noted[0].note_guids[0]] == "Delay of three weeks; see [PHONE_1] call."

    t1 = next(s for s in project.text_sources if s.guid == guids.source_guid(_hash(db_url, "T1", seeded)))
    assert t1.variables == {"site_code": "S01", "participant_role": "social worker", "interview_date": "2026-03-01"}
    assert len(project.cases["site S01"]) == 2 and len(project.cases["site S02"]) == 1


def _hash(url: str, label: str, seeded: SeededProject) -> str:
    with session_scope(url) as session:
        return session.get(Transcript, seeded.transcripts[label]).content_hash


def test_filters_by_coder_and_source(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    only_alice = tmp_path / "alice.qdpx"
    _export(db_url, only_alice, coders=["alice"])
    assert {u for _s, _c, u in _exported_codings(only_alice, db_url)} == {"alice"}
    only_model = tmp_path / "model.qdpx"
    summary = _export(db_url, only_model, include_sources=["model"])
    assert summary.codings == 1
    with pytest.raises(ExportError, match="unknown coding source"):
        _export(db_url, tmp_path / "x.qdpx", include_sources=["gossip"])
    with pytest.raises(ExportError, match="only anonymised text"):
        _export(db_url, tmp_path / "x.qdpx", sources="raw")
    assert not (tmp_path / "x.qdpx").exists()


def test_no_raw_text_or_file_names_leak(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "p.qdpx"
    _export(db_url, out, hide_file_names=True)
    with zipfile.ZipFile(out) as archive:
        blob = "\n".join(archive.read(n).decode("utf-8") for n in archive.namelist() if not n.endswith("/"))
    for token in RAW_ONLY:
        assert token not in blob
    assert "jane" not in blob.lower() and T1_FILE not in blob
    assert "[PERSON_1]" in blob  # the anonymised text is there


def test_audit_row_counts_without_text(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    summary = _export(db_url, tmp_path / "p.qdpx")
    with session_scope(db_url) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "export.qdpx")).all()
        segment_texts = list(session.scalars(select(Segment.text)))
    assert len(rows) == 1
    row = rows[0]
    assert row.actor == "tester"
    assert row.details["codings"] == summary.codings and row.details["path"] == "p.qdpx"
    dumped = json.dumps(row.details)
    assert not any(text in dumped for text in segment_texts)


def test_inconsistent_offsets_fail_and_keep_the_previous_file(
    seeded: SeededProject, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "p.qdpx"
    _export(db_url, out)
    before = out.read_bytes()
    with session_scope(db_url) as session:
        session.get(Segment, seeded.segments[("T1", 1)]).end_char = 10_000
    with pytest.raises(ExportError, match="outside its text"):
        _export(db_url, out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_reads_the_refi_sample_project() -> None:
    """The ATLAS.ti sample (via sky-loom/refi-qda) parses with the same reader and validates."""
    archive = eval_path("refi_qda", "TestProject.qdpx")
    project = read_qdpx(archive)
    assert len(project.users) == 3
    assert len(project.codes) == 14
    assert len(project.text_sources) == 6
    assert sum(len(s.selections) for s in project.text_sources) == 6  # + 2 in PDF text representations
    assert project.n_text_selections == 8
    assert project.n_codings == 16
    first = next(sel for src in project.text_sources for sel in src.selections if sel.start == 139)
    assert first.end - first.start == len("Oh, that was great. See you tomorrow? Eleven thirty. Mm.")
    assert validate_qde(eval_path("refi_qda", "Project.qde").read_bytes(), _xsd()) == []


def test_codebook_reads_back_from_the_project_export(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    """Interoperability with qualcode's own REFI importer: the project's codebook round-trips by id."""
    from pipeline.codebook.refi import import_refi_codebook

    out = tmp_path / "p.qdpx"
    _export(db_url, out, include_sources=["blind", "adjudication"])  # no code outside the codebook
    book = import_refi_codebook(out, name=seeded.codebook.name, version=seeded.codebook.version)
    original = seeded.codebook
    assert [t.id for t in book.themes] == [t.id for t in original.themes]
    assert [(c.id, c.name, c.definition, c.theme_id) for c in book.codes] == [
        (c.id, c.name, c.definition, c.theme_id) for c in original.codes
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_offsets_are_exact_for_any_text(sqlite_url: str, tmp_path: Path, data: st.DataObject) -> None:
    """Property: whatever the characters (accents, emoji, CR/LF, control characters), every exported
    selection slices the exported source to exactly the stored segment text. SYNTHETIC random text."""
    text = data.draw(st.text(st.characters(blacklist_categories=("Cs",)), min_size=2, max_size=300))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(text) - 1), max_size=6)) | {0, len(text)})
    digest = uuid.uuid4().hex * 2
    with session_scope(sqlite_url) as session:
        row = Transcript(content_hash=digest, source_name="random.txt", format="txt", anonymised_text=text,
                         status="done")
        session.add(row)
        session.flush()
        for i, (start, end) in enumerate(itertools.pairwise(cuts)):
            seg = Segment(
                transcript_id=row.id, index=i, start_char=start, end_char=end, text=text[start:end], text_hash=str(i)
            )
            session.add(seg)
            session.flush()
            session.add(Coding(segment_id=seg.id, code_key="c", coder="alice", applied=True, source="manual"))
    out = tmp_path / f"{digest[:8]}.qdpx"
    _export(sqlite_url, out)
    source = next(s for s in read_qdpx(out).text_sources if s.guid == guids.source_guid(digest))
    exported = read_source_text(out, source.plain_text_path or "")
    assert exported == text
    assert [exported[s.start : s.end] for s in source.selections] == [text[a:b] for a, b in itertools.pairwise(cuts)]
