"""SQLAlchemy 2.0 models: the single source of truth for the schema (Alembic migrates it).

Why these shapes:
- Raw transcript text is never stored: ``Transcript.anonymised_text`` is the only text, and segments are
  offsets into it (the ``text`` column is a convenience copy of that slice).
- Codes are referenced by their stable string id (``code_key``), not by a row id, so decisions survive
  codebook versions.
- Every human decision is a ``Coding`` row per coder; suggestions, review items, blind assignments and
  agreement snapshots are separate tables so each later capability adds rows, not rework.
- ``AuditLog`` gets a row for every change a person or flow makes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Alembic naming convention, fixed from the first migration so constraint names are predictable on
#: SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012 (SQLAlchemy API)


# --------------------------------------------------------------------------------------------------
# Batches and transcripts
# --------------------------------------------------------------------------------------------------
class Batch(Base):
    """One run of the batch flow (for per-batch agreement and the run summary)."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|done|failed
    files_seen: Mapped[int] = mapped_column(Integer, default=0)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    files_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    files_skipped: Mapped[int] = mapped_column(Integer, default=0)
    segments_created: Mapped[int] = mapped_column(Integer, default=0)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    #: The process running it, "host:pid:process start" (migration 0005): the next run marks a ``running``
    #: batch whose process is gone as ``failed`` instead of leaving it ``running`` forever.
    owner: Mapped[str | None] = mapped_column(String(300))
    #: Why it failed, or what its last steps could not do (text-free: types, counts, settings).
    error: Mapped[str | None] = mapped_column(Text)


class Transcript(Base):
    """One source document. Identified by the SHA-256 of its raw bytes, so a re-run skips it."""

    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source_name: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(10))  # txt|docx|vtt|srt|pdf|import
    kind: Mapped[str] = mapped_column(String(20), default="interview")  # interview|document|import
    site_code: Mapped[str | None] = mapped_column(String(50))
    participant_role: Mapped[str | None] = mapped_column(String(100))
    interview_date: Mapped[dt.date | None] = mapped_column()
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # received -> anonymised -> segmented -> embedded -> suggested -> done ; quarantined ; failed
    # held: stored anonymised, awaiting anonymisation review (coders never see it; store/visibility.py)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    anonymised_text: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    turns: Mapped[list[Turn]] = relationship(back_populates="transcript", cascade="all, delete-orphan")
    segments: Mapped[list[Segment]] = relationship(back_populates="transcript", cascade="all, delete-orphan")


class Turn(Base):
    """A speaker turn, with offsets into the anonymised text."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("transcript_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str | None] = mapped_column(String(200))  # anonymised label, e.g. "Interviewer", "[PERSON_3]"
    role: Mapped[str] = mapped_column(String(20), default="unknown")  # interviewer|participant|unknown
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float | None] = mapped_column(Float)  # seconds (VTT/SRT)
    end_time: Mapped[float | None] = mapped_column(Float)

    transcript: Mapped[Transcript] = relationship(back_populates="turns")


class Segment(Base):
    """A unit of coding: a sentence window inside one turn (or a chunk of a long document)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("transcript_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)  # anonymised slice [start_char:end_char]
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    speaker_role: Mapped[str] = mapped_column(String(20), default="unknown")
    codable: Mapped[bool] = mapped_column(Boolean, default=True)
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)  # unit_id of imported examples

    transcript: Mapped[Transcript] = relationship(back_populates="segments")


class Embedding(Base):
    """Embedding cache keyed by (hash of segment text, embedding identity): re-runs never re-embed.

    ``model_name`` holds the identity (``pipeline.embed.embedding_identity``: the model and its pooling),
    because the same model pools the same text into different vectors.
    """

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("text_hash", "model_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# --------------------------------------------------------------------------------------------------
# Anonymisation
# --------------------------------------------------------------------------------------------------
class Pseudonym(Base):
    """Consistent pseudonym for one real entity within the project.

    ``lookup_hash`` is an HMAC of the normalised original (keyed by the project key) so the same entity
    maps to the same placeholder without storing it; ``encrypted_original`` is a Fernet token only the key
    holder can open.
    """

    __tablename__ = "pseudonyms"
    __table_args__ = (UniqueConstraint("entity_type", "lookup_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    placeholder: Mapped[str] = mapped_column(String(100), unique=True)
    lookup_hash: Mapped[str] = mapped_column(String(128))
    encrypted_original: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))  # which key encrypted it (rotation)
    canonical_id: Mapped[int | None] = mapped_column(ForeignKey("pseudonyms.id"))  # variant -> canonical
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AnonymisationEvent(Base):
    """One replacement made in one transcript. Never holds the original text in the clear.

    ``encrypted_original`` is the replaced words exactly as they stood at this place (a Fernet token only
    the key holder can open, re-encrypted by key rotation), so an undo can put back what was said here;
    the pseudonym map only knows each entity's canonical form. Events recorded before it existed (or
    without the key) have none, and their undo leaves the stored text as it is.
    """

    __tablename__ = "anonymisation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    placeholder: Mapped[str] = mapped_column(String(100))
    start_char: Mapped[int] = mapped_column(Integer)  # offsets in the anonymised text
    end_char: Mapped[int] = mapped_column(Integer)
    recognizer: Mapped[str] = mapped_column(String(100))
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="auto")  # auto|needs_review|confirmed|undone
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    encrypted_original: Mapped[bytes | None] = mapped_column(LargeBinary)


class TermList(Base):
    """Project allow/deny list entries. Deny entries are identifying, so they are stored encrypted."""

    __tablename__ = "term_lists"
    __table_args__ = (UniqueConstraint("kind", "lookup_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # allow|deny
    entity_type: Mapped[str | None] = mapped_column(String(40))
    term: Mapped[str | None] = mapped_column(String(300))  # plain for allow-list terms only
    lookup_hash: Mapped[str] = mapped_column(String(128))
    encrypted_term: Mapped[bytes | None] = mapped_column(LargeBinary)
    added_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# --------------------------------------------------------------------------------------------------
# Codebook, models, suggestions
# --------------------------------------------------------------------------------------------------
class CodebookVersion(Base):
    """One stored version of a codebook, identified by the hash of its normalised content."""

    __tablename__ = "codebook_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    version: Mapped[str] = mapped_column(String(50))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[dict[str, Any]] = mapped_column()
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    codes: Mapped[list[Code]] = relationship(back_populates="codebook", cascade="all, delete-orphan")


class Code(Base):
    __tablename__ = "codes"
    __table_args__ = (UniqueConstraint("codebook_id", "code_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    codebook_id: Mapped[int] = mapped_column(ForeignKey("codebook_versions.id", ondelete="CASCADE"))
    code_key: Mapped[str] = mapped_column(String(100), index=True)
    theme_key: Mapped[str] = mapped_column(String(100))
    theme_name: Mapped[str] = mapped_column(String(300))
    name: Mapped[str] = mapped_column(String(300))
    definition: Mapped[str] = mapped_column(Text)
    include: Mapped[list[Any]] = mapped_column(default=list)
    exclude: Mapped[list[Any]] = mapped_column(default=list)
    examples: Mapped[list[Any]] = mapped_column(default=list)
    definition_hash: Mapped[str] = mapped_column(String(64))

    codebook: Mapped[CodebookVersion] = relationship(back_populates="codes")


class ModelVersion(Base):
    """A trained suggestion model saved with skops under ``models/``; ``card`` is its model card."""

    __tablename__ = "model_versions"
    __table_args__ = (
        # At most one active model, enforced by the database: two retrains finishing at once cannot
        # both activate (see ``suggest.service.retrain``, which also takes a lock first).
        Index(
            "uq_model_versions_one_active",
            "is_active",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(100), unique=True)
    path: Mapped[str] = mapped_column(String(1000))
    codebook_id: Mapped[int | None] = mapped_column(ForeignKey("codebook_versions.id"))
    embedding_model: Mapped[str] = mapped_column(String(200))
    card: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stale_codes: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Suggestion(Base):
    """A model's suggestion of one code for one segment, with the decision policy's verdict."""

    __tablename__ = "suggestions"
    __table_args__ = (
        UniqueConstraint("segment_id", "code_key", "model_version"),
        Index("ix_suggestions_status_priority", "status", "priority"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), index=True)
    code_key: Mapped[str] = mapped_column(String(100), index=True)
    probability: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(10))  # apply|review|drop
    cold_start: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str] = mapped_column(String(100))
    # applied|queued|accepted|rejected|dropped|superseded
    status: Mapped[str] = mapped_column(String(20), default="queued")
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    group_key: Mapped[str | None] = mapped_column(String(64))  # near-duplicate group
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# --------------------------------------------------------------------------------------------------
# People, review, decisions
# --------------------------------------------------------------------------------------------------
class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(10))  # admin|lead|coder
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_key_holder: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class UserSession(Base):
    """Server-side session: the cookie holds a random token; only its hash is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LoginAttempt(Base):
    """One log-in attempt from a client address: the per-address rate limit, shared by every worker.

    Only a hash of the address is stored, and rows older than the limit's window are deleted as new
    attempts arrive, so the table never holds more than one window of attempts.
    """

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    attempted_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class ReviewItem(Base):
    """A unit of human work handed out with a lease: a suggestion to review, or a blind coding task.

    ``kind`` is ``review`` (accept/reject a queued suggestion) or ``blind`` (code a segment without seeing
    suggestions; two coders get separate items for the same segment). ``version`` backs optimistic checks.
    """

    __tablename__ = "review_items"
    __table_args__ = (
        Index("ix_review_items_queue", "status", "kind", "priority"),
        UniqueConstraint("kind", "segment_id", "suggestion_id", "assigned_to"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # review|blind
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), index=True)
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id", ondelete="CASCADE"))
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None = any coder
    status: Mapped[str] = mapped_column(String(10), default="open")  # open|leased|done|skipped|withdrawn
    lease_owner: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    group_key: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Coding(Base):
    """One coder's decision that a code does (``applied``) or does not apply to a segment.

    ``source`` says how it was made: review (accept/reject of a suggestion), manual (added by a coder),
    blind (blind double-coding), import (human-coded examples), adjudication (a lead's resolution), model
    (auto-applied suggestion; coder is ``model:<version>``). The latest decision per
    (segment, code, coder, source) is the row; history lives in the audit log.
    """

    __tablename__ = "codings"
    __table_args__ = (
        UniqueConstraint("segment_id", "code_key", "coder", "source"),
        Index("ix_codings_code_source", "code_key", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), index=True)
    code_key: Mapped[str] = mapped_column(String(100))
    coder: Mapped[str] = mapped_column(String(100))  # username, imported coder id, or model:<version>
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    applied: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[str | None] = mapped_column(String(100))  # for multi-category codes
    source: Mapped[str] = mapped_column(String(20))
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id", ondelete="SET NULL"))
    model_version: Mapped[str | None] = mapped_column(String(100))
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    certainty: Mapped[int | None] = mapped_column(Integer)  # 1..5
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class AgreementSnapshot(Base):
    """Agreement for one code or theme at one time (for trends and alerts)."""

    __tablename__ = "agreement_snapshots"
    __table_args__ = (Index("ix_agreement_snapshots_scope_key", "scope", "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    comparison: Mapped[str] = mapped_column(String(20))  # human_human|human_model
    scope: Mapped[str] = mapped_column(String(10))  # code|theme|overall
    key: Mapped[str] = mapped_column(String(100))
    n_units: Mapped[int] = mapped_column(Integer)
    n_coders: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"krippendorff_alpha": {...}, ...}
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(300))


class AuditLog(Base):
    """One row per change: who, what, when, on which object. ``details`` never holds raw text."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # username, "flow", "cli:<user>"
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
