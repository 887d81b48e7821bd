"""Token-level scoring of detected spans against gold mentions (the TAB-style proxy metric).

Why tokens: a mention half-masked still leaks, and mentions of different lengths should weigh by how
much text they expose. Rule (from TAB's evaluation.py, as suggested in ../shared/eval/tab/README.md):
word tokens are ``\\w+`` runs; punctuation and the title/function tokens ``mr mrs ms no nr about`` are
ignored. A token counts as masked when any system span overlaps it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

TOKEN = re.compile(r"\w+")
IGNORED_TOKENS = frozenset({"mr", "mrs", "ms", "no", "nr", "about"})


@dataclass
class TokenScores:
    """Accumulated counts; ``recall(type)`` and ``precision`` read them."""

    gold_tokens: Counter[str] = field(default_factory=Counter)
    gold_masked: Counter[str] = field(default_factory=Counter)
    masked_tokens: int = 0
    masked_in_gold: int = 0
    mentions: Counter[str] = field(default_factory=Counter)
    mentions_masked: Counter[str] = field(default_factory=Counter)

    def add(self, text: str, gold: Sequence[Sequence[object]], system: Iterable[tuple[int, int]]) -> None:
        """Score one text: ``gold`` as ``[start, end, TYPE]``, ``system`` as ``(start, end)`` spans."""
        sys_spans = sorted(system)
        tokens = [(m.start(), m.end()) for m in TOKEN.finditer(text) if m.group(0).casefold() not in IGNORED_TOKENS]
        masked = [_overlaps_any(s, e, sys_spans) for s, e in tokens]
        gold_spans = [(int(g[0]), int(g[1]), str(g[2])) for g in gold]
        in_gold = [False] * len(tokens)
        for g_start, g_end, g_type in gold_spans:
            inside = [i for i, (s, e) in enumerate(tokens) if s < g_end and e > g_start]
            self.mentions[g_type] += 1
            if inside and all(masked[i] for i in inside):
                self.mentions_masked[g_type] += 1
            for i in inside:
                in_gold[i] = True
        for i, (s, e) in enumerate(tokens):
            types = {t for gs, ge, t in gold_spans if s < ge and e > gs}
            for t in types:
                self.gold_tokens[t] += 1
                self.gold_masked[t] += masked[i]
            if masked[i]:
                self.masked_tokens += 1
                self.masked_in_gold += in_gold[i]

    def recall(self, entity_type: str | None = None) -> float:
        if entity_type is None:
            total = sum(self.gold_tokens.values())
            return sum(self.gold_masked.values()) / total if total else float("nan")
        total = self.gold_tokens[entity_type]
        return self.gold_masked[entity_type] / total if total else float("nan")

    @property
    def precision(self) -> float:
        return self.masked_in_gold / self.masked_tokens if self.masked_tokens else float("nan")

    def mention_recall(self, entity_type: str | None = None) -> float:
        """Share of gold mentions with every token masked (the "direct identifier masked" criterion)."""
        if entity_type is None:
            total = sum(self.mentions.values())
            return sum(self.mentions_masked.values()) / total if total else float("nan")
        total = self.mentions[entity_type]
        return self.mentions_masked[entity_type] / total if total else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {
            "precision": self.precision,
            "recall_all": self.recall(),
            "recall": {t: self.recall(t) for t in sorted(self.gold_tokens)},
            "gold_tokens": dict(sorted(self.gold_tokens.items())),
            "mention_recall": {t: self.mention_recall(t) for t in sorted(self.mentions)},
            "mentions_fully_masked": sum(self.mentions_masked.values()),
            "mentions": sum(self.mentions.values()),
        }


def _overlaps_any(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(s < end and e > start for s, e in spans)


def surviving_terms(text: str, terms: Iterable[str], system: Iterable[tuple[int, int]]) -> tuple[int, list[str]]:
    """(occurrences of ``terms`` in ``text``, the ones a system span touches) — whole-word, any case."""
    spans = sorted(system)
    found = 0
    masked: list[str] = []
    for term in terms:
        pattern = re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)
        for match in pattern.finditer(text):
            found += 1
            if _overlaps_any(match.start(), match.end(), spans):
                masked.append(term)
    return found, masked
