"""Read human-coded examples in the qualcode interchange format.

The format is a CSV (plain, or gzip-compressed when the name ends in ``.gz``) with a header and one row per
(unit, code, coder)::

    unit_id,text,code,coder,applied
    u1,"What the participant said ...",online_risk,coder_a,1
    u1,,family_support,coder_a,0

``applied`` is ``1`` or ``0``. A unit's text may be repeated on each of its rows or given once (later rows
may leave it empty); different texts for one ``unit_id`` are an error. A unit's codes that no row
mentions are *unknown*, not "not applied". Extra columns are ignored.

Errors (:class:`pipeline.errors.ExamplesError`) name the file and the row (row 1 is the header, as in a
spreadsheet) and never quote the text, which may be sensitive. The texts are assumed to be anonymised
already (see ``pipeline.suggest.store_examples``).
"""

from __future__ import annotations

import csv
import difflib
import gzip
import hashlib
import io
import re
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pipeline.errors import ExamplesError
from pipeline.suggest.labels import HumanDecision

REQUIRED_COLUMNS = ("unit_id", "text", "code", "coder", "applied")
_APPLIED = {"1": True, "0": False}
#: Whole documents can be long; the csv module's default 128 KiB field limit is too small for them.
_FIELD_LIMIT = min(sys.maxsize, 64 * 1024 * 1024)


@dataclass
class ExampleSet:
    """Units (``unit_id -> text``, file order) and the per-coder decisions about them."""

    units: dict[str, str] = field(default_factory=dict)
    decisions: list[HumanDecision] = field(default_factory=list)
    source: Path | None = None

    @property
    def codes(self) -> list[str]:
        return list(dict.fromkeys(d.code for d in self.decisions))

    @property
    def coders(self) -> list[str]:
        return list(dict.fromkeys(d.coder for d in self.decisions))


@contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    try:
        if path.name.endswith(".gz"):
            handle: TextIO = io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")  # noqa: SIM115
        else:
            handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ExamplesError(f"{path.name}: cannot open the file ({exc.strerror or type(exc).__name__})") from None
    try:
        yield handle
    finally:
        handle.close()


#: Values echoed in error messages must look like identifiers; anything else may be shifted text.
_SHOWABLE = re.compile(r"^[\w.:/@+-]{1,60}$")


def _show(value: str) -> str:
    """An id for an error message, or a neutral description if it might be transcript text."""
    return repr(value) if _SHOWABLE.match(value) else f"<a {len(value)}-character value that is not an id>"


def read_examples(path: Path | str, known_codes: Collection[str] | None = None) -> ExampleSet:
    """Read and validate an examples file.

    ``known_codes`` (the codebook's code ids), when given, makes an unknown code an error naming the row,
    with the closest valid id as a hint.
    """
    path = Path(path)
    csv.field_size_limit(_FIELD_LIMIT)
    result = ExampleSet(source=path)
    text_hash: dict[str, tuple[str, int]] = {}
    seen: dict[tuple[str, str, str], tuple[bool, int]] = {}
    row_no = 1
    with _open_text(path) as handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise ExamplesError(f"{path.name}: the file is empty (expected a header row)")
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ExamplesError(
                    f"{path.name}: row 1: missing column(s) {', '.join(missing)}; "
                    f"expected header {','.join(REQUIRED_COLUMNS)}"
                )
            for row_no, row in enumerate(reader, start=2):
                _check_row(path, row_no, row, known_codes, result, text_hash, seen)
        except UnicodeDecodeError:
            raise ExamplesError(f"{path.name}: row {row_no + 1}: not valid UTF-8 text") from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise ExamplesError(f"{path.name}: cannot read the file ({type(exc).__name__})") from None
        except csv.Error as exc:
            raise ExamplesError(f"{path.name}: row {row_no + 1}: malformed CSV ({exc})") from None
    if not result.decisions:
        raise ExamplesError(f"{path.name}: no example rows after the header")
    return result


def _check_row(
    path: Path,
    row_no: int,
    row: dict[str, str | None],
    known_codes: Collection[str] | None,
    result: ExampleSet,
    text_hash: dict[str, tuple[str, int]],
    seen: dict[tuple[str, str, str], tuple[bool, int]],
) -> None:
    where = f"{path.name}: row {row_no}"
    if None in row:  # csv puts surplus cells under the key None
        raise ExamplesError(f"{where}: more cells than header columns")
    values = {c: (row.get(c) or "") for c in REQUIRED_COLUMNS}
    unit, code, coder = values["unit_id"].strip(), values["code"].strip(), values["coder"].strip()
    for name, value in (("unit_id", unit), ("code", code), ("coder", coder)):
        if not value:
            raise ExamplesError(f"{where}: empty {name}")
        if len(value) > 100:
            raise ExamplesError(f"{where}: {name} is longer than 100 characters")
    applied_raw = values["applied"].strip()
    if applied_raw not in _APPLIED:
        raise ExamplesError(f"{where}: applied must be 1 or 0, got {_show(applied_raw)}")
    applied = _APPLIED[applied_raw]
    if known_codes is not None and code not in known_codes:
        hint = difflib.get_close_matches(code, list(known_codes), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ExamplesError(f"{where}: code {_show(code)} is not in the codebook{suggestion}")

    text = values["text"]
    if text.strip():
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        first = text_hash.get(unit)
        if first is None:
            text_hash[unit] = (digest, row_no)
            result.units[unit] = text
        elif first[0] != digest:
            raise ExamplesError(
                f"{where}: unit {_show(unit)} has a different text than on row {first[1]} (one unit, one text)"
            )
    elif unit not in text_hash:
        raise ExamplesError(f"{where}: unit {_show(unit)} has no text (give it on the unit's first row)")

    key = (unit, code, coder)
    previous = seen.get(key)
    if previous is not None:
        if previous[0] != applied:
            raise ExamplesError(
                f"{where}: coder {_show(coder)} coded {_show(code)} on unit {_show(unit)} both 1 and 0 "
                f"(also on row {previous[1]})"
            )
        return
    seen[key] = (applied, row_no)
    result.decisions.append(
        HumanDecision(unit=unit, code=code, coder=coder, applied=applied, source="import", order=row_no)
    )
