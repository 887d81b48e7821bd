"""The batch run as plain functions: inbox → anonymise → segment → embed → suggest → queue.

Why plain functions: the Prefect flow in ``flows/`` only orchestrates these, so everything here is
unit-testable without Prefect, and ``qualcode run --no-prefect`` can run the same steps.

Idempotency and resume: a file is identified by the SHA-256 of its bytes. Each stage moves a transcript's
``status`` forward in the same transaction as its work (``segmented`` → ``embedded`` → ``done``), and each
stage picks up every transcript left at the previous status. A run that dies anywhere leaves either nothing
(the transaction rolled back; the file is still in the inbox) or a consistent status that the next run
continues from. Raw text exists only in memory between reading a file and committing its anonymised form.

Concurrency (issue 16): the slow work — anonymising, segmenting, embedding, loading a model, computing
agreement — runs before any write transaction, which then stores its result in one short transaction
(per file, per transcript's vectors, per chunk of ``SUGGEST_CHUNK`` scored segments); no file is
anonymised while the write lock is held (new pseudonyms are planned in memory and stored with the file,
see ``_anonymise_then_write``). Every writing transaction starts with ``BEGIN IMMEDIATE`` on SQLite and
retries with backoff for up to ``BATCH_WRITE_WAIT_SECONDS`` (``store.db.begin_write``), so parallel
workers, coders and the CLI queue for the lock for well under a second instead of failing with "database
is locked"; PostgreSQL runs them in parallel. A batch whose process dies stays ``running`` only until the
next run marks it ``failed``; an error in the last steps (queue, agreement) is a problem in the summary.

File names name people: outcomes, logs, audit rows and everything handed to Prefect carry the stored safe
name or ``file_ref`` (content-hash prefix); the original name only encrypted. Only the operator's console
names a refused or quarantined file.

Failures: a file that cannot be read is moved to quarantine with a one-line reason; an unexpected error in
one file marks only that file failed (its type name is kept, never its message, which may quote text) and
the batch goes on. A model that cannot score (trained on embeddings made differently from the configured
ones, e.g. before an upgrade changed the pooling) pauses the suggest stage: transcripts wait at
``embedded``, the batch finishes and reports the problem, and the next run after ``qualcode retrain``
suggests for them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.errors import InputFileError, ModelError, QualcodeError, printable_name
from pipeline.segment import segment_document
from pipeline.settings import Settings, get_settings
from pipeline.store import audit, session_scope
from pipeline.store.db import BATCH_WRITE_WAIT_SECONDS, ensure_schema
from pipeline.store.models import AnonymisationEvent, Batch, Embedding, Segment, Transcript, Turn, utcnow
from pipeline.store.visibility import HELD

log = logging.getLogger(__name__)

Outcome = Literal["done", "skipped", "quarantined", "failed"]
#: (file name for the console, outcome): called in-process only; the name may be the inbox file's own.
ProgressHook = Callable[[str, str], None]
#: (stage, done so far, total) for the embed and suggest stages: segments, counted as they are stored.
StageHook = Callable[[str, int, int], None]
T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")

#: Segments of already processed transcripts embedded per run when their vectors are missing under the
#: configured embedding identity (after a change of model or pooling), so one run stays short.
BACKFILL_PER_RUN = 5000


@dataclass(slots=True)
class FileOutcome:
    """What happened to one inbox file (names and counts only: safe to log and to return from tasks).

    ``name`` is the stored safe name (anonymised when the file name names someone) or ``file_ref``, never
    the inbox file's own name: outcomes reach Prefect's task results and the run summary.
    """

    name: str
    outcome: Outcome
    transcript_id: int | None = None
    segments: int = 0
    reason: str | None = None
    #: Stored but held for anonymisation review (``settings.release == "review"`` and doubtful maskings).
    held: bool = False


@dataclass(slots=True)
class BatchSummary:
    batch_id: int | None = None
    files_seen: int = 0
    files_done: int = 0
    files_skipped: int = 0
    files_quarantined: int = 0
    files_failed: int = 0
    #: New transcripts held for anonymisation review (they reach no coder until released).
    files_held: int = 0
    segments_created: int = 0
    segments_embedded: int = 0
    suggestions: dict[str, int] = field(default_factory=dict)
    review_items: int = 0
    blind_items: int = 0
    alerts: list[str] = field(default_factory=list)
    #: Stages that could not run, and why (text-free; e.g. a model that needs retraining).
    problems: list[str] = field(default_factory=list)
    outcomes: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def held_message(self) -> str | None:
        """What to do about held transcripts (text-free), or None when none were held."""
        return held_message(self.files_held)


#: The commands that release held transcripts, in order (printed by ``qualcode run`` and the flow).
NEXT_FOR_HELD = (
    "qualcode anonymise held --user KEYHOLDER, decide each doubtful masking (web page /anonymisation, or "
    "qualcode anonymise review), then qualcode anonymise release ID --user KEYHOLDER"
)


def held_message(n: int) -> str | None:
    """The batch summary's line about held transcripts: how many, and the exact next command."""
    if not n:
        return None
    return (
        f"{n} transcript(s) held for anonymisation review (doubtful maskings; no coder sees them yet). "
        f"Next: {NEXT_FOR_HELD}"
    )


def file_hash(path: Path, settings: Settings | None = None) -> str:
    """SHA-256 of an inbox file, opened as the readers open it: never through a link, never a FIFO or device.

    Raises ``InputFileError`` (text-free reason) for anything ``pipeline.ingest.open_regular`` refuses.
    """
    from pipeline.ingest import hash_regular

    return hash_regular(path, settings)


def safe_reason(exc: BaseException) -> str:
    """A loggable description of an error: our messages are text-free by design; others give their type."""
    if isinstance(exc, InputFileError):
        return exc.reason  # without the file name
    if isinstance(exc, QualcodeError):
        return str(exc)
    return f"unexpected {type(exc).__name__} (details withheld: the message may quote transcript text)"


# --------------------------------------------------------------------------------------------------
# Batches: start, finish, and batches whose process died
# --------------------------------------------------------------------------------------------------
#: A ``running`` batch without a recorded owner (started before migration 0005) counts as abandoned after this.
UNOWNED_RUNNING_HOURS = 24


def process_owner(pid: int | None = None) -> str:
    """"host:pid:process start" of this process (or ``pid`` on this host): who runs a batch.

    The start time (``/proc``; empty where there is none) tells a live batch from a dead one whose pid
    was reused by another process.
    """
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def _process_start(pid: int) -> str:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat_line.rsplit(")", 1)[-1].split()[19]  # field 22 (starttime), after "pid (comm)"


def _owner_is_gone(owner: str | None, started_at: dt.datetime | None) -> str | None:
    """Why a ``running`` batch's process is known to be gone, or None (alive, or on another host)."""
    if not owner:
        age = utcnow() - started_at if started_at else dt.timedelta(0)
        if age > dt.timedelta(hours=UNOWNED_RUNNING_HOURS):
            return f"no process recorded and started over {UNOWNED_RUNNING_HOURS} h ago"
        return None
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None  # another machine's process: it cannot be checked from here
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"its process {pid} is gone"
    except PermissionError:
        pass  # exists, owned by someone else
    if start and _process_start(pid) not in ("", start):
        return f"its process {pid} is gone (the pid now belongs to another process)"
    return None


def fail_abandoned_batches(session: Session) -> list[int]:
    """Mark ``running`` batches whose process is gone as ``failed`` (audited); returns their ids.

    Why: a batch killed mid-run (or one that crashed before this change) kept its row ``running`` forever,
    which reads as "a batch is busy" on every later look. Batches on other hosts are left alone.
    """
    failed: list[int] = []
    for batch in session.scalars(select(Batch).where(Batch.status == "running")).all():
        reason = _owner_is_gone(batch.owner, batch.started_at)
        if reason is None:
            continue
        batch.status, batch.finished_at = "failed", utcnow()
        batch.error = f"abandoned: {reason}"
        audit(session, "flow", "batch.abandoned", "batch", batch.id, reason=batch.error)
        log.warning("batch %s was left running but %s: marked failed", batch.id, reason)
        failed.append(batch.id)
    return failed


def start_batch(settings: Settings | None = None, flow_run_id: str | None = None) -> int:
    """Record a new batch owned by this process, after marking dead batches ``failed``."""
    s = settings or get_settings()
    ensure_schema(s)
    with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="start_batch") as session:
        fail_abandoned_batches(session)
        batch = Batch(flow_run_id=flow_run_id, owner=process_owner())
        session.add(batch)
        session.flush()
        audit(session, "flow", "batch.start", "batch", batch.id)
        return batch.id


def fail_batch(batch_id: int | None, reason: str) -> None:
    """Mark a batch that stopped on an error ``failed`` with a text-free ``reason`` (never raises)."""
    if batch_id is None:
        return
    try:
        with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="fail_batch") as session:
            batch = session.get(Batch, batch_id)
            if batch is None:
                return
            batch.status, batch.finished_at, batch.error = "failed", utcnow(), reason[:1000]
            audit(session, "flow", "batch.fail", "batch", batch_id, reason=reason[:300])
    except Exception as exc:  # the database itself may be the problem; the next run marks it
        log.error("could not mark batch %s failed (%s)", batch_id, type(exc).__name__)


def tolerant(summary: BatchSummary, label: str, step: Callable[[], T], default: T) -> T:
    """Run one of the batch's last steps; an error becomes a problem in the summary, not a crash.

    Why: the files are stored by then. A failed agreement snapshot (issue 16: "database is locked") used
    to crash the batch and leave its row ``running``; now the batch finishes and says what it skipped.
    """
    try:
        return step()
    except Exception as exc:
        problem = f"{label} failed: {safe_reason(exc)}; the next run tries again"
        log.error("%s", problem)
        summary.problems.append(problem)
        return default


# --------------------------------------------------------------------------------------------------
# Stage 1: read, anonymise and segment (no write lock), then store (one short transaction per file)
# --------------------------------------------------------------------------------------------------
#: Times a file is anonymised again when the pseudonym map changed under it (a parallel worker stored
#: the same or a linked person first) before it is anonymised while holding the write lock instead.
PLAN_ATTEMPTS = 3


def file_ref(digest: str) -> str:
    """An opaque name for a file in outcomes, logs and audit rows: its content hash's first 12 hex digits.

    Why: file names name people ("Interview - Jayden Marsh.docx"); only the stored safe name or this
    reference may leave the process, the original only encrypted (``meta.source_name_encrypted``).
    """
    return f"file {digest[:12]}"


class _MapChanged(Exception):
    """The pseudonym map changed between anonymising a file and storing it: anonymise again."""


def _planning_store(session: Session, keyring):  # type: ignore[no-untyped-def]
    """A ``DatabasePseudonymStore`` that reads the project's map but writes nothing.

    New pseudonyms are given out in memory and remembered in order (``planned``); the write transaction
    replays them against the real store (insert-or-get), so anonymising a file never holds the write lock.
    """
    from pipeline.anonymise import DatabasePseudonymStore

    class PlanningPseudonymStore(DatabasePseudonymStore):
        def __init__(self) -> None:
            super().__init__(session, keyring)
            self.planned: list[tuple[str, str, str]] = []

        def _add(self, entity: str, key: str, surface: str, placeholder: str, canonical_id: int | None) -> int:
            self.planned.append((entity, surface, placeholder))
            return -len(self.planned)  # a stand-in row id, never stored

    return PlanningPseudonymStore()


def _replay_pseudonyms(session: Session, keyring, planned: list[tuple[str, str, str]]):  # type: ignore[no-untyped-def]
    """Store the planned pseudonyms (insert-or-get, in the planned order); raise ``_MapChanged`` if any
    comes out different, because another writer changed the map since the file was anonymised."""
    from pipeline.anonymise import DatabasePseudonymStore

    store = DatabasePseudonymStore(session, keyring)
    for entity, surface, placeholder in planned:
        if store.placeholder(entity, surface) != placeholder:
            raise _MapChanged
    return store


def _anonymise_then_write(
    settings: Settings,
    keyring,  # type: ignore[no-untyped-def]
    plan: Callable[[object, object], P],
    write: Callable[[Session, P], R],
) -> R:
    """``plan(anonymiser, store)`` with no write lock, then ``write(session, planned)`` in one short one.

    Why: anonymising a transcript takes seconds to a minute; inside ``BEGIN IMMEDIATE`` it kept every
    coder and the CLI waiting (issue 16: 34-45 s holds, HTTP 500 "database is locked"). The plan reads
    the map and term lists in a read transaction and gives new pseudonyms out in memory; the write
    transaction stores them (the same placeholders if the map has not changed, else anonymise again).
    After ``PLAN_ATTEMPTS`` conflicts the file is anonymised under the lock, as before.
    """
    from pipeline.anonymise import DatabasePseudonymStore, build_anonymiser

    for _attempt in range(PLAN_ATTEMPTS):
        with session_scope() as read:
            anonymiser = build_anonymiser(settings, session=read, keyring=keyring)  # + allow/deny lists
            store = _planning_store(read, keyring)
            planned = plan(anonymiser, store)
        try:
            with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="store_file") as session:
                _replay_pseudonyms(session, keyring, store.planned)
                return write(session, planned)
        except _MapChanged:
            log.info("pseudonym map changed while anonymising: anonymising again")
    log.warning("pseudonym map kept changing: anonymising under the write lock")
    with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="anonymise_under_lock") as session:
        anonymiser = build_anonymiser(settings, session=session, keyring=keyring)
        return write(session, plan(anonymiser, DatabasePseudonymStore(session, keyring)))


@dataclass(slots=True)
class _Prepared:
    """A file anonymised and segmented in memory, ready to store (no raw text left in it)."""

    doc: object
    originals: list[bytes]
    meta: dict
    safe_name: str
    encrypted_name: str | None
    spans: list
    hashes: list[str]


def ingest_file(path: Path, settings: Settings | None = None, batch_id: int | None = None) -> FileOutcome:
    """Read, anonymise, segment and store one inbox file. Safe to call again on the same file.

    The file's name appears in no outcome, log line or audit row: they carry the stored safe name or
    ``file_ref``. Only a refusal names the file on the operator's console (``pipeline.ingest`` logs it).
    """
    from pipeline.anonymise import apply_retention, encrypted_originals, load_keyring, record_events
    from pipeline.embed import text_hash
    from pipeline.ingest import quarantine, read_document

    s = settings or get_settings()
    try:
        digest = file_hash(path, s)
    except InputFileError as exc:
        # Never read. A regular file (a hard link, say) is quarantined; a link, FIFO, device or the key
        # file swapped in after the inbox was listed is left where it is (quarantine refuses to move it).
        moved = quarantine(path, exc.reason, s.quarantine_dir)
        outcome: Outcome = "skipped" if moved == path else "quarantined"
        log.warning("%s %s: %s", outcome, printable_name(path.name), exc.reason)  # console: the operator's file
        return FileOutcome("unhashed inbox entry", outcome, reason=_scrub(exc.reason, path, "the file"))
    ref = file_ref(digest)

    with session_scope() as session:
        existing = session.execute(
            select(Transcript.id, Transcript.status, Transcript.source_name).where(Transcript.content_hash == digest)
        ).first()
    if existing is not None and existing.status not in ("failed",):
        keyring = load_keyring(s)
        if existing.status != "quarantined":
            apply_retention(path, s, keyring)  # a crash may have come between commit and retention
        return FileOutcome(existing.source_name, "skipped", existing.id, reason=f"already {existing.status}")

    def to_quarantine(exc: InputFileError) -> FileOutcome:
        """Move the file to quarantine with its one-line reason; record the hash so it is not read again."""
        reason = _scrub(exc.reason, path, ref)
        moved = quarantine(path, exc.reason, s.quarantine_dir)
        keyring = load_keyring(s)

        def write_quarantined(session: Session, names: tuple[str, str | None]) -> str:
            row = session.scalar(select(Transcript).where(Transcript.content_hash == digest))
            if row is None:
                safe_name, encrypted_name = names
                row = Transcript(content_hash=digest, source_name=safe_name,
                                 format=path.suffix.lstrip(".").lower(),
                                 meta={"source_name_encrypted": encrypted_name} if encrypted_name else {})
                session.add(row)
            row.status, row.error, row.batch_id = "quarantined", reason, batch_id
            session.flush()
            audit(session, "flow", "transcript.quarantine", "transcript", row.id, file=row.source_name, ref=ref,
                  moved=moved != path)
            return row.source_name

        try:
            shown = _anonymise_then_write(
                s, keyring, lambda anonymiser, store: _safe_source_name(path, anonymiser, store, keyring),
                write_quarantined,
            )
        except IntegrityError:  # another worker recorded the same bytes first
            if _stored_meanwhile(digest) is None:
                raise
            shown = ref
        log.warning("quarantined %s (%s): %s", printable_name(path.name), ref, reason)  # console only
        return FileOutcome(shown, "quarantined", reason=reason)

    try:
        raw = read_document(path, s)
    except InputFileError as exc:
        return to_quarantine(exc)
    if raw.content_hash != digest:  # it changed between hashing and reading: still being written
        return FileOutcome(ref, "skipped", reason="changed while being read (still being written?): left for "
                           "the next run")

    keyring = load_keyring(s)
    fmt = path.suffix.lstrip(".").lower()
    holding = {"raw": raw}  # dropped (cleared) as soon as the file is stored: no raw text kept past that
    del raw

    def prepare(anonymiser, store) -> _Prepared:  # type: ignore[no-untyped-def]
        # The slow part (Presidio, spaCy, segmentation): runs with no write lock held.
        raw = holding["raw"]
        try:
            doc = anonymiser.anonymise_document(raw, pseudonyms=store)
        except Exception as exc:  # fail safe: a text the anonymiser cannot process is never stored
            raise InputFileError(
                path, f"the anonymiser could not process it ({type(exc).__name__}); nothing stored"
            ) from None
        meta = _anonymised_metadata(raw.metadata, anonymiser, store)
        originals = encrypted_originals(raw, doc, keyring)  # each replacement's own words, encrypted
        safe_name, encrypted_name = _safe_source_name(path, anonymiser, store, keyring)
        spans = segment_document(doc.text, doc.turns, s)
        hashes = [text_hash(doc.text[sp.start:sp.end]) for sp in spans]
        return _Prepared(doc, originals, meta, safe_name, encrypted_name, spans, hashes)

    def store_file(session: Session, prepared: _Prepared) -> FileOutcome:
        doc, meta = prepared.doc, dict(prepared.meta)
        row = session.scalar(select(Transcript).where(Transcript.content_hash == digest))
        if row is not None and row.status != "failed":  # another worker stored it since the check above
            return FileOutcome(row.source_name, "skipped", row.id, reason=f"already stored ({row.status})")
        if row is None:
            row = Transcript(content_hash=digest, source_name=prepared.safe_name, format=fmt)
            session.add(row)
        else:  # an earlier attempt failed: start this file again from scratch
            row.turns.clear()
            row.segments.clear()
            # Its old log indexes text that is about to be replaced (and would keep a release waiting).
            session.execute(delete(AnonymisationEvent).where(AnonymisationEvent.transcript_id == row.id))
            session.flush()
        row.kind = "document" if all(t.role == "unknown" and not t.speaker for t in doc.turns) else "interview"
        row.format = fmt
        row.source_name = prepared.safe_name
        if prepared.encrypted_name:
            meta["source_name_encrypted"] = prepared.encrypted_name
        row.site_code = _meta_str(meta.pop("site_code", None))
        row.participant_role = _meta_str(meta.pop("participant_role", None))
        row.interview_date = meta.pop("interview_date", None)
        row.meta = {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}
        row.anonymised_text = doc.text
        row.status, row.error, row.batch_id = "segmented", None, batch_id
        session.flush()

        turn_rows = [
            Turn(transcript_id=row.id, index=i, speaker=t.speaker, role=t.role, start_char=t.start,
                 end_char=t.end, start_time=t.start_time, end_time=t.end_time)
            for i, t in enumerate(doc.turns)
        ]
        session.add_all(turn_rows)
        session.flush()
        spans = prepared.spans
        session.add_all(
            Segment(transcript_id=row.id, turn_id=turn_rows[sp.turn_index].id, index=sp.index,
                    start_char=sp.start, end_char=sp.end, text=doc.text[sp.start:sp.end],
                    text_hash=h, speaker_role=sp.role, codable=sp.codable)
            for sp, h in zip(spans, prepared.hashes, strict=True)
        )
        events = record_events(session, row.id, doc, s.anonymiser_review_threshold, originals=prepared.originals)
        doubtful = sum(1 for e in events if e.status == "needs_review")
        held = s.release == "review" and doubtful > 0
        if held:  # stored anonymised, but no coder, export or model sees it until the key holder releases it
            row.status = HELD
        audit(session, "flow", "transcript.ingest", "transcript", row.id, file=row.source_name, ref=ref,
              turns=len(turn_rows), segments=len(spans), replacements=len(doc.spans), batch=batch_id,
              status=row.status)
        if held:
            audit(session, "flow", "transcript.hold", "transcript", row.id, needs_review=doubtful,
                  replacements=len(events), segments=len(spans), batch=batch_id)
        return FileOutcome(row.source_name, "done", row.id, segments=len(spans), held=held)

    try:
        result = _anonymise_then_write(s, keyring, prepare, store_file)
    except InputFileError as exc:
        holding.clear()
        return to_quarantine(exc)
    except IntegrityError:
        # Another worker stored the same bytes first (transcripts.content_hash is unique; PostgreSQL runs
        # the two transactions in parallel): theirs stands, and this run has nothing to add.
        stored = _stored_meanwhile(digest)
        if stored is None:
            raise
        log.info("skipped %s: stored meanwhile by another worker as transcript %s", ref, stored[0])
        return FileOutcome(ref, "skipped", stored[0], reason=f"already stored ({stored[1]})")
    finally:
        holding.clear()  # the raw text is not needed (nor kept in the clear) past this point
    if result.outcome != "done":
        return result
    apply_retention(path, s, keyring)
    log.info("stored %s (%s) as transcript %s: %d segments%s", result.name, ref, result.transcript_id,
             result.segments, ", held for anonymisation review" if result.held else "")
    return result


def _scrub(text: str, path: Path, label: str) -> str:
    """``text`` without the file's name or stem (a reason is stored and returned; the name is personal)."""
    for part in sorted({path.name, printable_name(path.name), path.stem}, key=len, reverse=True):
        if part:
            text = text.replace(part, label)
    return text


def _stored_meanwhile(digest: str) -> tuple[int, str] | None:
    """(id, status) of the transcript with this content hash, if one was committed meanwhile."""
    with session_scope() as session:
        row = session.execute(
            select(Transcript.id, Transcript.status).where(Transcript.content_hash == digest)
        ).first()
    return (row.id, row.status) if row is not None else None


def _anonymised_metadata(metadata: dict, anonymiser, store) -> dict:  # type: ignore[no-untyped-def]
    """Sidecar metadata with every free-text value anonymised (a sidecar may name people too).

    Dates, numbers and booleans are kept; ``site_code`` is a code chosen by the team and kept as written.
    """
    out: dict = {}
    texts = {k: v for k, v in metadata.items() if isinstance(v, str) and k != "site_code"}
    results = anonymiser.anonymise_many(list(texts.values()), store) if texts else []
    for (key, _), result in zip(texts.items(), results, strict=True):
        out[key] = result.text
    for key, value in metadata.items():
        if key not in out:
            out[key] = value
    return out


def _safe_source_name(path: Path, anonymiser, store, keyring) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    """The file name to store: anonymised if it names anyone, with the original kept encrypted.

    File names such as ``interview_jo_smith.docx`` identify people as surely as the text does.
    """
    words = [w for w in re.split(r"[_\s.]+|(?<=[^\W\d])-(?=[^\W\d])", path.stem) if w]
    result = anonymiser.anonymise(" ".join(words), pseudonyms=store)
    if not result.spans:
        return path.name, None
    return result.text.replace(" ", "_") + path.suffix.lower(), keyring.encrypt(path.name).decode("ascii")


def _meta_str(value: object) -> str | None:
    return None if value is None else str(value)


def ingest_file_safely(path: Path, settings: Settings | None = None, batch_id: int | None = None) -> FileOutcome:
    """``ingest_file`` that turns any unexpected error into a ``failed`` outcome (the batch goes on).

    The failed row is stored under ``file_ref`` with the original name encrypted: the anonymiser may be
    what failed, so the name cannot be checked for people.
    """
    s = settings or get_settings()
    try:
        return ingest_file(path, s, batch_id)
    except Exception as exc:
        reason = _scrub(safe_reason(exc), path, "the file")
        ref = "unhashed inbox entry"
        try:
            digest = file_hash(path, s)
            ref = file_ref(digest)
            log.error("failed on %s (%s): %s", printable_name(path.name), ref, reason)  # console only
            from pipeline.anonymise import load_keyring

            try:
                encrypted = load_keyring(s).encrypt(path.name).decode("ascii")
            except Exception:
                encrypted = None
            with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="ingest_file_safely") as session:
                row = session.scalar(select(Transcript).where(Transcript.content_hash == digest))
                if row is None:
                    row = Transcript(content_hash=digest, source_name=f"{digest[:12]}{path.suffix.lower()}",
                                     format=path.suffix.lstrip(".").lower(),
                                     meta={"source_name_encrypted": encrypted} if encrypted else {})
                    session.add(row)
                row.status, row.error, row.batch_id = "failed", reason, batch_id
                session.flush()
                audit(session, "flow", "transcript.fail", "transcript", row.id, ref=ref)
        except Exception as inner:  # the database itself may be the problem
            log.error("could not record failure of %s (%s)", ref, type(inner).__name__)
        return FileOutcome(ref, "failed", reason=reason)


# --------------------------------------------------------------------------------------------------
# Stage 2: embed segments of transcripts at status "segmented"
# --------------------------------------------------------------------------------------------------
class _Precomputed:
    """An embedder that answers from vectors computed beforehand (with the real one as a fallback).

    Why: ``embed_texts_cached`` encodes and stores in one call; handing it vectors computed before the
    write transaction keeps the model (seconds per transcript) out of the time the write lock is held.
    """

    def __init__(self, embedder, vectors: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
        self._embedder = embedder
        self._vectors = vectors
        self.identity = embedder.identity

    @property
    def dim(self) -> int:
        return self._embedder.dim

    def encode(self, texts):  # type: ignore[no-untyped-def]
        import numpy as np

        missing = [t for t in texts if t not in self._vectors]
        if missing:  # a vector deleted meanwhile: rare, and small
            self._vectors.update(zip(missing, self._embedder.encode(missing), strict=True))
        return np.vstack([self._vectors[t] for t in texts]) if texts else self._embedder.encode([])


def _embed_outside(texts: list[str], embedder) -> _Precomputed:  # type: ignore[no-untyped-def]
    """Vectors for the texts not cached yet, computed with no write lock held."""
    from pipeline.embed import load_vectors, text_hash

    with session_scope() as read:
        cached = load_vectors(read, [text_hash(t) for t in texts], embedder.identity)
    missing = list(dict.fromkeys(t for t in texts if text_hash(t) not in cached))
    vectors = dict(zip(missing, embedder.encode(missing), strict=True)) if missing else {}
    return _Precomputed(embedder, vectors)


def embed_pending(settings: Settings | None = None, progress: StageHook | None = None) -> int:
    """Embed the codable segments of every transcript waiting at ``segmented``; returns vectors computed.

    Per transcript: the vectors are computed first, then stored with the status change in one short
    write transaction.
    """
    from pipeline.embed import embed_texts_cached, get_embedder

    s = settings or get_settings()
    with session_scope() as session:
        pending = session.execute(
            select(Segment.transcript_id, func.count())
            .join(Transcript, Transcript.id == Segment.transcript_id)
            .where(Transcript.status == "segmented", Segment.codable.is_(True))
            .group_by(Segment.transcript_id)
        ).all()
        waiting = session.scalars(
            select(Transcript.id).where(Transcript.status == "segmented").order_by(Transcript.id)
        ).all()
    sizes = {tid: n for tid, n in pending}
    total = sum(sizes.values())
    embedder = get_embedder(s)
    computed = done = 0
    if progress:
        progress("embed", 0, total)
    for transcript_id in waiting:
        with session_scope() as read:
            texts = list(read.scalars(
                select(Segment.text).where(Segment.transcript_id == transcript_id, Segment.codable.is_(True))
                .order_by(Segment.id)
            ).all())
        ready = _embed_outside(texts, embedder)
        with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="embed_pending") as session:
            status = session.scalar(select(Transcript.status).where(Transcript.id == transcript_id))
            if status != "segmented":  # another worker embedded it meanwhile (or it was held again)
                continue
            _, new = embed_texts_cached(session, texts, ready)
            computed += new
            session.execute(update(Transcript).where(Transcript.id == transcript_id).values(status="embedded"))
            audit(session, "flow", "transcript.embed", "transcript", transcript_id, segments=len(texts),
                  new_vectors=new, model=embedder.identity)
        done += sizes.get(transcript_id, 0)
        if progress:
            progress("embed", done, total)
    return computed + backfill_embeddings(s)


def backfill_embeddings(settings: Settings | None = None, limit: int = BACKFILL_PER_RUN) -> int:
    """Embed codable segments of processed transcripts that have no vector under the configured identity.

    Why: vectors are keyed by (text, model and pooling). After the model or the pooling changes, the
    segments already stored have no vector under the new identity, and the review queue's "similar coded
    segments", near-duplicate grouping and re-scoring need one. Up to ``limit`` per run, in transactions
    of 500 (each computed before its short write), so an upgraded project catches up over a few runs; in a
    project that never changed embeddings this is one indexed query that finds nothing.
    """
    from pipeline.embed import embed_texts_cached, get_embedder

    s = settings or get_settings()
    embedder = get_embedder(s)
    missing = (
        select(Segment.text_hash, func.min(Segment.id).label("first"))
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(
            Segment.codable.is_(True),
            Transcript.status.in_(("embedded", "done")),
            ~select(Embedding.id)
            .where(Embedding.text_hash == Segment.text_hash, Embedding.model_name == embedder.identity)
            .exists(),
        )
        .group_by(Segment.text_hash)
        .order_by("first")
        .limit(limit)
    )
    with session_scope() as session:
        first_ids = [row.first for row in session.execute(missing)]
    computed = 0
    for start in range(0, len(first_ids), 500):
        ids = first_ids[start : start + 500]
        with session_scope() as read:
            texts = list(read.scalars(select(Segment.text).where(Segment.id.in_(ids))).all())
        ready = _embed_outside(texts, embedder)
        with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="backfill_embeddings") as session:
            _, new = embed_texts_cached(session, texts, ready)
            computed += new
    if computed:
        with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="backfill_embeddings") as session:
            audit(session, "flow", "embeddings.backfill", "embedding", None, new_vectors=computed,
                  model=embedder.identity)
        log.info("embedded %d stored segment(s) that had no %s vector", computed, embedder.identity)
    return computed


# --------------------------------------------------------------------------------------------------
# Stage 3: suggest codes for transcripts at "embedded", then refresh the review queue
# --------------------------------------------------------------------------------------------------
#: Segments scored per write transaction: scoring is quick per segment, but a long transcript scored in
#: one transaction held the write lock for seconds.
SUGGEST_CHUNK = 50


@dataclass(slots=True)
class SuggestRun:
    """What the suggest stage did: summed counts, and why it paused if it did (text-free)."""

    totals: dict[str, int] = field(default_factory=dict)
    paused: str | None = None


def suggest_pending(settings: Settings | None = None, progress: StageHook | None = None) -> SuggestRun:
    """Suggest codes for every transcript at ``embedded`` and mark it ``done``.

    Segments are scored ``SUGGEST_CHUNK`` at a time, each chunk in its own short write transaction
    (``suggest_for_segments`` skips pairs already stored, so an interrupted transcript resumes); the
    transcript becomes ``done`` after its last chunk. A :class:`ModelError` (the active model cannot score
    the configured embeddings) is the same for every transcript, so the stage stops at the first one,
    leaves them all at ``embedded`` for the next run, audits the pause and says why instead of failing.
    """
    from pipeline.suggest import suggest_for_segments

    s = settings or get_settings()
    run = SuggestRun()
    with session_scope() as session:
        pending = session.scalars(
            select(Transcript.id).where(Transcript.status == "embedded").order_by(Transcript.id)
        ).all()
        segments = {
            tid: list(ids)
            for tid in pending
            for ids in [session.scalars(
                select(Segment.id).where(Segment.transcript_id == tid, Segment.codable.is_(True))
                .order_by(Segment.id)
            ).all()]
        }
    total = sum(len(v) for v in segments.values())
    done = 0
    if progress:
        progress("suggest", 0, total)
    if pending:
        _warm_scorer(s)
    for position, transcript_id in enumerate(pending):
        segment_ids = segments[transcript_id]
        try:
            for start in range(0, max(1, len(segment_ids)), SUGGEST_CHUNK):
                chunk = segment_ids[start : start + SUGGEST_CHUNK]
                with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="suggest_pending") as session:
                    stats = suggest_for_segments(session, chunk, s) if chunk else {}
                    for key, value in _stats_dict(stats).items():
                        run.totals[key] = run.totals.get(key, 0) + value
                    if start + SUGGEST_CHUNK >= len(segment_ids):  # the last chunk: the transcript is done
                        session.execute(
                            update(Transcript).where(Transcript.id == transcript_id).values(status="done")
                        )
                        audit(session, "flow", "transcript.suggest", "transcript", transcript_id,
                              segments=len(segment_ids))
                done += len(chunk)
                if progress:
                    progress("suggest", done, total)
        except ModelError as exc:  # messages name models and settings, never text
            waiting = len(pending) - position
            run.paused = f"suggestions paused, {waiting} transcript(s) waiting: {exc}"
            log.error("%s", run.paused)
            with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="suggest_pending") as session:
                audit(session, "flow", "batch.suggest_paused", "transcript", transcript_id, waiting=waiting,
                      reason=str(exc))
            break
    return run


def _warm_scorer(settings: Settings) -> None:
    """Load the active model (or build cold start from the codebook) before any write transaction.

    Why: the first ``suggest_for_segments`` of a process loads the artefact or embeds every code's
    definition (measured 11-35 s on the samples) and caches it; done inside the first chunk's write
    transaction, that held the lock all along. The codebook is stored first if none is (a short write).
    A ``ModelError`` is left for the stage itself to report.
    """
    from pipeline.suggest import service

    with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="suggest_codebook") as session:
        service.ensure_active_codebook(session, settings)
    try:
        with session_scope() as read:
            service._scorer(read, settings)  # fills the service's model caches; reads only
    except ModelError:
        return


def _stats_dict(stats: object) -> dict[str, int]:
    if isinstance(stats, dict):
        return {k: int(v) for k, v in stats.items() if isinstance(v, int | float)}
    return {k: int(v) for k, v in asdict(stats).items() if isinstance(v, int | float)}  # type: ignore[call-overload]


def refresh_queue(settings: Settings | None = None) -> tuple[int, int]:
    """Turn queued suggestions into review items and top up the blind double-coding sample."""
    from pipeline.review.blind import assign_blind_sample
    from pipeline.review.queue import enqueue_suggestions

    s = settings or get_settings()
    with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="refresh_queue") as session:
        review = enqueue_suggestions(session)
        blind = assign_blind_sample(session, s)
    return review, blind


class _CollectingSession(Session):
    """A session that never writes: rows a computation adds stay pending, for a later short transaction.

    Why: ``snapshot_agreement`` computes bootstrap intervals (seconds) and adds snapshot rows to the
    session it is given. Run in a write transaction it held the lock throughout; run in a deferred one, its
    first write failed as "database is locked" whenever a coder had saved a decision meanwhile (issue 16:
    the batch crashed there). Here it reads and computes; the rows are then written in one short transaction.
    """

    def flush(self, objects=None) -> None:  # type: ignore[no-untyped-def]
        return None


def agreement_alerts(settings: Settings | None = None, batch_id: int | None = None) -> list[str]:
    """Snapshot agreement after the batch; return human-readable flags for themes below threshold."""
    from pipeline.agreement.snapshots import snapshot_agreement
    from pipeline.store.db import get_engine

    s = settings or get_settings()
    with _CollectingSession(bind=get_engine(), autoflush=False, expire_on_commit=False) as read:
        try:
            flags = snapshot_agreement(read, s, batch_id=batch_id)
            rows = list(read.new)
            read.expunge_all()
        finally:
            read.rollback()
    with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="agreement_alerts") as session:
        session.add_all(rows)
    return [str(f) for f in flags]


def finish_batch(summary: BatchSummary) -> None:
    with session_scope(immediate=True, wait=BATCH_WRITE_WAIT_SECONDS, label="finish_batch") as session:
        batch = session.get(Batch, summary.batch_id)
        if batch is None:
            return
        batch.finished_at = utcnow()
        batch.status = "done"
        batch.error = "; ".join(summary.problems)[:1000] or None
        batch.files_seen = summary.files_seen
        batch.files_done = summary.files_done
        batch.files_skipped = summary.files_skipped
        batch.files_quarantined = summary.files_quarantined
        batch.segments_created = summary.segments_created
        audit(session, "flow", "batch.finish", "batch", batch.id, done=summary.files_done,
              skipped=summary.files_skipped, quarantined=summary.files_quarantined, failed=summary.files_failed,
              held=summary.files_held, problems=len(summary.problems))


def tally(summary: BatchSummary, outcomes: Iterable[FileOutcome]) -> None:
    for o in outcomes:
        summary.outcomes.append(o)
        summary.files_seen += 1
        summary.segments_created += o.segments
        if o.outcome == "done":
            summary.files_done += 1
            summary.files_held += o.held
        elif o.outcome == "skipped":
            summary.files_skipped += 1
        elif o.outcome == "quarantined":
            summary.files_quarantined += 1
        else:
            summary.files_failed += 1


def scan_new(inbox: Path, settings: Settings | None = None):  # type: ignore[no-untyped-def]
    """The inbox as ``pipeline.ingest.scan_inbox`` sees it: files settled for ``ingest_settle_seconds``,
    plus the entries it refused (links, FIFOs, devices, the key/database file) and those still being written."""
    from pipeline.ingest import InboxScan, scan_inbox

    s = settings or get_settings()
    return scan_inbox(inbox, s, s.quarantine_dir) if inbox.exists() else InboxScan()


def discover_new(inbox: Path, settings: Settings | None = None) -> list[Path]:
    """Files ready to ingest (refusals are logged by ``scan_inbox``, one line each, naming the file)."""
    return scan_new(inbox, settings).files


def final_steps(summary: BatchSummary, settings: Settings) -> None:
    """Refresh the queue and snapshot agreement, each failure-tolerant (``tolerant``)."""
    summary.review_items, summary.blind_items = tolerant(
        summary, "review queue refresh", lambda: refresh_queue(settings), (0, 0)
    )
    summary.alerts = tolerant(
        summary, "agreement snapshot", lambda: agreement_alerts(settings, summary.batch_id), []
    )


def alerts_message(alerts: list[str]) -> str | None:
    """One line for the run's agreement alerts (they are listed on the leads' dashboard), or None."""
    if not alerts:
        return None
    return f"{len(alerts)} agreement alert(s): themes below threshold; see the lead page /lead/agreement in the web app"


def run_batch(
    inbox: Path | None = None,
    settings: Settings | None = None,
    progress: ProgressHook | None = None,
    stage_progress: StageHook | None = None,
) -> BatchSummary:
    """Run every stage once without Prefect (``qualcode run --no-prefect`` and tests).

    An error that stops the run marks its batch ``failed`` (text-free reason) before it propagates.
    """
    s = settings or get_settings()
    started = time.perf_counter()
    summary = BatchSummary(batch_id=start_batch(s))
    try:
        scan = scan_new(inbox or s.inbox, s)
        # Refused entries are left alone and reported (named on the console by scan_inbox); files still
        # being written wait for the next run.
        tally(summary, [FileOutcome("refused inbox entry", "skipped", reason=_scrub(entry.reason, entry.path, "it"))
                        for entry in [*scan.refused, *scan.waiting]])
        for path in scan.files:
            outcome = ingest_file_safely(path, s, summary.batch_id)
            tally(summary, [outcome])
            if progress:
                progress(path.name, outcome.outcome)  # in-process console only
        summary.segments_embedded = embed_pending(s, stage_progress)
        suggested = suggest_pending(s, stage_progress)
        summary.suggestions = suggested.totals
        if suggested.paused:
            summary.problems.append(suggested.paused)
        final_steps(summary, s)
        summary.seconds = round(time.perf_counter() - started, 2)
        finish_batch(summary)
    except BaseException as exc:
        fail_batch(summary.batch_id, safe_reason(exc))
        raise
    return summary


def counts(settings: Settings | None = None) -> dict[str, int]:
    """Transcripts per status (for ``qualcode status``)."""
    with session_scope() as session:
        rows = session.execute(select(Transcript.status, func.count()).group_by(Transcript.status)).all()
    return {status: n for status, n in rows}
