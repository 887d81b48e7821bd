"""PDF documents (case reviews, reports): text-layer extraction with pypdf, paragraphs as turns.

PDFs are read as documents (``kind="document"``, no speakers): they are reports, serious case reviews
and minutes rather than interviews. pypdf gives lines, not paragraphs, so paragraphs are rebuilt: a
blank line always ends one, and so does a line that ends a sentence while falling clearly short of the
page's usual line length (the ragged end of a paragraph). Page numbers and running headers that repeat
on most pages are dropped. A PDF without a text layer (a scan) is refused with a clear reason rather
than read as empty: it needs OCR first.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.text import split_header
from pipeline.ingest.types import RawTurn, ReadResult
from pipeline.settings import Settings

_PAGE_NUMBER = re.compile(r"^(page\s+)?\d{1,4}(\s*(of|/)\s*\d{1,4})?$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"""[.!?:;]["'”’)]?$""")
#: Text-layer characters per page below which a PDF is treated as scanned.
_MIN_CHARS_PER_PAGE = 20
_MAX_PAGES = 5000


def _open(path: Path, data: bytes):  # type: ignore[no-untyped-def]
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    if b"%PDF-" not in data[:1024]:
        raise InputFileError(path, "not a PDF file (no %PDF header)")
    # pypdf logs recoverable problems with byte offsets, never page text; keep them out of the batch log.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty user password
            except (PyPdfError, NotImplementedError, ValueError):
                opened = 0
            if not opened:
                raise InputFileError(path, "encrypted PDF: remove the password and add it again")
        pages = len(reader.pages)
    except InputFileError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InputFileError(path, f"corrupt PDF: cannot be opened ({type(exc).__name__})") from None
    if pages == 0:
        raise InputFileError(path, "corrupt PDF: no pages")
    if pages > _MAX_PAGES:
        raise InputFileError(path, f"PDF has {pages} pages, more than the {_MAX_PAGES} page limit")
    return reader


def _page_lines(path: Path, reader) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pages: list[list[str]] = []
    for number, page in enumerate(reader.pages, 1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # pypdf raises many types on damaged content streams
            raise InputFileError(
                path, f"corrupt PDF: page {number} text cannot be extracted ({type(exc).__name__})"
            ) from None
        pages.append([line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")])
    return pages


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Remove page numbers, and header/footer lines that repeat on most pages."""
    if len(pages) >= 3:
        edges = Counter(
            line.strip() for page in pages for line in {*(page[:2]), *(page[-2:])} if line.strip()
        )
        running = {line for line, count in edges.items() if count >= max(3, int(len(pages) * 0.6))}
    else:
        running = set()
    return [
        [line for line in page if not _PAGE_NUMBER.match(line.strip()) and line.strip() not in running]
        for page in pages
    ]


def _paragraphs(lines: list[str]) -> list[str]:
    widths = sorted(len(line.strip()) for line in lines if line.strip())
    typical = widths[int(len(widths) * 0.8)] if widths else 0
    paragraphs: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            paragraphs.append(_join(current))
            current.clear()

    for line in lines:
        stripped = line.strip()
        if not stripped:
            close()
            continue
        current.append(stripped)
        if _SENTENCE_END.search(stripped) and len(stripped) < 0.75 * typical:
            close()
    close()
    return paragraphs


def _join(lines: list[str]) -> str:
    """Join wrapped lines, mending words hyphenated across a line break ("safe-" + "guarding")."""
    text = lines[0]
    for line in lines[1:]:
        if text.endswith("-") and not text.endswith(" -") and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}"
    return text


def read_pdf(path: Path, data: bytes, settings: Settings) -> ReadResult:
    """Paragraphs of the text layer as speakerless turns; leading ``#`` lines are header."""
    reader = _open(path, data)
    pages = _page_lines(path, reader)
    chars = sum(len(line.strip()) for page in pages for line in page)
    if chars < _MIN_CHARS_PER_PAGE * len(pages) and chars < 200:
        raise InputFileError(path, "no text layer (a scanned PDF?); OCR it first")
    lines = [line for page in _drop_running_lines(pages) for line in [*page, ""]]
    header, body = split_header(lines)
    turns = [RawTurn(text=paragraph) for paragraph in _paragraphs(body)]
    return ReadResult(turns=turns, kind="document", header=header)
