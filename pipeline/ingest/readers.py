"""Finding transcripts in an inbox and reading one into a ``RawDocument``.

``READERS`` maps a lower-case extension to a reader ``(path, data, settings) -> ReadResult``; register
another with ``register_reader`` (for example an ``.rtf`` reader) and ``discover`` and ``read_document``
pick it up. Everything that is the same for every format lives here, once: the size and emptiness
checks, the content hash of the raw bytes, speaker roles and sidecar metadata.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.docx import read_docx
from pipeline.ingest.metadata import is_sidecar, read_metadata
from pipeline.ingest.pdf import read_pdf
from pipeline.ingest.speakers import assign_roles
from pipeline.ingest.subtitles import read_srt, read_vtt
from pipeline.ingest.txt import read_txt
from pipeline.ingest.types import RawDocument, ReadResult
from pipeline.settings import Settings, get_settings

Reader = Callable[[Path, bytes, Settings], ReadResult]

#: Extension (lower case, with the dot) -> reader. Mutable on purpose: see ``register_reader``.
READERS: dict[str, Reader] = {
    ".txt": read_txt,
    ".docx": read_docx,
    ".vtt": read_vtt,
    ".srt": read_srt,
    ".pdf": read_pdf,
}
QUARANTINE_FOLDER = "quarantine"


def register_reader(extension: str, reader: Reader) -> None:
    """Add or replace the reader for ``extension`` (".rtf" or "rtf")."""
    ext = extension.lower()
    READERS[ext if ext.startswith(".") else f".{ext}"] = reader


def _skipped_name(name: str) -> bool:
    # hidden files, Office lock files ("~$interview.docx"), editor backups
    return name.startswith((".", "~$")) or name.endswith("~")


def discover(inbox: Path, quarantine_dir: Path | None = None) -> list[Path]:
    """Readable transcript files under ``inbox`` (recursively), sorted by relative path.

    Skips hidden files and folders, sidecars (``*.meta.yaml``, ``metadata.csv``), files with an
    extension no reader handles, any folder named ``quarantine`` and ``quarantine_dir`` if given.
    Symlinked folders are not followed (a loop would never end).
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    excluded = Path(quarantine_dir).resolve() if quarantine_dir else None
    found: list[Path] = []
    for folder, dirs, files in os.walk(inbox, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if not _skipped_name(d)
            and d.lower() != QUARANTINE_FOLDER
            and (excluded is None or (here / d).resolve() != excluded)
        )
        for name in files:
            path = here / name
            if _skipped_name(name) or is_sidecar(path) or path.suffix.lower() not in READERS:
                continue
            if path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(inbox).as_posix())


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_bytes(path: Path, settings: Settings) -> bytes:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputFileError(path, "not a regular file")
        if size == 0:
            raise InputFileError(path, "empty file (0 bytes)")
        if size > settings.max_file_bytes:
            raise InputFileError(
                path,
                f"file is {_megabytes(size)}, over the {_megabytes(settings.max_file_bytes)} limit "
                "(setting max_file_bytes)",
            )
        return path.read_bytes()
    except InputFileError:
        raise
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({type(exc).__name__})") from None


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def read_document(path: Path, settings: Settings | None = None) -> RawDocument:
    """Read one file into a ``RawDocument`` (in memory only: it holds raw, identifying text).

    Raises ``InputFileError`` with a one-line, text-free reason for anything that makes the file
    unusable: unsupported type, empty, oversized, binary, undecodable, malformed, corrupt, encrypted, no
    text, or a bad sidecar.
    """
    s = settings or get_settings()
    path = Path(path)
    ext = path.suffix.lower()
    reader = READERS.get(ext)
    if reader is None:
        raise InputFileError(path, f"unsupported file type {ext or '(no extension)'}")
    data = _read_bytes(path, s)
    result = reader(path, data, s)
    turns = [turn for turn in result.turns if turn.text.strip()]
    if not turns:
        raise InputFileError(path, "no text: nothing to code was found in the file")
    assign_roles(turns, s)
    metadata = read_metadata(path)
    document = RawDocument(
        path=path,
        format=ext.lstrip("."),
        turns=turns,
        content_hash=file_sha256(data),
        kind=result.kind,
        metadata=metadata,
        header=list(result.header),
    )
    if document.is_synthetic:
        document.metadata.setdefault("synthetic", True)
    return document
