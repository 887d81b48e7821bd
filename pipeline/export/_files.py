"""Write export files atomically.

Why: an export is often written over the previous one (a lead re-exports before a team meeting). If the
process dies half-way, the old file must still be there and whole, never a truncated zip or CSV that a QDA
package half-imports. So every export is written to a hidden temporary file in the same folder and moved
into place with ``os.replace`` (atomic on POSIX and Windows) only once it is complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import ExportError


@contextlib.contextmanager
def atomic_output(out_path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``out_path``; on success it replaces ``out_path``, else it is removed."""
    if not out_path.parent.is_dir():
        raise ExportError(out_path, f"folder {out_path.parent} does not exist")
    if out_path.is_dir():
        raise ExportError(out_path, "is a folder; give a file name")
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, out_path)
    except OSError as exc:
        raise ExportError(out_path, f"cannot write ({exc.strerror or type(exc).__name__})") from None
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def naming(out_path: Path) -> Iterator[None]:
    """Re-raise an ``ExportError`` raised without a file (option checks) as one naming ``out_path``."""
    try:
        yield
    except ExportError as exc:
        if exc.path is not None:
            raise
        raise ExportError(out_path, str(exc).split(": ", 1)[-1]) from None


def iso_utc(value: dt.datetime | None) -> str | None:
    """``2026-11-23T16:00:00Z``: the database stores naive UTC; aware values are converted first."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class SummaryDict:
    """``to_dict`` for export summaries: JSON-ready, and only the file's name (its folder may identify)."""

    path: Path
    coding_sources: tuple[str, ...]

    def to_dict(self) -> dict:
        from dataclasses import asdict

        data = asdict(self)  # type: ignore[call-overload]
        data["path"] = self.path.name
        data["coding_sources"] = list(self.coding_sources)
        return data
