"""Plain-text transcripts (``.txt``).

``Speaker: text`` lines become turns (see ``pipeline.ingest.text.parse_lines``); a file without any
speaker labels is a document whose paragraphs become turns.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest.limits import check_text
from pipeline.ingest.text import decode_text, parse_lines
from pipeline.ingest.types import ReadResult
from pipeline.settings import Settings


def read_txt(path: Path, data: bytes, settings: Settings) -> ReadResult:
    """Decode (UTF-8, BOM-marked Unicode, or a confident guess) and split into turns."""
    text = decode_text(data, path)
    check_text(path, text, settings)  # before the (per-line) parsing, which a huge file would make slow
    return parse_lines(text.split("\n"), settings)
