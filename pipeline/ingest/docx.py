"""Word transcripts (``.docx``): body paragraphs and table rows, in document order.

Transcribers often lay interviews out as a table (``Speaker | Text`` or ``Time | Speaker | Text``), so a
table row becomes a line ``Speaker: text`` and goes through the same speaker parsing as paragraphs.
Headers, footers, comments and tracked deletions are not read: they are not the conversation, and they
often carry names ("Interview with ...").

Safety: a .docx is a ZIP of XML parts. Before python-docx sees it, ``pipeline.ingest.limits.check_docx``
streams the archive: uncompressed sizes (declared and actual, total and ratio: zip bombs), and every XML
part for DTD or entity declarations (which Word never writes), nesting depth and the amount of text.
python-docx then parses with lxml using ``resolve_entities=False`` (both ``docx.oxml.parser.oxml_parser``
and ``docx.opc.oxml.oxml_parser``) and lxml's default ``no_network``, so no entity is expanded and
nothing is fetched even if the checks were bypassed.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.limits import check_docx
from pipeline.ingest.text import parse_lines
from pipeline.ingest.types import ReadResult
from pipeline.settings import Settings

_HEADER_CELL = re.compile(r"^(speaker|name|who|time|timestamp|text|transcript|utterance|dialogue)$", re.I)
_TIME_CELL = re.compile(r"^\[?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?\]?$")


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
    check_docx(path, data, settings)  # zip bombs, DTDs, depth and size limits, before python-docx parses
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
