"""A hostile inbox: links, special files, huge or half-written files, and the key/database files.

Issue 16 (items 1, 3 and 5): a symbolic link in the inbox to ``data/qualcode.key`` was stored verbatim as a
transcript. These tests build every hostile file they use (nothing here holds real text) and assert, for
each, that the one-line reason names the file and that nothing was stored. The batch tests run on SQLite
and PostgreSQL (``db_url``).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import stat
import struct
import time
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from pipeline.errors import InputFileError, printable_name
from pipeline.ingest import discover, quarantine, read_document, scan_inbox
from pipeline.settings import Settings, get_settings, reset_settings

#: Synthetic text: generic words only.
GOOD = "Interviewer: How did the referral go?\nP1: It went fine. We met twice.\n"


def _settings(**overrides: object) -> Settings:
    return get_settings().model_copy(update=overrides)


def _write(path: Path, text: str = GOOD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, settings: Settings | None = None) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        read_document(path, settings or get_settings())
    err = info.value
    assert printable_name(path.name) in str(err), "the message names the file"
    assert "\n" not in err.reason, "one line"
    assert "\n" not in str(err), "one line, whatever the file is called"
    return err


def _docx(document_xml: bytes, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A .docx made by python-docx with its ``word/document.xml`` replaced."""
    import docx

    source = io.BytesIO()
    docx.Document().save(source)
    out = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(out, "w", compression) as archive:
        for info in original.infolist():
            data = document_xml if info.filename == "word/document.xml" else original.read(info)
            archive.writestr(info.filename, data)
    return out.getvalue()


def _document_xml(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    ).encode()


def _paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


@pytest.fixture
def inbox(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's inbox, with no settle time (these files are written by the test a moment before)."""
    monkeypatch.setenv("QUALCODE_INGEST_SETTLE_SECONDS", "0")
    monkeypatch.setenv("QUALCODE_RELEASE", "auto")
    reset_settings()
    return project / "data" / "inbox"


@pytest.fixture
def key_file(inbox: Path) -> Path:
    from pipeline.anonymise.keys import load_keyring

    load_keyring(get_settings())
    path = get_settings().key_file
    assert path is not None and path.is_file()
    return path


def _stored(url: str) -> dict[str, object]:
    from pipeline.store import session_scope
    from pipeline.store.models import Segment, Transcript, Turn

    with session_scope(url) as session:
        texts = [t for t in session.scalars(select(Transcript.anonymised_text)) if t]
        texts += list(session.scalars(select(Segment.text)))
        return {
            "segments": session.scalar(select(func.count()).select_from(Segment)),
            "turns": session.scalar(select(func.count()).select_from(Turn)),
            "statuses": sorted(session.scalars(select(Transcript.status))),
            "text": "\n".join(texts),
        }


def _nothing_stored(url: str) -> None:
    stored = _stored(url)
    assert stored["segments"] == 0 and stored["turns"] == 0 and stored["text"] == ""
    assert set(stored["statuses"]) <= {"quarantined"}  # type: ignore[arg-type]


def _run_files(inbox: Path) -> list:  # type: ignore[type-arg]
    """What the batch does with the inbox's files: discover, then ingest each one (no embedding stage)."""
    from pipeline.batch import discover_new, ingest_file_safely

    s = get_settings()
    return [ingest_file_safely(path, s) for path in discover_new(inbox, s)]


# --------------------------------------------------------------------------------------------------
# links and special files
# --------------------------------------------------------------------------------------------------
def test_symlinks_to_the_key_to_etc_passwd_and_to_a_folder_outside_are_refused_and_left_alone(
    db_url: str, inbox: Path, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outside = inbox.parent.parent / "outside"
    _write(outside / "secret.txt", "Interviewer: outside words\nP1: never to be read\n")
    (inbox / "key.txt").symlink_to(key_file)
    (inbox / "passwd.txt").symlink_to("/etc/passwd")
    (inbox / "elsewhere").symlink_to(outside, target_is_directory=True)
    (inbox / "dangling.txt").symlink_to(inbox / "missing.txt")
    _write(inbox / "good.txt")

    caplog.set_level(logging.WARNING)
    scan = scan_inbox(inbox, get_settings())
    assert scan.files == [inbox / "good.txt"]
    reasons = {r.path.name: str(r) for r in scan.refused}
    assert set(reasons) == {"key.txt", "passwd.txt", "elsewhere", "dangling.txt"}
    for name, line in reasons.items():
        assert line.startswith(f"{name}: ") and "symbolic link" in line and "\n" not in line
        assert name in caplog.text  # reported in the log too, one line each

    outcomes = _run_files(inbox)
    assert [(o.name, o.outcome) for o in outcomes] == [("good.txt", "done")]
    stored = _stored(db_url)
    key_text = key_file.read_text()
    for secret in [line for line in key_text.splitlines() if line and not line.startswith("#")]:
        assert secret not in stored["text"]  # type: ignore[operator]
    assert "root:" not in stored["text"] and "never to be read" not in stored["text"]  # type: ignore[operator]
    for name in ("key.txt", "passwd.txt", "elsewhere", "dangling.txt"):  # not moved, not followed
        assert (inbox / name).is_symlink()
    assert key_file.read_text() == key_text and (outside / "secret.txt").exists()
    assert not any(get_settings().quarantine_dir.iterdir())


def test_reading_a_link_directly_is_refused_without_following_it(inbox: Path, key_file: Path) -> None:
    (inbox / "key.txt").symlink_to(key_file)
    err = _error(inbox / "key.txt")
    assert "symbolic link" in err.reason and "never followed" in err.reason

    outside = inbox.parent.parent / "outside"
    _write(outside / "a.txt")
    (inbox / "sub").symlink_to(outside, target_is_directory=True)
    err = _error(inbox / "sub" / "a.txt")  # a folder on the way is a link (as if swapped after listing)
    assert "folder sub" in err.reason


def test_a_sidecar_linked_to_the_key_is_refused_and_the_transcript_quarantined(
    db_url: str, inbox: Path, key_file: Path
) -> None:
    _write(inbox / "interview.txt")
    (inbox / "interview.meta.yaml").symlink_to(key_file)
    err = _error(inbox / "interview.txt")
    assert "metadata interview.meta.yaml" in err.reason and "symbolic link" in err.reason

    (outcome,) = _run_files(inbox)
    # The reason says what was wrong; it names the sidecar by an opaque id, never by its file name.
    assert outcome.outcome == "quarantined" and "metadata file" in (outcome.reason or "")
    assert "symbolic link" in (outcome.reason or "")
    assert (inbox / "interview.meta.yaml").is_symlink()  # the link stays where it was, never moved through
    assert not (get_settings().quarantine_dir / "interview.meta.yaml").exists()
    _nothing_stored(db_url)


def test_fifo_socket_and_device_are_refused_without_blocking(inbox: Path) -> None:
    os.mkfifo(inbox / "pipe.txt")  # opening it for reading would block a naive reader forever
    expected = {"pipe.txt": "FIFO"}
    short = Path(f"/tmp/qc-{os.getpid()}-sock.txt")  # AF_UNIX paths are short; link it in by rename
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(short))
        os.rename(short, inbox / "sock.txt")
        expected["sock.txt"] = "socket"
    except OSError:
        short.unlink(missing_ok=True)
    try:
        os.mknod(inbox / "null.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
        expected["null.txt"] = "device"
    except (PermissionError, OSError):
        pass  # not root: the FIFO and socket still cover special files

    started = time.monotonic()
    scan = scan_inbox(inbox, get_settings())
    assert scan.files == []
    reasons = {r.path.name: str(r) for r in scan.refused}
    for name, word in expected.items():
        assert reasons[name].startswith(f"{name}: ") and word in reasons[name]
        err = _error(inbox / name)
        assert word in err.reason
        assert quarantine(inbox / name, err.reason, get_settings().quarantine_dir) == inbox / name  # not moved
    assert time.monotonic() - started < 10
    server.close()


def test_traversal_looking_names_stay_inside_the_inbox_and_quarantine(inbox: Path) -> None:
    names = ["%2e%2e%2f%2e%2e%2fetc%2fpasswd.txt", "x\\..\\..\\qualcode.key.txt", "a\nb.txt", "dots...txt"]
    for name in names:
        _write(inbox / name, "")  # empty: each will be quarantined
    _write(inbox / "..txt", "")  # a name starting with "." is hidden: skipped like any hidden file
    scan = scan_inbox(inbox, get_settings())
    assert sorted(p.name for p in scan.files) == sorted(names) and not scan.refused
    held = get_settings().quarantine_dir
    for path in scan.files:
        err = _error(path)
        moved = quarantine(path, err.reason, held)
        assert moved.parent == held and moved.resolve().is_relative_to(held.resolve())
    assert len([p for p in held.iterdir() if not p.name.endswith(".reason.txt")]) == len(names)
    assert [p.name for p in inbox.iterdir()] == ["..txt"]


def test_log_lines_escape_control_characters_in_names(inbox: Path, caplog: pytest.LogCaptureFixture) -> None:
    (inbox / "forged\nWARNING fake.txt").symlink_to("/etc/passwd")
    caplog.set_level(logging.WARNING)
    (refusal,) = scan_inbox(inbox, get_settings()).refused
    assert "\n" not in str(refusal) and "forged\\x0aWARNING" in str(refusal)
    assert all("\n" not in record.getMessage() for record in caplog.records)


def test_error_messages_escape_control_characters_in_names(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "a\nWARNING forged.txt", ""))
    assert "\n" not in str(err)


def test_hard_links_are_refused_and_a_hard_link_to_the_key_is_left_in_place(
    db_url: str, inbox: Path, key_file: Path
) -> None:
    os.link(key_file, inbox / "key.txt")  # same inode as the key: a regular file, but the key
    outside = _write(inbox.parent.parent / "other.txt")
    os.link(outside, inbox / "other.txt")

    scan = scan_inbox(inbox, get_settings())
    assert scan.files == [inbox / "other.txt"]
    (refusal,) = scan.refused
    assert str(refusal).startswith("key.txt: is the re-identification key file")
    assert "hard links" in _error(inbox / "other.txt").reason

    (outcome,) = _run_files(inbox)
    assert outcome.outcome == "quarantined" and "hard links" in (outcome.reason or "")
    assert "other" not in outcome.name  # file names are personal data: outcomes carry no raw name
    assert (inbox / "key.txt").exists() and os.path.samefile(inbox / "key.txt", key_file)  # skipped, not moved
    _nothing_stored(db_url)


# --------------------------------------------------------------------------------------------------
# the key and the database can never be in the inbox
# --------------------------------------------------------------------------------------------------
def test_settings_refuse_a_key_file_or_database_inside_the_inbox(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with pytest.raises(ValidationError, match=r"key file .*qualcode\.key is inside the inbox"):
        Settings(inbox=inbox, key_file=inbox / "qualcode.key")
    with pytest.raises(ValidationError, match=r"SQLite database .*q\.db is inside the inbox"):
        Settings(inbox=inbox, key_file=tmp_path / "k.key", database_url=f"sqlite:///{inbox / 'sub' / 'q.db'}")
    with pytest.raises(ValidationError, match="inside the inbox"):  # the defaults under data_dir
        Settings(inbox=tmp_path, data_dir=tmp_path / "data")
    Settings(inbox=inbox, key_file=tmp_path / "k.key", database_url=f"sqlite:///{tmp_path / 'q.db'}")


def test_database_files_found_in_the_inbox_are_skipped(inbox: Path, sqlite_url: str) -> None:
    database = Path(sqlite_url.split("///", 1)[1])
    os.link(database, inbox / "copy.txt")
    (refusal,) = scan_inbox(inbox, get_settings()).refused
    assert str(refusal).startswith("copy.txt: is the database file")


# --------------------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------------------
def _many_sentences(n: int) -> str:
    return "P1: " + " ".join(f"Item {i}." for i in range(n)) + "\n"


LIMITS = [
    ("bytes.txt", GOOD * 40, {"max_file_bytes": 1000}, "max_file_bytes"),
    ("chars.txt", GOOD * 40, {"max_transcript_chars": 1000}, "max_transcript_chars"),
    ("lines.txt", GOOD * 40, {"max_transcript_lines": 50}, "max_transcript_lines"),
    ("turns.txt", GOOD * 40, {"max_segments": 50}, "max_segments"),
    ("segments.txt", _many_sentences(400), {"max_segments": 100}, "max_segments"),
    ("lines.vtt", "WEBVTT\n\n" + "".join(f"00:00:{i:02d}.000 --> 00:00:{i:02d}.500\nP1: Yes.\n\n" for i in range(60)),
     {"max_transcript_lines": 100}, "max_transcript_lines"),
]


@pytest.mark.parametrize(("name", "text", "limits", "setting"), LIMITS, ids=[x[0] for x in LIMITS])
def test_a_file_over_a_limit_is_refused_naming_the_limit(
    inbox: Path, name: str, text: str, limits: dict[str, int], setting: str
) -> None:
    path = _write(inbox / name, text)
    err = _error(path, _settings(**limits))
    assert setting in err.reason
    read_document(path, _settings())  # within the defaults it reads


def test_over_limit_files_are_quarantined_the_batch_goes_on_and_nothing_is_stored(
    db_url: str, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALCODE_MAX_SEGMENTS", "50")
    monkeypatch.setenv("QUALCODE_MAX_DOCX_RATIO", "20")
    reset_settings()
    _write(inbox / "a_turns.txt", GOOD * 40)
    (inbox / "b_bomb.docx").write_bytes(_docx(_document_xml(_paragraph("a" * 1_000_000))))
    outcomes = _run_files(inbox)
    assert [(o.name, o.outcome) for o in outcomes] == [("a_turns.txt", "quarantined"), ("b_bomb.docx", "quarantined")]
    assert "max_segments" in (outcomes[0].reason or "") and "max_docx_ratio" in (outcomes[1].reason or "")
    held = get_settings().quarantine_dir
    for name, setting in (("a_turns.txt", "max_segments"), ("b_bomb.docx", "max_docx_ratio")):
        line = (held / f"{name}.reason.txt").read_text()
        assert line.count("\n") == 1 and setting in line
    _nothing_stored(db_url)

    _write(inbox / "c_good.txt")  # and a good file after them is stored as usual
    (good,) = _run_files(inbox)
    assert good.outcome == "done" and _stored(db_url)["segments"]


def test_zip_bomb_docx_is_refused_before_python_docx_parses_it(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = inbox / "bomb.docx"
    bomb.write_bytes(_docx(_document_xml(_paragraph("a" * 30_000_000))))  # ~30 MB of text in ~30 KB
    assert bomb.stat().st_size < 200_000
    import docx

    def never(*_: object, **__: object) -> None:
        raise AssertionError("python-docx must not see a zip bomb")

    monkeypatch.setattr(docx, "Document", never)
    started = time.monotonic()
    err = _error(bomb)
    assert "zip bomb" in err.reason and "max_docx_ratio" in err.reason
    assert time.monotonic() - started < 5


def test_docx_limits_total_size_depth_text_and_paragraphs(inbox: Path) -> None:
    big = inbox / "big.docx"
    big.write_bytes(_docx(_document_xml(_paragraph("word " * 400_000)), zipfile.ZIP_STORED))
    assert "max_docx_uncompressed_bytes" in _error(big, _settings(max_docx_uncompressed_bytes=1_000_000)).reason

    deep = inbox / "deep.docx"
    deep.write_bytes(_docx(_document_xml("<w:sdt>" * 300 + _paragraph("Hello") + "</w:sdt>" * 300)))
    assert "max_xml_depth" in _error(deep).reason

    chars = inbox / "chars.docx"
    chars.write_bytes(_docx(_document_xml(_paragraph("word " * 1000))))
    assert "max_transcript_chars" in _error(chars, _settings(max_transcript_chars=2000)).reason

    paragraphs = inbox / "paragraphs.docx"
    paragraphs.write_bytes(_docx(_document_xml(_paragraph("Yes.") * 300)))
    assert "max_transcript_lines" in _error(paragraphs, _settings(max_transcript_lines=200)).reason


def test_docx_whose_declared_sizes_lie_is_refused(inbox: Path) -> None:
    data = bytearray(_docx(_document_xml(_paragraph("a" * 100_000))))
    # Make word/document.xml claim 100 bytes in both the local header and the central directory.
    name = b"word/document.xml"
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                struct.pack_into("<I", data, start + size_at, 100)
            start += 4
    liar = inbox / "liar.docx"
    liar.write_bytes(bytes(data))
    err = _error(liar)
    assert err.reason.startswith("corrupt .docx")


# --------------------------------------------------------------------------------------------------
# a file still being written
# --------------------------------------------------------------------------------------------------
def test_a_file_modified_within_the_settle_time_is_left_for_the_next_run(inbox: Path) -> None:
    path = _write(inbox / "copying.txt")
    scan = scan_inbox(inbox, _settings(ingest_settle_seconds=30))
    assert scan.files == [] and not scan.refused
    (waiting,) = scan.waiting
    assert str(waiting).startswith("copying.txt: still being written")
    assert path.exists()  # left in place, not quarantined

    time.sleep(0.3)
    assert scan_inbox(inbox, _settings(ingest_settle_seconds=0.2)).files == [path]
    assert discover(inbox) == [path]  # ``qualcode check`` and ``anonymise FOLDER`` read what is there


# --------------------------------------------------------------------------------------------------
# permissions of what qualcode creates
# --------------------------------------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fresh_sqlite_database_and_key_file_are_owner_only(tmp_path: Path) -> None:
    from sqlalchemy import text

    from pipeline.anonymise.keys import init_key_file
    from pipeline.store.db import make_engine

    previous = os.umask(0o022)  # a typical umask: files 0644, folders 0755 unless qualcode says otherwise
    try:
        database = tmp_path / "new" / "db" / "qualcode.db"
        engine = make_engine(f"sqlite:///{database}")
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
        assert _mode(database) == 0o600
        for extra in (database.with_name("qualcode.db-wal"), database.with_name("qualcode.db-shm")):
            if extra.exists():
                assert _mode(extra) == 0o600
        assert _mode(database.parent) == 0o700 and _mode(database.parent.parent) == 0o700
        engine.dispose()

        key = tmp_path / "keys" / "deep" / "qualcode.key"
        init_key_file(key)
        assert _mode(key) == 0o600
        assert _mode(key.parent) == 0o700 and _mode(key.parent.parent) == 0o700
    finally:
        os.umask(previous)


def test_existing_database_and_key_files_that_are_too_open_are_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline.anonymise.keys import Keyring, init_key_file
    from pipeline.store.db import make_engine

    database = tmp_path / "old.db"
    database.write_bytes(b"")
    database.chmod(0o644)
    key = tmp_path / "old.key"
    init_key_file(key)
    key.chmod(0o644)
    caplog.set_level(logging.WARNING)
    make_engine(f"sqlite:///{database}").dispose()
    Keyring.from_file(key)
    assert _mode(database) == 0o600 and _mode(key) == 0o600
    assert "old.db was readable by others" in caplog.text and "old.key was readable by others" in caplog.text


def test_quarantine_folder_is_created_owner_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "inbox" / "bad.txt", "")
    held = tmp_path / "new" / "quarantine"
    moved = quarantine(path, "empty file (0 bytes)", held)
    assert _mode(held) == 0o700 and _mode(held.parent) == 0o700
    assert _mode(held / f"{moved.name}.reason.txt") == 0o600


# --------------------------------------------------------------------------------------------------
# the batch around the inbox (needs the issue-16 change to pipeline/batch.py described in SECURITY.md)
# --------------------------------------------------------------------------------------------------
def _batch_has_scan() -> bool:
    import pipeline.batch

    return hasattr(pipeline.batch, "scan_new")


needs_batch_change = pytest.mark.skipif(
    not _batch_has_scan(), reason="needs the issue-16 change to pipeline/batch.py (SECURITY.md, to do)"
)


@needs_batch_change
def test_the_batch_reports_refused_and_waiting_entries_and_waits_for_settling(
    db_url: str, inbox: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.batch import run_batch

    monkeypatch.setenv("QUALCODE_INGEST_SETTLE_SECONDS", "30")
    reset_settings()
    (inbox / "key.txt").symlink_to(key_file)
    _write(inbox / "copying.txt")
    summary = run_batch(inbox, get_settings())
    reasons = sorted((o.outcome, o.reason or "") for o in summary.outcomes)
    assert [r[0] for r in reasons] == ["skipped", "skipped"]
    assert any("symbolic link" in r[1] for r in reasons)
    assert any("still being written" in r[1] for r in reasons)
    assert all("key.txt" not in o.name and "copying" not in o.name for o in summary.outcomes)
    assert (inbox / "copying.txt").exists() and (inbox / "key.txt").is_symlink()
    _nothing_stored(db_url)


@needs_batch_change
def test_a_link_swapped_in_after_listing_is_never_hashed_read_or_moved(
    db_url: str, inbox: Path, key_file: Path
) -> None:
    from pipeline.batch import ingest_file_safely

    (inbox / "late.txt").symlink_to(key_file)  # as if swapped in between listing and ingesting
    outcome = ingest_file_safely(inbox / "late.txt", get_settings())
    assert outcome.outcome == "skipped" and "symbolic link" in (outcome.reason or "")
    assert (inbox / "late.txt").is_symlink()
    _nothing_stored(db_url)


@needs_batch_change
def test_two_workers_storing_the_same_bytes_end_as_done_and_skipped(
    db_url: str, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both workers pass the "already stored?" check before either commits; the unique content hash decides."""
    import threading

    import pipeline.ingest
    from pipeline.batch import ingest_file

    ingest_file(_write(inbox.parent / "warm.txt", "P1: Warm up. The anonymiser loads once.\n"), get_settings())
    real_read = pipeline.ingest.read_document
    barrier = threading.Barrier(2, timeout=60)

    def read_then_wait(path: Path, settings: Settings | None = None):  # type: ignore[no-untyped-def]
        document = real_read(path, settings)
        barrier.wait()  # both have hashed, looked up (nothing yet) and read before either stores
        return document

    monkeypatch.setattr(pipeline.ingest, "read_document", read_then_wait)
    paths = [_write(inbox / "a.txt"), _write(inbox / "b.txt")]  # the same bytes under two names
    outcomes: dict[str, object] = {}

    def work(path: Path) -> None:
        outcomes[path.name] = ingest_file(path, get_settings())

    threads = [threading.Thread(target=work, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    results = sorted((o.outcome, o.reason or "") for o in outcomes.values())  # type: ignore[attr-defined]
    assert [r[0] for r in results] == ["done", "skipped"], results
    assert "already stored" in results[1][1]
    from pipeline.store import session_scope
    from pipeline.store.models import Transcript

    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(Transcript)) == 2  # warm-up + one of a/b


def test_an_absurdly_long_word_is_refused_before_anonymisation(tmp_path: Path) -> None:
    """SYNTHETIC: 5,000 characters without a space (a pasted blob) never reaches the anonymiser."""
    err = _error(_write(tmp_path / "blob.txt", "Interviewer: hello\nRespondent: " + "Ab9" * 1700 + "\n"))
    assert "max_token_chars" in err.reason
