"""Every error qualcode raises on purpose, in one place.

Why: users see these messages, so they must name the file and the problem, and they must never carry
transcript text (exceptions end up in logs and in Prefect's state). Build messages from file names,
line numbers, counts and types only.
"""

from __future__ import annotations

from pathlib import Path


class QualcodeError(Exception):
    """Base class: an expected failure with a message fit for a user."""


class ConfigError(QualcodeError):
    """Settings are missing or contradictory."""


class InputFileError(QualcodeError):
    """A transcript file cannot be read. ``reason`` is a one-line, text-free description."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{printable_name(self.path.name)}: {reason}")


def printable_name(name: str) -> str:
    """A file name safe for a one-line message: control characters (newlines too) escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)


class CodebookError(QualcodeError):
    """A codebook file is invalid. ``line`` is 1-based when known."""

    def __init__(self, path: Path | str | None, message: str, line: int | None = None) -> None:
        self.path = Path(path) if path else None
        self.line = line
        where = self.path.name if self.path else "<codebook>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


class ExamplesError(QualcodeError):
    """A human-coded examples / codings file is invalid (names file and row)."""


class KeyMissingError(QualcodeError):
    """The re-identification key is not available (it lives outside the database by design)."""


class ModelError(QualcodeError):
    """A model artefact is missing, stale, or was made for another codebook or embedding model."""


class NotComputable(QualcodeError):
    """An agreement statistic cannot be computed for a stated reason (never a silent 0 or NaN)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ReviewError(QualcodeError):
    """A review action is not allowed (stale version, lease lost, not assigned to this coder)."""


class ConflictError(ReviewError):
    """Optimistic version check failed: someone else changed the item first."""


class ReleaseError(ReviewError):
    """A held transcript cannot be released (doubtful maskings still undecided) or is not held."""


class PermissionDenied(QualcodeError):
    """The acting user's role does not allow this action."""


class AuthError(QualcodeError):
    """Log-in failed or the session is no longer valid."""


class ExportError(QualcodeError):
    """An export cannot be written or is invalid (names the output file and the problem)."""

    def __init__(self, path: Path | str | None, message: str) -> None:
        self.path = Path(path) if path else None
        where = self.path.name if self.path else "<export>"
        super().__init__(f"{where}: {message}")
