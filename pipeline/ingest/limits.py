"""Size limits on one inbox file, checked before the expensive work starts.

Why: a transcript is small (an hour-long interview is ~60,000 characters, ~1,500 lines, a few hundred
segments), but a file can be built to cost far more than its size: 2.9 MB of 200,000 short lines took
13.5 minutes and 2.9 GB to anonymise, and a small .docx that expands 89x took 153 s and 1.8 GB inside
python-docx. Each limit is a setting (``max_*``) whose default allows an interview many times over; a
file over one raises ``InputFileError`` naming the file and the setting, so it is quarantined, the batch
goes on and nothing is stored.

Where each is checked:

* bytes per file: ``paths.read_regular`` (before and while reading);
* characters and lines: on the decoded text, before it is split into turns (``check_text``), and on the
  turns every reader returns (``check_turns``);
* segments: every turn becomes at least one segment, so more turns than ``max_segments`` is refused
  at once; otherwise segments are counted exactly (``pipeline.segment``) only when a cheap upper bound
  says the limit might be reached;
* .docx: the ZIP's member count, declared and actual uncompressed sizes (total and ratio to the file
  size) with a streaming cap, and every XML part parsed as a stream for DTDs, entities, element depth
  and, in ``word/document.xml``, paragraphs and characters of text, all before python-docx builds a tree.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from xml.parsers import expat

from pipeline.errors import InputFileError
from pipeline.ingest.types import RawTurn
from pipeline.settings import Settings

#: Members in a .docx: Word writes a few dozen; media-heavy files a few hundred.
MAX_ZIP_MEMBERS = 5000
_CHUNK = 1 << 16
_WORD_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
#: Anything that is neither a word character nor white space: every sentence end spaCy's sentencizer
#: knows is one of these, so their count bounds the number of sentences from above.
_PUNCT = re.compile(r"[^\w\s]")


def _over(path: Path, what: str, count: int, limit: int | float, setting: str) -> InputFileError:
    return InputFileError(path, f"{what} {count:,} is over the limit of {limit:,} (setting {setting})")


def check_text(path: Path, text: str, settings: Settings) -> None:
    """Refuse decoded text with more characters or lines than the limits allow."""
    if len(text) > settings.max_transcript_chars:
        raise _over(path, "characters:", len(text), settings.max_transcript_chars, "max_transcript_chars")
    lines = text.count("\n") + 1
    if lines > settings.max_transcript_lines:
        raise _over(path, "lines:", lines, settings.max_transcript_lines, "max_transcript_lines")


def check_turns(path: Path, turns: Sequence[RawTurn], header: Sequence[str], settings: Settings) -> None:
    """Refuse a document whose turns hold too many characters or would make too many segments.

    Why here and not after segmentation: the anonymiser runs before segmentation and is where a huge
    file costs most, so the segment count is bounded (and, near the limit, counted) on the raw turns.
    """
    chars = sum(len(turn.text) for turn in turns) + sum(len(line) for line in header)
    if chars > settings.max_transcript_chars:
        raise _over(path, "characters:", chars, settings.max_transcript_chars, "max_transcript_chars")
    lines = sum(turn.text.count("\n") + 1 for turn in turns) + len(header)
    if lines > settings.max_transcript_lines:
        raise _over(path, "lines:", lines, settings.max_transcript_lines, "max_transcript_lines")
    too_long = re.compile(rf"\S{{{settings.max_token_chars + 1},}}")
    longest = max((len(m) for turn in turns for m in too_long.findall(turn.text)), default=0)
    if longest > settings.max_token_chars:
        raise _over(path, "characters in one word (no white space):", longest, settings.max_token_chars,
                    "max_token_chars")
    limit = settings.max_segments
    if len(turns) > limit:
        raise _over(path, "turns (each at least one segment):", len(turns), limit, "max_segments")
    bound = len(turns) + sum(len(_PUNCT.findall(turn.text)) for turn in turns)
    if bound <= limit:
        return
    segments = count_segments(turns, settings)
    if segments > limit:
        raise _over(path, "segments:", segments, limit, "max_segments")


def count_segments(turns: Sequence[RawTurn], settings: Settings) -> int:
    """The number of segments ``pipeline.segment`` makes of these turns (on the raw text).

    Anonymising changes words, not sentence ends, so the count on the anonymised text is the same or
    very close; near a limit set many times above real interviews that difference does not matter.
    """
    from pipeline.segment import segment_document

    parts: list[str] = []
    spans: list[SimpleNamespace] = []
    offset = 0
    for turn in turns:
        spans.append(SimpleNamespace(role=turn.role, start=offset, end=offset + len(turn.text)))
        parts.append(turn.text)
        offset += len(turn.text) + 2
    return len(segment_document("\n\n".join(parts), spans, settings))


# --------------------------------------------------------------------------------------------------
# .docx (a ZIP of XML parts)
# --------------------------------------------------------------------------------------------------
class _Refused(Exception):
    """Raised inside expat callbacks; turned into ``InputFileError`` by the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _xml_scanner(settings: Settings, is_document: bool) -> tuple[expat.XMLParserType, dict[str, int]]:
    """An expat parser that refuses DTDs and entities, limits depth, and counts text in a document part."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    state = {"depth": 0, "in_text": 0, "chars": 0, "paragraphs": 0}
    max_depth = settings.max_xml_depth
    max_chars = settings.max_transcript_chars
    text_tag = f"{_WORD_NS} t"
    paragraph_tag = f"{_WORD_NS} p"

    def refuse_dtd(*_: object) -> None:
        raise _Refused("refused .docx: an XML part declares a DTD or entities")

    def start(name: str, _attrs: object) -> None:
        state["depth"] += 1
        if state["depth"] > max_depth:
            raise _Refused(
                f"refused .docx: XML elements nested deeper than {max_depth} (setting max_xml_depth)"
            )
        if is_document:
            if name == text_tag:
                state["in_text"] += 1
            elif name == paragraph_tag:
                state["paragraphs"] += 1

    def end(name: str) -> None:
        state["depth"] -= 1
        if is_document and name == text_tag:
            state["in_text"] -= 1

    def data(text: str) -> None:
        if state["in_text"]:
            state["chars"] += len(text)
            if state["chars"] > max_chars:
                raise _Refused(
                    f"characters: over the limit of {max_chars:,} (setting max_transcript_chars)"
                )

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.UnparsedEntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    if is_document:
        parser.CharacterDataHandler = data
    return parser, state


def check_docx(path: Path, data: bytes, settings: Settings) -> None:
    """Refuse a .docx that is not a Word archive or is over a limit, reading it as a stream.

    Declared sizes are checked first (cheap, and enough for an honest archive); then every member is
    decompressed in chunks, counting the bytes really produced against its declared size and against
    the totals, and every XML part is fed to a streaming parser. Nothing is held whole in memory.
    """
    if not data.startswith(b"PK\x03\x04"):
        if data.startswith(b"\xd0\xcf\x11\xe0"):
            raise InputFileError(path, "old Word .doc format, not .docx: save it as .docx")
        raise InputFileError(path, "not a .docx file (it is not a ZIP archive)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise InputFileError(path, "corrupt .docx: the ZIP archive is damaged") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise InputFileError(path, f"refused .docx: {len(infos):,} archive members, over {MAX_ZIP_MEMBERS:,}")
        if "word/document.xml" not in {info.filename for info in infos}:
            raise InputFileError(path, "not a .docx file: the archive has no word/document.xml")
        cap = min(settings.max_docx_uncompressed_bytes, int(max(len(data), 1) * settings.max_docx_ratio))
        declared = sum(info.file_size for info in infos)
        if declared > cap:
            raise InputFileError(path, _bomb_reason(declared, len(data), settings))
        total = 0
        for info in infos:
            total = _stream_member(path, archive, info, total, cap, len(data), settings)


def _bomb_reason(size: int, compressed: int, settings: Settings) -> str:
    ratio = size / max(compressed, 1)
    return (
        f"refused .docx (zip bomb?): it expands to {size / (1024 * 1024):.1f} MB, {ratio:.0f}x its size; limits "
        f"{settings.max_docx_uncompressed_bytes / (1024 * 1024):.0f} MB (setting max_docx_uncompressed_bytes) "
        f"and {settings.max_docx_ratio:g}x (setting max_docx_ratio)"
    )


def _stream_member(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, cap: int, size: int, settings: Settings
) -> int:
    """Decompress one member in chunks under the caps; parse it as a stream if it is XML. Returns the new total."""
    is_xml = info.filename.endswith((".xml", ".rels"))
    parser, state = _xml_scanner(settings, info.filename == "word/document.xml") if is_xml else (None, None)
    produced = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                produced += len(chunk)
                total += len(chunk)
                if produced > info.file_size:
                    raise InputFileError(path, "corrupt .docx: a member is larger than its archive entry says")
                if total > cap:
                    raise InputFileError(path, _bomb_reason(total, size, settings))
                if parser is not None:
                    parser.Parse(chunk, False)
            if parser is not None:
                parser.Parse(b"", True)
    except InputFileError:
        raise
    except _Refused as exc:
        raise InputFileError(path, exc.reason) from None
    except expat.ExpatError:
        raise InputFileError(path, "corrupt .docx: an XML part is not well-formed") from None
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError, NotImplementedError):
        raise InputFileError(path, "corrupt .docx: a part of the archive cannot be read") from None
    if produced != info.file_size:
        raise InputFileError(path, "corrupt .docx: a member is smaller than its archive entry says")
    if state is not None and state["paragraphs"] > settings.max_transcript_lines:
        raise _over(path, "paragraphs:", state["paragraphs"], settings.max_transcript_lines, "max_transcript_lines")
    return total
