"""The inbox around the readers: discovery, sidecar metadata and quarantine (all files SYNTHETIC)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from pipeline.errors import InputFileError
from pipeline.ingest import discover, quarantine, read_document, read_metadata

TRANSCRIPT = "# SYNTHETIC\nInterviewer: How are referrals made?\nP1: Through the MASH.\n"


def _touch(path: Path, text: str = TRANSCRIPT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# discover
# --------------------------------------------------------------------------------------------------
def test_discover_finds_supported_files_recursively_and_skips_the_rest(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    wanted = [
        _touch(inbox / "a.txt"),
        _touch(inbox / "B.DOCX"),
        _touch(inbox / "site_b" / "c.vtt"),
        _touch(inbox / "site_b" / "d.Srt"),
        _touch(inbox / "z.pdf"),
    ]
    for skipped in [
        ".hidden.txt",
        "~$lockfile.docx",
        "backup.txt~",
        "a.meta.yaml",
        "metadata.csv",
        "notes.md",
        "README",
        "quarantine/bad.txt",
        "Quarantine/also_bad.txt",
        ".git/x.txt",
        "elsewhere/q/held.txt",
    ]:
        _touch(inbox / skipped)
    found = discover(inbox, quarantine_dir=inbox / "elsewhere" / "q")
    assert found == sorted(wanted, key=lambda p: p.relative_to(inbox).as_posix())
    assert discover(tmp_path / "missing") == []


# --------------------------------------------------------------------------------------------------
# metadata sidecars
# --------------------------------------------------------------------------------------------------
def test_yaml_sidecar_known_and_extra_keys(tmp_path: Path) -> None:
    path = _touch(tmp_path / "interview_03.txt")
    _touch(
        tmp_path / "interview_03.meta.yaml",
        "# synthetic\nsite_code: 12\nparticipant_role: Team manager\ninterview_date: 2021-01-19\n"
        "recorded_on: 2021-01-20\nconsent: true\n",
    )
    assert read_metadata(path) == {
        "site_code": "12",
        "participant_role": "Team manager",
        "interview_date": dt.date(2021, 1, 19),
        "recorded_on": "2021-01-20",
        "consent": True,
    }
    assert read_document(path).metadata["interview_date"] == dt.date(2021, 1, 19)


def test_csv_rows_and_yaml_overrides(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.txt")
    b = _touch(tmp_path / "b.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Interviewer>Hi\n")
    _touch(
        tmp_path / "metadata.csv",
        "file,site_code,participant_role,interview_date,batch\n"
        "a.txt,LA-A,Social worker,2021-02-03,first\n"
        "b,LA-B,,,\n",
    )
    _touch(tmp_path / "a.meta.yaml", "participant_role: Senior social worker\n")
    assert read_metadata(a) == {
        "site_code": "LA-A",
        "participant_role": "Senior social worker",
        "interview_date": dt.date(2021, 2, 3),
        "batch": "first",
    }
    assert read_metadata(b) == {"site_code": "LA-B"}  # matched by stem; empty cells are absent
    assert read_metadata(_touch(tmp_path / "c.txt")) == {}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("x.meta.yaml", "site_code: LA-A\ninterview_date: 19/01/2021\n", "x.meta.yaml line 2: interview_date"),
        ("x.meta.yaml", "site_code: LA-A\nparticipant_role: [a, b\n", "x.meta.yaml line 3: invalid YAML"),
        ("x.meta.yaml", "- a list\n", "x.meta.yaml line 1: must be a mapping"),
        ("x.meta.yaml", "site_code: {nested: map}\n", "x.meta.yaml line 1: site_code must be text"),
        ("x.meta.yaml", "other: [1, 2]\n", "x.meta.yaml line 1: other must be a plain value"),
        ("metadata.csv", "name,site_code\nx.txt,LA-A\n", "metadata.csv row 1: needs a 'file' column"),
        (
            "metadata.csv",
            "file,interview_date\ny.txt,2021-01-01\nx.txt,2021-02-30\n",
            "metadata.csv row 3: interview_date",
        ),
        ("metadata.csv", "file,site_code\nx.txt,A\nx.txt,B\n", "metadata.csv row 3: second row"),
        ("metadata.csv", "file,site_code\nx.txt,A,extra\n", "metadata.csv row 2: more cells"),
    ],
)
def test_bad_sidecars_name_sidecar_and_line(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = _touch(tmp_path / "x.txt")
    _touch(tmp_path / name, content)
    with pytest.raises(InputFileError) as info:
        read_document(path)
    assert info.value.path == path  # the transcript: the batch quarantines it together with its sidecar
    assert expected in info.value.reason
    assert "19/01/2021" not in info.value.reason and "2021-02-30" not in info.value.reason


# --------------------------------------------------------------------------------------------------
# quarantine
# --------------------------------------------------------------------------------------------------
def test_quarantine_moves_file_and_sidecar_and_writes_reason(tmp_path: Path) -> None:
    inbox, held = tmp_path / "inbox", tmp_path / "quarantine"
    path = _touch(inbox / "interview_03.txt")
    _touch(inbox / "interview_03.meta.yaml", "site_code: LA-A\n")
    moved = quarantine(path, "empty file (0 bytes)\nsecond line", held)
    assert moved == held / "interview_03.txt" and moved.read_text(encoding="utf-8") == TRANSCRIPT
    assert not path.exists() and not (inbox / "interview_03.meta.yaml").exists()
    assert (held / "interview_03.meta.yaml").read_text(encoding="utf-8") == "site_code: LA-A\n"
    reason = (held / "interview_03.txt.reason.txt").read_text(encoding="utf-8")
    assert reason.count("\n") == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 empty file \(0 bytes\) second line\n", reason)


def test_quarantine_never_overwrites(tmp_path: Path) -> None:
    inbox, held = tmp_path / "inbox", tmp_path / "quarantine"
    first = quarantine(_touch(inbox / "a.txt", "one"), "r1", held)
    _touch(held / "a-1.txt.reason.txt", "taken")  # a stray reason file also blocks the name
    second = quarantine(_touch(inbox / "a.txt", "two"), "r2", held)
    third = quarantine(_touch(inbox / "a.txt", "three"), "r3", held)
    assert [first.name, second.name, third.name] == ["a.txt", "a-2.txt", "a-3.txt"]
    assert [p.read_text() for p in (first, second, third)] == ["one", "two", "three"]
    assert (held / "a-1.txt.reason.txt").read_text() == "taken"


def test_unreadable_file_round_trip_through_quarantine(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    bad = _touch(inbox / "bad.txt", "")
    with pytest.raises(InputFileError) as info:
        read_document(bad)
    moved = quarantine(bad, info.value.reason, inbox / "quarantine")
    assert discover(inbox) == []  # the quarantine folder inside the inbox is not rescanned
    assert "empty file" in (moved.parent / "bad.txt.reason.txt").read_text()
