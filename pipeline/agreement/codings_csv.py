"""Read a codings file (``unit_id,code,coder,applied`` or ``...,value``) into ``Decision``s.

Why strict: the file feeds a methods section, so a typo must stop the run with the file name and row
number rather than quietly change a coefficient. Errors never quote cell contents beyond the column
name and the offending short value (unit ids and codes are identifiers, not transcript text).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Container
from pathlib import Path

from pipeline.agreement.report import Decision
from pipeline.errors import ExamplesError

REQUIRED = ("unit_id", "code", "coder")
_YES = {"1", "true", "yes", "y", "t"}
_NO = {"0", "false", "no", "n", "f"}


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def parse_applied(raw: str) -> int | None:
    """``1``/``0`` for the usual spellings of yes/no; ``None`` when the cell is empty (missing)."""
    text = raw.strip().lower()
    if text == "":
        return None
    if text in _YES:
        return 1
    if text in _NO:
        return 0
    raise ValueError(raw)


def _number_or_text(raw: str) -> int | float | str:
    """Numbers stay numbers so ordinal and interval metrics see their order and distances."""
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw


def read_codings_csv(path: Path | str, known_codes: Container[str] | None = None) -> list[Decision]:
    """Decisions from ``path``; ``ExamplesError`` naming the file and row for anything malformed.

    With ``known_codes`` (a codebook's ids), an unknown code is an error. A coder listed twice for the
    same unit and code with different answers is an error too (which answer counts is not guessable);
    exact repeats are tolerated. Extra columns (such as a ``text`` column) are ignored; a ``.gz`` file is
    read through gzip.
    """
    path = Path(path)
    try:
        handle = (
            gzip.open(path, "rt", encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed by the with below)
            if path.suffix == ".gz"
            else path.open(encoding="utf-8-sig", newline="")
        )
    except OSError as exc:
        raise ExamplesError(f"{path.name}: cannot open ({exc.strerror or type(exc).__name__})") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ExamplesError(f"{path.name}: missing column(s) {', '.join(missing)} in the header row")
        if ("applied" in header) == ("value" in header):
            raise ExamplesError(f"{path.name}: needs exactly one of the columns 'applied' or 'value'")
        reader.fieldnames = header
        column = "applied" if "applied" in header else "value"
        seen: dict[tuple[str, str, str], tuple[object, int]] = {}
        decisions: list[Decision] = []
        try:
            for row in reader:
                line = reader.line_num
                decision = _parse_row(path, line, row, column, known_codes)
                if decision is None:
                    continue
                key = (decision.unit_id, decision.code, decision.coder)
                if key in seen:
                    previous, previous_line = seen[key]
                    if previous != decision.value:
                        raise ExamplesError(
                            f"{path.name}, row {line}: coder {_short(key[2])!r} gives a different answer for "
                            f"unit {_short(key[0])!r}, code {_short(key[1])!r} than on row {previous_line}"
                        )
                    continue
                seen[key] = (decision.value, line)
                decisions.append(decision)
        except csv.Error as exc:
            raise ExamplesError(f"{path.name}, row {reader.line_num}: malformed CSV ({exc})") from None
        except UnicodeDecodeError:
            raise ExamplesError(f"{path.name}: not UTF-8 text") from None
        except (OSError, EOFError) as exc:  # a damaged .gz
            raise ExamplesError(f"{path.name}: cannot read ({type(exc).__name__})") from None
    if not decisions:
        raise ExamplesError(f"{path.name}: no decisions (the file has a header but no usable rows)")
    return decisions


def _parse_row(
    path: Path,
    line: int,
    row: dict[str | None, str | None],
    column: str,
    known_codes: Container[str] | None,
) -> Decision | None:
    if None in row:
        raise ExamplesError(f"{path.name}, row {line}: more cells than header columns")
    cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
    for name in REQUIRED:
        if not cells.get(name):
            raise ExamplesError(f"{path.name}, row {line}: empty {name}")
    code = cells["code"]
    if known_codes is not None and code not in known_codes:
        raise ExamplesError(f"{path.name}, row {line}: code {_short(code)!r} is not in the codebook")
    raw = cells.get(column, "")
    if column == "applied":
        try:
            value: int | float | str | None = parse_applied(raw)
        except ValueError:
            raise ExamplesError(
                f"{path.name}, row {line}: applied must be 1/0 (or yes/no, true/false), got {_short(raw)!r}"
            ) from None
    else:
        value = _number_or_text(raw) if raw else None
    if value is None:
        return None  # an empty answer is a missing rating, not a "no"
    return Decision(cells["unit_id"], code, cells["coder"], value)
