"""Readers on SYNTHETIC files written by each test: every format, malformed files of each kind, encodings,
size limits, speaker roles and the privacy rule that errors and reprs never carry file text.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from pipeline.errors import InputFileError
from pipeline.ingest import (
    READERS,
    RawTurn,
    ReadResult,
    assign_role,
    assign_roles,
    read_document,
    register_reader,
)
from pipeline.settings import Settings

#: A string that must never appear in an error message, a reason or a repr.
SECRET = "Zephyrine Quillfeather"


def _settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


def _error(path: Path, settings: Settings | None = None) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        read_document(path, settings)
    err = info.value
    assert SECRET not in str(err) and SECRET not in err.reason
    assert "\n" not in err.reason
    assert str(err).startswith(path.name)
    return err


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------------------------------
# .txt
# --------------------------------------------------------------------------------------------------
def test_txt_speaker_label_styles_and_continuations(tmp_path: Path) -> None:
    text = (
        "# SYNTHETIC test transcript\n"
        "Interview 4, recorded remotely\n"
        "\n"
        "[00:01:02] Interviewer: How did the referral arrive?\n"
        f"SW1 (social worker): Through the MASH. {SECRET} rang us.\n"
        "It went to Prevent the same day.\n"
        "\n"
        "Then we held a strategy meeting.\n"
        "INT: And then?\n"
        "Jo Smith: I joined later.\n"
        "SW1 (social worker): Note: this was a Friday.\n"
        "P3: Yes.\n"
        "Jo Smith: Agreed.\n"
    )
    doc = read_document(_write(tmp_path / "t.txt", text))
    assert doc.kind == "interview" and doc.format == "txt"
    assert doc.header == ["# SYNTHETIC test transcript", "Interview 4, recorded remotely"]
    assert doc.is_synthetic and doc.metadata["synthetic"] is True
    assert [t.speaker for t in doc.turns] == [
        "Interviewer", "SW1 (social worker)", "INT", "Jo Smith", "SW1 (social worker)", "P3", "Jo Smith",
    ]
    assert doc.turns[0].start_time == 62.0
    assert doc.turns[1].text == (
        f"Through the MASH. {SECRET} rang us.\nIt went to Prevent the same day.\n\nThen we held a strategy meeting."
    )
    # "Note:" opens one line only and is not a role word, so it stays text
    assert doc.turns[4].text == "Note: this was a Friday."
    assert [t.role for t in doc.turns] == [
        "interviewer", "unknown", "interviewer", "unknown", "unknown", "participant", "unknown",
    ]
    assert doc.speakers == ["Interviewer", "SW1 (social worker)", "INT", "Jo Smith", "P3"]


def test_txt_without_labels_is_a_document_of_paragraphs(tmp_path: Path) -> None:
    text = "The panel met in March.\nIt agreed a plan.\n\n\nThe review: findings follow.\n\nLast paragraph."
    doc = read_document(_write(tmp_path / "doc.txt", text))
    assert doc.kind == "document"
    assert [t.text for t in doc.turns] == [
        "The panel met in March. It agreed a plan.",
        "The review: findings follow.",
        "Last paragraph.",
    ]
    assert all(t.speaker is None and t.role == "unknown" for t in doc.turns)


def test_repeated_capitalised_phrase_becomes_a_speaker_but_a_single_one_does_not(tmp_path: Path) -> None:
    doc = read_document(_write(tmp_path / "names.txt", "Sam: Hello.\nAlex Smith: Hi.\nSam: Bye.\nAlex Smith: Bye.\n"))
    assert [t.speaker for t in doc.turns] == ["Sam", "Alex Smith", "Sam", "Alex Smith"]
    doc = read_document(_write(tmp_path / "once.txt", "Summary: one line with a colon.\n\nAnother paragraph.\n"))
    assert doc.kind == "document" and len(doc.turns) == 2


def test_otter_style_name_and_time_lines(tmp_path: Path) -> None:
    text = (
        "Interview started 10:05\n\n"
        "Jo Smith  0:03\nSo tell me about the referral.\n\n"
        "Sam Patel  0:09\nIt came through the MASH.\nThen Prevent.\n\n"
        "Jo Smith  1:02:15\nThanks.\n"
    )
    doc = read_document(_write(tmp_path / "otter.txt", text))
    assert doc.header == ["Interview started 10:05"]  # a one-off "words time" line is not a speaker
    assert [(t.speaker, t.text, t.start_time) for t in doc.turns] == [
        ("Jo Smith", "So tell me about the referral.", 3.0),
        ("Sam Patel", "It came through the MASH.\nThen Prevent.", 9.0),
        ("Jo Smith", "Thanks.", 3735.0),
    ]


def test_word_line_and_page_breaks_are_newlines(tmp_path: Path) -> None:
    doc = read_document(_write(tmp_path / "vt.txt", "Interviewer: one\x0bstill one\x0cP1: two\r\nmore\rend"))
    assert [(t.speaker, t.text) for t in doc.turns] == [("Interviewer", "one\nstill one"), ("P1", "two\nmore\nend")]


def test_content_hash_is_sha256_of_raw_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path / "h.txt", "Interviewer: a\nP1: b\n")
    assert read_document(path).content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b""), ("utf-8-sig", b""), ("utf-16", b""), ("cp1252", b"")],
)
def test_txt_encodings(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    text = (
        "Interviewer: Was the café on the High Street involved? It cost £5 – that’s what she said.\n"
        "P1: Yes, and the naïve résumé was in the file; the MASH had it by then and Prevent knew.\n"
    )
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(prefix + text.encode(encoding))
    doc = read_document(path)
    assert [t.text for t in doc.turns] == [line.split(": ", 1)[1] for line in text.splitlines()]


def test_txt_undecodable_and_binary(tmp_path: Path) -> None:
    noise = bytes(range(128, 256)) * 20
    err = _error(_write_bytes(tmp_path / "noise.txt", noise))
    assert "undecodable text" in err.reason

    err = _error(_write_bytes(tmp_path / "nul.txt", b"Interviewer: hi\x00\x00\x00" + SECRET.encode()))
    assert err.reason == "binary file: contains NUL bytes"

    err = _error(_write_bytes(tmp_path / "renamed.txt", b"%PDF-1.4\n" + SECRET.encode()))
    assert "looks like a PDF" in err.reason

    err = _error(_write_bytes(tmp_path / "ctl.txt", ("\x01\x02\x03 " * 40 + SECRET).encode()))
    assert "control characters" in err.reason

    err = _error(_write_bytes(tmp_path / "bad16.txt", b"\xff\xfe" + b"\x00\xd8" * 3))
    assert "undecodable text" in err.reason


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_empty_whitespace_and_oversized(tmp_path: Path) -> None:
    assert _error(_write_bytes(tmp_path / "empty.txt", b"")).reason == "empty file (0 bytes)"
    assert "no text" in _error(_write(tmp_path / "blank.txt", " \n\n\t\n")).reason
    assert "no text" in _error(_write(tmp_path / "header_only.txt", "# SYNTHETIC\n# nothing else\n")).reason
    big = _write(tmp_path / "big.txt", "Interviewer: " + "word " * 1000)
    err = _error(big, _settings(max_file_bytes=1024))
    assert "over the" in err.reason and "max_file_bytes" in err.reason
    assert read_document(big, _settings(max_file_bytes=10_000)).turns


def test_unsupported_and_missing(tmp_path: Path) -> None:
    assert "unsupported file type .rtf" in _error(_write(tmp_path / "x.rtf", "hi")).reason
    assert "cannot be read" in _error(tmp_path / "missing.txt").reason


def test_reprs_never_show_text(tmp_path: Path) -> None:
    doc = read_document(_write(tmp_path / "r.txt", f"Interviewer: {SECRET}\nP1: {SECRET}\n"))
    assert SECRET not in repr(doc) and SECRET not in repr(doc.turns) and SECRET not in repr(doc.turns[0])
    assert SECRET not in repr(ReadResult(turns=doc.turns))


# --------------------------------------------------------------------------------------------------
# roles
# --------------------------------------------------------------------------------------------------
def test_assign_role_patterns_and_notes() -> None:
    s = _settings()
    assert assign_role("Interviewer", s) == "interviewer"
    assert assign_role("INT", s) == "interviewer"
    assert assign_role("Q", s) == "interviewer"
    assert assign_role("P3", s) == "participant"
    assert assign_role("Respondent 2", s) == "participant"
    assert assign_role("Jo Smith (interviewer)", s) == "interviewer"
    assert assign_role("SW1 (participant)", s) == "participant"
    assert assign_role("Jo Smith", s) == "unknown"
    assert assign_role(None, s) == "unknown"
    custom = _settings(speaker_interviewer_patterns=[r"^researcher\b"], speaker_participant_patterns=[r"^sw\d+"])
    assert assign_role("SW1 (social worker)", custom) == "participant"
    assert assign_role("Interviewer", custom) == "unknown"


def test_two_speaker_rule_both_directions_and_not_for_three() -> None:
    s = _settings()
    turns = [RawTurn("a", "Interviewer"), RawTurn("b", "Jo Smith"), RawTurn("c", "interviewer")]
    assign_roles(turns, s)
    assert [t.role for t in turns] == ["interviewer", "participant", "interviewer"]
    turns = [RawTurn("a", "Sam Patel"), RawTurn("b", "P1")]
    assign_roles(turns, s)
    assert [t.role for t in turns] == ["interviewer", "participant"]
    turns = [RawTurn("a", "Interviewer"), RawTurn("b", "Jo"), RawTurn("c", "Sam"), RawTurn("d")]
    assign_roles(turns, s)
    assert [t.role for t in turns] == ["interviewer", "unknown", "unknown", "unknown"]


# --------------------------------------------------------------------------------------------------
# .docx
# --------------------------------------------------------------------------------------------------
def _docx(path: Path, build) -> Path:  # type: ignore[no-untyped-def]
    import docx

    document = docx.Document()
    build(document)
    document.save(str(path))
    return path


def test_docx_paragraphs_tables_and_ignored_headers(tmp_path: Path) -> None:
    def build(document) -> None:  # type: ignore[no-untyped-def]
        document.sections[0].header.paragraphs[0].text = f"Interview with {SECRET}"
        document.add_paragraph("# SYNTHETIC docx")
        p = document.add_paragraph()
        p.add_run("Interviewer:").bold = True
        p.add_run(" First question?")
        document.add_paragraph("P1: First answer.")
        document.add_paragraph("More of the first answer.")
        table = document.add_table(rows=1, cols=3)
        for cell, heading in zip(table.rows[0].cells, ("Time", "Speaker", "Text"), strict=True):
            cell.text = heading
        rows = [("00:02:00", "Interviewer", "Table question?"), ("00:02:10", "P1", "Table answer.")]
        for time, speaker, text in rows:
            cells = table.add_row().cells
            cells[0].text, cells[1].text, cells[2].text = time, speaker, text
        merged = table.add_row().cells
        merged[1].merge(merged[2])
        merged[0].text, merged[1].text = "00:03:00", "Interviewer"
        document.add_paragraph("P1: After the table.")

    doc = read_document(_docx(tmp_path / "t.docx", build))
    assert doc.format == "docx" and doc.kind == "interview"
    assert doc.header == ["# SYNTHETIC docx"]
    texts = [(t.speaker, t.text, t.start_time) for t in doc.turns]
    assert texts == [
        ("Interviewer", "First question?", None),
        ("P1", "First answer.\n\nMore of the first answer.", None),
        ("Interviewer", "Table question?", 120.0),
        ("P1", "Table answer.", 130.0),
        ("P1", "After the table.", None),
    ]
    assert all(SECRET not in t.text for t in doc.turns) and SECRET not in " ".join(doc.header)


def test_docx_malformed(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "plain.docx", f"Interviewer: {SECRET}"))
    assert "not a .docx" in err.reason

    err = _error(_write_bytes(tmp_path / "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100))
    assert "old Word .doc" in err.reason

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", SECRET)
    err = _error(_write_bytes(tmp_path / "zip.docx", buffer.getvalue()))
    assert "no word/document.xml" in err.reason

    good = _docx(tmp_path / "good.docx", lambda d: d.add_paragraph(f"Interviewer: {SECRET}"))
    err = _error(_write_bytes(tmp_path / "truncated.docx", good.read_bytes()[:3000]))
    assert err.reason.startswith("corrupt .docx")

    # a document part declaring an entity (a billion-laughs attempt): refused before parsing
    source = zipfile.ZipFile(good)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(
                    b"?>", b'?><!DOCTYPE w:document [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>', 1
                )
            archive.writestr(info, data)
    err = _error(_write_bytes(tmp_path / "entity.docx", buffer.getvalue()))
    assert "DTD or entities" in err.reason


def test_docx_zip_bomb_is_refused(tmp_path: Path) -> None:
    good = _docx(tmp_path / "good.docx", lambda d: d.add_paragraph("Interviewer: hello"))
    source = zipfile.ZipFile(good)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info))
        archive.writestr("word/media/padding.bin", b"\0" * (8 * 1024 * 1024))
    err = _error(_write_bytes(tmp_path / "bomb.docx", buffer.getvalue()))
    assert "zip bomb" in err.reason


# --------------------------------------------------------------------------------------------------
# .vtt / .srt
# --------------------------------------------------------------------------------------------------
VTT = """WEBVTT - SYNTHETIC test

NOTE SYNTHETIC — fictitious

00:00:01.000 --> 00:00:03.000
<v Interviewer>How did it start?

00:00:03.500 --> 00:00:06.000
<v.loud Jo Smith>On a <i>gaming</i> server &amp; then
in a chat.</v>

00:00:06.500 --> 00:00:08.250
<v Jo Smith>It got worse.

00:00:09.000 --> 00:00:10.000
<v Interviewer>Right.
<v Jo Smith>Yes.

00:00:10.500 --> 00:00:12.000
carried on without a voice tag
"""


def test_vtt_voice_tags_merge_and_timestamps(tmp_path: Path) -> None:
    doc = read_document(_write(tmp_path / "v.vtt", VTT))
    assert doc.format == "vtt" and doc.is_synthetic
    assert [(t.speaker, t.text, t.start_time, t.end_time) for t in doc.turns] == [
        ("Interviewer", "How did it start?", 1.0, 3.0),
        ("Jo Smith", "On a gaming server & then in a chat. It got worse.", 3.5, 8.25),
        ("Interviewer", "Right.", 9.0, 10.0),
        ("Jo Smith", "Yes. carried on without a voice tag", 9.0, 12.0),
    ]
    assert [t.role for t in doc.turns] == ["interviewer", "participant", "interviewer", "participant"]


def test_vtt_name_prefix_and_speakerless_pauses(tmp_path: Path) -> None:
    text = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nInterviewer: Hello.\n\n"
        "00:00:02.100 --> 00:00:03.000\nP1: Hi there.\n\n00:00:03.100 --> 00:00:04.000\nP1: Still me.\n"
    )
    doc = read_document(_write(tmp_path / "n.vtt", text))
    assert [(t.speaker, t.text) for t in doc.turns] == [("Interviewer", "Hello."), ("P1", "Hi there. Still me.")]

    text = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nFirst part.\n\n00:00:02.500 --> 00:00:03.000\nsame breath.\n\n"
        "00:00:09.000 --> 00:00:10.000\nAfter a pause.\n"
    )
    doc = read_document(_write(tmp_path / "p.vtt", text))
    assert [(t.speaker, t.text) for t in doc.turns] == [(None, "First part. same breath."), (None, "After a pause.")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"Interviewer: {SECRET}\n", "does not start with 'WEBVTT'"),
        (f"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n{SECRET}\n\n00:0x:03.000 --> 00:00:04.000\n{SECRET}\n", "cues"),
        (f"WEBVTT\n\n00:00:05.000 --> 00:00:02.000\n{SECRET}\n", "ends before it starts"),
        ("WEBVTT\n\nNOTE only a note\n", "no cues"),
    ],
)
def test_vtt_malformed(tmp_path: Path, text: str, reason: str) -> None:
    err = _error(_write(tmp_path / "bad.vtt", text))
    assert err.reason.startswith("malformed VTT") and reason in err.reason


def test_srt_timestamps_prefixes_and_continuations(tmp_path: Path) -> None:
    text = (
        "1\n01:02:03,500 --> 01:02:05,000\nInterviewer: Hello there.\n\n"
        "2\n01:02:05,500 --> 01:02:07,000\nHow are you?\n\n"
        "3\n01:02:08,000 --> 01:02:09,250\nKelly: Fine, thanks.\n\n"
        "4\n01:02:09,500 --> 01:02:11,000\n<i>And you?</i>\n\n"
        "5\n01:02:12,000 --> 01:02:13,000\nKelly: Bye.\n"
    )
    doc = read_document(_write(tmp_path / "s.srt", text))
    assert doc.format == "srt"
    assert [(t.speaker, t.text, t.start_time, t.end_time) for t in doc.turns] == [
        ("Interviewer", "Hello there. How are you?", 3723.5, 3727.0),
        ("Kelly", "Fine, thanks. And you? Bye.", 3728.0, 3733.0),
    ]
    assert [t.role for t in doc.turns] == ["interviewer", "participant"]


@pytest.mark.parametrize(
    "text",
    [
        f"{SECRET}\nno cues at all\n",
        f"1\n00:00:01,000 --> 00:00:02,000\n{SECRET}\n\n2\n00:00:03 --> 00:00:04\n{SECRET}\n",
    ],
)
def test_srt_malformed(tmp_path: Path, text: str) -> None:
    assert _error(_write(tmp_path / "bad.srt", text)).reason.startswith("malformed SRT")


# --------------------------------------------------------------------------------------------------
# .pdf
# --------------------------------------------------------------------------------------------------
def _pdf(pages: list[list[tuple[float, str]]], text_layer: bool = True) -> bytes:
    """A minimal PDF: each page a list of (font size, line) drawn top-down with Helvetica."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(len(pages)))
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for index, lines in enumerate(pages):
        y, ops = 780.0, []
        for size, line in lines:
            if not line:
                y -= 14
                continue
            escaped = line.encode("cp1252").replace(b"(", b"\\(").replace(b")", b"\\)")
            ops.append(b"BT /F1 %.1f Tf 60 %.1f Td (%s) Tj ET" % (size, y, escaped) if text_layer else b"0 0 m")
            y -= 14
        content = b"\n".join(ops) if text_layer else b"0.5 g 60 60 400 600 re f"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (5 + 2 * index)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PDF_PAGES = [
    [
        (9, "# SYNTHETIC test review"),
        (13, "1. Background"),
        (10, "The young person was referred by the school to the MASH after concerns were raised"),
        (10, "about material shared online with other pupils in the same year group."),
        (10, ""),
        (10, "The referral went to Prevent, and the Channel panel adopted the case within a"),
        (10, "month of the first concern."),
        (10, "1"),
    ],
    [
        (13, "2. Findings"),
        (10, "Information sharing between the police and children's social care was limited by an"),
        (10, "ongoing investigation."),
        (10, "2"),
    ],
]


def test_pdf_paragraphs_headings_header_and_page_numbers(tmp_path: Path) -> None:
    doc = read_document(_write_bytes(tmp_path / "r.pdf", _pdf(PDF_PAGES)))
    assert doc.kind == "document" and doc.format == "pdf"
    assert doc.header == ["# SYNTHETIC test review"]
    assert [t.text for t in doc.turns] == [
        "1. Background",
        "The young person was referred by the school to the MASH after concerns were raised "
        "about material shared online with other pupils in the same year group.",
        "The referral went to Prevent, and the Channel panel adopted the case within a month of the first concern.",
        "2. Findings",
        "Information sharing between the police and children's social care was limited by an ongoing "
        "investigation.",
    ]
    assert all(t.speaker is None for t in doc.turns)


def test_pdf_transcript_keeps_its_speakers(tmp_path: Path) -> None:
    """An interview exported to PDF is read like a .txt transcript: a turn per label, wrapped lines joined."""
    pages = [
        [
            (9, "# SYNTHETIC interview transcript"),
            (10, "Interviewer: How did the referral reach your team?"),
            (10, "P03: Through the MASH. The school had raised concerns about material shared online"),
            (10, "with other pupils, and the case was discussed at a strategy meeting within the"),
            (10, "week."),
            (10, "Interviewer: Who else attended?"),
        ],
        [
            (10, "P03: The Prevent officer and the designated safeguarding lead from the school."),
            (10, ""),
            (10, "We agreed a plan for the family that afternoon."),
            (10, "1"),
        ],
    ]
    doc = read_document(_write_bytes(tmp_path / "interview.pdf", _pdf(pages)))
    assert doc.kind == "interview" and doc.header == ["# SYNTHETIC interview transcript"]
    assert [(t.speaker, t.role) for t in doc.turns] == [
        ("Interviewer", "interviewer"),
        ("P03", "participant"),
        ("Interviewer", "interviewer"),
        ("P03", "participant"),
    ]
    assert doc.turns[1].text == (
        "Through the MASH. The school had raised concerns about material shared online with other pupils, and "
        "the case was discussed at a strategy meeting within the week."
    )
    assert doc.turns[3].text.endswith("school.\n\nWe agreed a plan for the family that afternoon.")
    # A report with a couple of "Note:" lines stays a document.
    report = [[(10, "Note: this review is SYNTHETIC."), (10, "The panel met twice."), (10, "Note: see annex.")]]
    assert read_document(_write_bytes(tmp_path / "report.pdf", _pdf(report))).kind == "document"


def test_pdf_without_text_layer_encrypted_and_corrupt(tmp_path: Path) -> None:
    err = _error(_write_bytes(tmp_path / "scan.pdf", _pdf([[(10, "x")]] * 2, text_layer=False)))
    assert err.reason == "no text layer (a scanned PDF?); OCR it first"

    from pypdf import PdfReader, PdfWriter

    def encrypted(user_password: str) -> bytes:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf(PDF_PAGES))))
        writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
        buffer = io.BytesIO()
        writer.write(buffer)
        return buffer.getvalue()

    err = _error(_write_bytes(tmp_path / "locked.pdf", encrypted("user-secret")))
    assert err.reason.startswith("encrypted PDF")
    # an empty user password only restricts editing: the text is readable
    assert len(read_document(_write_bytes(tmp_path / "owner_only.pdf", encrypted(""))).turns) == 5

    assert "not a PDF" in _error(_write(tmp_path / "fake.pdf", f"Interviewer: {SECRET}")).reason
    err = _error(_write_bytes(tmp_path / "broken.pdf", b"%PDF-1.4\n" + SECRET.encode() + b"\n%%EOF"))
    assert err.reason.startswith("corrupt PDF")


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------
def test_register_reader_plugs_in_a_format(tmp_path: Path) -> None:
    def read_md(path: Path, data: bytes, settings: Settings) -> ReadResult:
        lines = data.decode("utf-8").splitlines()
        turns = [RawTurn(line.lstrip("- ")) for line in lines if line.startswith("- ")]
        return ReadResult(turns=turns, kind="document")

    register_reader("MD", read_md)
    try:
        doc = read_document(_write(tmp_path / "notes.md", "# title\n- one\n- two\n"))
        assert doc.format == "md" and [t.text for t in doc.turns] == ["one", "two"]
    finally:
        READERS.pop(".md")
