"""The codebook as immutable Python objects.

Why frozen dataclasses with tuples: a codebook version is a fact that models, suggestions and review
decisions refer to by hash. If anything could mutate a loaded codebook, a stored ``content_hash`` could
silently stop describing the object in memory. Everything here is therefore immutable and hashable, and
the two hashes are computed from a canonical JSON form so they are stable across Python versions, YAML
styles (block or flow lists, quoting, comments) and key order.

Two hashes, two purposes:

* ``Codebook.content_hash`` identifies a whole codebook version (stored in ``codebook_versions``).
* ``Code.definition_hash`` covers only what changes a code's *meaning* (definition, include and exclude
  rules, examples). A trained model records it per code; when it changes, that code's model is stale.
  Renaming a code or moving it to another theme does not change its meaning, so it does not change the
  hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The only format string this version of qualcode reads and writes.
FORMAT = "qualcode-codebook/1"


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, real Unicode (so NFC text hashes as written)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Code:
    """One code: what a coder applies to a segment.

    ``include`` rules say when to apply the code, ``exclude`` rules when not to (usually naming the code
    to use instead), and ``examples`` are short passages the code fits. ``theme_id`` is the id of the
    theme the code sits under; it is set by the loader from the file's nesting.
    """

    id: str
    name: str
    definition: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    theme_id: str = ""

    @property
    def definition_hash(self) -> str:
        """SHA-256 of the code's meaning: definition, include, exclude and examples (not name or theme)."""
        return _sha256(
            {
                "definition": self.definition,
                "include": list(self.include),
                "exclude": list(self.exclude),
                "examples": list(self.examples),
            }
        )

    def describe(self) -> str:
        """The text embedded for cold-start similarity before any human has coded an example.

        Why this mix: the name and definition say what the code is about, the include rules widen the
        vocabulary, and the examples are closest in register to real transcript segments. Exclude rules
        are left out on purpose: embedding "not X" pulls the vector *towards* X.
        """
        parts = [f"{self.name}.", self.definition.strip()]
        if self.include:
            parts.append("Applies when: " + " ".join(_sentence(rule) for rule in self.include))
        if self.examples:
            parts.append("Examples: " + " ".join(_sentence(example) for example in self.examples))
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The code as it appears in a codebook file (``theme_id`` is implied by nesting, so omitted)."""
        return {
            "id": self.id,
            "name": self.name,
            "definition": self.definition,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "examples": list(self.examples),
        }


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", '"', "'", "”", "’")) else text + "."


@dataclass(frozen=True)
class Theme:
    """A group of related codes (a chapter of the study, a question area of the topic guide)."""

    id: str
    name: str
    description: str
    codes: tuple[Code, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "codes": [code.to_dict() for code in self.codes],
        }


@dataclass(frozen=True)
class Codebook:
    """A versioned codebook: themes, each holding codes. Build it with ``load_codebook`` or ``from_dict``.

    ``source`` is the file it was read from (for messages only; it takes no part in equality or hashes).
    """

    name: str
    version: str
    description: str
    themes: tuple[Theme, ...]
    source: Path | None = field(default=None, compare=False, repr=False)
    _codes: dict[str, Code] = field(init=False, compare=False, repr=False, hash=False)
    _themes: dict[str, Theme] = field(init=False, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        # Indexes built once; object.__setattr__ because the dataclass is frozen.
        codes: dict[str, Code] = {}
        for theme in self.themes:
            for code in theme.codes:
                if code.id in codes:
                    raise ValueError(f"duplicate code id {code.id!r}")
                codes[code.id] = code
        themes = {theme.id: theme for theme in self.themes}
        if len(themes) != len(self.themes):
            raise ValueError("duplicate theme ids")
        object.__setattr__(self, "_codes", codes)
        object.__setattr__(self, "_themes", themes)

    # --- look-ups --------------------------------------------------------------------------------
    @property
    def codes(self) -> list[Code]:
        """Every code, flat, in file order."""
        return list(self._codes.values())

    @property
    def code_ids(self) -> list[str]:
        return list(self._codes)

    def code(self, code_id: str) -> Code:
        """The code with this id; ``KeyError`` naming the id when there is none."""
        try:
            return self._codes[code_id]
        except KeyError:
            raise KeyError(f"no code {code_id!r} in codebook {self.name!r} {self.version}") from None

    def theme(self, theme_id: str) -> Theme:
        try:
            return self._themes[theme_id]
        except KeyError:
            raise KeyError(f"no theme {theme_id!r} in codebook {self.name!r} {self.version}") from None

    def theme_of(self, code_id: str) -> Theme:
        """The theme a code belongs to."""
        return self._themes[self.code(code_id).theme_id]

    def __contains__(self, code_id: object) -> bool:
        return code_id in self._codes

    def __iter__(self) -> Iterator[Code]:
        return iter(self._codes.values())

    def __len__(self) -> int:
        return len(self._codes)

    # --- identity --------------------------------------------------------------------------------
    @property
    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of ``to_dict()``: equal content, equal hash, whatever the YAML."""
        return _sha256(self.to_dict())

    @property
    def definition_hashes(self) -> dict[str, str]:
        """``{code_id: definition_hash}``, what a trained model records to detect stale codes."""
        return {code.id: code.definition_hash for code in self}

    # --- (de)serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data in the file format (JSON- and YAML-serialisable; stored in ``codebook_versions``)."""
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "themes": [theme.to_dict() for theme in self.themes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: Path | str | None = None) -> Codebook:
        """Validate plain data (for example ``to_dict()`` output read back from the database).

        Raises ``CodebookError`` on invalid content, exactly as the file loader does (without line numbers
        when the data did not come from YAML).
        """
        from pipeline.codebook.loader import codebook_from_data

        return codebook_from_data(data, source=source)

    def __repr__(self) -> str:
        return (
            f"Codebook(name={self.name!r}, version={self.version!r}, themes={len(self.themes)}, "
            f"codes={len(self._codes)}, hash={self.content_hash[:12]})"
        )
