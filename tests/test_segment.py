"""Segmentation keeps offsets exact, respects turns and marks interviewer turns as context."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from pipeline.segment import _windows, segment_document, sentence_spans
from pipeline.settings import Settings


@dataclass
class T:
    role: str
    start: int
    end: int


def _doc(parts: list[tuple[str, str]]) -> tuple[str, list[T]]:
    text, turns = "", []
    for role, body in parts:
        if text:
            text += "\n\n"
        turns.append(T(role, len(text), len(text) + len(body)))
        text += body
    return text, turns


def test_segments_stay_inside_turns_with_exact_offsets() -> None:
    text, turns = _doc([
        ("interviewer", "Can you tell me about the referral? What happened next?"),
        ("participant", "We got the call from school. Mr. Brown was worried. The MASH looked at it. "
                        "It went to the Channel panel. They offered a mentor. He engaged well."),
    ])
    segs = segment_document(text, turns, Settings(segment_max_sentences=3, segment_max_chars=900))
    assert [s.turn_index for s in segs] == [0, 1, 1]
    assert segs[0].codable is False and all(s.codable for s in segs[1:])
    assert text[segs[1].start:segs[1].end].startswith("We got the call")
    assert "Mr. Brown was worried." in text[segs[1].start:segs[1].end]  # abbreviation is not a boundary
    for s in segs:
        t = turns[s.turn_index]
        assert t.start <= s.start < s.end <= t.end
        assert text[s.start:s.end] == text[s.start:s.end].strip()


def test_interviewer_turns_codable_when_configured() -> None:
    text, turns = _doc([("interviewer", "What do you think?")])
    segs = segment_document(text, turns, Settings(code_interviewer_turns=True))
    assert segs[0].codable


def test_long_sentence_is_never_cut() -> None:
    long = "word " * 400
    spans = sentence_spans(long.strip() + ".")
    assert _windows(spans, 3, 100) == [spans[0]]


def test_short_tail_merges_into_previous_window() -> None:
    sents = [(0, 10), (11, 20), (21, 30), (31, 35)]
    assert _windows(sents, 3, 900) == [(0, 35)]


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["Yes.", "The panel met on Tuesday.", "Um, well", "It was hard!", "Why?"]),
                min_size=1, max_size=30), st.integers(1, 5))
def test_segments_cover_every_sentence_once(sentences: list[str], k: int) -> None:
    body = " ".join(sentences)
    text, turns = _doc([("participant", body)])
    segs = segment_document(text, turns, Settings(segment_max_sentences=k, segment_max_chars=200))
    covered = "".join(text[s.start:s.end] for s in segs).replace(" ", "")
    assert covered == body.replace(" ", "")
    assert all(a.end <= b.start for a, b in itertools.pairwise(segs))
