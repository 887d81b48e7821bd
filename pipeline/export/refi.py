"""REFI-QDA project XML: constants, schema validation and a small, safe reader.

Why a reader in an export package: the tests (and a lead who wants to check a file before sending it)
read an exported ``.qdpx`` back and compare it with the database, and the same code parses vendor files
such as the REFI sample project, which shows the writer and real QDA packages agree on the format.

Safety: project files come from other programs and other people, so XML is parsed with ``defusedxml``
(no DTDs, no entity expansion, no external references) and archive members are read by exact name with a
size cap, never extracted to disk.

Positions. REFI-QDA ``PlainTextSelection`` positions are *character* positions in the plain-text
source: 0-based, ``startPosition`` inclusive, ``endPosition`` exclusive, so ``text[start:end]`` is the
selection. The 2019 project schema types them as plain integers; the REFI sample project confirms the
convention (its selection named "Oh, that was great. See you tomorrow? Eleven thirty. Mm." runs from 139
to 195, exactly that string's 56 characters). qualcode counts characters as Unicode code points, which is
what Python string indices are, and writes source files as UTF-8 without a byte-order mark, so a reader
that decodes the file and indexes the decoded text gets the same slice. Readers that count UTF-16 code
units (some .NET and Java tools) agree except after characters outside the Basic Multilingual Plane
(emoji), which interview transcripts rarely contain.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET

from pipeline.codebook.refi import load_schema, schema_problems
from pipeline.errors import ExportError

NS = "urn:QDA-XML:project:1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{NS} http://schema.qdasoftware.org/versions/Project/v1.0/Project.xsd"
QDE_NAME = "project.qde"
SOURCES_DIR = "Sources/"
INTERNAL = "internal://"
#: Largest archive member read into memory (a project XML or one source text).
MAX_MEMBER_BYTES = 512 * 1024 * 1024


def q(tag: str) -> str:
    """A tag in the project namespace (``{urn:QDA-XML:project:1.0}Tag``)."""
    return f"{{{NS}}}{tag}"


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------
def validate_qde(xml_bytes: bytes, xsd_path: Path | str) -> list[str]:
    """Problems found validating project XML against ``xsd_path`` (an empty list means valid).

    Each problem is ``"<XPath>: <reason>"``. The XML is parsed with ``defusedxml`` first, so a document
    with a DTD or entities is reported as a problem instead of being expanded. Messages name elements
    and attribute values, never element text, so transcript text cannot leak into a log through them.
    """
    path = Path(xsd_path)
    try:
        schema = load_schema(path)
    except OSError as exc:
        raise ExportError(path, f"cannot read the schema ({exc.strerror or type(exc).__name__})") from None
    try:
        root = SafeET.fromstring(xml_bytes)
    except SafeET.ParseError as exc:
        return [f"/: not well-formed XML ({exc})"]
    except Exception as exc:  # defusedxml's DTD/entity refusals
        return [f"/: refused ({type(exc).__name__})"]
    return list(schema_problems(root, schema))


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefiCode:
    guid: str
    name: str
    is_codable: bool
    parent_guid: str | None
    description: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RefiCoding:
    guid: str
    code_guid: str
    user_guid: str | None
    note_guids: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefiSelection:
    guid: str
    start: int
    end: int
    codings: tuple[RefiCoding, ...]


@dataclass(frozen=True)
class RefiTextSource:
    guid: str
    name: str | None
    plain_text_path: str | None
    selections: tuple[RefiSelection, ...]
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefiProject:
    """The parts of a REFI-QDA project qualcode reads: users, codes, text sources, notes, counts."""

    name: str
    users: dict[str, str]  # guid -> name
    codes: tuple[RefiCode, ...]
    text_sources: tuple[RefiTextSource, ...]
    notes: dict[str, str] = field(repr=False)  # guid -> plain text content
    variables: dict[str, str]  # guid -> name
    cases: dict[str, tuple[str, ...]]  # case name -> source guids
    n_codings: int  # every Coding element in the project, whatever the source type
    n_text_selections: int  # every PlainTextSelection, including those of PDF text representations
    n_sources: int  # every source element (text, PDF, picture, audio, video)

    def code_by_guid(self) -> dict[str, RefiCode]:
        return {code.guid: code for code in self.codes}


def parse_project(xml_bytes: bytes, name: str = QDE_NAME) -> RefiProject:
    """Parse project XML safely; ``ExportError`` (naming ``name``) when it is not a REFI project."""
    try:
        root = SafeET.fromstring(xml_bytes)
    except SafeET.ParseError as exc:
        raise ExportError(name, f"not well-formed XML ({exc})") from None
    except Exception as exc:
        raise ExportError(name, f"refused to parse ({type(exc).__name__}: DTDs and entities are not allowed)") from None
    if root.tag != q("Project"):
        raise ExportError(name, f"root element is {root.tag!r}, expected Project in namespace {NS}")

    users = {u.get("guid", ""): u.get("name", "") for u in root.iter(q("User"))}
    codes: list[RefiCode] = []
    codebook = root.find(q("CodeBook"))
    if codebook is not None:
        codes_el = codebook.find(q("Codes"))
        for top in codes_el if codes_el is not None else []:
            _walk_codes(top, None, codes)
    variables = {v.get("guid", ""): v.get("name", "") for v in root.iter(q("Variable"))}
    cases: dict[str, tuple[str, ...]] = {}
    for case in root.iter(q("Case")):
        refs = tuple(r.get("targetGUID", "") for r in case.findall(q("SourceRef")))
        cases[case.get("name") or case.get("guid", "")] = refs
    notes: dict[str, str] = {}
    notes_el = root.find(q("Notes"))
    if notes_el is not None:
        for note in notes_el.findall(q("Note")):
            content = note.find(q("PlainTextContent"))
            notes[note.get("guid", "")] = (content.text or "") if content is not None else ""
    sources_el = root.find(q("Sources"))
    text_sources: list[RefiTextSource] = []
    n_sources = 0
    if sources_el is not None:
        for source in sources_el:
            n_sources += 1
            if source.tag == q("TextSource"):
                text_sources.append(_text_source(source, variables))
    return RefiProject(
        name=root.get("name", ""),
        users=users,
        codes=tuple(codes),
        text_sources=tuple(text_sources),
        notes=notes,
        variables=variables,
        cases=cases,
        n_codings=sum(1 for _ in root.iter(q("Coding"))),
        n_text_selections=sum(1 for _ in root.iter(q("PlainTextSelection"))),
        n_sources=n_sources,
    )


def _walk_codes(element: Element, parent: str | None, out: list[RefiCode]) -> None:
    if element.tag != q("Code"):
        return
    description = element.find(q("Description"))
    guid = element.get("guid", "")
    out.append(
        RefiCode(
            guid=guid,
            name=element.get("name", ""),
            is_codable=element.get("isCodable", "true").strip().lower() in ("true", "1"),
            parent_guid=parent,
            description=description.text if description is not None else None,
        )
    )
    for child in element.findall(q("Code")):
        _walk_codes(child, guid, out)


def _coding(element: Element) -> RefiCoding:
    ref = element.find(q("CodeRef"))
    return RefiCoding(
        guid=element.get("guid", ""),
        code_guid=ref.get("targetGUID", "") if ref is not None else "",
        user_guid=element.get("creatingUser"),
        note_guids=tuple(n.get("targetGUID", "") for n in element.findall(q("NoteRef"))),
    )


def _text_source(element: Element, variables: dict[str, str]) -> RefiTextSource:
    selections = []
    for sel in element.findall(q("PlainTextSelection")):
        selections.append(
            RefiSelection(
                guid=sel.get("guid", ""),
                start=int(sel.get("startPosition", "0")),
                end=int(sel.get("endPosition", "0")),
                codings=tuple(_coding(c) for c in sel.findall(q("Coding"))),
            )
        )
    values: dict[str, str] = {}
    for value in element.findall(q("VariableValue")):
        ref = value.find(q("VariableRef"))
        if ref is None:
            continue
        name = variables.get(ref.get("targetGUID", ""), ref.get("targetGUID", ""))
        cells = [child for child in value if child.tag != q("VariableRef")]
        values[name] = (cells[0].text or "") if cells else ""
    return RefiTextSource(
        guid=element.get("guid", ""),
        name=element.get("name"),
        plain_text_path=element.get("plainTextPath"),
        selections=tuple(selections),
        variables=values,
    )


def _member(archive: zipfile.ZipFile, name: str, archive_name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise ExportError(archive_name, f"member {name} is larger than {MAX_MEMBER_BYTES} bytes")
    return archive.read(info)


def qde_member(archive: zipfile.ZipFile) -> str:
    """The project XML's member name: ``project.qde`` in any letter case at the archive root."""
    candidates = [n for n in archive.namelist() if "/" not in n and n.lower().endswith(".qde")]
    if len(candidates) != 1:
        raise ExportError(archive.filename, f"expected one .qde file at the archive root, found {len(candidates)}")
    return candidates[0]


def read_qdpx(path: Path | str) -> RefiProject:
    """Parse the project XML inside a ``.qdpx`` archive (sources are read on demand, see ``read_source_text``)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return parse_project(_member(archive, qde_member(archive), path.name), path.name)
    except zipfile.BadZipFile:
        raise ExportError(path, "not a zip archive (a .qdpx file is a zip)") from None
    except OSError as exc:
        raise ExportError(path, f"cannot open ({exc.strerror or type(exc).__name__})") from None


def read_source_text(path: Path | str, plain_text_path: str) -> str:
    """The UTF-8 text of an ``internal://`` plain-text source in the archive at ``path``."""
    path = Path(path)
    if not plain_text_path.startswith(INTERNAL):
        raise ExportError(path, f"source path {plain_text_path!r} is not internal:// (external files not read)")
    member = SOURCES_DIR + plain_text_path[len(INTERNAL) :]
    if "/" in member[len(SOURCES_DIR) :] or ".." in member:
        raise ExportError(path, f"source path {plain_text_path!r} points outside Sources/")
    with zipfile.ZipFile(path) as archive:
        names = {n.lower(): n for n in archive.namelist()}
        actual = names.get(member.lower())
        if actual is None:
            raise ExportError(path, f"{member} is missing from the archive")
        data = _member(archive, actual, path.name)
    try:
        return data.decode("utf-8-sig")  # tolerate a BOM written by other tools; positions exclude it
    except UnicodeDecodeError:
        raise ExportError(path, f"{member} is not UTF-8 text") from None
