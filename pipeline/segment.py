"""Speaker-aware segmentation: turns into sentence-window segments with stable character offsets.

Why windows of sentences inside one turn: a code applies to what one speaker says, so a segment never
crosses a turn boundary; a few sentences give the classifier and the coder enough context while staying
short enough to code precisely. Offsets point into the anonymised document text, so a segment can always be
shown highlighted inside its turn and exported to QDA tools as a text selection.

Sentence boundaries come from spaCy's rule-based ``sentencizer`` on a blank English pipeline: no model to
load, deterministic, and it handles "Mr." / "e.g." better than a bare regex.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from pipeline.settings import Settings, get_settings


class TurnLike(Protocol):
    """What segmentation needs from a turn (``AnonymisedTurn`` satisfies it)."""

    role: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class SegmentSpan:
    """One segment: ``text[start:end]`` of the document, inside turn ``turn_index``."""

    index: int
    turn_index: int
    start: int
    end: int
    role: str
    codable: bool


@lru_cache(maxsize=1)
def _sentencizer():  # type: ignore[no-untyped-def]
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 5_000_000
    return nlp


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Character spans of the sentences in ``text`` (whitespace trimmed), shifted by ``offset``."""
    spans: list[tuple[int, int]] = []
    if not text.strip():
        return spans
    for sent in _sentencizer()(text).sents:
        start, end = sent.start_char, sent.end_char
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((offset + start, offset + end))
    return spans


def _windows(sentences: list[tuple[int, int]], max_sentences: int, max_chars: int) -> list[tuple[int, int]]:
    """Group consecutive sentences into windows of at most ``max_sentences`` and about ``max_chars``.

    A single sentence longer than ``max_chars`` becomes its own window (never cut mid-sentence), and a
    short last window is merged into the previous one when the result still fits, so no segment is a
    stray fragment.
    """
    windows: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for sent in sentences:
        if current and (len(current) >= max_sentences or sent[1] - current[0][0] > max_chars):
            windows.append(current)
            current = []
        current.append(sent)
    if current:
        if windows and len(current) == 1 and current[0][1] - windows[-1][0][0] <= max_chars:
            windows[-1].extend(current)
        else:
            windows.append(current)
    return [(w[0][0], w[-1][1]) for w in windows]


def segment_document(
    text: str, turns: Sequence[TurnLike], settings: Settings | None = None
) -> list[SegmentSpan]:
    """Split every turn of ``text`` into segments.

    Interviewer turns are kept as segments (they are context for the coder) but are not codable unless
    ``settings.code_interviewer_turns`` is set.
    """
    s = settings or get_settings()
    segments: list[SegmentSpan] = []
    for turn_index, turn in enumerate(turns):
        sentences = sentence_spans(text[turn.start : turn.end], offset=turn.start)
        codable = turn.role != "interviewer" or s.code_interviewer_turns
        for start, end in _windows(sentences, s.segment_max_sentences, s.segment_max_chars):
            segments.append(SegmentSpan(len(segments), turn_index, start, end, turn.role, codable))
    return segments
