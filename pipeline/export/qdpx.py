"""Export coded work as a REFI-QDA project (``.qdpx``) for NVivo, ATLAS.ti, MAXQDA and QualCoder.

What goes in, and why:

* **Users**: one per coder whose decisions are exported (a model counts as the coder ``model:<version>``)
  plus ``qualcode`` for the sources. GUIDs are UUID5 of the coder's name, so a coder is the same user in
  every export.
* **CodeBook**: written by the codebook's own REFI writer (``pipeline.codebook.refi``, see
  ``pipeline.export.codebook_xml``): each theme is a parent ``Code`` with ``isCodable="false"`` (coders
  never apply a theme itself) and its codes nested under it with ``isCodable="true"``; a code's
  ``Description`` is its definition, then its include/exclude rules and examples. Codes that decisions
  use but the codebook lacks go under a non-codable parent "Not in codebook".
* **Sources**: one ``TextSource`` per transcript whose text is the *anonymised* text, stored as UTF-8 in
  ``Sources/<guid>.txt`` and referenced as ``internal://<guid>.txt``. Raw text is never stored by qualcode,
  so it cannot be exported.
* **PlainTextSelection** per coded segment, at the segment's character offsets (see
  ``pipeline.export.refi`` for the position convention), holding one ``Coding`` per (code, coder) with
  ``creatingUser`` set to that coder. Only ``applied`` decisions become codings: REFI has no way to say
  "this code does not apply".
* **Notes**: a coder's note on a decision becomes a ``Note`` referenced from the coding's ``NoteRef``.
* **Variables and Cases**: ``site_code``, ``participant_role`` and ``interview_date`` become variables with
  values on each source, and each site becomes a ``Case`` holding its transcripts (NVivo imports
  attributes through cases, MAXQDA through document variables).

``resolve="adjudicated"``: for a (segment, code) a lead has adjudicated, the lead's latest resolution
replaces the coders' decisions (it is exported when it says "applies", and nothing is when it says
"does not apply"); other pairs keep every coder's codings.

Determinism: GUIDs are derived from identifiers (``pipeline.export.guids``), elements are sorted by stable
keys, timestamps come from the database, and zip members get a fixed date, so exporting an unchanged
database twice gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree as ET

from sqlalchemy.orm import Session

from pipeline.codebook import Codebook
from pipeline.errors import ExportError
from pipeline.export import guids
from pipeline.export._files import SummaryDict, atomic_output, iso_utc, naming
from pipeline.export.codebook_xml import project_codebook
from pipeline.export.records import (
    ADJUDICATION,
    PROJECT_SOURCES,
    CodingRecord,
    Filters,
    SourceRecord,
    iter_codings,
    latest_adjudications,
    list_sources,
    resolve_codebook,
    source_text,
)
from pipeline.export.refi import (
    INTERNAL,
    NS,
    QDE_NAME,
    SCHEMA_LOCATION,
    SOURCES_DIR,
    XSI,
    validate_qde,
)
from pipeline.store.audit import audit

Resolve = Literal["all", "adjudicated"]
SourceText = Literal["anonymised"]
SYSTEM_USER = "qualcode"
#: Zip member timestamp: fixed, so archives of equal content are byte-identical (zip's epoch is 1980).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class QdpxSummary(SummaryDict):
    """Counts of what an export wrote (what the audit row and the CLI report; no text)."""

    path: Path
    sources: int
    selections: int
    codings: int
    users: int
    codes: int
    notes: int
    codes_not_in_codebook: int
    resolve: str
    coding_sources: tuple[str, ...]



# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------
def _clean(value: str) -> str:
    """Text safe for XML 1.0: characters XML cannot carry (most control characters) become U+FFFD."""
    return _XML_ILLEGAL.sub("\ufffd", value)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str | None) -> ET.Element:
    """Append a child element. Tags are written unprefixed: the root declares the REFI namespace as the
    default (``xmlns=...``), which ElementTree cannot do for qualified names mixed with plain attributes."""
    element = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = _clean(text)
    return element


def _source_label(source: SourceRecord, hide_file_names: bool) -> str:
    """The name a QDA package shows for a source: its file name, or a neutral label from its hash."""
    if hide_file_names:
        return f"transcript {source.content_hash[:12]}"
    return source.name


# --------------------------------------------------------------------------------------------------
# Selecting decisions
# --------------------------------------------------------------------------------------------------
def select_codings(session: Session, filters: Filters, resolve: Resolve) -> list[CodingRecord]:
    """The applied decisions to export, after the adjudication rule (see the module docstring)."""
    if resolve not in ("all", "adjudicated"):
        raise ExportError(None, f"resolve must be 'all' or 'adjudicated', not {resolve!r}")
    applied = list(iter_codings(session, filters, applied_only=True))
    if resolve == "all":
        return applied
    # A lead's resolution stands whoever made it: ``coders`` and ``include_sources`` filter coders only.
    leads = Filters((ADJUDICATION,), None)
    applied = [r for r in applied if r.source != ADJUDICATION]
    applied += iter_codings(session, leads, applied_only=True)
    resolved = latest_adjudications(session)
    out = []
    for record in applied:
        verdict = resolved.get((record.segment_id, record.code_key))
        if verdict is None:
            if record.source != ADJUDICATION:
                out.append(record)
        elif verdict and record.source == ADJUDICATION:
            out.append(record)
    return out


# --------------------------------------------------------------------------------------------------
# XML parts
# --------------------------------------------------------------------------------------------------
VARIABLES: tuple[tuple[str, str, str], ...] = (
    # (SourceRecord attribute, variable name, REFI typeOfVariable)
    ("site_code", "site_code", "Text"),
    ("participant_role", "participant_role", "Text"),
    ("interview_date", "interview_date", "Date"),
)


def _variable_values(source: SourceRecord) -> list[tuple[str, str, str]]:
    """(variable name, value element tag, value) for the metadata this source has."""
    out = []
    for attr, name, kind in VARIABLES:
        value = getattr(source, attr)
        if value is None or value == "":
            continue
        if kind == "Date":
            text = value.isoformat() if isinstance(value, dt.date) else str(value)
            out.append((name, "DateValue", text))
        else:
            out.append((name, "TextValue", str(value)))
    return out


def _variables_element(parent: ET.Element, sources: Sequence[SourceRecord]) -> None:
    used = {name for s in sources for name, _tag, _value in _variable_values(s)}
    if not used:
        return
    block = _sub(parent, "Variables")
    for _attr, name, kind in VARIABLES:
        if name in used:
            var = _sub(block, "Variable", guid=guids.variable_guid(name), name=name, typeOfVariable=kind)
            _sub(var, "Description", "Transcript metadata from its sidecar file (qualcode).")


def _cases_element(parent: ET.Element, sources: Sequence[SourceRecord]) -> None:
    by_site: dict[str, list[SourceRecord]] = defaultdict(list)
    for source in sources:
        if source.site_code:
            by_site[str(source.site_code)].append(source)
    if not by_site:
        return
    block = _sub(parent, "Cases")
    for site in sorted(by_site):
        case = _sub(block, "Case", guid=guids.case_guid("site_code", site), name=f"site {site}")
        value = _sub(case, "VariableValue")
        _sub(value, "VariableRef", targetGUID=guids.variable_guid("site_code"))
        _sub(value, "TextValue", site)
        for source in by_site[site]:
            _sub(case, "SourceRef", targetGUID=guids.source_guid(source.content_hash))


@dataclass
class _Counts:
    selections: int = 0
    codings: int = 0
    notes: int = 0


def _source_element(
    parent: ET.Element,
    source: SourceRecord,
    text_length: int,
    decisions: Sequence[CodingRecord],
    notes: list[tuple[str, CodingRecord]],
    counts: _Counts,
    code_guids: dict[str, str],
    hide_file_names: bool,
    out_path: Path,
) -> None:
    h = source.content_hash
    element = _sub(
        parent,
        "TextSource",
        guid=guids.source_guid(h),
        name=_source_label(source, hide_file_names),
        plainTextPath=f"{INTERNAL}{guids.source_file_guid(h)}.txt",
        creatingUser=guids.user_guid(SYSTEM_USER),
        creationDateTime=iso_utc(source.created_at),
    )
    description = f"Anonymised {source.kind} (qualcode transcript {source.transcript_id})."
    _sub(element, "Description", description)
    by_segment: dict[tuple[int, int, int], list[CodingRecord]] = defaultdict(list)
    for record in decisions:
        by_segment[(record.start, record.end, record.segment_id)].append(record)
    for (start, end, segment_id), records in sorted(by_segment.items()):
        if not 0 <= start < end <= text_length:
            raise ExportError(
                out_path,
                f"segment {segment_id} of transcript {source.transcript_id} has offsets {start}-{end} outside "
                f"its text of {text_length} characters (database inconsistent; re-segment the transcript)",
            )
        first = records[0]
        selection = _sub(
            element,
            "PlainTextSelection",
            guid=guids.selection_guid(h, start, end),
            name=f"segment {first.segment_index} ({first.speaker_role})",
            startPosition=str(start),
            endPosition=str(end),
            creatingUser=guids.user_guid(SYSTEM_USER),
        )
        counts.selections += 1
        for record in sorted(records, key=lambda r: (r.code_key, r.coder, r.source)):
            coding_id = guids.coding_guid(h, start, end, record.code_key, record.coder, record.source)
            coding = _sub(
                selection,
                "Coding",
                guid=coding_id,
                creatingUser=guids.user_guid(record.coder),
                creationDateTime=iso_utc(record.created_at),
            )
            _sub(coding, "CodeRef", targetGUID=code_guids[record.code_key])
            if record.note:
                note_id = guids.note_guid(coding_id)
                _sub(coding, "NoteRef", targetGUID=note_id)
                notes.append((note_id, record))
            counts.codings += 1
    for name, tag, value in _variable_values(source):
        holder = _sub(element, "VariableValue")
        _sub(holder, "VariableRef", targetGUID=guids.variable_guid(name))
        _sub(holder, tag, value)


def _notes_element(parent: ET.Element, notes: Sequence[tuple[str, CodingRecord]]) -> None:
    if not notes:
        return
    block = _sub(parent, "Notes")
    for note_id, record in notes:
        note = _sub(
            block,
            "Note",
            guid=note_id,
            name=f"{record.coder} on segment {record.segment_index}, {record.code_key}",
            creatingUser=guids.user_guid(record.coder),
            creationDateTime=iso_utc(record.updated_at or record.created_at),
        )
        _sub(note, "PlainTextContent", record.note or "")


# --------------------------------------------------------------------------------------------------
# The export
# --------------------------------------------------------------------------------------------------
def _project_element(name: str, transcripts: Sequence[SourceRecord], decisions: Sequence[CodingRecord]) -> ET.Element:
    """The root element; its dates come from the data (oldest transcript, latest change), not the clock."""
    stamps = [s.created_at for s in transcripts if s.created_at] + [r.updated_at for r in decisions if r.updated_at]
    attrs = {"name": _clean(name), "origin": "qualcode", "creatingUserGUID": guids.user_guid(SYSTEM_USER)}
    if stamps:
        attrs["creationDateTime"] = iso_utc(min(stamps)) or ""
        attrs["modifiedDateTime"] = iso_utc(max(stamps)) or ""
    return ET.Element("Project", {"xmlns": NS, "xmlns:xsi": XSI, "xsi:schemaLocation": SCHEMA_LOCATION, **attrs})


def _source_member(source: SourceRecord) -> str:
    return f"{SOURCES_DIR}{guids.source_file_guid(source.content_hash)}.txt"


def _utf8(text: str, source: SourceRecord, out_path: Path) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ExportError(out_path, f"transcript {source.transcript_id} holds text that is not valid Unicode") from None


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED if name.endswith("/") else zipfile.ZIP_DEFLATED
    info.external_attr = (0o40755 if name.endswith("/") else 0o100644) << 16
    info.create_system = 3  # Unix, so the attributes above mean the same everywhere
    return info


def export_qdpx(
    session: Session,
    out_path: Path | str,
    *,
    codebook: Codebook | Path | str | None = None,
    sources: SourceText = "anonymised",
    include_sources: Sequence[str] = PROJECT_SOURCES,
    coders: Iterable[str] | None = None,
    resolve: Resolve = "all",
    project_name: str = "qualcode project",
    hide_file_names: bool = False,
    validate_with: Path | str | None = None,
    actor: str = "system",
) -> QdpxSummary:
    """Write the project's coded work to ``out_path`` as a REFI-QDA ``.qdpx`` archive.

    ``include_sources`` picks decisions by how they were made (``Coding.source``), ``coders`` by who made
    them. ``resolve`` is ``"all"`` (every coder's codings) or ``"adjudicated"`` (a lead's resolution
    replaces the coders' decisions where there is one). ``hide_file_names`` names sources
    ``transcript <hash>`` instead of their inbox file names, for files whose names identify someone.
    ``validate_with`` is the REFI project XSD: the XML is validated before anything is written and an
    invalid project raises ``ExportError``. An audit row (counts only) is added to ``session``.

    ``sources`` exists to make the privacy rule explicit: only ``"anonymised"`` is accepted, because
    qualcode never stores raw transcript text.
    """
    out_path = Path(out_path)
    if sources != "anonymised":
        raise ExportError(
            out_path, f"sources={sources!r}: only anonymised text can be exported (raw text is never stored)"
        )
    with naming(out_path):
        filters = Filters.build(include_sources, set(coders) if coders is not None else None, PROJECT_SOURCES)
        decisions = select_codings(session, filters, resolve)
    book = resolve_codebook(session, codebook)
    transcripts = list_sources(session)
    by_transcript: dict[int, list[CodingRecord]] = defaultdict(list)
    for record in decisions:
        by_transcript[record.transcript_id].append(record)

    coders_used = sorted({r.coder for r in decisions})
    root = _project_element(project_name, transcripts, decisions)
    users = _sub(root, "Users")
    for name in sorted({SYSTEM_USER, *coders_used}):
        _sub(users, "User", guid=guids.user_guid(name), name=name)
    codebook_xml = project_codebook(book, {r.code_key for r in decisions})
    root.append(codebook_xml.element)
    _variables_element(root, transcripts)
    _cases_element(root, transcripts)

    counts = _Counts()
    notes: list[tuple[str, CodingRecord]] = []
    with (
        atomic_output(out_path) as tmp,
        zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive,
    ):
        archive.writestr(_zip_info(SOURCES_DIR), b"")
        if transcripts:
            sources_el = _sub(root, "Sources")
            for source in transcripts:
                text = source_text(session, source.transcript_id)
                decided = by_transcript.get(source.transcript_id, [])
                _source_element(
                    sources_el,
                    source,
                    len(text),
                    decided,
                    notes,
                    counts,
                    codebook_xml.code_guids,
                    hide_file_names,
                    out_path,
                )
                archive.writestr(_zip_info(_source_member(source)), _utf8(text, source, out_path))
        _notes_element(root, notes)
        _sub(
            root,
            "Description",
            "Exported by qualcode. Sources hold anonymised text only. Selection positions are 0-based "
            "Unicode character offsets into the UTF-8 source text, end exclusive. "
            f"Decisions: {', '.join(filters.sources)}; resolve={resolve}.",
        )
        ET.indent(root, space="  ")
        xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        if validate_with is not None:
            problems = validate_qde(xml, validate_with)
            if problems:
                raise ExportError(
                    out_path,
                    f"{len(problems)} schema problem(s) against {Path(validate_with).name}; first: {problems[0]}",
                )
        archive.writestr(_zip_info(QDE_NAME), xml)

    summary = QdpxSummary(
        path=out_path,
        sources=len(transcripts),
        selections=counts.selections,
        codings=counts.codings,
        users=len({SYSTEM_USER, *coders_used}),
        codes=codebook_xml.n_codes,
        notes=len(notes),
        codes_not_in_codebook=len(codebook_xml.not_in_codebook),
        resolve=resolve,
        coding_sources=filters.sources,
    )
    audit(
        session,
        actor,
        "export.qdpx",
        "export",
        None,
        **summary.to_dict(),
        coders=len(coders_used),
        codebook=(book.content_hash if book is not None else None),
        hide_file_names=hide_file_names,
    )
    return summary


__all__ = ["NS", "QdpxSummary", "export_qdpx", "select_codings"]
