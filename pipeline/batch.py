"""The batch run as plain functions: inbox → anonymise → segment → embed → suggest → queue.

Why plain functions: the Prefect flow in ``flows/`` only orchestrates these, so everything here is
unit-testable without Prefect, and ``qualcode run --no-prefect`` can run the same steps.

Idempotency and resume: a file is identified by the SHA-256 of its bytes. Each stage moves a transcript's
``status`` forward in the same transaction as its work (``segmented`` → ``embedded`` → ``done``), and each
stage picks up every transcript left at the previous status. A run that dies anywhere leaves either nothing
(the transaction rolled back; the file is still in the inbox) or a consistent status that the next run
continues from. Raw text exists only in memory between reading a file and committing its anonymised form.

Concurrency: every writing transaction starts with ``BEGIN IMMEDIATE`` on SQLite, so parallel workers
queue for the write lock instead of failing with "database is locked"; PostgreSQL runs them in parallel.

Failures: a file that cannot be read is moved to quarantine with a one-line reason; an unexpected error in
one file marks only that file failed (its type name is kept, never its message, which may quote text) and
the batch goes on. A model that cannot score (trained on embeddings made differently from the configured
ones, e.g. before an upgrade changed the pooling) pauses the suggest stage: transcripts wait at
``embedded``, the batch finishes and reports the problem, and the next run after ``qualcode retrain``
suggests for them.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from pipeline.errors import InputFileError, ModelError, QualcodeError
from pipeline.segment import segment_document
from pipeline.settings import Settings, get_settings
from pipeline.store import audit, session_scope
from pipeline.store.db import ensure_schema
from pipeline.store.models import AnonymisationEvent, Batch, Embedding, Segment, Transcript, Turn, utcnow
from pipeline.store.visibility import HELD

log = logging.getLogger(__name__)

Outcome = Literal["done", "skipped", "quarantined", "failed"]
ProgressHook = Callable[[str, str], None]  # (file name, outcome)

#: Segments of already processed transcripts embedded per run when their vectors are missing under the
#: configured embedding identity (after a change of model or pooling), so one run stays short.
BACKFILL_PER_RUN = 5000


@dataclass(slots=True)
class FileOutcome:
    """What happened to one inbox file (names and counts only: safe to log and to return from tasks)."""

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
    "qualcode anonymise held, then qualcode anonymise release ID (key holder; or the web page /anonymisation)"
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


def _safe_reason(exc: BaseException) -> str:
    """A loggable description of an error: our messages are text-free by design; others give their type."""
    if isinstance(exc, QualcodeError):
        return str(exc)
    return f"unexpected {type(exc).__name__} (details withheld: the message may quote transcript text)"


# --------------------------------------------------------------------------------------------------
# Stage 1: read, anonymise, segment, store (one transaction per file)
# --------------------------------------------------------------------------------------------------
def start_batch(settings: Settings | None = None, flow_run_id: str | None = None) -> int:
    s = settings or get_settings()
    ensure_schema(s)
    with session_scope(immediate=True) as session:
        batch = Batch(flow_run_id=flow_run_id)
        session.add(batch)
        session.flush()
        audit(session, "flow", "batch.start", "batch", batch.id)
        return batch.id


def ingest_file(path: Path, settings: Settings | None = None, batch_id: int | None = None) -> FileOutcome:
    """Read, anonymise, segment and store one inbox file. Safe to call again on the same file."""
    from pipeline.anonymise import (
        DatabasePseudonymStore,
        apply_retention,
        build_anonymiser,
        encrypted_originals,
        load_keyring,
        record_events,
    )
    from pipeline.ingest import quarantine, read_document

    s = settings or get_settings()
    name = path.name
    try:
        digest = file_hash(path, s)
    except InputFileError as exc:
        # Never read. A regular file (a hard link, say) is quarantined; a link, FIFO, device or the key
        # file swapped in after the inbox was listed is left where it is (quarantine refuses to move it).
        moved = quarantine(path, exc.reason, s.quarantine_dir)
        outcome: Outcome = "skipped" if moved == path else "quarantined"
        log.warning("%s %s: %s", outcome, name, exc.reason)
        return FileOutcome(name, outcome, reason=exc.reason)

    with session_scope() as session:
        existing = session.scalar(select(Transcript).where(Transcript.content_hash == digest))
        if existing is not None and existing.status not in ("failed",):
            keyring = load_keyring(s)
            if existing.status != "quarantined":
                apply_retention(path, s, keyring)  # a crash may have come between commit and retention
            return FileOutcome(name, "skipped", existing.id, reason=f"already {existing.status}")

    try:
        raw = read_document(path, s)
    except InputFileError as exc:
        moved = quarantine(path, exc.reason, s.quarantine_dir)
        keyring = load_keyring(s)
        try:
            with session_scope(immediate=True) as session:
                row = session.scalar(select(Transcript).where(Transcript.content_hash == digest))
                if row is None:
                    anonymiser = build_anonymiser(s, session=session, keyring=keyring)
                    safe_name, encrypted_name = _safe_source_name(
                        path, anonymiser, DatabasePseudonymStore(session, keyring), keyring
                    )
                    row = Transcript(content_hash=digest, source_name=safe_name,
                                     format=path.suffix.lstrip(".").lower(),
                                     meta={"source_name_encrypted": encrypted_name} if encrypted_name else {})
                    session.add(row)
                row.status, row.error, row.batch_id = "quarantined", exc.reason, batch_id
                session.flush()
                audit(session, "flow", "transcript.quarantine", "transcript", row.id, file=moved.name)
        except IntegrityError:  # another worker recorded the same bytes first
            if _stored_meanwhile(digest) is None:
                raise
        log.warning("quarantined %s: %s", name, exc.reason)
        return FileOutcome(name, "quarantined", reason=exc.reason)
    if raw.content_hash != digest:  # it changed between hashing and reading: still being written
        return FileOutcome(name, "skipped", reason="changed while being read (still being written?): left for "
                           "the next run")

    keyring = load_keyring(s)
    try:
        with session_scope(immediate=True) as session:
            anonymiser = build_anonymiser(s, session=session, keyring=keyring)  # + the project's allow/deny lists
            row = session.scalar(select(Transcript).where(Transcript.content_hash == digest))
            if row is not None and row.status != "failed":  # another worker stored it since the check above
                return FileOutcome(name, "skipped", row.id, reason=f"already stored ({row.status})")
            if row is None:
                row = Transcript(content_hash=digest, source_name=name, format=raw.format)
                session.add(row)
            else:  # an earlier attempt failed: start this file again from scratch
                row.turns.clear()
                row.segments.clear()
                # Its old log indexes text that is about to be replaced (and would keep a release waiting).
                session.execute(delete(AnonymisationEvent).where(AnonymisationEvent.transcript_id == row.id))
                session.flush()
            store = DatabasePseudonymStore(session, keyring)
            doc = anonymiser.anonymise_document(raw, pseudonyms=store)
            meta = _anonymised_metadata(raw.metadata, anonymiser, store)
            originals = encrypted_originals(raw, doc, keyring)  # each replacement's own words, encrypted
            del raw  # the raw text is not needed (nor kept in the clear) past this point
            row.kind = "document" if all(t.role == "unknown" and not t.speaker for t in doc.turns) else "interview"
            row.format = path.suffix.lstrip(".").lower()
            row.source_name, encrypted_name = _safe_source_name(path, anonymiser, store, keyring)
            if encrypted_name:
                meta["source_name_encrypted"] = encrypted_name
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
            spans = segment_document(doc.text, doc.turns, s)
            from pipeline.embed import text_hash

            session.add_all(
                Segment(transcript_id=row.id, turn_id=turn_rows[sp.turn_index].id, index=sp.index,
                        start_char=sp.start, end_char=sp.end, text=doc.text[sp.start:sp.end],
                        text_hash=text_hash(doc.text[sp.start:sp.end]), speaker_role=sp.role, codable=sp.codable)
                for sp in spans
            )
            events = record_events(session, row.id, doc, s.anonymiser_review_threshold, originals=originals)
            doubtful = sum(1 for e in events if e.status == "needs_review")
            held = s.release == "review" and doubtful > 0
            if held:  # stored anonymised, but no coder, export or model sees it until the key holder releases it
                row.status = HELD
            audit(session, "flow", "transcript.ingest", "transcript", row.id, file=name, turns=len(turn_rows),
                  segments=len(spans), replacements=len(doc.spans), batch=batch_id, status=row.status)
            if held:
                audit(session, "flow", "transcript.hold", "transcript", row.id, needs_review=doubtful,
                      replacements=len(events), segments=len(spans), batch=batch_id)
            transcript_id = row.id
    except IntegrityError:
        # Another worker stored the same bytes first (transcripts.content_hash is unique; PostgreSQL runs
        # the two transactions in parallel): theirs stands, and this run has nothing to add.
        stored = _stored_meanwhile(digest)
        if stored is None:
            raise
        log.info("skipped %s: stored meanwhile by another worker as transcript %s", name, stored[0])
        return FileOutcome(name, "skipped", stored[0], reason=f"already stored ({stored[1]})")
    apply_retention(path, s, keyring)
    log.info("stored %s as transcript %s: %d segments%s", name, transcript_id, len(spans),
             f", held ({doubtful} doubtful masking(s))" if held else "")
    return FileOutcome(name, "done", transcript_id, segments=len(spans), held=held)


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
    """``ingest_file`` that turns any unexpected error into a ``failed`` outcome (the batch goes on)."""
    s = settings or get_settings()
    try:
        return ingest_file(path, s, batch_id)
    except Exception as exc:
        reason = _safe_reason(exc)
        log.error("failed on %s: %s", path.name, reason)
        try:
            digest = file_hash(path)
            with session_scope(immediate=True) as session:
                row = session.scalar(select(Transcript).where(Transcript.content_hash == digest))
                if row is None:
                    row = Transcript(content_hash=digest, source_name=path.name,
                                     format=path.suffix.lstrip(".").lower())
                    session.add(row)
                row.status, row.error, row.batch_id = "failed", reason, batch_id
                session.flush()
                audit(session, "flow", "transcript.fail", "transcript", row.id, file=path.name)
        except Exception as inner:  # the database itself may be the problem
            log.error("could not record failure of %s (%s)", path.name, type(inner).__name__)
        return FileOutcome(path.name, "failed", reason=reason)


# --------------------------------------------------------------------------------------------------
# Stage 2: embed segments of transcripts at status "segmented"
# --------------------------------------------------------------------------------------------------
def embed_pending(settings: Settings | None = None) -> int:
    """Embed the codable segments of every transcript waiting at ``segmented``; returns vectors computed."""
    from pipeline.embed import embed_texts_cached, get_embedder

    s = settings or get_settings()
    with session_scope() as session:
        pending = session.scalars(
            select(Transcript.id).where(Transcript.status == "segmented").order_by(Transcript.id)
        ).all()
    embedder = get_embedder(s)
    computed = 0
    for transcript_id in pending:
        with session_scope(immediate=True) as session:
            texts = session.scalars(
                select(Segment.text).where(Segment.transcript_id == transcript_id, Segment.codable.is_(True))
            ).all()
            _, new = embed_texts_cached(session, list(texts), embedder)
            computed += new
            session.execute(update(Transcript).where(Transcript.id == transcript_id).values(status="embedded"))
            audit(session, "flow", "transcript.embed", "transcript", transcript_id, segments=len(texts),
                  new_vectors=new, model=embedder.identity)
    return computed + backfill_embeddings(s)


def backfill_embeddings(settings: Settings | None = None, limit: int = BACKFILL_PER_RUN) -> int:
    """Embed codable segments of processed transcripts that have no vector under the configured identity.

    Why: vectors are keyed by (text, model and pooling). After the model or the pooling changes, the
    segments already stored have no vector under the new identity, and the review queue's "similar coded
    segments", near-duplicate grouping and re-scoring need one. Up to ``limit`` per run, in transactions
    of 500, so an upgraded project catches up over a few runs; in a project that never changed embeddings
    this is one indexed query that finds nothing.
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
        with session_scope(immediate=True) as session:
            ids = first_ids[start : start + 500]
            texts = session.scalars(select(Segment.text).where(Segment.id.in_(ids))).all()
            _, new = embed_texts_cached(session, list(texts), embedder)
            computed += new
    if computed:
        with session_scope(immediate=True) as session:
            audit(session, "flow", "embeddings.backfill", "embedding", None, new_vectors=computed,
                  model=embedder.identity)
        log.info("embedded %d stored segment(s) that had no %s vector", computed, embedder.identity)
    return computed


# --------------------------------------------------------------------------------------------------
# Stage 3: suggest codes for transcripts at "embedded", then refresh the review queue
# --------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class SuggestRun:
    """What the suggest stage did: summed counts, and why it paused if it did (text-free)."""

    totals: dict[str, int] = field(default_factory=dict)
    paused: str | None = None


def suggest_pending(settings: Settings | None = None) -> SuggestRun:
    """Suggest codes for every transcript at ``embedded`` and mark it ``done``.

    A :class:`ModelError` (the active model cannot score the configured embeddings) is the same for every
    transcript, so the stage stops at the first one, leaves them all at ``embedded`` for the next run,
    audits the pause and says why instead of failing the batch.
    """
    from pipeline.suggest import suggest_for_segments

    s = settings or get_settings()
    run = SuggestRun()
    with session_scope() as session:
        pending = session.scalars(
            select(Transcript.id).where(Transcript.status == "embedded").order_by(Transcript.id)
        ).all()
    for position, transcript_id in enumerate(pending):
        try:
            with session_scope(immediate=True) as session:
                segment_ids = session.scalars(
                    select(Segment.id).where(Segment.transcript_id == transcript_id, Segment.codable.is_(True))
                ).all()
                stats = suggest_for_segments(session, list(segment_ids), s)
                for key, value in _stats_dict(stats).items():
                    run.totals[key] = run.totals.get(key, 0) + value
                session.execute(update(Transcript).where(Transcript.id == transcript_id).values(status="done"))
                audit(session, "flow", "transcript.suggest", "transcript", transcript_id, **_stats_dict(stats))
        except ModelError as exc:  # messages name models and settings, never text
            waiting = len(pending) - position
            run.paused = f"suggestions paused, {waiting} transcript(s) waiting: {exc}"
            log.error("%s", run.paused)
            with session_scope(immediate=True) as session:
                audit(session, "flow", "batch.suggest_paused", "transcript", transcript_id, waiting=waiting,
                      reason=str(exc))
            break
    return run


def _stats_dict(stats: object) -> dict[str, int]:
    if isinstance(stats, dict):
        return {k: int(v) for k, v in stats.items() if isinstance(v, int | float)}
    return {k: int(v) for k, v in asdict(stats).items() if isinstance(v, int | float)}  # type: ignore[call-overload]


def refresh_queue(settings: Settings | None = None) -> tuple[int, int]:
    """Turn queued suggestions into review items and top up the blind double-coding sample."""
    from pipeline.review.blind import assign_blind_sample
    from pipeline.review.queue import enqueue_suggestions

    s = settings or get_settings()
    with session_scope(immediate=True) as session:
        review = enqueue_suggestions(session)
        blind = assign_blind_sample(session, s)
    return review, blind


def agreement_alerts(settings: Settings | None = None, batch_id: int | None = None) -> list[str]:
    """Snapshot agreement after the batch; return human-readable flags for themes below threshold."""
    from pipeline.agreement.snapshots import snapshot_agreement

    s = settings or get_settings()
    with session_scope() as session:
        flags = snapshot_agreement(session, s, batch_id=batch_id)
    return [str(f) for f in flags]


def finish_batch(summary: BatchSummary) -> None:
    with session_scope(immediate=True) as session:
        batch = session.get(Batch, summary.batch_id)
        if batch is None:
            return
        batch.finished_at = utcnow()
        batch.status = "done"
        batch.files_seen = summary.files_seen
        batch.files_done = summary.files_done
        batch.files_skipped = summary.files_skipped
        batch.files_quarantined = summary.files_quarantined
        batch.segments_created = summary.segments_created
        audit(session, "flow", "batch.finish", "batch", batch.id, done=summary.files_done,
              skipped=summary.files_skipped, quarantined=summary.files_quarantined, failed=summary.files_failed,
              held=summary.files_held)


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


def run_batch(
    inbox: Path | None = None, settings: Settings | None = None, progress: ProgressHook | None = None
) -> BatchSummary:
    """Run every stage once without Prefect (``qualcode run --no-prefect`` and tests)."""
    s = settings or get_settings()
    started = time.perf_counter()
    summary = BatchSummary(batch_id=start_batch(s))
    scan = scan_new(inbox or s.inbox, s)
    # Refused entries are left alone and reported; files still being written wait for the next run.
    tally(summary, [FileOutcome(entry.path.name, "skipped", reason=entry.reason)
                    for entry in [*scan.refused, *scan.waiting]])
    for path in scan.files:
        outcome = ingest_file_safely(path, s, summary.batch_id)
        tally(summary, [outcome])
        if progress:
            progress(outcome.name, outcome.outcome)
    summary.segments_embedded = embed_pending(s)
    suggested = suggest_pending(s)
    summary.suggestions = suggested.totals
    if suggested.paused:
        summary.problems.append(suggested.paused)
    summary.review_items, summary.blind_items = refresh_queue(s)
    summary.alerts = agreement_alerts(s, summary.batch_id)
    summary.seconds = round(time.perf_counter() - started, 2)
    finish_batch(summary)
    return summary


def counts(settings: Settings | None = None) -> dict[str, int]:
    """Transcripts per status (for ``qualcode status``)."""
    with session_scope() as session:
        rows = session.execute(select(Transcript.status, func.count()).group_by(Transcript.status)).all()
    return {status: n for status, n in rows}
