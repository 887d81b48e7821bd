"""Per-code, per-theme and per-coder-pair agreement from long-format decisions.

Input is one ``Decision`` per (unit, code, coder): ``value`` is ``1``/``0`` for a yes/no code (``applied``)
or a category label for a multi-category code. Where decisions come from (a CSV, the database's blind
sample, the model's suggestions) is the caller's business; see ``pipeline.agreement.decisions``.

Choices a methods section needs to know (they are also written into the HTML report):

* **Unit of analysis.** For a code, the unit is the segment (or whatever ``unit_id`` names). For a theme,
  every (unit, code) pair of the theme's codes is a unit, rated by each coder who rated that unit for that
  code; the theme coefficient therefore summarises all binary decisions in the theme. Its bootstrap
  resamples whole segments (each with all its codes), because decisions on one segment's codes are not
  independent; resampling the pairs would make theme intervals too narrow.
* **Missing data.** A coder who did not rate a unit is missing for it (not a "no"); coefficients use the
  units rated at least twice (Cohen's kappa: the units both coders rated).
* **Rare codes.** ``ignore_absent=True`` drops, per code (and per coder pair), the units on which no coder
  applied the code, as coders of rare codes ask for. It raises agreement coefficients' meaning from "do we
  agree it is absent almost everywhere" to "when someone sees it, do others too"; it is off by default.
* **Interpretation.** ``status`` follows Krippendorff's conventions on alpha: ``reliable`` at or above
  ``reliable`` (0.800), ``tentative`` at or above ``tentative`` (0.667), otherwise ``unreliable``; when
  alpha is not computable the status says so.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.agreement.metrics import METRICS, Estimate, Level, RatingMatrix, summarise

#: The coefficient the thresholds apply to.
PRIMARY_METRIC = "krippendorff_alpha"
BINARY = (0, 1)


@dataclass(frozen=True)
class Decision:
    """One coder's decision on one unit for one code (``value`` 1/0 for yes/no codes)."""

    unit_id: str
    code: str
    coder: str
    value: int | float | str


class _Theme(Protocol):
    id: str
    name: str


class _Code(Protocol):
    id: str


class CodebookLike(Protocol):
    """What reporting needs from ``pipeline.codebook.Codebook``."""

    @property
    def codes(self) -> Sequence[_Code]: ...

    def theme_of(self, code_id: str) -> _Theme: ...


@dataclass(frozen=True)
class ReportOptions:
    """How coefficients are computed; the HTML report's methods paragraph is written from these."""

    level: Level = "nominal"
    ignore_absent: bool = False
    n_boot: int = 1000
    seed: int | None = 0
    confidence: float = 0.95
    pairwise: bool = True
    reliable: float = 0.800
    tentative: float = 0.667


@dataclass(frozen=True)
class AgreementRecord:
    """Agreement for one scope: a code, a theme, a coder pair on a code, or everything (``overall``)."""

    scope: str  # code | theme | pair | overall
    key: str
    code: str | None
    theme: str | None
    theme_name: str | None
    coders: tuple[str, ...]
    n_units: int
    n_coders: int
    n_decisions: int
    estimates: dict[str, Estimate] = field(default_factory=dict)
    status: str = "not_computable"

    def to_flat(self) -> dict[str, Any]:
        """One flat row: ``metric``, ``metric_ci_low``, ``metric_ci_high``, ``metric_reason`` per metric."""
        row: dict[str, Any] = {
            "scope": self.scope,
            "key": self.key,
            "code": self.code,
            "theme": self.theme,
            "theme_name": self.theme_name,
            "coders": "|".join(self.coders),
            "n_units": self.n_units,
            "n_coders": self.n_coders,
            "n_decisions": self.n_decisions,
            "status": self.status,
        }
        for name in METRICS:
            est = self.estimates.get(name)
            row[name] = _rounded(est.value if est else None)
            row[f"{name}_ci_low"] = _rounded(est.ci_low if est else None)
            row[f"{name}_ci_high"] = _rounded(est.ci_high if est else None)
            row[f"{name}_reason"] = est.reason if est else None
        return row

    def metric(self, name: str = PRIMARY_METRIC) -> float | None:
        est = self.estimates.get(name)
        return est.value if est else None


def _rounded(value: float | None, digits: int = 6) -> float | None:
    """Exports carry six decimals: enough for any table, without float noise such as 0.39999999999999997."""
    return None if value is None else round(value, digits)


def status_of(value: float | None, reliable: float, tentative: float) -> str:
    """Krippendorff's conventions: reliable / tentative / unreliable (or not_computable)."""
    if value is None:
        return "not_computable"
    if value >= reliable:
        return "reliable"
    if value >= tentative:
        return "tentative"
    return "unreliable"


def _categories(values: Iterable[Hashable]) -> tuple[Hashable, ...] | None:
    """``(0, 1)`` for yes/no codes (declared, so a code nobody applied still has two categories)."""
    seen = set(values)
    return BINARY if seen <= {0, 1} else None


def _matrix(rows: Sequence[tuple[Hashable, str, Hashable]], coders: Sequence[str] | None = None) -> RatingMatrix:
    cats = _categories(v for _, _, v in rows)
    matrix = RatingMatrix.from_records(rows, categories=cats)
    if coders is not None:
        present = [c for c in coders if c in matrix.coders]
        matrix = matrix.select_coders(present)
    return matrix


def _drop_absent(rows: list[tuple[Hashable, str, Hashable]]) -> list[tuple[Hashable, str, Hashable]]:
    """Keep only the units on which at least one coder applied the code (binary codes only)."""
    if _categories(v for _, _, v in rows) != BINARY:
        return rows
    applied = {u for u, _, v in rows if v == 1}
    return [r for r in rows if r[0] in applied]


def scope_record(
    scope: str,
    key: str,
    rows: list[tuple[Hashable, str, Hashable]],
    options: ReportOptions,
    *,
    code: str | None = None,
    theme: tuple[str, str] | None = None,
    coders: Sequence[str] | None = None,
    clustered: bool = False,
) -> AgreementRecord:
    """Agreement for one set of ``(unit, coder, value)`` rows (``coders`` restricts and orders columns).

    ``clustered=True`` is for roll-ups whose units are ``(segment, code)`` tuples: the bootstrap then
    resamples segments with all their codes.
    """
    if options.ignore_absent:
        rows = _drop_absent(rows)
    matrix = _matrix(rows, coders)
    estimates = summarise(
        matrix,
        level=options.level,
        n_boot=options.n_boot,
        seed=options.seed,
        confidence=options.confidence,
        clusters=[unit[0] for unit in matrix.units] if clustered else None,  # type: ignore[index]
    )
    return AgreementRecord(
        scope=scope,
        key=key,
        code=code,
        theme=theme[0] if theme else None,
        theme_name=theme[1] if theme else None,
        coders=tuple(coders) if coders is not None else matrix.coders,
        n_units=matrix.n_pairable,
        n_coders=matrix.n_coders,
        n_decisions=matrix.n_ratings,
        estimates=estimates,
        status=status_of(estimates[PRIMARY_METRIC].value, options.reliable, options.tentative),
    )


def agreement_report(
    decisions: Iterable[Decision],
    codebook: CodebookLike | None = None,
    options: ReportOptions | None = None,
) -> list[AgreementRecord]:
    """Records per code (and per theme and overall with a codebook), plus per coder pair.

    Codes appear in codebook order (then any codes the codebook does not know, alphabetically); with a
    codebook, decisions on unknown codes still get a code record but no theme.
    """
    options = options or ReportOptions()
    by_code: dict[str, list[tuple[Hashable, str, Hashable]]] = defaultdict(list)
    for d in decisions:
        by_code[d.code].append((d.unit_id, d.coder, d.value))

    order = [c.id for c in codebook.codes] if codebook is not None else []
    codes = [c for c in order if c in by_code] + sorted(set(by_code) - set(order))
    theme_of: dict[str, tuple[str, str]] = {}
    if codebook is not None:
        for code in codes:
            if code in order:
                theme = codebook.theme_of(code)
                theme_of[code] = (theme.id, theme.name)

    records: list[AgreementRecord] = []
    for code in codes:
        rows = by_code[code]
        records.append(scope_record("code", code, rows, options, code=code, theme=theme_of.get(code)))
        if options.pairwise:
            records.extend(_pair_records(code, rows, options, theme_of.get(code)))

    if codebook is not None:
        themes: dict[tuple[str, str], list[str]] = defaultdict(list)
        for code in codes:
            if code in theme_of:
                themes[theme_of[code]].append(code)
        for theme, members in themes.items():
            rows = _rolled_up(by_code, members, options)
            records.append(scope_record("theme", theme[0], rows, _no_absent(options), theme=theme, clustered=True))
        if codes:
            rows = _rolled_up(by_code, codes, options)
            records.append(scope_record("overall", "all", rows, _no_absent(options), clustered=True))
    return records


def _no_absent(options: ReportOptions) -> ReportOptions:
    # Roll-ups drop absent units per code before pooling (see _rolled_up), not again afterwards.
    return dataclasses.replace(options, ignore_absent=False)


def _rolled_up(
    by_code: dict[str, list[tuple[Hashable, str, Hashable]]], codes: Sequence[str], options: ReportOptions
) -> list[tuple[Hashable, str, Hashable]]:
    """Each (unit, code) pair becomes one unit of the roll-up."""
    rows: list[tuple[Hashable, str, Hashable]] = []
    for code in codes:
        code_rows = _drop_absent(by_code[code]) if options.ignore_absent else by_code[code]
        rows.extend(((unit, code), coder, value) for unit, coder, value in code_rows)
    return rows


def _pair_records(
    code: str,
    rows: list[tuple[Hashable, str, Hashable]],
    options: ReportOptions,
    theme: tuple[str, str] | None,
) -> list[AgreementRecord]:
    """One record per pair of coders who both rated at least one unit of this code."""
    units_of: dict[str, set[Hashable]] = defaultdict(set)
    for unit, coder, _ in rows:
        units_of[coder].add(unit)
    coders = sorted(units_of)
    if len(coders) <= 2:
        return []  # the code record already is the only pair
    out = []
    for a, b in itertools.combinations(coders, 2):
        shared = units_of[a] & units_of[b]
        if not shared:
            continue
        pair_rows = [r for r in rows if r[1] in (a, b) and r[0] in shared]
        out.append(scope_record("pair", f"{code}:{a}|{b}", pair_rows, options, code=code, theme=theme, coders=(a, b)))
    return out
