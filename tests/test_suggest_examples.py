"""Examples CSV reading (plain and .gz) with errors naming file and row; the coder-conflict rule.

All files are SYNTHETIC, written by the tests.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest

from pipeline.errors import ExamplesError
from pipeline.suggest.examples import read_examples
from pipeline.suggest.labels import HumanDecision, label_matrix, resolve_labels

HEADER = "unit_id,text,code,coder,applied\n"


def _write(path: Path, body: str, gz: bool = False) -> Path:
    data = (HEADER + body).encode("utf-8")
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def test_reads_plain_and_gzip(tmp_path: Path) -> None:
    body = 'u1,"Synthetic text, one",a,c1,1\nu1,,b,c1,0\nu2,Synthetic two,a,c2,0\n'
    for gz in (False, True):
        ex = read_examples(_write(tmp_path / ("e.csv.gz" if gz else "e.csv"), body, gz), known_codes={"a", "b"})
        assert ex.units == {"u1": "Synthetic text, one", "u2": "Synthetic two"}
        assert [(d.unit, d.code, d.coder, d.applied) for d in ex.decisions] == [
            ("u1", "a", "c1", True),
            ("u1", "b", "c1", False),
            ("u2", "a", "c2", False),
        ]
        assert ex.coders == ["c1", "c2"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("u1,t,a,c1,yes\n", r"e\.csv: row 2: applied must be 1 or 0"),
        ("u1,t,a,c1,1\nu1,t,zz,c1,1\n", r"row 3: code 'zz' is not in the codebook"),
        ("u1,t,a,c1,1\n,t,a,c1,1\n", r"row 3: empty unit_id"),
        ("u1,t,a,c1,1\nu1,other,b,c1,1\n", r"row 3: unit 'u1' has a different text than on row 2"),
        ("u1,,a,c1,1\n", r"row 2: unit 'u1' has no text"),
        ("u1,t,a,c1,1\nu1,t,a,c1,0\n", r"row 3: coder 'c1' coded 'a' on unit 'u1' both 1 and 0"),
        ("u1,t,a,c1,1,extra\n", r"row 2: more cells than header columns"),
        ("", r"no example rows"),
    ],
)
def test_errors_name_file_and_row_without_text(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ExamplesError, match=message) as info:
        read_examples(_write(tmp_path / "e.csv", body), known_codes={"a", "b"})
    assert "other" not in str(info.value)  # the text itself never appears in the message


def test_header_and_file_errors(tmp_path: Path) -> None:
    bad_header = tmp_path / "h.csv"
    bad_header.write_text("unit,text,code,coder,applied\nu1,t,a,c,1\n", encoding="utf-8")
    with pytest.raises(ExamplesError, match=r"h\.csv: row 1: missing column\(s\) unit_id"):
        read_examples(bad_header)
    broken = tmp_path / "b.csv.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ExamplesError, match=r"b\.csv\.gz: cannot read"):
        read_examples(broken)
    with pytest.raises(ExamplesError, match=r"missing\.csv: cannot open"):
        read_examples(tmp_path / "missing.csv")
    latin = tmp_path / "l.csv"
    latin.write_bytes((HEADER + "u1,caf\xe9,a,c,1\n").encode("latin-1"))
    with pytest.raises(ExamplesError, match=r"l\.csv: row \d+: not valid UTF-8"):
        read_examples(latin)


def _d(coder: str, applied: bool, source: str = "import", minutes: int = 0, unit: str = "u") -> HumanDecision:
    return HumanDecision(
        unit=unit, code="a", coder=coder, applied=applied, source=source, at=dt.datetime(2026, 1, 1, 0, minutes)
    )


def test_conflict_rule() -> None:
    # Majority of coders wins.
    assert resolve_labels([_d("x", True), _d("y", True), _d("z", False)]) == {("u", "a"): 1}
    # A tie is unknown, not guessed.
    assert resolve_labels([_d("x", True), _d("y", False)]) == {}
    # Adjudication wins over any majority; the latest adjudication counts.
    assert resolve_labels(
        [
            _d("x", True),
            _d("y", True),
            _d("lead", False, "adjudication", 1),
            _d("lead2", True, "adjudication", 2),
        ]
    ) == {("u", "a"): 1}
    assert resolve_labels([_d("x", True), _d("y", True), _d("lead", False, "adjudication")]) == {("u", "a"): 0}
    # One vote per coder: their latest decision across sources (a review reversing an import).
    assert resolve_labels([_d("x", True, "import", 0), _d("x", False, "review", 5)]) == {("u", "a"): 0}
    # Model decisions never count.
    assert resolve_labels([_d("model:v1", True, "model"), _d("x", False)]) == {("u", "a"): 0}
    # Missing is unknown (-1), not negative.
    Y = label_matrix(["u", "v"], ["a", "b"], {("u", "a"): 1, ("v", "a"): 0})
    assert Y.tolist() == [[1, -1], [0, -1]]


def test_shifted_text_is_never_echoed(tmp_path: Path) -> None:
    # A row whose cells slid one column: the (synthetic) sentence lands in the code column.
    body = "u1,t,a,c1,1\nu2,The synthetic child said something private,a,c1,1\n"
    shifted = "u1,t,a,c1,1\nu2,x,The synthetic child said something private,c1,1\n"
    read_examples(_write(tmp_path / "ok.csv", body), known_codes={"a"})
    with pytest.raises(ExamplesError) as info:
        read_examples(_write(tmp_path / "e.csv", shifted), known_codes={"a"})
    assert "private" not in str(info.value)
    assert "row 3: code <a 42-character value that is not an id> is not in the codebook" in str(info.value)
