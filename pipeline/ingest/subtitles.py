"""Subtitle transcripts (``.vtt``, ``.srt``) as exported by Teams, Zoom or a transcription service.

Timestamps are kept (seconds) on each turn. Speakers come from WebVTT voice tags (``<v Jo Smith>``) or
from a ``Name:`` prefix at the start of a cue. Consecutive cues by the same speaker merge into one turn
(first start, last end): captions are cut for the screen, not by meaning. A cue with no speaker at all
continues the previous speaker's turn when the file names speakers elsewhere; in a file without any
speakers, cues are grouped into paragraphs at pauses of ``_PAUSE`` seconds or more.

Malformed files are refused rather than read in part: webvtt-py's lenient mode silently skips cue blocks
it cannot parse, so the number of cue-timing lines is compared with the number of cues read.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.limits import check_text
from pipeline.ingest.speakers import accepted_labels, match_label
from pipeline.ingest.text import decode_text
from pipeline.ingest.types import RawTurn, ReadResult
from pipeline.settings import Settings

_PAUSE = 3.0
_VOICE = re.compile(r"<v(?:\.[\w-]+)*[ \t]+([^>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d{1,2}:\d{2}[^>]*>")
_ARROW_LINE = re.compile(r"^\s*\S+\s*-->\s*\S+")


@dataclass(slots=True)
class _Cue:
    speaker: str | None
    text: str
    start: float
    end: float


def _clean(text: str) -> str:
    """Strip cue tags (class, italics, timestamps) and decode the few HTML entities WebVTT allows."""
    return html.unescape(_TAG.sub("", text)).strip()


def _split_voices(raw: str, start: float, end: float) -> list[_Cue]:
    """One cue's raw text -> one cue per voice span (a cue may hold two speakers' lines)."""
    pieces: list[_Cue] = []
    positions = list(_VOICE.finditer(raw))
    if not positions:
        return [_Cue(None, _clean(raw), start, end)]
    before = _clean(raw[: positions[0].start()])
    if before:
        pieces.append(_Cue(None, before, start, end))
    for index, found in enumerate(positions):
        stop = positions[index + 1].start() if index + 1 < len(positions) else len(raw)
        text = _clean(raw[found.end() : stop])
        if text:
            pieces.append(_Cue(_clean(found.group(1)) or None, text, start, end))
    return pieces


def _count_cue_timings(text: str) -> int:
    """Lines that look like cue timings (``a --> b``) outside NOTE/STYLE/REGION blocks."""
    count = 0
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines or lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        count += sum(1 for line in lines if _ARROW_LINE.match(line))
    return count


def _parse(path: Path, text: str, fmt: str) -> tuple[list[_Cue], list[str]]:
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    if fmt == "vtt" and not text.lstrip("\ufeff").startswith("WEBVTT"):
        raise InputFileError(path, "malformed VTT: the file does not start with 'WEBVTT'")
    try:
        captions = webvtt.WebVTT.from_buffer(io.StringIO(text), format=fmt)
    except (MalformedFileError, MalformedCaptionError, ValueError) as exc:
        raise InputFileError(path, f"malformed {fmt.upper()}: {type(exc).__name__}") from None
    expected = _count_cue_timings(text)
    if expected != len(captions.captions):
        lost = expected - len(captions.captions)
        raise InputFileError(
            path, f"malformed {fmt.upper()}: {lost} of {expected} cues have invalid timings or layout"
        )
    if not captions.captions:
        raise InputFileError(path, f"malformed {fmt.upper()}: no cues")
    cues: list[_Cue] = []
    for caption in captions.captions:
        start = caption.start_time.in_milliseconds() / 1000
        end = caption.end_time.in_milliseconds() / 1000
        if end < start:
            raise InputFileError(path, f"malformed {fmt.upper()}: a cue ends before it starts")
        cues.extend(_split_voices(caption.raw_text, start, end))
    header: list[str] = []
    if fmt == "vtt":
        header_text = getattr(captions, "header_text", None)
        if header_text:
            header.append(str(header_text).strip(" \t-–"))
        header.extend(comment.strip() for comment in getattr(captions, "header_comments", []) or [])
    return cues, [line for line in header if line]


def _apply_name_prefixes(cues: list[_Cue], settings: Settings) -> None:
    """``Name: text`` at the start of a voiceless cue makes Name the speaker (if accepted as a label)."""
    candidates = [match_label(cue.text) if cue.speaker is None else None for cue in cues]
    speakers = accepted_labels(candidates, settings)
    for cue, candidate in zip(cues, candidates, strict=True):
        if candidate is not None and candidate.label.casefold() in speakers and candidate.text:
            cue.speaker, cue.text = candidate.label, candidate.text


def _merge(cues: list[_Cue]) -> list[RawTurn]:
    named = any(cue.speaker for cue in cues)
    turns: list[RawTurn] = []
    for cue in cues:
        if not cue.text:
            continue
        previous = turns[-1] if turns else None
        if previous is not None:
            continues = (
                cue.speaker == previous.speaker
                if named and cue.speaker is not None
                else named or (previous.end_time is not None and cue.start - previous.end_time < _PAUSE)
            )
            if continues:
                previous.text = f"{previous.text} {cue.text}"
                previous.end_time = max(previous.end_time or cue.end, cue.end)
                continue
        turns.append(RawTurn(text=cue.text, speaker=cue.speaker, start_time=cue.start, end_time=cue.end))
    return turns


def _read(path: Path, data: bytes, settings: Settings, fmt: str) -> ReadResult:
    text = decode_text(data, path)
    check_text(path, text, settings)
    cues, header = _parse(path, text, fmt)
    _apply_name_prefixes(cues, settings)
    # Multi-line cue text reads as one utterance.
    for cue in cues:
        cue.text = " ".join(part.strip() for part in cue.text.split("\n") if part.strip())
    turns = _merge(cues)
    return ReadResult(turns=turns, kind="interview", header=header)


def read_vtt(path: Path, data: bytes, settings: Settings) -> ReadResult:
    """WebVTT: voice tags or ``Name:`` prefixes become speakers; NOTE blocks before the cues are header."""
    return _read(path, data, settings, "vtt")


def read_srt(path: Path, data: bytes, settings: Settings) -> ReadResult:
    """SubRip: ``Name:`` prefixes become speakers (SRT has no voice tags, though some tools write them)."""
    return _read(path, data, settings, "srt")
