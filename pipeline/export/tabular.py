"""Export coded work as CSV: per decision, per segment, or in the agreement interchange format.

Three levels, three questions:

``coding``
    *Who decided what?* One row per stored decision (``Coding`` row): transcript, segment, offsets,
    speaker role, theme, code, coder, applied (1/0), how it was made (``source``), model version,
    certainty, note, timestamps, and the anonymised segment text (``include_text=False`` drops it).
``segment``
    *What is the project's answer?* One row per segment that has any decision, with one column per code
    holding the consensus: ``1``, ``0`` or empty. The rule, per segment and code:

    1. **adjudicated**: a lead's resolution wins (the latest, if several);
    2. **agreed**: otherwise, if every human coder who decided gave the same answer, that answer (one
       coder counts as agreed);
    3. **majority**: otherwise the answer of more than half of the human coders;
    4. otherwise (a tie) the cell is **empty** and the segment's ``unresolved`` count goes up: a split
       waiting for adjudication is not a "no";
    5. with no human decision at all, an auto-applied model decision (``source="model"``) fills the cell;
    6. with no decision of any kind the cell is empty (unknown, not "no").

    Human votes are one per coder and code, taken from ``pipeline.agreement.decisions.human_decisions``:
    blind coding counts codes a coder did not tick on a finished blind segment as ``0``, and a coder with
    several kinds of decision counts once (blind over review over manual over import). Reusing that module
    keeps "what counts as a no" identical in agreement reports and in this file.
``agreement``
    *How reliable is the coding?* ``unit_id,code,coder,applied`` rows, the file ``qualcode agreement
    --codings`` reads. By default the blind double-coded sample, exactly the decisions ``qualcode agreement
    --from-db`` uses, so both give the same coefficients; ``include_sources`` may add review, manual and
    import decisions. ``unit_id`` is the segment id.

Spreadsheet safety. By default (``formula_safe=True``) a free-text cell that begins with ``=``, ``+``,
``-``, ``@``, tab, CR or LF gets a ``'`` in front (``TEXT_COLUMNS``: transcript name, site, roles, theme,
code and code name, coder, source, model version, note, text; and the header row), so Excel or
LibreOffice show it as text instead of running it as a formula (CWE-1236; the why and the limits are in
``pipeline.export.cells``). Numeric columns (ids, offsets, ``applied``, ``certainty``, counts, the 1/0/empty
code cells) are never touched, so ``-1`` stays a number. The summary and audit row record the mode and
how many cells were prefixed. ``formula_safe=False`` (``--raw-cells``) writes every cell exactly as stored,
text columns as exact slices of the anonymised transcripts, for R, pandas or a round trip; do not open
such a file in a spreadsheet by double-clicking it. The agreement format is affected only through coder
names (code keys are identifiers, ``unit_id`` a number): a coder named like a formula reaches ``qualcode
agreement --codings`` with the ``'``, which changes labels, not coefficients.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.codebook import Codebook
from pipeline.errors import ExportError
from pipeline.export._files import SummaryDict, atomic_output, iso_utc, naming
from pipeline.export.cells import FormulaGuard
from pipeline.export.records import (
    ADJUDICATION,
    ALL_SOURCES,
    Filters,
    iter_codings,
    latest_adjudications,
    resolve_codebook,
    segment_texts,
)
from pipeline.store.audit import audit
from pipeline.store.models import Coding, Segment, Transcript
from pipeline.store.visibility import released_segment

Level = Literal["coding", "segment", "agreement"]
LEVELS: tuple[Level, ...] = ("coding", "segment", "agreement")
HUMAN_SOURCES: tuple[str, ...] = ("blind", "review", "manual", "import")
AGREEMENT_SOURCES: tuple[str, ...] = ("blind",)

CODING_COLUMNS: tuple[str, ...] = (
    "transcript_id",
    "transcript",
    "site_code",
    "participant_role",
    "segment_id",
    "segment_index",
    "start_char",
    "end_char",
    "speaker_role",
    "theme",
    "code",
    "code_name",
    "coder",
    "applied",
    "source",
    "model_version",
    "certainty",
    "note",
    "created_at",
    "updated_at",
    "text",
)
SEGMENT_COLUMNS: tuple[str, ...] = (
    "transcript_id",
    "transcript",
    "site_code",
    "participant_role",
    "segment_id",
    "segment_index",
    "start_char",
    "end_char",
    "speaker_role",
    "n_coders",
    "unresolved",
)
AGREEMENT_COLUMNS: tuple[str, ...] = ("unit_id", "code", "coder", "applied")
TEXT_COLUMNS: frozenset[str] = frozenset(
    {
        "transcript",
        "site_code",
        "participant_role",
        "speaker_role",
        "theme",
        "code",
        "code_name",
        "coder",
        "source",
        "model_version",
        "note",
        "text",
    }
)
"""Columns that hold free text (from inbox files, codebooks, coders): neutralised in formula-safe mode."""


@dataclass(frozen=True)
class CsvSummary(SummaryDict):
    """What a CSV export wrote (what the audit row and the CLI report; no text)."""

    path: Path
    level: str
    rows: int
    columns: int
    include_text: bool
    coding_sources: tuple[str, ...]
    formula_safe: bool
    neutralised_cells: int


@dataclass(frozen=True)
class _TranscriptInfo:
    name: str
    site_code: str | None
    participant_role: str | None


def _transcripts(session: Session, hide_file_names: bool) -> dict[int, _TranscriptInfo]:
    rows = session.execute(
        select(
            Transcript.id,
            Transcript.source_name,
            Transcript.content_hash,
            Transcript.site_code,
            Transcript.participant_role,
        )
    )
    return {
        int(tid): _TranscriptInfo(f"transcript {digest[:12]}" if hide_file_names else name, site, role)
        for tid, name, digest, site, role in rows
    }


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    return value


# --------------------------------------------------------------------------------------------------
# coding level
# --------------------------------------------------------------------------------------------------
def _coding_rows(
    session: Session,
    filters: Filters,
    book: Codebook | None,
    include_text: bool,
    hide_file_names: bool,
) -> Iterator[list[object]]:
    transcripts = _transcripts(session, hide_file_names)
    pending: list[Any] = []

    def flush() -> Iterator[list[object]]:
        texts = segment_texts(session, {r.segment_id for r in pending}) if include_text else {}
        for r in pending:
            info = transcripts.get(r.transcript_id, _TranscriptInfo("", None, None))
            theme = code_name = ""
            if book is not None and r.code_key in book:
                theme, code_name = book.theme_of(r.code_key).name, book.code(r.code_key).name
            row = [
                r.transcript_id,
                info.name,
                info.site_code,
                info.participant_role,
                r.segment_id,
                r.segment_index,
                r.start,
                r.end,
                r.speaker_role,
                theme,
                r.code_key,
                code_name,
                r.coder,
                r.applied,
                r.source,
                r.model_version,
                r.certainty,
                r.note,
                iso_utc(r.created_at),
                iso_utc(r.updated_at),
            ]
            if include_text:
                row.append(texts.get(r.segment_id, ""))
            yield [_cell(v) for v in row]
        pending.clear()

    for record in iter_codings(session, filters):
        pending.append(record)
        if len(pending) >= 2000:  # segment text is fetched per chunk, not per row
            yield from flush()
    yield from flush()


# --------------------------------------------------------------------------------------------------
# segment level (consensus)
# --------------------------------------------------------------------------------------------------
def _human_votes(
    session: Session, filters: Filters, code_ids: Sequence[str] | None
) -> dict[tuple[int, str], dict[str, int]]:
    """``{(segment, code): {coder: 0/1}}``, one vote per coder (see the module docstring)."""
    sources = [s for s in filters.sources if s in HUMAN_SOURCES]
    if not sources:
        return {}
    from pipeline.agreement.decisions import human_decisions

    votes: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    for d in human_decisions(session, code_ids, sources=sources):
        if filters.coders is not None and d.coder not in filters.coders:
            continue
        votes[(int(d.unit_id), d.code)][d.coder] = int(d.value)  # type: ignore[call-overload]
    return votes


def consensus(votes: dict[str, int]) -> int | None:
    """Agreed or majority answer of the human coders' ``votes``; ``None`` for a tie (or no votes)."""
    if not votes:
        return None
    tally = Counter(votes.values())
    value, count = tally.most_common(1)[0]
    return value if count * 2 > len(votes) else None


def _model_votes(session: Session, filters: Filters) -> dict[tuple[int, str], int]:
    if "model" not in filters.sources:
        return {}
    query = select(Coding.segment_id, Coding.code_key, Coding.applied).where(
        Coding.source == "model", released_segment(Coding.segment_id)
    )
    if filters.coders is not None:
        query = query.where(Coding.coder.in_(sorted(filters.coders)))
    out: dict[tuple[int, str], int] = {}
    for seg, code, applied in session.execute(query.order_by(Coding.updated_at, Coding.id)):
        out[(int(seg), str(code))] = int(bool(applied))  # the latest model decision wins
    return out


def _segment_header(code_columns: Sequence[str], include_text: bool) -> list[str]:
    clash = sorted(set(code_columns) & {*SEGMENT_COLUMNS, "text"})
    if clash:
        raise ExportError(None, f"code key(s) {', '.join(clash)} clash with column names of the segment export")
    return [*SEGMENT_COLUMNS, *code_columns, *(["text"] if include_text else [])]


def _segment_table(
    session: Session, filters: Filters, book: Codebook | None
) -> tuple[list[str], dict[int, dict[str, int | None]], dict[int, int], dict[int, int]]:
    """Code columns, ``{segment: {code: 0/1/None}}``, coders per segment and ties per segment."""
    code_ids = book.code_ids if book is not None else None
    human = _human_votes(session, filters, code_ids)
    adjudicated = latest_adjudications(session) if ADJUDICATION in filters.sources else {}
    model = _model_votes(session, filters)
    cells: dict[int, dict[str, int | None]] = defaultdict(dict)
    coders: dict[int, set[str]] = defaultdict(set)
    ties: Counter[int] = Counter()
    for (seg, _code), votes in human.items():
        coders[seg].update(votes)
    for key in sorted({*human, *adjudicated, *model}):
        seg, code = key
        if key in adjudicated:
            cells[seg][code] = int(adjudicated[key])
        elif key in human:
            value = consensus(human[key])
            cells[seg][code] = value
            if value is None:
                ties[seg] += 1
        else:
            cells[seg][code] = model[key]
    used = {code for row in cells.values() for code in row}
    order = list(code_ids or [])
    columns = order + sorted(used - set(order))
    return columns, cells, {s: len(c) for s, c in coders.items()}, dict(ties)


def _segment_rows(
    session: Session,
    filters: Filters,
    book: Codebook | None,
    include_text: bool,
    hide_file_names: bool,
) -> tuple[list[str], Iterator[list[object]]]:
    columns, cells, n_coders, ties = _segment_table(session, filters, book)
    header = _segment_header(columns, include_text)
    transcripts = _transcripts(session, hide_file_names)

    def rows() -> Iterator[list[object]]:
        # Metadata for every row first, so rows come in reading order (transcript, offsets) across chunks;
        # text is then fetched chunk by chunk in that order.
        ids = sorted(cells)
        meta = []
        for i in range(0, len(ids), 500):
            meta.extend(
                session.execute(
                    select(
                        Segment.id,
                        Segment.transcript_id,
                        Segment.index,
                        Segment.start_char,
                        Segment.end_char,
                        Segment.speaker_role,
                    ).where(Segment.id.in_(ids[i : i + 500]))
                ).tuples()
            )
        meta.sort(key=lambda r: (r[1], r[3], r[4], r[0]))
        for i in range(0, len(meta), 500):
            chunk = meta[i : i + 500]
            texts = segment_texts(session, [m[0] for m in chunk]) if include_text else {}
            for seg_id, transcript_id, index, start, end, role in chunk:
                info = transcripts.get(int(transcript_id), _TranscriptInfo("", None, None))
                row: list[object] = [
                    transcript_id,
                    info.name,
                    info.site_code,
                    info.participant_role,
                    seg_id,
                    index,
                    start,
                    end,
                    role,
                    n_coders.get(int(seg_id), 0),
                    ties.get(int(seg_id), 0),
                ]
                row.extend(cells[int(seg_id)].get(code) for code in columns)
                if include_text:
                    row.append(texts.get(int(seg_id), ""))
                yield [_cell(v) for v in row]

    return header, rows()


# --------------------------------------------------------------------------------------------------
# agreement interchange
# --------------------------------------------------------------------------------------------------
def _agreement_rows(session: Session, filters: Filters, book: Codebook | None) -> Iterator[list[object]]:
    from pipeline.agreement.decisions import blind_decisions, human_decisions

    other = [s for s in filters.sources if s not in HUMAN_SOURCES]
    if other:
        raise ExportError(
            None,
            f"the agreement format holds human coders' decisions only; drop source(s) {', '.join(other)} "
            f"(use {', '.join(HUMAN_SOURCES)})",
        )
    code_ids = book.code_ids if book is not None else None
    if filters.sources == ("blind",):
        decisions = blind_decisions(session, code_ids)
    else:
        decisions = human_decisions(session, code_ids, sources=filters.sources)
    keyed = sorted(decisions, key=lambda d: (int(d.unit_id), d.code, d.coder))
    for d in keyed:
        if filters.coders is None or d.coder in filters.coders:
            yield [d.unit_id, d.code, d.coder, d.value]


# --------------------------------------------------------------------------------------------------
# The export
# --------------------------------------------------------------------------------------------------
def _text_guard(header: Sequence[str], level: Level) -> FormulaGuard:
    """A guard over the free-text columns of ``header``.

    At the segment level the code columns sit between the fixed columns and ``text``; a code key that
    happens to be spelled like a text column (``note``, say) still holds 1/0/empty, so only the fixed
    columns and the trailing ``text`` are looked at by position.
    """
    if level != "segment":
        return FormulaGuard.for_header(header, TEXT_COLUMNS)
    fixed = len(SEGMENT_COLUMNS)
    positions = {i for i, name in enumerate(header[:fixed]) if name in TEXT_COLUMNS}
    if header[-1] == "text" and len(header) > fixed:
        positions.add(len(header) - 1)
    return FormulaGuard(frozenset(positions))


def export_csv(
    session: Session,
    out_path: Path | str,
    *,
    level: Level = "coding",
    include_text: bool = True,
    codebook: Codebook | Path | str | None = None,
    include_sources: Sequence[str] | None = None,
    coders: Collection[str] | None = None,
    hide_file_names: bool = False,
    formula_safe: bool = True,
    actor: str = "system",
) -> CsvSummary:
    """Write a CSV export of ``level`` to ``out_path`` (UTF-8, header row, ``\\r\\n`` line ends).

    ``include_sources`` defaults per level: every source for ``coding`` and ``segment``, the blind sample
    for ``agreement``. ``include_text`` only affects the coding and segment levels (the agreement format
    has no text column). The codebook (given, else the active stored one) supplies theme and code names
    and the order of code columns. ``formula_safe`` prefixes free-text cells that a spreadsheet would run
    as a formula with ``'`` (see the module docstring); ``False`` writes every cell exactly. An audit row
    (counts and options only, never text) is added to ``session``.
    """
    out_path = Path(out_path)
    if level not in LEVELS:
        raise ExportError(out_path, f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    default = AGREEMENT_SOURCES if level == "agreement" else ALL_SOURCES
    with naming(out_path):
        filters = Filters.build(include_sources, coders, default)
        book = resolve_codebook(session, codebook)
        header: list[str]
        rows: Iterable[list[object]]
        if level == "coding":
            header = [c for c in CODING_COLUMNS if include_text or c != "text"]
            rows = _coding_rows(session, filters, book, include_text, hide_file_names)
        elif level == "segment":
            header, rows = _segment_rows(session, filters, book, include_text, hide_file_names)
        else:
            header, rows = list(AGREEMENT_COLUMNS), _agreement_rows(session, filters, book)
        guard = _text_guard(header, level) if formula_safe else None
        written = 0
        with atomic_output(out_path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header if guard is None else guard.header(header))
            for row in rows if guard is None else guard.rows(rows):
                writer.writerow(row)
                written += 1
    summary = CsvSummary(
        path=out_path,
        level=level,
        rows=written,
        columns=len(header),
        include_text=include_text and level != "agreement",
        coding_sources=filters.sources,
        formula_safe=formula_safe,
        neutralised_cells=guard.changed if guard is not None else 0,
    )
    audit(
        session,
        actor,
        "export.csv",
        "export",
        None,
        **summary.to_dict(),
        coders=(sorted(filters.coders) if filters.coders else None),
        codebook=(book.content_hash if book is not None else None),
        hide_file_names=hide_file_names,
    )
    return summary


__all__ = [
    "AGREEMENT_COLUMNS",
    "CODING_COLUMNS",
    "LEVELS",
    "SEGMENT_COLUMNS",
    "TEXT_COLUMNS",
    "CsvSummary",
    "consensus",
    "export_csv",
]
