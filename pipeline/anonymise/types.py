"""Result types of the anonymiser.

Why dataclasses with text-free reprs: results travel through the batch flow, Prefect task states and
tracebacks. A ``Span`` never holds the original text (only offsets), and the reprs of the results carry
counts, so printing one in a log can never leak an identifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.ingest.types import Role


@dataclass(frozen=True, slots=True)
class Span:
    """One replacement.

    ``start``/``end`` index the ORIGINAL text (for a document: the original turn texts joined by a blank
    line), ``out_start``/``out_end`` the anonymised text. ``entity`` is the pseudonym type (``PERSON``,
    ``SCHOOL``, ``POSTCODE`` ...), ``recognizer`` the name of the recogniser that decided it.
    """

    start: int
    end: int
    entity: str
    score: float
    placeholder: str
    recognizer: str
    out_start: int = -1
    out_end: int = -1

    def as_json(self) -> dict[str, object]:
        """The public JSONL form (offsets into the original text)."""
        return {
            "start": self.start,
            "end": self.end,
            "entity": self.entity,
            "score": round(self.score, 4),
            "placeholder": self.placeholder,
        }


@dataclass(slots=True)
class AnonymisationResult:
    """The anonymised form of one text and the replacements made."""

    text: str
    spans: list[Span] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"AnonymisationResult(chars={len(self.text)}, spans={len(self.spans)})"


@dataclass(slots=True)
class AnonymisedTurn:
    """A speaker turn of an anonymised document; ``start``/``end`` index ``AnonymisedDocument.text``."""

    speaker: str | None
    role: Role
    start: int
    end: int
    start_time: float | None = None
    end_time: float | None = None

    def __repr__(self) -> str:
        return f"AnonymisedTurn(role={self.role!r}, start={self.start}, end={self.end})"


@dataclass(slots=True)
class AnonymisedDocument:
    """A whole transcript after anonymisation: the only form of it that may be stored."""

    text: str
    turns: list[AnonymisedTurn] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    labels_replaced: int = 0  # speaker labels that were pseudonymised (they have no text offsets)

    def __repr__(self) -> str:
        return f"AnonymisedDocument(chars={len(self.text)}, turns={len(self.turns)}, spans={len(self.spans)})"


#: Separator between turn texts in a document's text (both original and anonymised).
TURN_SEPARATOR = "\n\n"
