"""Opening inbox files safely: regular files only, no links, never the key or the database.

Why: whoever can drop files into the inbox must not be able to make qualcode read anything else. A
symbolic link to ``data/qualcode.key`` or ``/etc/passwd`` used to be read as a transcript and its text
stored in the segments table, where every coder can read it. A FIFO or a device would hang a batch or
stream forever. So every file the readers see is opened here:

* the path is walked one folder at a time from the inbox (or from the file's folder outside an inbox)
  with ``O_NOFOLLOW`` at every step, so a folder swapped for a link after the inbox was listed is refused;
* ``lstat`` of the last name first: only a regular file goes on (a link, FIFO, device, socket or folder
  is refused with a one-line reason and never opened, so opening a device can have no side effect);
* opened with ``O_NOFOLLOW`` (a link swapped in after the ``lstat`` makes the open fail) and
  ``O_NONBLOCK`` (a FIFO swapped in cannot block the open);
* ``fstat`` on the opened descriptor must show the same file as the ``lstat`` (no swap in between), a
  regular file with one link (a hard link can make another file of this user appear in the inbox), and
  not the key or database file (compared by device and inode, so a hard link is caught too).

The bytes are then read, and hashed by the caller, from that one descriptor: what is checked is what is
read, and what is read is what is hashed. Reasons name the file and the problem, never its contents.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputFileError
from pipeline.fileperms import private_folder as private_folder  # re-exported: one definition
from pipeline.settings import Settings, get_settings

log = logging.getLogger(__name__)

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
)
_CHUNK = 1 << 20


def kind_of(mode: int) -> str:
    """What a non-regular directory entry is, in words for a reason line."""
    if stat.S_ISLNK(mode):
        return "a symbolic link (links are never followed)"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    return "not a regular file"


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database file of ``settings`` (None for PostgreSQL or an in-memory database)."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def protected_files(settings: Settings) -> list[tuple[Path, str]]:
    """Files qualcode must never read as a transcript, with what each one is.

    The key file (``key_file`` or the default ``data_dir/qualcode.key``) and the SQLite database with its
    WAL, shared-memory and journal files.
    """
    key = settings.key_file or (settings.data_dir / "qualcode.key")
    files = [(key, "the re-identification key file")]
    database = sqlite_file(settings)
    if database is not None:
        files.append((database, "the database file"))
        files.extend(
            (database.with_name(database.name + suffix), "a database file") for suffix in ("-wal", "-shm", "-journal")
        )
    return files


def protected_identities(settings: Settings) -> dict[tuple[int, int], str]:
    """(device, inode) -> description for each protected file that exists (catches hard links too)."""
    found: dict[tuple[int, int], str] = {}
    for path, what in protected_files(settings):
        try:
            st = os.stat(path)
        except OSError:
            continue
        found[(st.st_dev, st.st_ino)] = what
    return found


@dataclass(frozen=True, slots=True)
class Refusal:
    """An inbox entry that was not read, and why (one line, names the file, never its contents)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{display_name(self.path.name)}: {self.reason}"


def display_name(name: str) -> str:
    """A file name fit for one log line: control characters (a newline could forge a log line) escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)


def _anchor(path: Path, settings: Settings) -> tuple[Path, tuple[str, ...]]:
    """The folder to start from (resolved) and the names to walk from it without following links.

    A file under the configured inbox is walked from the inbox itself, so a sub-folder swapped for a
    link after the inbox was listed is caught; any other file (``qualcode check FILE``) from its folder.
    """
    absolute = Path(os.path.abspath(path))
    inbox = Path(os.path.abspath(settings.inbox))
    if absolute != inbox and absolute.is_relative_to(inbox):
        return Path(os.path.realpath(inbox)), absolute.relative_to(inbox).parts
    return Path(os.path.realpath(absolute.parent)), (absolute.name,)


def _open_folder(path: Path, root: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of ``root/parts...`` opened one name at a time, refusing a link at every step."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(root, flags)
    try:
        for part in parts:
            try:
                child = os.open(part, flags | getattr(os, "O_NOFOLLOW", 0), dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise InputFileError(path, f"folder {part} on its path is a link or not a folder") from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_entry(st: os.stat_result, path: Path, settings: Settings) -> None:
    """Refuse what is not a plain, single-link regular file, or is the key or database file."""
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(path, kind_of(st.st_mode))
    what = protected_identities(settings).get((st.st_dev, st.st_ino))
    if what is not None:
        raise InputFileError(path, f"is {what}: never read from the inbox (move it out of the inbox)")
    if st.st_nlink > 1:
        raise InputFileError(
            path, f"has {st.st_nlink} hard links: copy the file into the inbox instead of linking it"
        )


@contextmanager
def open_regular(path: Path, settings: Settings | None = None) -> Iterator[tuple[int, os.stat_result]]:
    """Open ``path`` for reading if it is a safe regular file; yield (descriptor, its ``fstat``).

    Raises ``InputFileError`` for a link, FIFO, device, socket, folder, hard-linked file, the key or
    database file, or a file swapped while it was being opened. The descriptor is closed on exit.
    """
    s = settings or get_settings()
    path = Path(path)
    root, parts = _anchor(path, s)
    try:
        folder = _open_folder(path, root, parts[:-1])
    except InputFileError:
        raise
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({type(exc).__name__})") from None
    try:
        try:
            before = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
        except OSError as exc:
            raise InputFileError(path, f"cannot be read ({type(exc).__name__})") from None
        check_entry(before, path, s)
        try:
            fd = os.open(parts[-1], _OPEN_FLAGS, dir_fd=folder)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputFileError(path, kind_of(stat.S_IFLNK)) from None
            if exc.errno == errno.ENXIO:
                raise InputFileError(path, "not a regular file") from None
            raise InputFileError(path, f"cannot be read ({type(exc).__name__})") from None
    finally:
        os.close(folder)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
            raise InputFileError(path, "was replaced while being opened: not read")
        check_entry(st, path, s)
        yield fd, st
    finally:
        os.close(fd)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def read_regular(path: Path, settings: Settings | None = None) -> bytes:
    """The bytes of a safe regular file, read from one descriptor with the ``max_file_bytes`` cap.

    Refuses an empty file, one over the limit (checked on ``fstat`` before reading and again while
    reading, in case it grows), and one whose size or modification time changed while it was read (it
    is still being written: read it again when it is complete).
    """
    s = settings or get_settings()
    limit = s.max_file_bytes
    with open_regular(path, s) as (fd, st):
        if st.st_size == 0:
            raise InputFileError(path, "empty file (0 bytes)")
        if st.st_size > limit:
            raise InputFileError(
                path, f"file is {_megabytes(st.st_size)}, over the {_megabytes(limit)} limit (setting max_file_bytes)"
            )
        chunks: list[bytes] = []
        total = 0
        try:
            while True:
                chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise InputFileError(
                        path, f"file grew over the {_megabytes(limit)} limit while being read (setting max_file_bytes)"
                    )
            after = os.fstat(fd)
        except OSError as exc:
            raise InputFileError(path, f"cannot be read ({type(exc).__name__})") from None
        if after.st_size != total or after.st_mtime_ns != st.st_mtime_ns:
            raise InputFileError(path, "changed while being read (still being written?): not read")
        return b"".join(chunks)


def hash_regular(path: Path, settings: Settings | None = None) -> str:
    """SHA-256 of a safe regular file (streamed from one descriptor; same checks as ``read_regular``).

    For the batch's "already stored?" look-up before reading: it must never follow a link either.
    """
    digest = hashlib.sha256()
    with open_regular(path, settings) as (fd, _):
        try:
            for chunk in iter(lambda: os.read(fd, _CHUNK), b""):
                digest.update(chunk)
        except OSError as exc:
            raise InputFileError(path, f"cannot be read ({type(exc).__name__})") from None
    return digest.hexdigest()


def read_small_regular(path: Path, limit: int, settings: Settings | None = None) -> bytes:
    """A small file next to a transcript (a metadata sidecar), with the same checks; None of links."""
    with open_regular(path, settings) as (fd, st):
        if st.st_size > limit:
            raise InputFileError(path, f"larger than {_megabytes(limit)}")
        data = os.read(fd, limit + 1)
        if len(data) > limit:
            raise InputFileError(path, f"larger than {_megabytes(limit)}")
        return data


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or inside it, both fully resolved (links and ``..`` included)."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(folder)))
    except (OSError, ValueError):
        return False
