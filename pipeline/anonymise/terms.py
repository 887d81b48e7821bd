"""Allow and deny lists: which words always stay readable, which always go.

Why matching on whole words, case-insensitively, over the text rather than over detections: a
detection may cover more than an allowed term ("Bradford MASH"), and only the part outside the term
should go. The allow-list protects intervals; the anonymiser subtracts them from every detection.
Deny terms (names a reviewer confirmed, local teams) are detected wherever they occur.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from pipeline.errors import ConfigError

ALLOW_FORMAT = "qualcode-allow-list/1"


def normalise_term(term: str) -> str:
    """Case-fold and collapse whitespace; curly apostrophes become straight ones."""
    return re.sub(r"\s+", " ", term.replace("’", "'")).strip().casefold()


def _term_regex(terms: Iterable[str]) -> re.Pattern[str] | None:
    unique = sorted({normalise_term(t) for t in terms if t and t.strip()}, key=len, reverse=True)
    if not unique:
        return None
    parts = []
    for term in unique:
        escaped = re.escape(term).replace("'", "['’]").replace(r"\ ", r"\s+")
        escaped = escaped.replace(r"\-", r"[-\s]?")
        parts.append(escaped)
    # Not inside an e-mail address, URL, handle or file name: "uk" in "kyle@example.co.uk" is no term.
    return re.compile(r"(?<![\w@./-])(?:" + "|".join(parts) + r")(?![\w@]|[./-]\w)", re.IGNORECASE)


def read_terms_file(path: Path) -> list[str]:
    """Terms from a YAML file (``terms:`` list, or a bare list) or a plain text file (one a line)."""
    if not path.exists():
        raise ConfigError(f"{path.name}: term list file not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            where = f" (line {line + 1})" if line is not None else ""
            raise ConfigError(f"{path.name}: not valid YAML{where}") from None
        items = data.get("terms", []) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ConfigError(f"{path.name}: expected a list of terms under 'terms:'")
        return [str(item) for item in items if item is not None]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def default_allow_terms() -> list[str]:
    """The domain allow-list shipped with qualcode (national bodies and practice vocabulary)."""
    text = (
        resources.files("pipeline.anonymise").joinpath("data").joinpath("allow_list.yaml").read_text(encoding="utf-8")
    )
    data = yaml.safe_load(text)
    return [str(t) for t in data["terms"]]


@dataclass(slots=True)
class TermMatcher:
    """Finds whole-word occurrences of a set of terms (case-insensitive)."""

    terms: frozenset[str] = field(default_factory=frozenset)
    _regex: re.Pattern[str] | None = None

    @classmethod
    def of(cls, terms: Iterable[str]) -> TermMatcher:
        terms = list(terms)
        return cls(frozenset(normalise_term(t) for t in terms if t.strip()), _term_regex(terms))

    def intervals(self, text: str) -> list[tuple[int, int]]:
        if self._regex is None:
            return []
        return [m.span() for m in self._regex.finditer(text)]

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and normalise_term(term) in self.terms

    def __len__(self) -> int:
        return len(self.terms)

    def __repr__(self) -> str:  # deny lists are identifying: never show the terms
        return f"TermMatcher(terms={len(self.terms)})"


@dataclass(slots=True)
class DenyList:
    """Terms always masked, each with the entity type its pseudonym takes."""

    by_type: dict[str, TermMatcher] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[tuple[str, str]]) -> DenyList:
        grouped: dict[str, list[str]] = {}
        for term, entity in entries:
            grouped.setdefault(entity or "PERSON", []).append(term)
        return cls({entity: TermMatcher.of(terms) for entity, terms in grouped.items()})

    def entries(self) -> list[tuple[str, str]]:
        """(term, entity) pairs, normalised."""
        return [(term, entity) for entity, matcher in self.by_type.items() for term in matcher.terms]

    def find(self, text: str) -> list[tuple[int, int, str]]:
        return [(s, e, entity) for entity, matcher in self.by_type.items() for s, e in matcher.intervals(text)]

    def __len__(self) -> int:
        return sum(len(m) for m in self.by_type.values())

    def __repr__(self) -> str:
        return f"DenyList(terms={len(self)})"


def subtract_intervals(start: int, end: int, protected: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` outside every protected interval."""
    pieces = [(start, end)]
    for p_start, p_end in protected:
        if p_end <= start or p_start >= end:
            continue
        next_pieces = []
        for s, e in pieces:
            if p_end <= s or p_start >= e:
                next_pieces.append((s, e))
                continue
            if s < p_start:
                next_pieces.append((s, p_start))
            if p_end < e:
                next_pieces.append((p_end, e))
        pieces = next_pieces
    return pieces
