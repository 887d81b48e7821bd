"""Blind double-coding: a stratified sample of segments coded independently by two coders.

Why stratified: agreement is reported per theme, and a theme that is rare in the data would get no
double-coded segments from a simple random sample. Each stratum is (theme, transcript): the theme of the
segment's most probable suggestion (or none when the model has nothing to say) and its transcript, so
every interview contributes in proportion to its size.

How the sample is drawn, deterministically (the same database gives the same sample):
- inside each stratum, candidates are ordered by a hash of their segment id;
- the j-th new candidate of a stratum that already has ``e`` of its ``n`` segments in the sample gets the
  key ``(e + j + 0.5) / n`` -- its stratum's running share if it were added;
- candidates are taken in key order until the whole sample reaches ``blind_share`` of codable segments.
  Small keys first means every stratum is filled towards the same share, i.e. proportional allocation.

Idempotent: segments that already have blind items count towards the target, so re-running after a batch
adds only what the new segments call for. Each sampled segment gets two items for the two coders with the
fewest blind items so far (ties broken by a hash, so no coder is always first).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from pipeline.review.catalogue import load_catalogue
from pipeline.settings import Settings
from pipeline.store.audit import audit
from pipeline.store.models import ReviewItem, Segment, Suggestion, Transcript, User, utcnow
from pipeline.store.visibility import released

CODERS_PER_SEGMENT = 2


def _stable_rank(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def codable_segments(session: Session) -> list[tuple[int, int]]:
    """(segment id, transcript id) of every segment a person should code (imports and transcripts held for
    anonymisation review excluded: a held transcript neither joins the sample nor counts towards it)."""
    rows = session.execute(
        select(Segment.id, Segment.transcript_id)
        .join(Transcript, Transcript.id == Segment.transcript_id)
        .where(Segment.codable.is_(True), Transcript.kind != "import", released(Segment.transcript_id))
        .order_by(Segment.id)
    )
    return [(int(a), int(b)) for a, b in rows]


def _top_suggestions(session: Session) -> dict[int, tuple[str, float]]:
    """segment id -> (code key, priority) of its most probable live suggestion (one row per segment in SQL)."""
    rank = (
        func.row_number()
        .over(partition_by=Suggestion.segment_id, order_by=(Suggestion.probability.desc(), Suggestion.id))
        .label("rank")
    )
    ranked = (
        select(Suggestion.segment_id, Suggestion.code_key, Suggestion.priority, rank)
        .where(Suggestion.status.in_(("queued", "applied", "accepted", "rejected")))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.segment_id, ranked.c.code_key, ranked.c.priority).where(ranked.c.rank == 1)
    )
    return {int(seg): (code, float(priority or 0.0)) for seg, code, priority in rows}


def blind_coders(session: Session) -> list[tuple[int, str]]:
    """(user id, username) of the people blind items go to (see ``assign_blind_sample``)."""
    active = session.execute(
        select(User.id, User.username, User.role)
        .where(User.is_active.is_(True), User.role.in_(("coder", "lead")))
        .order_by(User.id)
    ).all()
    coders = [(uid, name) for uid, name, role in active if role == "coder"]
    if len(coders) >= CODERS_PER_SEGMENT:
        return coders
    return [(uid, name) for uid, name, _role in active]


def assign_blind_sample(session: Session, settings: Settings, *, actor: str = "flow") -> int:
    """Top the blind sample up to ``settings.blind_share`` of codable segments; returns segments added.

    Blind coders are the active coders; when there are fewer than two, leads take part too (a small team's
    lead usually double-codes). With fewer than two people in all, nothing can be double-coded: 0.
    """
    coders = blind_coders(session)
    if len(coders) < CODERS_PER_SEGMENT or settings.blind_share <= 0:
        return 0
    segments = codable_segments(session)
    if not segments:
        return 0
    sampled = set(
        session.scalars(select(ReviewItem.segment_id).where(ReviewItem.kind == "blind").distinct())
    )
    target = round(settings.blind_share * len(segments))
    needed = target - len(sampled & {seg for seg, _t in segments})
    if needed <= 0:
        return 0

    catalogue = load_catalogue(session, settings.codebook_path)
    top = _top_suggestions(session)
    strata: dict[tuple[str, int], list[int]] = defaultdict(list)
    for segment_id, transcript_id in segments:
        code = top.get(segment_id)
        theme = (catalogue.theme_of(code[0]) or code[0]) if code else ""
        strata[(theme, transcript_id)].append(segment_id)

    keyed: list[tuple[float, str, int]] = []
    for members in strata.values():
        existing = sum(1 for seg in members if seg in sampled)
        fresh = sorted((seg for seg in members if seg not in sampled), key=lambda seg: _stable_rank("blind", seg))
        for j, segment_id in enumerate(fresh):
            keyed.append(((existing + j + 0.5) / len(members), _stable_rank("tie", segment_id), segment_id))
    keyed.sort()
    chosen = [segment_id for _key, _tie, segment_id in keyed[:needed]]

    load = dict(
        session.execute(
            select(ReviewItem.assigned_to, func.count())
            .where(ReviewItem.kind == "blind")
            .group_by(ReviewItem.assigned_to)
        ).all()
    )
    counts = {coder_id: int(load.get(coder_id, 0)) for coder_id, _name in coders}
    rows = []
    created = utcnow()
    for segment_id in chosen:
        pair = sorted(counts, key=lambda cid: (counts[cid], _stable_rank("coder", segment_id, cid)))
        priority = top.get(segment_id, ("", 0.0))[1]
        for coder_id in pair[:CODERS_PER_SEGMENT]:
            counts[coder_id] += 1
            rows.append({"kind": "blind", "segment_id": segment_id, "suggestion_id": None, "assigned_to": coder_id,
                         "status": "open", "priority": priority, "version": 0, "created_at": created})
    if rows:
        session.execute(insert(ReviewItem), rows)
    session.flush()
    audit(
        session,
        actor,
        "blind.assign",
        "review_items",
        None,
        segments=len(chosen),
        items=len(chosen) * CODERS_PER_SEGMENT,
        share=settings.blind_share,
        target=target,
    )
    return len(chosen)
