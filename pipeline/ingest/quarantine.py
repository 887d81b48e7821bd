"""Moving unreadable files out of the inbox, with a one-line reason next to them.

Why move rather than skip: a file left in the inbox would be retried (and fail) on every scheduled run,
and nobody would notice it. In quarantine it is visible, with ``<name>.reason.txt`` saying what is
wrong; fix it and put it back in the inbox. Nothing is ever overwritten: a name already taken in
quarantine gets a numeric suffix.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from pipeline.ingest.metadata import sidecar_path

REASON_SUFFIX = ".reason.txt"


def _free_stem(folder: Path, stem: str, suffixes: list[str]) -> str:
    """A stem such that ``stem + s`` is free in ``folder`` for every suffix ``s`` (``x``, ``x-1``, ...)."""
    candidate, number = stem, 0
    while any((folder / f"{candidate}{suffix}").exists() for suffix in suffixes):
        number += 1
        candidate = f"{stem}-{number}"
    return candidate


def quarantine(path: Path, reason: str, quarantine_dir: Path) -> Path:
    """Move ``path`` (and its ``.meta.yaml`` sidecar) into ``quarantine_dir``; return the new path.

    Writes ``<new name>.reason.txt`` holding one line: a UTC timestamp and the reason. The reason comes
    from ``InputFileError.reason``, which never holds file text.
    """
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    sidecar = sidecar_path(path)
    has_sidecar = sidecar.is_file() and sidecar != path
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
    (quarantine_dir / f"{target.name}{REASON_SUFFIX}").write_text(f"{stamp} {one_line}\n", encoding="utf-8")
    return target
