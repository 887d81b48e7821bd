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

    def __repr__(self) -> str:
        return f"RawDocument(path={self.path.name!r}, format={self.format!r}, turns={len(self.turns)})"
