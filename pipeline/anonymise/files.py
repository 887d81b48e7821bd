"""Anonymise files and JSONL outside the database (the ``qualcode anonymise`` command).

Why separate from the batch flow: anyone with text to share (a quote for a report, a data set for a
colleague, the benchmark) can anonymise it without a project database. Pseudonyms are consistent
across everything in one invocation (one in-memory store) and forgotten afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.anonymise.anonymiser import Anonymiser
from pipeline.anonymise.pseudonyms import InMemoryPseudonymStore, PseudonymStore
from pipeline.errors import InputFileError
from pipeline.settings import Settings

JSONL_BATCH = 32


@dataclass(frozen=True, slots=True)
class FileReport:
    """What happened to one input (no text)."""

    source: str
    output: str | None
    replacements: int
    error: str | None = None


def _rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise InputFileError(path, f"line {number}: not valid JSON") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise InputFileError(path, f"line {number}: expected an object with a string field 'text'")
            yield number, row


def anonymise_jsonl(
    anonymiser: Anonymiser, in_path: Path, out_path: Path, pseudonyms: PseudonymStore | None = None
) -> tuple[int, int]:
    """Rows ``{"id", "text"}`` -> ``{"id", "text", "spans"}`` with span offsets into the ORIGINAL text.

    Each row is its own document for name propagation; pseudonyms are shared across rows. Returns
    (rows, replacements).
    """
    store = pseudonyms if pseudonyms is not None else InMemoryPseudonymStore()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rows = replacements = 0
    with out_path.open("w", encoding="utf-8") as out:
        batch: list[dict[str, object]] = []

        def flush() -> None:
            nonlocal replacements
            results = anonymiser.anonymise_many([str(r["text"]) for r in batch], store)
            for row, res in zip(batch, results, strict=True):
                replacements += len(res.spans)
                record = {"id": row.get("id"), "text": res.text, "spans": [s.as_json() for s in res.spans]}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            batch.clear()

        for _, row in _rows(in_path):
            batch.append(row)
            rows += 1
            if len(batch) >= JSONL_BATCH:
                flush()
        if batch:
            flush()
    return rows, replacements


def _inputs(paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """(file, path relative to its root) for files and folders given on the command line."""
    from pipeline.ingest import discover

    for path in paths:
        if path.is_dir():
            for found in discover(path):
                yield found, found.relative_to(path)
        else:
            yield path, Path(path.name)


def anonymise_paths(
    anonymiser: Anonymiser,
    paths: list[Path],
    out_dir: Path,
    settings: Settings,
    pseudonyms: PseudonymStore | None = None,
) -> list[FileReport]:
    """Anonymise transcript files into ``out_dir`` as ``NAME.anon.txt`` (speaker turns kept).

    Uses the ingest readers (txt, docx, vtt, srt, pdf); a plain text without speaker turns becomes one
    document of paragraphs. Unreadable files are reported, not fatal.
    """
    from pipeline.ingest import read_document

    store = pseudonyms if pseudonyms is not None else InMemoryPseudonymStore()
    reports = []
    for path, relative in _inputs(paths):
        try:
            raw = read_document(path, settings)
        except InputFileError as exc:
            reports.append(FileReport(path.name, None, 0, exc.reason))
            continue
        doc = anonymiser.anonymise_document(raw, store)
        target = out_dir / relative.parent / f"{relative.stem}.anon.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for turn in doc.turns:
            body = doc.text[turn.start : turn.end]
            lines.append(f"{turn.speaker}: {body}" if turn.speaker else body)
        target.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        reports.append(FileReport(path.name, str(target), len(doc.spans)))
    return reports
