"""Moving unreadable files out of the inbox, with a one-line reason next to them.

Why move rather than skip: a file left in the inbox would be retried (and fail) on every scheduled run,
and nobody would notice it. In quarantine it is visible, with ``<name>.reason.txt`` saying what is
wrong; fix it and put it back in the inbox. Nothing is ever overwritten: a name already taken in
quarantine gets a numeric suffix.

Only regular files are moved. A symbolic link, FIFO, device, socket, or the key or database file (or a
hard link to one) is left where it is (moving a link could move what it points to somewhere readable;
``scan_inbox`` reports those instead), and the reason file is created exclusively without following
links, so a link planted in the quarantine folder cannot redirect the write. A quarantine folder qualcode
creates is owner-only (0700): it holds raw text.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import stat
from pathlib import Path

from pipeline.fileperms import private_folder
from pipeline.ingest.metadata import sidecar_path
from pipeline.ingest.paths import display_name, protected_identities
from pipeline.settings import get_settings

log = logging.getLogger(__name__)

REASON_SUFFIX = ".reason.txt"


def _free_stem(folder: Path, stem: str, suffixes: list[str]) -> str:
    """A stem such that ``stem + s`` is free in ``folder`` for every suffix ``s`` (``x``, ``x-1``, ...)."""
    candidate, number = stem, 0
    while any(os.path.lexists(folder / f"{candidate}{suffix}") for suffix in suffixes):
        number += 1
        candidate = f"{stem}-{number}"
    return candidate


def quarantine(path: Path, reason: str, quarantine_dir: Path) -> Path:
    """Move ``path`` (and its ``.meta.yaml`` sidecar) into ``quarantine_dir``; return the new path.

    Writes ``<new name>.reason.txt`` holding one line: a UTC timestamp and the reason. The reason comes
    from ``InputFileError.reason``, which never holds file text.
    """
    if not _is_regular(path) or _is_protected(path):
        log.warning("not moved to quarantine: %s is not a regular inbox file (%s)", display_name(path.name),
                    " ".join(reason.split()))
        return path
    private_folder(quarantine_dir)
    sidecar = sidecar_path(path)
    has_sidecar = _is_regular(sidecar) and sidecar != path
    suffixes = [path.suffix, path.suffix + REASON_SUFFIX]
    if has_sidecar:
        suffixes.append(sidecar.name[len(path.stem) :])
    stem = _free_stem(quarantine_dir, path.stem, suffixes)
    target = quarantine_dir / f"{stem}{path.suffix}"
    shutil.move(str(path), str(target))
    if has_sidecar:
        shutil.move(str(sidecar), str(quarantine_dir / f"{stem}{sidecar.name[len(path.stem):]}"))
    one_line = " ".join(reason.split())
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(quarantine_dir / f"{target.name}{REASON_SUFFIX}", flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{stamp} {one_line}\n")
    return target


def _is_protected(path: Path) -> bool:
    """Whether ``path`` is (a hard link to) the key or database file: never moved, whatever happens."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) in protected_identities(get_settings())


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
