"""What the leads' dashboard shows, assembled from the database as plain data (no web types).

Kept apart from the view so the figures can be tested without a web server and reused by other
front ends (a CLI summary, an export). Everything returned is ids, codes, names and numbers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.agreement.codebook_view import CodebookView, active_codebook
from pipeline.agreement.decisions import Comparison, db_report
from pipeline.agreement.report import AgreementRecord, ReportOptions
from pipeline.settings import Settings
from pipeline.store.models import Batch, ReviewItem, Suggestion, User, utcnow

THROUGHPUT_DAYS = 7


@dataclass(frozen=True)
class Acceptance:
    """How often coders accepted the model's suggestions of one code."""

    code: str
    accepted: int
    rejected: int

    @property
    def reviewed(self) -> int:
        return self.accepted + self.rejected

    @property
    def rate(self) -> float | None:
        return self.accepted / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class CoderLoad:
    """A coder's open work (review and blind items assigned or leased to them) and recent output."""

    coder: str
    open_items: int
    blind_open: int
    done_recent: int
    done_today: int


@dataclass
class Overview:
    """Everything on the dashboard's main page."""

    comparison: str
    codebook: CodebookView | None
    records: list[AgreementRecord]
    acceptance: list[Acceptance] = field(default_factory=list)
    workload: list[CoderLoad] = field(default_factory=list)
    unassigned_open: int = 0

    def theme_rows(self) -> list[tuple[AgreementRecord | None, list[AgreementRecord]]]:
        """Each theme record with its code records (codes without a theme at the end)."""
        codes_by_theme: dict[str | None, list[AgreementRecord]] = defaultdict(list)
        for rec in self.records:
            if rec.scope == "code":
                codes_by_theme[rec.theme].append(rec)
        out: list[tuple[AgreementRecord | None, list[AgreementRecord]]] = []
        for rec in self.records:
            if rec.scope == "theme":
                out.append((rec, codes_by_theme.pop(rec.theme, [])))
        rest = [r for recs in codes_by_theme.values() for r in recs]
        if rest:
            out.append((None, rest))
        return out

    @property
    def overall(self) -> AgreementRecord | None:
        return next((r for r in self.records if r.scope == "overall"), None)


def report_options(settings: Settings, *, pairwise: bool = False) -> ReportOptions:
    return ReportOptions(
        n_boot=settings.bootstrap_samples,
        pairwise=pairwise,
        reliable=settings.agreement_reliable,
        tentative=settings.agreement_tentative,
    )


def acceptance_by_code(session: Session) -> list[Acceptance]:
    """Accepted vs rejected suggestions per code (suggestions people decided on), most reviewed first."""
    rows = session.execute(
        select(Suggestion.code_key, Suggestion.status, func.count())
        .where(Suggestion.status.in_(("accepted", "rejected")))
        .group_by(Suggestion.code_key, Suggestion.status)
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "rejected": 0})
    for code, status, n in rows:
        counts[str(code)][str(status)] = int(n)
    items = [Acceptance(code, c["accepted"], c["rejected"]) for code, c in counts.items()]
    return sorted(items, key=lambda a: (-a.reviewed, a.code))


def coder_workload(session: Session, now: dt.datetime | None = None) -> tuple[list[CoderLoad], int]:
    """Per active coder: open items, blind items waiting, done in the last week and today.

    Also returns the number of open review items not assigned to anyone (the shared pool).
    """
    now = now or utcnow()
    since = now - dt.timedelta(days=THROUGHPUT_DAYS)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    users = {
        int(uid): str(name)
        for uid, name in session.execute(
            select(User.id, User.username).where(User.is_active.is_(True), User.role.in_(("coder", "lead")))
        )
    }
    open_items: dict[int, int] = defaultdict(int)
    blind_open: dict[int, int] = defaultdict(int)
    for owner, assigned, kind, n in session.execute(
        select(ReviewItem.lease_owner, ReviewItem.assigned_to, ReviewItem.kind, func.count())
        .where(ReviewItem.status.in_(("open", "leased")))
        .group_by(ReviewItem.lease_owner, ReviewItem.assigned_to, ReviewItem.kind)
    ):
        who = assigned if assigned is not None else owner
        if who is None:
            continue
        open_items[int(who)] += int(n)
        if kind == "blind":
            blind_open[int(who)] += int(n)
    unassigned = session.scalar(
        select(func.count())
        .select_from(ReviewItem)
        .where(ReviewItem.status == "open", ReviewItem.assigned_to.is_(None))
    )
    done_recent: dict[int, int] = defaultdict(int)
    done_today: dict[int, int] = defaultdict(int)
    for owner, done_at in session.execute(
        select(ReviewItem.lease_owner, ReviewItem.done_at).where(
            ReviewItem.status == "done", ReviewItem.done_at >= since
        )
    ):
        if owner is None:
            continue
        done_recent[int(owner)] += 1
        if done_at is not None and done_at >= midnight:
            done_today[int(owner)] += 1
    loads = [
        CoderLoad(name, open_items[uid], blind_open[uid], done_recent[uid], done_today[uid])
        for uid, name in sorted(users.items(), key=lambda kv: kv[1])
    ]
    return loads, int(unassigned or 0)


def build_overview(
    session: Session,
    settings: Settings,
    comparison: Comparison = "human_human",
    *,
    batch_id: int | None = None,
    now: dt.datetime | None = None,
) -> Overview:
    """Agreement per theme and code (live, with bootstrap intervals), suggestion acceptance and workload.

    ``batch_id`` restricts the agreement figures to the segments of one transcript batch.
    """
    book = active_codebook(session, settings)
    records = db_report(session, comparison, book, report_options(settings), batch_id=batch_id)
    workload, unassigned = coder_workload(session, now)
    return Overview(comparison, book, records, acceptance_by_code(session), workload, unassigned)


def recent_batches(session: Session, limit: int = 50) -> list[tuple[int, dt.datetime | None, int]]:
    """(id, started at, transcripts done) of the latest batches, newest first (for a batch filter)."""
    rows = session.execute(select(Batch.id, Batch.started_at, Batch.files_done).order_by(Batch.id.desc()).limit(limit))
    return [(int(i), at, int(done or 0)) for i, at, done in rows]


def theme_records(
    session: Session, settings: Settings, theme_id: str, comparison: Comparison = "human_human"
) -> tuple[CodebookView | None, list[AgreementRecord]]:
    """The theme's own record first, then each code followed by its coder pairs (the drill-down page)."""
    book = active_codebook(session, settings)
    records = db_report(session, comparison, book, report_options(settings, pairwise=True))
    keep = [r for r in records if r.theme == theme_id and r.scope in ("code", "pair")]
    whole = [r for r in records if r.theme == theme_id and r.scope == "theme"]
    return book, whole + keep
