"""Word transcripts (``.docx``): body paragraphs and table rows, in document order.

Transcribers often lay interviews out as a table (``Speaker | Text`` or ``Time | Speaker | Text``), so a
table row becomes a line ``Speaker: text`` and goes through the same speaker parsing as paragraphs.
Headers, footers, comments and tracked deletions are not read: they are not the conversation, and they
often carry names ("Interview with ...").

Safety: a .docx is a ZIP of XML parts. Before python-docx sees it, the archive is checked for a
plausible total uncompressed size (zip bombs) and every XML part for DTD or entity declarations, which
Word never writes. python-docx then parses with lxml using ``resolve_entities=False`` (both
``docx.oxml.parser.oxml_parser`` and ``docx.opc.oxml.oxml_parser``) and lxml's default ``no_network``,
so no entity is expanded and nothing is fetched even if the checks were bypassed.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.text import parse_lines
from pipeline.ingest.types import ReadResult
from pipeline.settings import Settings

#: A .docx rarely expands to more than ~20x its size; this allows text-heavy files with a margin.
_MAX_EXPANSION = 100
_MAX_UNCOMPRESSED = 512 * 1024 * 1024
_HEADER_CELL = re.compile(r"^(speaker|name|who|time|timestamp|text|transcript|utterance|dialogue)$", re.I)
_TIME_CELL = re.compile(r"^\[?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?\]?$")


def _check_archive(path: Path, data: bytes) -> None:
    if not data.startswith(b"PK\x03\x04"):
        if data.startswith(b"\xd0\xcf\x11\xe0"):
            raise InputFileError(path, "old Word .doc format, not .docx: save it as .docx")
        raise InputFileError(path, "not a .docx file (it is not a ZIP archive)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputFileError(path, "corrupt .docx: the ZIP archive is damaged") from None
    with archive:
        infos = archive.infolist()
        names = {info.filename for info in infos}
        if "word/document.xml" not in names:
            raise InputFileError(path, "not a .docx file: the archive has no word/document.xml")
        total = sum(info.file_size for info in infos)
        if total > min(_MAX_UNCOMPRESSED, max(len(data), 1) * _MAX_EXPANSION):
            raise InputFileError(path, f"refused .docx: it expands to {total // (1024 * 1024)} MB (zip bomb?)")
        for info in infos:
            if not info.filename.endswith((".xml", ".rels")):
                continue
            try:
                part = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError):
                raise InputFileError(path, "corrupt .docx: an XML part cannot be read") from None
            if b"<!DOCTYPE" in part or b"<!ENTITY" in part:
                raise InputFileError(path, "refused .docx: an XML part declares a DTD or entities")


def _table_lines(table: object) -> list[str]:
    """Rows of a table as lines: ``Speaker: text`` when the row looks like a transcript row."""
    lines: list[str] = []
    for row_index, row in enumerate(table.rows):  # type: ignore[attr-defined]
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:  # merged cells repeat: keep each underlying cell once
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(cell.text.strip())
        cells = [c for c in cells if c]
        if not cells:
            continue
        if row_index == 0 and all(_HEADER_CELL.match(c) for c in cells):
            continue  # a heading row such as "Speaker | Text"
        timestamp = cells.pop(0).strip("[]") if len(cells) >= 2 and _TIME_CELL.match(cells[0]) else None
        stamp = f"[{timestamp}] " if timestamp else ""
        if len(cells) == 2 and _looks_like_label(cells[0]):
            lines.append(f"{stamp}{cells[0]}: {cells[1]}")
        elif len(cells) == 1 and timestamp and _looks_like_label(cells[0]):
            lines.append(f"{stamp}{cells[0]}:")  # a speaker with nothing said (an empty or merged text cell)
        else:
            lines.extend((stamp + " ".join(cells)).split("\n"))
        lines.append("")
    return lines


def _looks_like_label(cell: str) -> bool:
    return len(cell) <= 60 and "\n" not in cell and not cell.endswith((":", ".", "?", "!"))


def read_docx(path: Path, data: bytes, settings: Settings) -> ReadResult:
    """Paragraphs and table rows in document order, parsed like a .txt transcript."""
    _check_archive(path, data)
    import docx  # python-docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors ... on broken parts
        raise InputFileError(path, f"corrupt .docx: cannot be opened ({type(exc).__name__})") from None
    lines: list[str] = []
    try:
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_table_lines(block))
            else:
                lines.extend(block.text.split("\n"))
                lines.append("")  # a Word paragraph is a paragraph
    except Exception as exc:
        raise InputFileError(path, f"corrupt .docx: content cannot be read ({type(exc).__name__})") from None
    return parse_lines(lines, settings)
