"""Shared by the readers: decoding bytes to text, and turning lines of text into speaker turns.

Why here and not in each reader: .txt files, Word paragraphs and PDF text all end up as lines of text,
and a transcript must be split into turns the same way whatever it was typed in. Decoding is strict: a
wrongly guessed encoding silently corrupts names, which then escape the anonymiser, so an encoding is
only guessed when the guess is confident, and otherwise the file is quarantined.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.speakers import accepted_labels, match_label
from pipeline.ingest.types import RawTurn, ReadResult
from pipeline.settings import Settings

#: Byte-order marks that identify an encoding for certain (longest first: UTF-32 LE starts like UTF-16 LE).
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Magic numbers of formats that are not text, to name what a mislabelled file really is.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (perhaps a .docx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.doc)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
)
#: charset-normalizer's "chaos" (0 clean .. 1 noise) above which a guessed encoding is not trusted.
_MAX_CHAOS = 0.1
#: Encodings preferred when they decode as cleanly as the best guess: UK transcripts that are not UTF-8
#: are almost always Windows-1252, and charset-normalizer ranks look-alikes (cp1250) first on short texts.
_PREFERRED = ("cp1252", "iso8859_15", "latin_1")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
#: Lines beginning with '#' at the very top of a file are a comment header (provenance, SYNTHETIC marker).
COMMENT_LINE = re.compile(r"^\s*#")


def sniff_binary(data: bytes) -> str | None:
    """A text-free description of what non-text ``data`` looks like, or None if it may be text."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"binary file: looks like {what}, not text"
    if not any(data.startswith(bom) for bom, _ in _BOMS) and b"\x00" in data[:65536]:
        return "binary file: contains NUL bytes"
    return None


def decode_text(data: bytes, path: Path) -> str:
    """Bytes to text: BOM-marked Unicode, then UTF-8, then a confident guess; otherwise ``InputFileError``.

    Newlines are normalised to ``\\n``. Never includes any of the text in an error.
    """
    binary = sniff_binary(data)
    if binary:
        raise InputFileError(path, binary)
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise InputFileError(
                    path, f"undecodable text: starts with a {encoding} byte-order mark but is not {encoding}"
                ) from None
            break
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _guess_decode(data, path)
    if text.startswith("\ufeff"):
        text = text[1:]
    # Word's manual line break arrives as a vertical tab, a page break as a form feed: both are newlines.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0b", "\n").replace("\x0c", "\n")
    controls = len(_CONTROL.findall(text))
    if controls > max(8, len(text) // 100):
        raise InputFileError(path, f"binary file: {controls} control characters in the decoded text")
    return text


def _guess_decode(data: bytes, path: Path) -> str:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise InputFileError(path, "undecodable text: not UTF-8 and no other encoding fits (save it as UTF-8)")
    best = min(matches, key=lambda m: m.chaos)
    if best.chaos > _MAX_CHAOS:
        raise InputFileError(
            path, "undecodable text: not UTF-8 and the encoding cannot be told reliably (save it as UTF-8)"
        )
    for preferred in _PREFERRED:
        for match in matches:
            if match.encoding == preferred and match.chaos <= best.chaos + 0.02:
                best = match
                break
        else:
            continue
        break
    try:
        return data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        raise InputFileError(path, f"undecodable text: guessed {best.encoding} but it does not fit") from None


# --------------------------------------------------------------------------------------------------
# lines -> turns
# --------------------------------------------------------------------------------------------------
def split_header(lines: Sequence[str]) -> tuple[list[str], list[str]]:
    """Leading ``#`` comment lines (and blank lines among them) -> header; the rest -> body."""
    index = 0
    while index < len(lines) and (not lines[index].strip() or COMMENT_LINE.match(lines[index])):
        index += 1
    header = [line.strip() for line in lines[:index] if line.strip()]
    return header, list(lines[index:])


def parse_lines(lines: Sequence[str], settings: Settings | None = None) -> ReadResult:
    """Lines of a transcript -> turns.

    With speaker labels: each accepted label starts a turn; following unlabelled lines continue it (a
    blank line inside a turn is kept as a paragraph break); lines before the first label are header.
    Without any labels: blank-line separated paragraphs become turns with no speaker, kind "document".
    """
    header, body = split_header(lines)
    candidates = [match_label(line) for line in body]
    speakers = accepted_labels(candidates, settings)
    if not speakers:
        return ReadResult(turns=paragraph_turns(body), kind="document", header=header)

    turns: list[RawTurn] = []
    current: list[str] | None = None
    for line, candidate in zip(body, candidates, strict=True):
        if candidate is not None and candidate.label.casefold() in speakers:
            _close(turns, current)
            turn = RawTurn(text="", speaker=candidate.label, start_time=candidate.timestamp)
            turns.append(turn)
            current = [candidate.text] if candidate.text else []
        elif current is None:
            if line.strip():
                header.append(line.strip())
        else:
            current.append(line.strip())
    _close(turns, current)
    return ReadResult(turns=[turn for turn in turns if turn.text], kind="interview", header=header)


def _close(turns: list[RawTurn], lines: list[str] | None) -> None:
    if lines is None or not turns:
        return
    turns[-1].text = _join_paragraphs(lines)


def _join_paragraphs(lines: Iterable[str]) -> str:
    """Join lines with newlines, keeping one blank line where paragraphs break."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join("\n".join(p) for p in paragraphs if p).strip()


def paragraph_turns(lines: Iterable[str]) -> list[RawTurn]:
    """Blank-line separated paragraphs -> speakerless turns (lines inside a paragraph joined by spaces)."""
    turns: list[RawTurn] = []
    block: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line.strip())
        elif block:
            turns.append(RawTurn(text=" ".join(block)))
            block = []
    return turns
