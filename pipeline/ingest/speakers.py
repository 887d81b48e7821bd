"""Speaker labels: finding them at the start of a line, and telling interviewers from participants.

Why heuristics with a guard: transcripts are typed by many hands ("Interviewer:", "INT:", "P3:",
"Jo Smith:", "SW1 (social worker):", "[00:01:02] Interviewer:", or Otter's "Jo Smith  0:03" on a line of
its own). A loose pattern would also take "Note:" or "The problem was this:" for a speaker, so a
candidate label only counts when it is a known role word (the configured patterns), follows a leading
timestamp, or opens at least two lines of the document: real speakers speak more than once, and a
phrase ending in a colon rarely repeats verbatim.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipeline.ingest.types import RawTurn, Role
from pipeline.settings import Settings, get_settings

#: A speaker label at the start of a line, optionally after a timestamp like ``[00:01:02]`` or ``00:01``.
_LABEL_LINE = re.compile(
    r"""
    ^[ \t]*
    (?:[\[(]?(?P<ts>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)[\])]?[ \t]*(?:[-–][ \t]*)?)?
    (?P<label>
        [^\W\d_][\w'’.\-]*                 # first word begins with a letter
        (?:[ \t]+[\w'’.\-]+){0,3}          # at most three more words ("Jo Smith", "Police Officer 2")
        (?:[ \t]*\([^()\n:]{1,60}\))?      # optional note: "SW1 (social worker)"
    )
    [ \t]*:(?:[ \t]+|$)
    (?P<text>.*)$
    """,
    re.VERBOSE,
)
#: Otter-style speaker line: a label, then only a timestamp (``Jo Smith  0:03``); the words follow below.
_LABEL_THEN_TIME = re.compile(
    r"""
    ^[ \t]*
    (?P<label>[^\W\d_][\w'’.\-]*(?:[ \t]+[\w'’.\-]+){0,3}(?:[ \t]*\([^()\n:]{1,60}\))?)
    [ \t]+\[?(?P<ts>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)\]?[ \t]*$
    """,
    re.VERBOSE,
)
_MAX_LABEL = 60
_PARENTHETICAL = re.compile(r"\(([^()]*)\)")


@dataclass(frozen=True, slots=True)
class LabelMatch:
    """A candidate speaker label found at the start of a line."""

    label: str
    text: str
    timestamp: float | None
    #: True when the timestamp came before the label ("[00:01] Jo:"), which only transcripts do; a trailing
    #: time ("Jo Smith  0:03") could also be a line like "Started 10:05", so it needs the label to repeat.
    leading_time: bool = True

    def __repr__(self) -> str:  # the label may be a name
        return f"LabelMatch(chars={len(self.label)}, timestamp={self.timestamp})"


def parse_timestamp(value: str) -> float:
    """``01:02:03.5`` / ``02:03`` / ``1:02:03,500`` -> seconds."""
    parts = value.replace(",", ".").split(":")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def match_label(line: str) -> LabelMatch | None:
    """The candidate label at the start of ``line``, or None. Not yet accepted: see ``accepted_labels``."""
    found = _LABEL_LINE.match(line)
    leading = True
    if not found:
        found = _LABEL_THEN_TIME.match(line)
        leading = False
        if not found:
            return None
    label = re.sub(r"[ \t]+", " ", found.group("label").strip())
    if len(label) > _MAX_LABEL:
        return None
    ts = found.group("ts")
    text = found.group("text").strip() if leading else ""
    return LabelMatch(label, text, parse_timestamp(ts) if ts else None, leading_time=leading)


def accepted_labels(candidates: Iterable[LabelMatch | None], settings: Settings | None = None) -> set[str]:
    """The candidate labels (case-folded) that really are speakers in this document.

    A label is accepted when it matches a configured role pattern, comes after a timestamp, or opens at
    least two lines and starts with a capital letter or a digit (so that a repeated lower-case phrase
    such as "and then: ..." is never a speaker). When one "Name  0:03" line is accepted, all are: the
    file is then in that layout, and a speaker who talks once is still a speaker.
    """
    matches = [m for m in candidates if m is not None]
    counts = Counter(m.label.casefold() for m in matches)
    accepted: set[str] = set()
    for m in matches:
        key = m.label.casefold()
        if key in accepted:
            continue
        known = assign_role(m.label, settings) != "unknown" or (m.timestamp is not None and m.leading_time)
        repeated = counts[key] >= 2 and (m.label[0].isupper() or m.label[0].isdigit())
        if known or repeated:
            accepted.add(key)
    # Once a "Name  0:03" line is confirmed, the file is in that layout: every such line is a speaker.
    trailing = {
        m.label.casefold()
        for m in matches
        if not m.leading_time and m.timestamp is not None and _name_like(m.label)
    }
    if trailing & accepted:
        accepted |= trailing
    return accepted


def _name_like(label: str) -> bool:
    """Every word capitalised or a number ("Sam Patel", "Speaker 2"), unlike "Interview started"."""
    words = _PARENTHETICAL.sub("", label).split()
    return bool(words) and all(word[0].isupper() or word[0].isdigit() for word in words)


@lru_cache(maxsize=32)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)


def assign_role(label: str | None, settings: Settings | None = None) -> Role:
    """``interviewer``, ``participant`` or ``unknown`` for one speaker label.

    The configured patterns (case-insensitive) are tried on the whole label and then on a note in
    brackets, so "Jo Smith (interviewer)" is an interviewer and "SW1 (participant)" a participant.
    Interviewer patterns win when both match.
    """
    if not label:
        return "unknown"
    s = settings or get_settings()
    interviewer = _compiled(tuple(s.speaker_interviewer_patterns))
    participant = _compiled(tuple(s.speaker_participant_patterns))
    candidates = [label.strip(), *(note.strip() for note in _PARENTHETICAL.findall(label))]
    for text in candidates:
        if any(p.search(text) for p in interviewer):
            return "interviewer"
        if any(p.search(text) for p in participant):
            return "participant"
    return "unknown"


def assign_roles(turns: Sequence[RawTurn], settings: Settings | None = None) -> None:
    """Set ``role`` on every turn in place, from its label and the shape of the conversation.

    In a two-person interview the labels are often names ("Jo Smith:", "Sam:"). When exactly two
    distinct speakers appear and exactly one is recognised, the other takes the opposite role.
    """
    labels: dict[str, Role] = {}
    for turn in turns:
        if turn.speaker and turn.speaker.casefold() not in labels:
            labels[turn.speaker.casefold()] = assign_role(turn.speaker, settings)
    if len(labels) == 2:
        roles = list(labels.values())
        if sorted(roles) == ["interviewer", "unknown"]:
            labels = {k: ("participant" if r == "unknown" else r) for k, r in labels.items()}
        elif sorted(roles) == ["participant", "unknown"]:
            labels = {k: ("interviewer" if r == "unknown" else r) for k, r in labels.items()}
    for turn in turns:
        turn.role = labels[turn.speaker.casefold()] if turn.speaker else "unknown"
