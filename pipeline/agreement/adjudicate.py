"""Disagreements on the blind sample, and a lead's resolution of each.

Why resolutions are ``Coding`` rows: an adjudicated decision is the best label the project has for that
segment and code, so it is stored like any other decision (``source="adjudication"``, coder = the lead)
and the trainer picks it up as a training label; the audit row records who resolved what, when, and how
the coders had split, never the segment text or the note's content.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.agreement.decisions import Scope, blind_decisions
from pipeline.agreement.report import CodebookLike
from pipeline.errors import PermissionDenied, ReviewError
from pipeline.store.audit import audit
from pipeline.store.models import Coding, Segment, User, utcnow

ADJUDICATION = "adjudication"
LEAD_ROLES = ("lead", "admin")
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class Resolution:
    applied: bool
    by: str
    at: dt.datetime | None
    has_note: bool


@dataclass(frozen=True)
class Disagreement:
    """Coders who blind-coded ``segment_id`` split on ``code`` (``decisions``: coder -> 0/1)."""

    segment_id: int
    transcript_id: int | None
    code: str
    theme: str | None
    decisions: dict[str, int] = field(default_factory=dict)
    resolution: Resolution | None = None

    @property
    def resolved(self) -> bool:
        return self.resolution is not None


def list_disagreements(
    session: Session,
    codebook: CodebookLike | None = None,
    *,
    theme: str | None = None,
    code: str | None = None,
    include_resolved: bool = False,
    batch_id: int | None = None,
    limit: int | None = None,
) -> list[Disagreement]:
    """Blind-sample (segment, code) pairs on which the coders' decisions differ.

    ``theme`` needs a codebook (codes are mapped to themes through it). Ordered by segment then code, so
    a lead works through a transcript in reading order.
    """
    if theme is not None and codebook is None:
        raise ValueError("filtering by theme needs a codebook")
    code_ids = [c.id for c in codebook.codes] if codebook is not None else None
    wanted: set[str] | None = None
    if theme is not None and codebook is not None:
        wanted = {c.id for c in codebook.codes if codebook.theme_of(c.id).id == theme}
    if code is not None:
        wanted = {code} if wanted is None else wanted & {code}

    votes: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    for d in blind_decisions(session, code_ids, Scope(batch_id=batch_id)):
        if wanted is not None and d.code not in wanted:
            continue
        votes[(int(d.unit_id), d.code)][d.coder] = int(d.value)
    split = {key: v for key, v in votes.items() if len(v) >= 2 and len(set(v.values())) > 1}
    if not split:
        return []

    resolutions = _resolutions(session, {seg for seg, _ in split})
    transcripts: dict[int, int] = {
        int(seg): int(tr)
        for seg, tr in session.execute(
            select(Segment.id, Segment.transcript_id).where(Segment.id.in_({s for s, _ in split}))
        )
    }
    out: list[Disagreement] = []
    for (segment_id, code_key), decisions in sorted(split.items()):
        resolution = resolutions.get((segment_id, code_key))
        if resolution is not None and not include_resolved:
            continue
        theme_id = None
        if codebook is not None and code_key in {c.id for c in codebook.codes}:
            theme_id = codebook.theme_of(code_key).id
        out.append(Disagreement(segment_id, transcripts.get(segment_id), code_key, theme_id, decisions, resolution))
        if limit is not None and len(out) >= limit:
            break
    return out


def _resolutions(session: Session, segment_ids: set[int]) -> dict[tuple[int, str], Resolution]:
    """The latest adjudication per (segment, code), whoever made it."""
    rows = session.execute(
        select(Coding.segment_id, Coding.code_key, Coding.applied, Coding.coder, Coding.updated_at, Coding.note)
        .where(Coding.source == ADJUDICATION, Coding.segment_id.in_(segment_ids))
        .order_by(Coding.updated_at, Coding.id)
    )
    return {
        (int(seg), str(code)): Resolution(bool(applied), str(coder), at, bool(note))
        for seg, code, applied, coder, at, note in rows
    }


def adjudicate(
    session: Session,
    segment_id: int,
    code_key: str,
    applied: bool,
    lead_username: str,
    note: str | None = None,
    *,
    known_codes: Sequence[str] | None = None,
) -> Coding:
    """Record a lead's resolution: a ``Coding(source="adjudication")`` row and an audit row.

    Only an active lead or admin may adjudicate (``PermissionDenied`` otherwise). Re-adjudicating by the
    same lead updates their row (version + 1); the audit log keeps the history. The caller commits.
    """
    user = session.scalar(select(User).where(User.username == lead_username))
    if user is None or not user.is_active or user.role not in LEAD_ROLES:
        raise PermissionDenied(f"user {lead_username!r} may not adjudicate (leads and admins only)")
    if session.get(Segment, segment_id) is None:
        raise ReviewError(f"segment {segment_id} does not exist")
    if known_codes is not None and code_key not in known_codes:
        raise ReviewError(f"code {code_key!r} is not in the active codebook")
    if note is not None:
        note = note.strip() or None
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise ReviewError(f"adjudication note is longer than {MAX_NOTE_CHARS} characters")

    before = {
        coder: bool(value)
        for coder, value in session.execute(
            select(Coding.coder, Coding.applied).where(
                Coding.segment_id == segment_id, Coding.code_key == code_key, Coding.source == "blind"
            )
        )
    }
    values = {"user_id": user.id, "applied": bool(applied), "note": note}
    row = _own_resolution(session, segment_id, code_key, lead_username)
    if row is None:
        row = _insert_resolution(session, segment_id, code_key, lead_username, values)
    else:
        _revise(row, values)
    session.flush()
    audit(
        session,
        lead_username,
        "agreement.adjudicate",
        "coding",
        row.id,
        segment_id=segment_id,
        code=code_key,
        applied=bool(applied),
        blind_decisions=before,
        version=row.version,
        has_note=note is not None,
    )
    return row


def _own_resolution(session: Session, segment_id: int, code_key: str, lead_username: str) -> Coding | None:
    return session.scalar(
        select(Coding).where(
            Coding.segment_id == segment_id,
            Coding.code_key == code_key,
            Coding.coder == lead_username,
            Coding.source == ADJUDICATION,
        )
    )


def _revise(row: Coding, values: dict[str, object]) -> None:
    row.version = (row.version or 0) + 1
    row.updated_at = utcnow()
    for name, value in values.items():
        setattr(row, name, value)


def _insert_resolution(
    session: Session, segment_id: int, code_key: str, lead_username: str, values: dict[str, object]
) -> Coding:
    """A new adjudication row; if the same lead's other request (a double-clicked form) inserted it a
    moment ago, that row is revised instead of failing on the unique (segment, code, coder, source) key."""
    row = Coding(segment_id=segment_id, code_key=code_key, coder=lead_username, source=ADJUDICATION, version=0,
                 **values)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        existing = _own_resolution(session, segment_id, code_key, lead_username)
        if existing is None:
            raise
        _revise(existing, values)
        return existing
    return row
