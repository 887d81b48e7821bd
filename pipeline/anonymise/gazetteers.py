"""Word lists shipped with the anonymiser (first names, surnames, places, nicknames, surrogates).

Why plain files in the package: they are data a project lead may want to read or extend, they load in
milliseconds, and they keep the recognisers free of hard-coded vocabularies. All lists are synthetic
compilations of common names and public place names; none describes a real participant.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


def _read_list(name: str) -> frozenset[str]:
    text = resources.files("pipeline.anonymise").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def _read_yaml(name: str) -> object:
    text = resources.files("pipeline.anonymise").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@dataclass(frozen=True, slots=True)
class Gazetteers:
    """The vocabularies the recognisers and the pseudonym linker use (all case-folded)."""

    first_names: frozenset[str]
    ambiguous_names: frozenset[str]
    surnames: frozenset[str]
    places: frozenset[str]
    ambiguous_places: frozenset[str]
    nickname_groups: dict[str, str]  # form -> canonical first name

    @property
    def max_place_words(self) -> int:
        return max((p.count(" ") + 1 for p in self.places), default=1)

    def canonical_first(self, name: str) -> str:
        """The canonical first name for a nickname or spelling variant (itself when unknown)."""
        folded = name.casefold()
        return self.nickname_groups.get(folded, folded)


@lru_cache(maxsize=1)
def load_gazetteers() -> Gazetteers:
    """Load the bundled lists once per process."""
    ambiguous = _read_list("ambiguous_names.txt")
    nick_yaml = _read_yaml("nicknames.yaml") or {}
    groups: dict[str, str] = {}
    if isinstance(nick_yaml, dict):
        for canonical, forms in nick_yaml.items():
            groups[str(canonical).casefold()] = str(canonical).casefold()
            for form in forms or []:
                groups.setdefault(str(form).casefold(), str(canonical).casefold())
    # Nickname forms are first names too ("Bex", "Kez"), unless they are ordinary words ("will").
    nick_forms = frozenset(groups) - ambiguous
    return Gazetteers(
        first_names=(_read_list("first_names.txt") | nick_forms) - ambiguous,
        ambiguous_names=ambiguous,
        surnames=_read_list("surnames.txt"),
        places=_read_list("places.txt"),
        ambiguous_places=_read_list("ambiguous_places.txt"),
        nickname_groups=groups,
    )


@lru_cache(maxsize=1)
def surrogate_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(first names, surnames) used for realistic surrogates; synthetic and deliberately bland."""
    data = _read_yaml("surrogates.yaml")
    if not isinstance(data, dict):
        raise ValueError("surrogates.yaml must be a mapping with 'first' and 'last' lists")
    return tuple(data["first"]), tuple(data["last"])


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, frozenset[str]]:
    """Word lists the recognisers reason with (titles, relation words, generic words, role words ...)."""
    data = _read_yaml("vocabulary.yaml")
    if not isinstance(data, dict):
        raise ValueError("vocabulary.yaml must map list names to whitespace-separated words")
    return {str(name): frozenset(str(words).casefold().split()) for name, words in data.items()}
