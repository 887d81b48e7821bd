"""The leads' agreement dashboard: reliability per theme and code, trends, workload, and adjudication.

Pages (leads and admins only; coders get 403):

- ``GET /lead/agreement``: themes and codes with n, coefficients and 95 % intervals colour-coded against
  the settings' thresholds, the latest snapshot's alerts, and charts (agreement over time per theme,
  acceptance of suggestions per code, open items and throughput per coder), all server-rendered SVG;
- ``GET /lead/agreement/theme/{theme_id}``: the theme's codes and coder pairs, and its disagreements on
  the blind sample, each with an adjudication form;
- ``POST /lead/agreement/adjudicate``: record a resolution (a training label and an audit row);
- ``POST /lead/agreement/snapshot``: store a snapshot now and report the alerts it raised;
- ``GET /lead/agreement/report.{html,csv,json}``: the methods-section report as a download.

The view only parses, calls ``pipeline.agreement`` and renders; CSRF is enforced by the app on every POST.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from pipeline.agreement.adjudicate import adjudicate, list_disagreements
from pipeline.agreement.decisions import COMPARISONS
from pipeline.agreement.export import METRIC_LABELS, cell_class, render
from pipeline.agreement.metrics import METRICS
from pipeline.agreement.overview import build_overview, recent_batches, report_options, theme_records
from pipeline.agreement.snapshots import history, latest_flags, snapshot_agreement
from pipeline.agreement.svg import Bar, SeriesPoint, bar_chart, line_chart
from pipeline.settings import Settings
from pipeline.store.db import session_scope
from pipeline.store.models import Segment
from pipeline.web.auth import CurrentUser, require_role
from pipeline.web.deps import DB, db_url
from pipeline.web.nav import NavLink
from pipeline.web.params import Id, id_form
from pipeline.web.templating import flash
from pipeline.web.templating import render as render_page

router = APIRouter(prefix="/lead/agreement")
NAV = [NavLink("Agreement", "/lead/agreement", roles=("lead",), order=40)]
LeadUser = Depends(require_role("lead"))
ComparisonParam = Literal["human_human", "human_model"]
COMPARISON_LABELS = {"human_human": "Coder vs coder (blind sample)", "human_model": "Model vs coders"}
DISAGREEMENTS_SHOWN = 100


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _table_helpers(settings: Settings) -> dict[str, object]:
    options = report_options(settings)
    return {
        "metrics": METRICS,
        "labels": METRIC_LABELS,
        "cell_class": lambda metric, value: cell_class(metric, value, options),
        "reliable": settings.agreement_reliable,
        "tentative": settings.agreement_tentative,
    }


@router.get("")
def dashboard(
    request: Request,
    db: DB,
    user: CurrentUser = LeadUser,
    comparison: ComparisonParam = "human_human",
    batch: Annotated[Id | None, Query(description="Only segments of this transcript batch.")] = None,
) -> Response:
    settings = _settings(request)
    overview = build_overview(db, settings, comparison, batch_id=batch)
    names = {t.id: t.name for t in overview.codebook.themes} if overview.codebook else {}
    trend = {
        names.get(key, key): [SeriesPoint(p.at, p.value, p.ci_low, p.ci_high) for p in points]
        for key, points in history(db, comparison, "theme").items()
    }
    thresholds = {"reliable": settings.agreement_reliable, "tentative": settings.agreement_tentative}
    code_name = overview.codebook.code_name if overview.codebook else (lambda c: c)
    acceptance = bar_chart(
        [
            Bar(code_name(a.code), a.rate or 0.0, f"of {a.reviewed}", "bar-ok" if (a.rate or 0) >= 0.5 else "bar-bad")
            for a in overview.acceptance
        ],
        title="Share of suggestions accepted, per code",
        max_value=1.0,
        value_format="{:.0%}",
    )
    queue = bar_chart(
        [Bar(w.coder, w.open_items, f"({w.blind_open} blind)" if w.blind_open else "") for w in overview.workload]
        + ([Bar("unassigned pool", overview.unassigned_open, "", "bar-muted")] if overview.unassigned_open else []),
        title="Open items per coder",
    )
    throughput = bar_chart(
        [Bar(w.coder, w.done_recent, f"({w.done_today} today)") for w in overview.workload],
        title="Items done per coder in the last 7 days",
    )
    return render_page(
        request,
        "dashboard/index.html",
        overview=overview,
        comparison=comparison,
        comparisons=COMPARISONS,
        comparison_labels=COMPARISON_LABELS,
        flags=latest_flags(db),
        trend_chart=line_chart(
            trend,
            title=f"Krippendorff's alpha per theme over time ({COMPARISON_LABELS[comparison]})",
            thresholds=thresholds,
        ),
        acceptance_chart=acceptance,
        queue_chart=queue,
        throughput_chart=throughput,
        code_name=code_name,
        n_boot=settings.bootstrap_samples,
        batches=recent_batches(db),
        batch=batch,
        **_table_helpers(settings),
    )


@router.get("/theme/{theme_id}")
def theme_page(
    request: Request,
    theme_id: str,
    db: DB,
    user: CurrentUser = LeadUser,
    comparison: ComparisonParam = "human_human",
    resolved: bool = Query(False, description="Also list disagreements already adjudicated."),
) -> Response:
    settings = _settings(request)
    book, records = theme_records(db, settings, theme_id, comparison)
    if book is None or theme_id not in {t.id for t in book.themes}:
        raise HTTPException(status_code=404, detail="no such theme in the active codebook")
    disagreements = list_disagreements(db, book, theme=theme_id, include_resolved=resolved)
    shown = disagreements[:DISAGREEMENTS_SHOWN]
    texts = {
        int(seg_id): (text, index, transcript_id)
        for seg_id, text, index, transcript_id in db.execute(
            select(Segment.id, Segment.text, Segment.index, Segment.transcript_id).where(
                Segment.id.in_({d.segment_id for d in shown})
            )
        )
    }
    theme = next(t for t in book.themes if t.id == theme_id)
    return render_page(
        request,
        "dashboard/theme.html",
        theme=theme,
        records=records,
        comparison=comparison,
        comparisons=COMPARISONS,
        comparison_labels=COMPARISON_LABELS,
        disagreements=shown,
        n_disagreements=len(disagreements),
        texts=texts,
        code_name=book.code_name,
        show_resolved=resolved,
        **_table_helpers(settings),
    )


@router.post("/adjudicate")
def adjudicate_view(
    request: Request,
    user: CurrentUser = LeadUser,
    segment_id: int = id_form(),
    code: str = Form(..., max_length=100),
    applied: Literal["1", "0"] = Form(...),
    note: str = Form("", max_length=2000),
    theme: str = Form(..., max_length=100),
) -> Response:
    from pipeline.agreement.codebook_view import active_codebook

    # BEGIN IMMEDIATE on SQLite: read-then-write must not fail with "database is locked" when another
    # request (a double-clicked form, a batch run) writes between the read and the write.
    with session_scope(db_url(request), immediate=True) as db:
        book = active_codebook(db, _settings(request))
        adjudicate(
            db,
            segment_id,
            code,
            applied == "1",
            user.username,
            note or None,
            known_codes=book.code_ids if book is not None else None,
        )
    response = RedirectResponse(f"/lead/agreement/theme/{theme}#disagreements", status_code=303)
    verdict = "applied" if applied == "1" else "not applied"
    flash(request, response, f"Resolved segment #{segment_id}, {code}: {verdict}.", "success")
    return response


@router.post("/snapshot")
def snapshot_view(request: Request, db: DB, user: CurrentUser = LeadUser) -> Response:
    flags = snapshot_agreement(db, _settings(request))
    response = RedirectResponse("/lead/agreement", status_code=303)
    message = f"Snapshot stored: {len(flags)} alert(s)." if flags else "Snapshot stored: no alerts."
    flash(request, response, message, "warning" if flags else "success")
    return response


@router.get("/report.{fmt}")
def report_download(
    request: Request,
    fmt: Literal["html", "csv", "json"],
    db: DB,
    user: CurrentUser = LeadUser,
    comparison: ComparisonParam = "human_human",
) -> Response:
    """The methods-section report, as an attachment (opened outside the app, so its inline CSS applies)."""
    from pipeline.agreement.codebook_view import active_codebook
    from pipeline.agreement.decisions import db_report

    settings = _settings(request)
    book = active_codebook(db, settings)
    options = report_options(settings, pairwise=True)
    records = db_report(db, comparison, book, options)
    meta = {
        "source": "project database",
        "comparison": comparison,
        "title": f"Inter-coder agreement: {COMPARISON_LABELS[comparison].lower()}",
    }
    if book is not None:
        meta["codebook"] = f"{book.name} {book.version}"
    names = {c.id: c.name for c in book.codes} if book is not None else None
    body = render(records, options, fmt, meta, names)
    media = {"html": "text/html", "csv": "text/csv", "json": "application/json"}[fmt]
    return Response(
        body,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="agreement-{comparison}.{fmt}"'},
    )
