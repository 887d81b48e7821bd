"""What a reader produces: a document as speaker turns, before anonymisation.

Why a separate type: readers know formats, not privacy. Everything in a ``RawDocument`` is sensitive and
lives only in memory; the anonymiser turns it into an ``AnonymisedDocument`` and only that is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Role = Literal["interviewer", "participant", "unknown"]


@dataclass(slots=True)
class RawTurn:
    """One speaker turn (or one paragraph of a document without speakers)."""

    text: str
    speaker: str | None = None  # raw label as written ("Interviewer", "Jo Smith", "P3"); may identify
    role: Role = "unknown"
    start_time: float | None = None  # seconds, for VTT/SRT
    end_time: float | None = None

    def __repr__(self) -> str:  # never show text in tracebacks or logs
        return f"RawTurn(role={self.role!r}, chars={len(self.text)})"


@dataclass(slots=True)
class RawDocument:
    """A transcript or document as read from disk."""

    path: Path
    format: str  # txt|docx|vtt|srt|pdf
    turns: list[RawTurn]
    content_hash: str  # sha256 of the raw bytes
    kind: Literal["interview", "document"] = "interview"
    metadata: dict[str, Any] = field(default_factory=dict)  # site_code, participant_role, interview_date, ...
    #: Lines before the first turn (title block, ``# SYNTHETIC`` marker, VTT header notes). Sensitive like the
    #: turns (a title may name the participant), never coded, and not part of ``turns``.
    header: list[str] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        """Distinct speaker labels in order of first appearance (sensitive: labels may be names)."""
        return list(dict.fromkeys(turn.speaker for turn in self.turns if turn.speaker))

    @property
    def is_synthetic(self) -> bool:
        """True when the header carries the ``SYNTHETIC`` marker used by the sample data."""
        return any("SYNTHETIC" in line for line in self.header)

    def __repr__(self) -> str:
        return (
            f"RawDocument(path={self.path.name!r}, format={self.format!r}, kind={self.kind!r}, "
            f"turns={len(self.turns)})"
        )


@dataclass(slots=True)
class ReadResult:
    """What a format reader returns; ``read_document`` adds the hash, metadata and speaker roles.

    Why not a ``RawDocument`` directly: a plug-in reader should only have to know its format. Hashing,
    size limits, sidecar metadata and role assignment are the same for every format and live in one place.
    """

    turns: list[RawTurn]
    kind: Literal["interview", "document"] = "interview"
    header: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"ReadResult(kind={self.kind!r}, turns={len(self.turns)}, header_lines={len(self.header)})"
