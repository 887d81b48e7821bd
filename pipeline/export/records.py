"""Read what an export needs from the database into small, text-free records.

Why a layer of its own: the REFI-QDA project and the CSV files are different shapes of the same facts
(which transcripts, which segments, which coder decided what). Reading them once, here, with one set of
filters and one sort order, keeps the exports consistent with each other and deterministic: every query is
ordered by stable keys (offsets, code keys, coder names), never by insertion order.

Records carry ids, offsets, codes and coder names. Transcript and segment text is read separately, by the
writer that puts it in the export file, so it never sits in a record that could end up in a log or repr.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from pipeline.codebook import Codebook, load_codebook
from pipeline.codebook.store import active_codebook
from pipeline.errors import ExportError
from pipeline.store.models import Coding, Segment, Transcript
from pipeline.store.visibility import released, released_segment

#: Every value ``Coding.source`` can take (see ``pipeline.store.models.Coding``).
ALL_SOURCES: tuple[str, ...] = ("review", "manual", "blind", "import", "adjudication", "model")
#: What a project export holds by default: the project's own coding work (imported examples are left out,
#: they came from elsewhere and usually live on their own synthetic "import" transcripts).
PROJECT_SOURCES: tuple[str, ...] = ("review", "manual", "blind", "adjudication", "model")
ADJUDICATION = "adjudication"


@dataclass(frozen=True)
class SourceRecord:
    """One transcript with anonymised text, identified across databases by its content hash."""

    transcript_id: int
    content_hash: str
    name: str
    kind: str
    site_code: str | None
    participant_role: str | None
    interview_date: dt.date | None
    created_at: dt.datetime | None


@dataclass(frozen=True)
class CodingRecord:
    """One coder's decision on one segment for one code, with the segment's position (no text)."""

    coding_id: int
    segment_id: int
    transcript_id: int
    segment_index: int
    start: int
    end: int
    speaker_role: str
    code_key: str
    coder: str
    applied: bool
    source: str
    model_version: str | None
    certainty: int | None
    note: str | None = field(repr=False)  # written by a coder: may quote the segment, so kept out of reprs
    created_at: dt.datetime | None
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class Filters:
    """Which decisions an export holds: by how they were made (``sources``) and by whom (``coders``)."""

    sources: tuple[str, ...] = PROJECT_SOURCES
    coders: frozenset[str] | None = None

    @classmethod
    def build(cls, sources: Sequence[str] | None, coders: Collection[str] | None, default: Sequence[str]) -> Filters:
        """Validated filters; an unknown source is an ``ExportError`` listing the valid ones."""
        chosen = tuple(dict.fromkeys(sources if sources is not None else default))
        unknown = [s for s in chosen if s not in ALL_SOURCES]
        if unknown:
            raise ExportError(None, f"unknown coding source(s) {', '.join(unknown)}; use {', '.join(ALL_SOURCES)}")
        if not chosen:
            raise ExportError(None, "no coding sources selected")
        return cls(chosen, frozenset(coders) if coders else None)


def list_sources(session: Session) -> list[SourceRecord]:
    """Every released transcript that has anonymised text, oldest first (quarantined and failed files have
    none; a transcript held for anonymisation review is left out until the key holder releases it)."""
    rows = session.execute(
        select(
            Transcript.id,
            Transcript.content_hash,
            Transcript.source_name,
            Transcript.kind,
            Transcript.site_code,
            Transcript.participant_role,
            Transcript.interview_date,
            Transcript.created_at,
        )
        .where(Transcript.anonymised_text.is_not(None), released(Transcript.id))
        .order_by(Transcript.id)
    )
    return [SourceRecord(*row) for row in rows]


def source_text(session: Session, transcript_id: int) -> str:
    """The anonymised text of one released transcript (the only transcript text qualcode stores)."""
    text = session.scalar(
        select(Transcript.anonymised_text).where(Transcript.id == transcript_id, released(Transcript.id))
    )
    return text or ""


def _codings_query(filters: Filters, *, applied_only: bool) -> Select[tuple[object, ...]]:
    query = (
        select(
            Coding.id,
            Coding.segment_id,
            Segment.transcript_id,
            Segment.index,
            Segment.start_char,
            Segment.end_char,
            Segment.speaker_role,
            Coding.code_key,
            Coding.coder,
            Coding.applied,
            Coding.source,
            Coding.model_version,
            Coding.certainty,
            Coding.note,
            Coding.created_at,
            Coding.updated_at,
        )
        .join(Segment, Segment.id == Coding.segment_id)
        .where(Coding.source.in_(filters.sources), released(Segment.transcript_id))
        .order_by(
            Segment.transcript_id,
            Segment.start_char,
            Segment.end_char,
            Segment.id,
            Coding.code_key,
            Coding.coder,
            Coding.source,
        )
    )
    if applied_only:
        query = query.where(Coding.applied.is_(True))
    if filters.coders is not None:
        query = query.where(Coding.coder.in_(sorted(filters.coders)))
    return query


def iter_codings(session: Session, filters: Filters, *, applied_only: bool = False) -> Iterator[CodingRecord]:
    """Decisions in reading order (transcript, offsets, code, coder, source), streamed in chunks."""
    result = session.execute(_codings_query(filters, applied_only=applied_only).execution_options(yield_per=2000))
    for row in result:
        yield CodingRecord(*row)


def latest_adjudications(session: Session, coders: Collection[str] | None = None) -> dict[tuple[int, str], bool]:
    """``{(segment id, code): applied}`` for the most recent adjudication of each pair (any lead).

    The same rule the agreement module applies: when two leads resolved the same pair, the later one counts.
    """
    query = select(Coding.segment_id, Coding.code_key, Coding.applied).where(
        Coding.source == ADJUDICATION, released_segment(Coding.segment_id)
    )
    if coders:
        query = query.where(Coding.coder.in_(sorted(coders)))
    rows = session.execute(query.order_by(Coding.updated_at, Coding.id))
    return {(int(seg), str(code)): bool(applied) for seg, code, applied in rows}


def segment_texts(session: Session, segment_ids: Collection[int]) -> dict[int, str]:
    """Anonymised segment text by id (read only by writers that put text in the file on purpose)."""
    out: dict[int, str] = {}
    ids = sorted(segment_ids)
    for i in range(0, len(ids), 500):  # bounded IN lists for both backends
        chunk = ids[i : i + 500]
        query = select(Segment.id, Segment.text).where(Segment.id.in_(chunk), released(Segment.transcript_id))
        for segment_id, text in session.execute(query):
            out[int(segment_id)] = text
    return out


def resolve_codebook(session: Session, codebook: Codebook | Path | str | None) -> Codebook | None:
    """The codebook to label codes with: the one given (object or YAML path), else the active stored one.

    ``None`` when neither exists; exports then name codes by their keys only.
    """
    if isinstance(codebook, Codebook):
        return codebook
    if codebook is not None:
        return load_codebook(codebook)
    return active_codebook(session)
