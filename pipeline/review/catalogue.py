"""The codes a coder can see and pick, with definitions and rules, from the stored or file codebook.

Why two sources: the active codebook version stored in the database (``codebook_versions``/``codes``) is
what suggestions were made against, so it wins; a fresh project whose batch flow has not stored a codebook
yet still gets definitions from the configured YAML file. A code key found in neither (an imported code, a
renamed one) is still shown, by its key, rather than hiding the decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.errors import CodebookError
from pipeline.store.models import Code, CodebookVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CodeInfo:
    """What the review page shows about one code."""

    key: str
    name: str
    theme_key: str
    theme_name: str
    definition: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    known: bool = True


@dataclass
class Catalogue:
    """All codes of the active codebook, in codebook order, looked up by key."""

    codes: list[CodeInfo] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_key = {code.key: code for code in self.codes}

    def get(self, key: str) -> CodeInfo:
        found = self._by_key.get(key)
        if found is not None:
            return found
        return CodeInfo(key=key, name=key, theme_key="", theme_name="(not in the active codebook)", known=False)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def theme_of(self, key: str) -> str:
        return self.get(key).theme_key


def load_catalogue(session: Session, codebook_path: Path | None = None) -> Catalogue:
    """The active stored codebook, else the YAML file at ``codebook_path``, else an empty catalogue."""
    version_id = session.scalar(
        select(CodebookVersion.id)
        .where(CodebookVersion.is_active.is_(True))
        .order_by(CodebookVersion.created_at.desc(), CodebookVersion.id.desc())
        .limit(1)
    )
    if version_id is not None:
        rows = session.scalars(select(Code).where(Code.codebook_id == version_id).order_by(Code.id))
        codes = [
            CodeInfo(
                key=row.code_key,
                name=row.name,
                theme_key=row.theme_key,
                theme_name=row.theme_name,
                definition=row.definition,
                include=tuple(str(rule) for rule in row.include or ()),
                exclude=tuple(str(rule) for rule in row.exclude or ()),
            )
            for row in rows
        ]
        if codes:
            return Catalogue(codes)
    if codebook_path is not None and codebook_path.exists():
        return Catalogue(list(_file_codes(str(codebook_path), codebook_path.stat().st_mtime_ns)))
    return Catalogue([])


@lru_cache(maxsize=4)
def _file_codes(path: str, _mtime_ns: int) -> tuple[CodeInfo, ...]:
    """Codes of a YAML codebook, cached per file version (the mtime is part of the cache key)."""
    from pipeline.codebook import load_codebook

    try:
        book = load_codebook(Path(path))
    except CodebookError as exc:
        log.warning("codebook not usable for the review page: %s", exc)
        return ()
    return tuple(
        CodeInfo(
            key=code.id,
            name=code.name,
            theme_key=code.theme_id,
            theme_name=book.theme_of(code.id).name,
            definition=code.definition,
            include=tuple(code.include),
            exclude=tuple(code.exclude),
        )
        for code in book.codes
    )
