"""Agreement snapshots after each batch, and the alerts leads see in the dashboard and the flow's log.

Why snapshots: agreement computed on demand answers "how are we doing now"; leads also need "since
when has this theme been slipping", and the model's agreement with people must be watched across
retrains. Each snapshot stores, per comparison (human_human on the blind sample, human_model) and per
code, theme and overall, the coefficients with their intervals as JSON, so the history never has to be
recomputed from decisions that may since have changed.

What is flagged (``AgreementFlag``), on themes and overall, using Krippendorff's alpha:

* ``below_tentative``: alpha below ``settings.agreement_tentative`` (0.667 by default): the theme's
  coding cannot be relied on, even tentatively.
* ``below_reliable``: alpha below ``settings.agreement_reliable`` (0.800) but not below tentative.
* ``model_drop`` (human_model only): alpha fell by more than ``settings.agreement_drop_alert`` since the
  previous snapshot of the same theme.

A coefficient that is not computable is stored with its reason and never flagged as a drop.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.agreement.codebook_view import active_codebook
from pipeline.agreement.decisions import COMPARISONS, Comparison, db_report
from pipeline.agreement.report import PRIMARY_METRIC, AgreementRecord, CodebookLike, ReportOptions
from pipeline.settings import Settings
from pipeline.store.models import AgreementSnapshot, utcnow

log = logging.getLogger(__name__)
FLAGGED_SCOPES = ("theme", "overall")


@dataclass(frozen=True)
class AgreementFlag:
    """One alert: which comparison and theme, the value, and a one-line reason (ids and numbers only)."""

    comparison: str
    scope: str
    key: str
    kind: str  # below_tentative | below_reliable | model_drop
    value: float
    reason: str
    previous: float | None = None

    def __str__(self) -> str:
        return f"[{self.comparison}] {self.scope} {self.key}: {self.reason}"


def _metrics_json(record: AgreementRecord) -> dict[str, Any]:
    out: dict[str, Any] = {name: est.to_dict() for name, est in record.estimates.items()}
    out["status"] = record.status
    out["n_decisions"] = record.n_decisions
    return out


def _previous_values(session: Session, comparison: str, scope: str) -> dict[str, float | None]:
    """The primary coefficient of the latest earlier snapshot, per key."""
    rows = session.execute(
        select(AgreementSnapshot.key, AgreementSnapshot.metrics)
        .where(AgreementSnapshot.comparison == comparison, AgreementSnapshot.scope == scope)
        .order_by(AgreementSnapshot.created_at, AgreementSnapshot.id)
    )
    latest: dict[str, float | None] = {}
    for key, metrics in rows:
        latest[str(key)] = (metrics or {}).get(PRIMARY_METRIC, {}).get("value")
    return latest


def flags_for(
    record: AgreementRecord, comparison: str, settings: Settings, previous: float | None
) -> list[AgreementFlag]:
    """The alerts one theme/overall record raises (see the module docstring)."""
    value = record.metric()
    if value is None:
        return []
    flags: list[AgreementFlag] = []
    label = "human-model" if comparison == "human_model" else "inter-coder"
    if value < settings.agreement_tentative:
        flags.append(
            AgreementFlag(
                comparison,
                record.scope,
                record.key,
                "below_tentative",
                value,
                f"{label} alpha {value:.3f} is below the tentative threshold {settings.agreement_tentative:.3f} "
                f"(n={record.n_units})",
                previous,
            )
        )
    elif value < settings.agreement_reliable:
        flags.append(
            AgreementFlag(
                comparison,
                record.scope,
                record.key,
                "below_reliable",
                value,
                f"{label} alpha {value:.3f} is below the reliable threshold {settings.agreement_reliable:.3f} "
                f"(n={record.n_units})",
                previous,
            )
        )
    if comparison == "human_model" and previous is not None and previous - value > settings.agreement_drop_alert:
        flags.append(
            AgreementFlag(
                comparison,
                record.scope,
                record.key,
                "model_drop",
                value,
                f"human-model alpha fell from {previous:.3f} to {value:.3f} since the previous snapshot",
                previous,
            )
        )
    return flags


def snapshot_agreement(
    session: Session,
    settings: Settings,
    batch_id: int | None = None,
    *,
    codebook: CodebookLike | None = None,
    only_batch: bool = False,
    comparisons: tuple[Comparison, ...] = COMPARISONS,
    now: dt.datetime | None = None,
) -> list[AgreementFlag]:
    """Store a snapshot per comparison × (code, theme, overall) and return the flags it raises.

    Agreement is cumulative over all decisions so far (``batch_id`` tags the snapshot with the batch
    that triggered it); ``only_batch=True`` restricts it to that batch's segments instead. The flags are
    logged at WARNING and stored on the snapshot rows; the caller commits.
    """
    codebook = codebook if codebook is not None else active_codebook(session, settings)
    options = ReportOptions(
        n_boot=settings.bootstrap_samples,
        pairwise=False,
        reliable=settings.agreement_reliable,
        tentative=settings.agreement_tentative,
    )
    created = now or utcnow()
    flags: list[AgreementFlag] = []
    for comparison in comparisons:
        records = db_report(session, comparison, codebook, options, batch_id=batch_id if only_batch else None)
        previous = {scope: _previous_values(session, comparison, scope) for scope in FLAGGED_SCOPES}
        for record in records:
            if record.n_decisions == 0:
                continue
            raised = (
                flags_for(record, comparison, settings, previous[record.scope].get(record.key))
                if record.scope in FLAGGED_SCOPES
                else []
            )
            flags.extend(raised)
            session.add(
                AgreementSnapshot(
                    created_at=created,
                    batch_id=batch_id,
                    comparison=comparison,
                    scope=record.scope,
                    key=record.key,
                    n_units=record.n_units,
                    n_coders=record.n_coders,
                    metrics=_metrics_json(record),
                    flagged=bool(raised),
                    flag_reason="; ".join(f.reason for f in raised)[:300] or None,
                )
            )
    session.flush()
    for flag in flags:
        log.warning("agreement alert: %s", flag)
    return flags


@dataclass(frozen=True)
class Point:
    """One snapshot value for a time-series chart."""

    at: dt.datetime
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_units: int
    batch_id: int | None


def history(
    session: Session, comparison: str = "human_human", scope: str = "theme", metric: str = PRIMARY_METRIC
) -> dict[str, list[Point]]:
    """Per key, the snapshot series of ``metric`` in time order (for "agreement over time" charts)."""
    rows = session.execute(
        select(
            AgreementSnapshot.key,
            AgreementSnapshot.created_at,
            AgreementSnapshot.metrics,
            AgreementSnapshot.n_units,
            AgreementSnapshot.batch_id,
        )
        .where(AgreementSnapshot.comparison == comparison, AgreementSnapshot.scope == scope)
        .order_by(AgreementSnapshot.created_at, AgreementSnapshot.id)
    )
    series: dict[str, list[Point]] = defaultdict(list)
    for key, at, metrics, n_units, batch in rows:
        est = (metrics or {}).get(metric, {})
        series[str(key)].append(Point(at, est.get("value"), est.get("ci_low"), est.get("ci_high"), int(n_units), batch))
    return dict(series)


def latest_flags(session: Session) -> list[AgreementSnapshot]:
    """Flagged rows of the most recent snapshot (what the dashboard's alert banner shows)."""
    last = session.scalar(select(AgreementSnapshot.created_at).order_by(AgreementSnapshot.created_at.desc()))
    if last is None:
        return []
    return list(
        session.scalars(
            select(AgreementSnapshot)
            .where(AgreementSnapshot.created_at == last, AgreementSnapshot.flagged.is_(True))
            .order_by(AgreementSnapshot.comparison, AgreementSnapshot.scope, AgreementSnapshot.key)
        )
    )
