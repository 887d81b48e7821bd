"""The codes and themes agreement is reported on, from the database or a codebook file.

Why not always ``pipeline.codebook.load_codebook``: what coders were shown is the *active stored*
codebook version (``codebook_versions``/``codes``), whose rows carry each code's theme; the YAML file is
only the fallback for a project that has not stored one yet. Reporting needs just ids, names and themes,
so this small view serves both sources through the ``CodebookLike`` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.settings import Settings
from pipeline.store.models import Code, CodebookVersion


@dataclass(frozen=True)
class ThemeRef:
    id: str
    name: str


@dataclass(frozen=True)
class CodeRef:
    id: str
    name: str
    theme: ThemeRef


@dataclass(frozen=True)
class CodebookView:
    """Codes (in codebook order) and their themes; satisfies ``report.CodebookLike``."""

    name: str
    version: str
    codes: tuple[CodeRef, ...]
    _by_id: dict[str, CodeRef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.codes})

    @property
    def code_ids(self) -> list[str]:
        return [c.id for c in self.codes]

    @property
    def themes(self) -> list[ThemeRef]:
        return list(dict.fromkeys(c.theme for c in self.codes))

    def theme_of(self, code_id: str) -> ThemeRef:
        return self._by_id[code_id].theme

    def code_name(self, code_id: str) -> str:
        ref = self._by_id.get(code_id)
        return ref.name if ref else code_id

    def codes_of(self, theme_id: str) -> list[CodeRef]:
        return [c for c in self.codes if c.theme.id == theme_id]

    def __contains__(self, code_id: object) -> bool:
        return code_id in self._by_id

    @classmethod
    def from_codebook(cls, book: Any) -> CodebookView:
        """From a ``pipeline.codebook.Codebook``."""
        codes = []
        for code in book.codes:
            theme = book.theme_of(code.id)
            codes.append(CodeRef(code.id, code.name, ThemeRef(theme.id, theme.name)))
        return cls(book.name, str(book.version), tuple(codes))


def stored_codebook(session: Session) -> CodebookView | None:
    """The active codebook version stored in the database, from its ``codes`` rows."""
    version = session.scalars(
        select(CodebookVersion)
        .where(CodebookVersion.is_active.is_(True))
        .order_by(CodebookVersion.created_at.desc(), CodebookVersion.id.desc())
        .limit(1)
    ).first()
    if version is None:
        return None
    rows = session.scalars(select(Code).where(Code.codebook_id == version.id).order_by(Code.id)).all()
    if not rows:
        return None
    codes = tuple(CodeRef(r.code_key, r.name, ThemeRef(r.theme_key, r.theme_name)) for r in rows)
    return CodebookView(version.name, version.version, codes)


def active_codebook(session: Session, settings: Settings | None = None) -> CodebookView | None:
    """The stored active codebook, else the settings' codebook file, else ``None`` (codes only)."""
    stored = stored_codebook(session)
    if stored is not None:
        return stored
    if settings is not None and settings.codebook_path.exists():
        from pipeline.codebook import load_codebook

        return CodebookView.from_codebook(load_codebook(settings.codebook_path))
    return None
