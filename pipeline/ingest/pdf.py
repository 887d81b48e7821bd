"""PDF documents (case reviews, reports): text-layer extraction with pypdf, paragraphs as turns.

Most PDFs are documents (``kind="document"``, no speakers): reports, serious case reviews and minutes.
A PDF that is a transcript (an interview exported from Word or a transcription service) is read with its
speakers, like a .txt file: when at least two distinct speaker labels ("Interviewer:", "P03:") open lines,
every labelled line starts a turn and the paragraphs after it continue that turn.

pypdf gives lines, not paragraphs, so paragraphs are rebuilt from line positions: a vertical gap wider than
the usual line spacing, a change of font size (a heading), a new column or page ends one, and so does a line
that ends a sentence while falling clearly short of the usual line length (the ragged end of a paragraph).
Page numbers and running headers that repeat on most pages are dropped. A PDF without a text layer (a scan) is
refused with a clear reason rather than read as empty: it needs OCR first.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.limits import check_text
from pipeline.ingest.speakers import accepted_labels, match_label
from pipeline.ingest.text import COMMENT_LINE as _COMMENT
from pipeline.ingest.text import parse_lines
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


@dataclass(slots=True)
class _Line:
    """One extracted line with its baseline position and font size (None when pypdf gives none)."""

    text: str
    y: float | None = None
    size: float | None = None


def _extract_lines(page) -> list[_Line]:  # type: ignore[no-untyped-def]
    """Lines of one page in content order, each with the y of its first text and its font size.

    pypdf's ``visitor_text`` callback reports every text chunk with its matrices; a chunk containing a
    newline ends the line. Positions let paragraphs be split at vertical gaps instead of guessed.
    """
    lines: list[_Line] = [_Line("")]

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        parts = text.split("\n")
        for index, part in enumerate(parts):
            if index:
                lines.append(_Line(""))
            if part:
                current = lines[-1]
                if current.y is None:
                    current.y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                    current.size = abs(size * (tm[3] or 1) * (cm[3] or 1))
                current.text += part

    page.extract_text(visitor_text=visit)
    return [line for line in lines if line.text.strip()]


def _page_lines(path: Path, reader) -> list[list[_Line]]:  # type: ignore[no-untyped-def]
    pages: list[list[_Line]] = []
    for number, page in enumerate(reader.pages, 1):
        try:
            pages.append(_extract_lines(page))
        except Exception as exc:  # pypdf raises many types on damaged content streams
            raise InputFileError(
                path, f"corrupt PDF: page {number} text cannot be extracted ({type(exc).__name__})"
            ) from None
    return pages


def _drop_running_lines(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Remove page numbers, and header/footer lines that repeat on most pages."""
    running: set[str] = set()
    if len(pages) >= 3:
        edges = Counter(
            text for page in pages for text in {line.text.strip() for line in (*page[:2], *page[-2:])}
        )
        running = {text for text, count in edges.items() if count >= max(3, int(len(pages) * 0.6))}
    return [
        [
            line
            for line in page
            if not _PAGE_NUMBER.match(line.text.strip()) and line.text.strip() not in running
        ]
        for page in pages
    ]


def _typical_gap(pages: list[list[_Line]]) -> float | None:
    """The usual distance between consecutive baselines (the body text leading)."""
    gaps = sorted(
        round(a.y - b.y, 1)
        for page in pages
        for a, b in pairwise(page)
        if a.y is not None and b.y is not None and a.y > b.y
    )
    return gaps[len(gaps) // 4] if gaps else None  # lower quartile: paragraph gaps are the large ones


#: A PDF is read as a transcript when this many distinct speaker labels open at least ...
_MIN_SPEAKERS = 2
#: ... this many lines in all (one "Note:" or "Summary:" heading pair does not make a report an interview).
_MIN_LABELLED_LINES = 4


def _paragraphs(pages: list[list[_Line]], starts: set[str] | None = None) -> list[str]:
    """Group lines into paragraphs at vertical gaps, font-size changes, page breaks and ragged sentence ends.

    ``starts``: case-folded speaker labels; a line opening with one of them always starts a paragraph.
    """
    widths = sorted(len(line.text.strip()) for page in pages for line in page)
    typical = widths[int(len(widths) * 0.8)] if widths else 0
    gap = _typical_gap(pages)
    paragraphs: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            paragraphs.append(_join(current))
            current.clear()

    for page in pages:
        close()
        previous: _Line | None = None
        for line in page:
            stripped = line.text.strip()
            if (previous is not None and _breaks(previous, line, gap)) or _opens_turn(stripped, starts):
                close()
            current.append(stripped)
            if _SENTENCE_END.search(stripped) and len(stripped) < 0.75 * typical:
                close()
            previous = line
    close()
    return paragraphs


def _opens_turn(line: str, starts: set[str] | None) -> bool:
    """Whether ``line`` opens with one of the speaker labels ``starts``."""
    if not starts:
        return False
    label = match_label(line)
    return label is not None and label.label.casefold() in starts


def _breaks(previous: _Line, line: _Line, gap: float | None) -> bool:
    if previous.y is None or line.y is None:
        return False
    if line.y >= previous.y:  # moved up: a new column or a block placed out of order
        return True
    if gap and previous.y - line.y > 1.35 * gap:
        return True
    return bool(previous.size and line.size and abs(previous.size - line.size) > 0.75)


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
    """Paragraphs of the text layer as turns (with speakers for a transcript); leading ``#`` lines are header."""
    reader = _open(path, data)
    pages = _page_lines(path, reader)
    check_text(path, "\n".join(line.text for page in pages for line in page), settings)
    chars = sum(len(line.text.strip()) for page in pages for line in page)
    if chars < _MIN_CHARS_PER_PAGE * len(pages) and chars < 200:
        raise InputFileError(path, "no text layer (a scanned PDF?); OCR it first")
    pages = _drop_running_lines(pages)
    header: list[str] = []
    for page in pages:  # leading '#' comment lines of the document are header
        while page and _COMMENT.match(page[0].text):
            header.append(page.pop(0).text.strip())
        if page:
            break
    speakers = _speaker_labels(pages, settings)
    if speakers:
        spoken = parse_lines([line for p in _paragraphs(pages, speakers) for line in (p, "")], settings)
        if spoken.kind == "interview":
            return ReadResult(turns=spoken.turns, kind="interview", header=header + spoken.header)
    turns = [RawTurn(text=paragraph) for paragraph in _paragraphs(pages)]
    return ReadResult(turns=turns, kind="document", header=header)


def _speaker_labels(pages: list[list[_Line]], settings: Settings) -> set[str]:
    """The speaker labels of a transcript PDF (case-folded), or an empty set for a document."""
    candidates = [match_label(line.text.strip()) for page in pages for line in page]
    accepted = accepted_labels(candidates, settings)
    labelled = sum(1 for c in candidates if c is not None and c.label.casefold() in accepted)
    if len(accepted) < _MIN_SPEAKERS or labelled < _MIN_LABELLED_LINES:
        return set()
    return accepted
