"""Write agreement records as JSON, CSV or a self-contained HTML report.

Why the HTML looks the way it does: it is what a lead attaches to a methods section, so it must open
anywhere without a network (inline CSS, no scripts, no fonts or CDNs), show every coefficient with its
interval, say *why* a coefficient is missing, and carry a methods paragraph that states the definitions,
the bootstrap and the handling of missing data.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipeline.agreement.metrics import METRICS
from pipeline.agreement.report import PRIMARY_METRIC, AgreementRecord, ReportOptions

Format = Literal["json", "csv", "html"]
TEMPLATES = Path(__file__).with_name("templates")

METRIC_LABELS: dict[str, str] = {
    "percent_agreement": "% agreement",
    "cohen_kappa": "Cohen's κ",
    "fleiss_kappa": "Fleiss' κ",
    "krippendorff_alpha": "Krippendorff's α",
    "gwet_ac1": "Gwet's AC1",
}


def methods_text(options: ReportOptions, *, comparison: str | None = None) -> str:
    """The methods paragraph: definitions, bootstrap, missing data, thresholds (plain text)."""
    seed = "none (unseeded)" if options.seed is None else str(options.seed)
    parts = [
        "Inter-coder agreement was computed per code with percent agreement (share of agreeing pairs of "
        "ratings on units rated at least twice), Cohen's kappa (two coders, units both rated), Fleiss' kappa "
        "(Fleiss 1971; per-unit agreement averaged over units with two or more ratings when their number "
        "varies), Krippendorff's alpha "
        f"({options.level} metric, coincidence-matrix form, Krippendorff 2011) and Gwet's AC1 (Gwet 2008, "
        "2014), which stays stable when a code is rare.",
        f"{int(options.confidence * 100)} % intervals are percentile bootstrap intervals from "
        f"{options.n_boot} resamples of units (with replacement; seed {seed}); replicates in which a "
        "coefficient is undefined are dropped and counted.",
        "A coder who did not rate a unit is treated as missing, not as a 'no'; units rated by fewer than "
        "two coders do not contribute. Coefficients that cannot be computed (a single category, one coder, "
        "no overlap) are reported as not computable with the reason, never as 0.",
        "Theme and overall rows pool the theme's codes: each (unit, code) pair is one unit, and their "
        "intervals resample whole units with all their codes (a cluster bootstrap).",
    ]
    if options.ignore_absent:
        parts.append("Units on which no coder applied a code were excluded for that code (rare-code option).")
    if comparison == "human_model":
        parts.append(
            "Human-model rows pair each human decision with the model's decision on the same segment and code; "
            "per-coder rows compare the model with one coder."
        )
    parts.append(
        f"Alpha of {options.reliable:.3f} or more is read as reliable and {options.tentative:.3f} or more as "
        "tentative (Krippendorff's conventions)."
    )
    return " ".join(parts)


def records_payload(
    records: Sequence[AgreementRecord], options: ReportOptions, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON document: ``meta`` (options, methods, provenance) and flat ``records``."""
    return {
        "meta": {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "options": dataclasses.asdict(options),
            "primary_metric": PRIMARY_METRIC,
            "methods": methods_text(options, comparison=(meta or {}).get("comparison")),
            **dict(meta or {}),
        },
        "records": [rec.to_flat() for rec in records],
    }


def to_json(records: Sequence[AgreementRecord], options: ReportOptions, meta: Mapping[str, Any] | None = None) -> str:
    return json.dumps(records_payload(records, options, meta), indent=2, default=str)


def to_csv(records: Sequence[AgreementRecord]) -> str:
    buffer = io.StringIO()
    rows = [rec.to_flat() for rec in records]
    fields = list(rows[0]) if rows else ["scope", "key"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, d=3: "—" if v is None else f"{v:.{d}f}"
    return env


def cell_class(metric: str, value: float | None, options: ReportOptions) -> str:
    """CSS class for a coefficient against the thresholds (percent agreement is not chance-corrected)."""
    if value is None:
        return "na"
    if metric == "percent_agreement":
        return "plain"
    if value >= options.reliable:
        return "ok"
    if value >= options.tentative:
        return "warn"
    return "bad"


def grouped_rows(records: Sequence[AgreementRecord]) -> list[dict[str, Any]]:
    """Display order: overall, then each theme followed by its codes and their coder pairs."""
    by_theme: dict[str | None, list[AgreementRecord]] = {}
    themes = [r for r in records if r.scope == "theme"]
    overall = [r for r in records if r.scope == "overall"]
    for rec in records:
        if rec.scope in ("code", "pair"):
            by_theme.setdefault(rec.theme, []).append(rec)
    ordered: list[AgreementRecord] = [*overall]
    for theme in themes:
        ordered.append(theme)
        ordered.extend(by_theme.pop(theme.theme, []))
    for rest in by_theme.values():
        ordered.extend(rest)
    return [{"record": rec, "flat": rec.to_flat()} for rec in ordered]


def to_html(
    records: Sequence[AgreementRecord],
    options: ReportOptions,
    meta: Mapping[str, Any] | None = None,
    code_names: Mapping[str, str] | None = None,
) -> str:
    """A self-contained HTML report (inline CSS, no scripts, no external resources)."""
    meta = dict(meta or {})
    template = _environment().get_template("report.html")
    return template.render(
        title=meta.get("title", "Inter-coder agreement"),
        meta=meta,
        rows=grouped_rows(records),
        metrics=METRICS,
        labels=METRIC_LABELS,
        options=options,
        methods=methods_text(options, comparison=meta.get("comparison")),
        cell_class=lambda m, v: cell_class(m, v, options),
        code_names=dict(code_names or {}),
        generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        not_computed=not_computed(records),
    )


def not_computed(records: Sequence[AgreementRecord]) -> list[tuple[str, list[str]]]:
    """Reasons a coefficient is missing, each with the rows it applies to (grouped, so a report with
    twenty four-coder codes says "Cohen's kappa needs exactly two coders" once, not twenty times)."""
    grouped: dict[str, list[str]] = {}
    for rec in records:
        for metric in METRICS:
            est = rec.estimates.get(metric)
            if est is not None and est.value is None and est.reason:
                grouped.setdefault(est.reason, []).append(rec.key)
    return list(grouped.items())


def render(
    records: Sequence[AgreementRecord],
    options: ReportOptions,
    fmt: Format,
    meta: Mapping[str, Any] | None = None,
    code_names: Mapping[str, str] | None = None,
) -> str:
    """The report in ``fmt`` (json, csv or html)."""
    if fmt == "json":
        return to_json(records, options, meta)
    if fmt == "csv":
        return to_csv(records)
    if fmt == "html":
        return to_html(records, options, meta, code_names)
    raise ValueError(f"unknown format {fmt!r}; use json, csv or html")
