"""Owner-only folders and files: one place for the permissions of everything qualcode creates.

Why: the database, the re-identification key, the inbox, the quarantine and Prefect's home all hold
data about participants. Each was created with the umask's mode (usually world-readable) until the
issue-16 review; the rule is the same for all of them, so it lives once, below every other module.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def private_folder(folder: Path) -> None:
    """Create ``folder`` and any missing parents with owner-only permissions (0700).

    Folders that already exist are left as they are: they may be shared on purpose (``/tmp``, a home).
    """
    missing: list[Path] = []
    current = Path(folder)
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for item in reversed(missing):
        try:
            item.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another process made it a moment ago
        os.chmod(item, 0o700)  # mkdir's mode is filtered by the umask; never wider than 0700 anyway


def tighten(path: Path, what: str) -> bool:
    """Make an existing file owner-only (0600) if it is more open, with a warning; True when it was.

    Why warn: a secret readable by others may already have been copied (for a key: rotate it).
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return False
    if not mode & 0o077:
        return False
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        log.warning("%s %s is readable by others (mode %o) and cannot be fixed (%s)", what, path.name, mode,
                    type(exc).__name__)
        return True
    log.warning("%s %s was readable by others (mode %o): now 0600", what, path.name, mode)
    return True
