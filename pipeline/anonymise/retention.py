"""What happens to a raw inbox file once its anonymised form is stored (``settings.retain_raw``).

Why a function the flow calls per file: retention must follow a successful store, never precede it, or
an interrupted run could lose a transcript. ``encrypted`` keeps a Fernet-encrypted copy under
``data_dir/raw_archive`` (named by content hash, so the file name, which may identify, is not kept) and
removes the original; ``delete`` removes it; ``keep`` leaves it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.anonymise.keys import Keyring
from pipeline.errors import InputFileError, KeyMissingError
from pipeline.settings import Settings

Outcome = Literal["deleted", "encrypted", "kept"]


@dataclass(frozen=True, slots=True)
class RetentionResult:
    outcome: Outcome
    archive_path: Path | None = None


def archive_dir(settings: Settings) -> Path:
    return settings.data_dir / "raw_archive"


def apply_retention(path: Path, settings: Settings, keyring: Keyring | None = None) -> RetentionResult:
    """Apply ``settings.retain_raw`` to one raw file after its anonymised form is safely stored."""
    path = Path(path)
    mode = settings.retain_raw
    if mode == "keep":
        return RetentionResult("kept")
    if not path.exists():
        raise InputFileError(path, "raw file vanished before retention was applied")
    if mode == "delete":
        path.unlink()
        return RetentionResult("deleted")
    if keyring is None:
        raise KeyMissingError(f"{path.name}: retain_raw=encrypted needs the project key (QUALCODE_KEY or key_file)")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    target_dir = archive_dir(settings)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{digest}{path.suffix.lower()}.fernet"
    token = keyring.encrypt_bytes(data)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(token)
    os.replace(tmp, target)
    path.unlink()
    return RetentionResult("encrypted", target)


def restore_archived(archive_path: Path, keyring: Keyring) -> bytes:
    """The original bytes of an archived raw file (key holder only)."""
    return keyring.decrypt_bytes(Path(archive_path).read_bytes())
