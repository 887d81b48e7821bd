"""Dry-run the readers over files or folders: what would the batch flow make of them?

Why: before a batch, researchers want to know which transcripts will be quarantined and whether
speakers and roles were recognised, without anonymising or storing anything. A ``FileCheck`` holds only
counts, roles, metadata keys and the one-line reason, never text or speaker labels (labels can be
names), so its summary can be printed or logged safely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.readers import discover, read_document
from pipeline.settings import Settings, get_settings


@dataclass(frozen=True, slots=True)
class FileCheck:
    """The outcome of reading one file, without any of its text."""

    path: Path
    ok: bool
    reason: str | None = None
    format: str | None = None
    kind: str | None = None
    turns: int = 0
    speakers: int = 0
    roles: dict[str, int] = field(default_factory=dict)  # turns per role
    header_lines: int = 0
    metadata_keys: tuple[str, ...] = ()
    synthetic: bool = False


def check_file(path: Path, settings: Settings | None = None) -> FileCheck:
    """Read one file as the batch would, and summarise the result."""
    try:
        doc = read_document(path, settings)
    except InputFileError as exc:
        return FileCheck(path=path, ok=False, reason=exc.reason)
    return FileCheck(
        path=path,
        ok=True,
        format=doc.format,
        kind=doc.kind,
        turns=len(doc.turns),
        speakers=len(doc.speakers),
        roles=dict(Counter(turn.role for turn in doc.turns)),
        header_lines=len(doc.header),
        metadata_keys=tuple(sorted(doc.metadata)),
        synthetic=doc.is_synthetic or doc.metadata.get("synthetic") is True,
    )


def check_paths(paths: Iterable[Path], settings: Settings | None = None) -> list[FileCheck]:
    """``check_file`` for each file, and for every file ``discover`` finds in each folder."""
    s = settings or get_settings()
    checks: list[FileCheck] = []
    for path in paths:
        files = discover(path, s.quarantine_dir) if Path(path).is_dir() else [Path(path)]
        checks.extend(check_file(file, s) for file in files)
    return checks
