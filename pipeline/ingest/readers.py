"""Finding transcripts in an inbox and reading one into a ``RawDocument``.

``READERS`` maps a lower-case extension to a reader ``(path, data, settings) -> ReadResult``; register
another with ``register_reader`` (for example an ``.rtf`` reader) and ``discover`` and ``read_document``
pick it up. Everything that is the same for every format lives here, once: listing the inbox safely,
opening files safely (``pipeline.ingest.paths``), the size limits (``pipeline.ingest.limits``), the
content hash of the raw bytes, speaker roles and sidecar metadata.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.ingest.docx import read_docx
from pipeline.ingest.limits import check_turns
from pipeline.ingest.metadata import is_sidecar, read_metadata
from pipeline.ingest.paths import Refusal, display_name, is_inside, kind_of, protected_identities, read_regular
from pipeline.ingest.pdf import read_pdf
from pipeline.ingest.speakers import assign_roles
from pipeline.ingest.subtitles import read_srt, read_vtt
from pipeline.ingest.txt import read_txt
from pipeline.ingest.types import RawDocument, ReadResult
from pipeline.settings import Settings, get_settings

Reader = Callable[[Path, bytes, Settings], ReadResult]
log = logging.getLogger(__name__)

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


@dataclass(slots=True)
class InboxScan:
    """What is in an inbox: files to read, entries refused (with a reason), files still being written.

    Names and reasons only, never contents: safe to log and to show.
    """

    files: list[Path] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    waiting: list[Refusal] = field(default_factory=list)


def scan_inbox(
    inbox: Path,
    settings: Settings | None = None,
    quarantine_dir: Path | None = None,
    *,
    settle_seconds: float | None = None,
) -> InboxScan:
    """List ``inbox`` recursively without following links or leaving it; say why anything is left out.

    Readable: regular files with a reader's extension, not hidden, not sidecars, not in a folder named
    ``quarantine`` or in ``quarantine_dir``. Refused, with a one-line reason and left where they are:
    symbolic links (to files or folders; never followed, read or moved), FIFOs, devices, sockets, the
    key or database file (or a hard link to one), anything that resolves outside the inbox, and folders
    that cannot be listed. Waiting: a file modified (or moved in) within ``settle_seconds`` (default: the
    ``ingest_settle_seconds`` setting), which may still be being copied; the next run picks it up, so a
    half-copied file is never stored under the hash of its first half.
    """
    s = settings or get_settings()
    settle = s.ingest_settle_seconds if settle_seconds is None else settle_seconds
    inbox = Path(inbox)
    scan = InboxScan()
    try:
        root_mode = os.stat(inbox).st_mode
    except OSError:
        return scan
    if not stat.S_ISDIR(root_mode):
        return scan
    root = Path(os.path.realpath(inbox))
    excluded = Path(os.path.realpath(quarantine_dir)) if quarantine_dir else None
    protected = protected_identities(s)
    now = time.time()

    def refuse(path: Path, reason: str) -> None:
        scan.refused.append(Refusal(path, reason))
        log.warning("not read: %s: %s", display_name(path.relative_to(inbox).as_posix()), reason)

    def unlistable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else inbox
        refuse(where if where.is_relative_to(inbox) else inbox, f"folder cannot be listed ({type(exc).__name__})")

    for folder, dirs, files in os.walk(inbox, followlinks=False, onerror=unlistable):
        here = Path(folder)
        kept: list[str] = []
        for name in sorted(dirs):
            path = here / name
            if _skipped_name(name) or name.lower() == QUARANTINE_FOLDER:
                continue
            if excluded is not None and Path(os.path.realpath(path)) == excluded:
                continue
            try:
                st = os.lstat(path)
            except OSError as exc:
                refuse(path, f"cannot be read ({type(exc).__name__})")
                continue
            if not stat.S_ISDIR(st.st_mode):  # a link to a folder: os.walk lists it with the folders
                refuse(path, kind_of(st.st_mode).replace("links are", "links to folders are"))
                continue
            if not is_inside(path, root):
                refuse(path, "folder resolves outside the inbox: not read")
                continue
            kept.append(name)
        dirs[:] = kept
        for name in files:
            path = here / name
            if _skipped_name(name):
                continue
            try:
                st = os.lstat(path)
            except OSError as exc:
                refuse(path, f"cannot be read ({type(exc).__name__})")
                continue
            if not stat.S_ISREG(st.st_mode):
                refuse(path, kind_of(st.st_mode))  # whatever its name: a link or FIFO has no business here
                continue
            what = protected.get((st.st_dev, st.st_ino))
            if what is not None:
                refuse(path, f"is {what}: never read from the inbox (move it out of the inbox)")
                continue
            if is_sidecar(path):
                continue
            if path.suffix.lower() not in READERS:
                supported = ", ".join(sorted(READERS))
                refuse(path, f"unsupported file type {path.suffix.lower() or '(no extension)'}: not read "
                             f"(qualcode reads {supported})")
                continue
            if not is_inside(path, root):
                refuse(path, "resolves outside the inbox: not read")
                continue
            changed = max(st.st_mtime, st.st_ctime)  # ctime: also a file moved in with an old mtime
            if settle > 0 and now - changed < settle:
                reason = f"still being written (changed under {settle:g} s ago): left for the next run"
                scan.waiting.append(Refusal(path, reason))
                log.info("left for the next run: %s: %s", display_name(path.relative_to(inbox).as_posix()), reason)
                continue
            scan.files.append(path)
    scan.files.sort(key=lambda p: p.relative_to(inbox).as_posix())
    return scan


def discover(
    inbox: Path,
    quarantine_dir: Path | None = None,
    *,
    settings: Settings | None = None,
    settle_seconds: float = 0.0,
) -> list[Path]:
    """Readable transcript files under ``inbox`` (recursively), sorted by relative path.

    ``scan_inbox`` without the refusals (they are logged as warnings, each naming the file). Skips
    hidden files and folders, sidecars (``*.meta.yaml``, ``metadata.csv``), files with an extension no
    reader handles, any folder named ``quarantine`` and ``quarantine_dir`` if given; never follows or
    returns a symbolic link, FIFO, device or socket, or the key or database file. No settle time by
    default (``qualcode check`` and ``anonymise FOLDER`` read what is there); the batch asks for one.
    """
    return scan_inbox(inbox, settings, quarantine_dir, settle_seconds=settle_seconds).files


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    data = read_regular(path, s)  # one descriptor: no link, FIFO or device; bytes and hash agree
    result = reader(path, data, s)
    turns = [turn for turn in result.turns if turn.text.strip()]
    if not turns:
        raise InputFileError(path, "no text: nothing to code was found in the file")
    check_turns(path, turns, result.header, s)
    assign_roles(turns, s)
    metadata = read_metadata(path, s)
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
