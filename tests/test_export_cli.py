"""``qualcode export``: the thin commands over the export functions (SYNTHETIC project, both backends)."""

from __future__ import annotations

import csv
import getpass
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import ExportError
from pipeline.store.db import session_scope
from pipeline.store.models import AuditLog
from tests.conftest import eval_path
from tests.test_export_csv import HOSTILE_TEXT, plant_hostile_values
from tests.test_export_fixtures import SeededProject, seed_project

runner = CliRunner()


@pytest.fixture
def seeded(db_url: str) -> SeededProject:
    return seed_project(db_url)


def _audit(url: str) -> list[AuditLog]:
    with session_scope(url) as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.entity_type == "export").order_by(AuditLog.id)))


def test_export_qdpx_command_validates_and_audits(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    xsd = eval_path("refi_qda", "Project-mrt2019.xsd")
    out = tmp_path / "team.qdpx"
    result = runner.invoke(app, ["export", "qdpx", str(out), "--validate", str(xsd), "--adjudicated-only"])
    assert result.exit_code == 0, result.output
    assert "3 sources" in result.output and "valid against Project-mrt2019.xsd" in result.output
    assert zipfile.is_zipfile(out)
    (row,) = _audit(db_url)
    assert row.action == "export.qdpx" and row.actor == f"cli:{getpass.getuser()}"
    assert row.details["resolve"] == "adjudicated"

    checked = runner.invoke(app, ["export", "check", str(out), "--xsd", str(xsd)])
    assert checked.exit_code == 0, checked.output
    assert "valid; 3 text sources, 5 selections" in checked.output


def test_export_check_reports_a_broken_archive(tmp_path: Path) -> None:
    xsd = eval_path("refi_qda", "Project-mrt2019.xsd")
    sample = eval_path("refi_qda", "TestProject.qdpx")  # its Sources/ folder is empty
    result = runner.invoke(app, ["export", "check", str(sample), "--xsd", str(xsd)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ExportError)
    assert "unreadable source" in str(result.exception)


def test_export_csv_command_levels_and_actor(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    seg = tmp_path / "segments.csv"
    result = runner.invoke(app, ["export", "csv", str(seg), "--level", "segment", "--no-text", "--actor", "lead"])
    assert result.exit_code == 0, result.output
    with seg.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert "text" not in header and "referral_route" in header

    agreement = tmp_path / "agreement.csv"
    result = runner.invoke(app, ["export", "csv", str(agreement), "--format", "agreement", "--coder", "alice"])
    assert result.exit_code == 0, result.output
    with agreement.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["coder"] for r in rows} == {"alice"}

    assert [(r.actor, r.details["level"]) for r in _audit(db_url)] == [
        ("lead", "segment"),
        (f"cli:{getpass.getuser()}", "agreement"),
    ]


def test_export_csv_rejects_bad_options(seeded: SeededProject, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    assert runner.invoke(app, ["export", "csv", str(out), "--level", "theme"]).exit_code != 0
    assert runner.invoke(app, ["export", "csv", str(out), "--format", "json"]).exit_code != 0
    missing_dir = runner.invoke(app, ["export", "csv", str(tmp_path / "nope" / "x.csv")])
    assert isinstance(missing_dir.exception, ExportError) and "does not exist" in str(missing_dir.exception)
    assert not out.exists() and _audit(db_url) == []


def test_export_csv_command_is_formula_safe_unless_raw_cells(
    seeded: SeededProject, db_url: str, tmp_path: Path
) -> None:
    seg_id = plant_hostile_values(db_url, seeded)
    texts = {}
    for flags in ([], ["--raw-cells"], ["--formula-safe"]):
        out = tmp_path / f"codings{len(texts)}.csv"
        result = runner.invoke(app, ["export", "csv", str(out), *flags])
        assert result.exit_code == 0, result.output
        assert ("raw cells" in result.output) == (flags == ["--raw-cells"])
        with out.open(encoding="utf-8", newline="") as handle:
            texts[tuple(flags)] = {r["text"] for r in csv.DictReader(handle) if r["segment_id"] == str(seg_id)}
    assert texts[()] == texts[("--formula-safe",)] == {"'" + HOSTILE_TEXT}
    assert texts[("--raw-cells",)] == {HOSTILE_TEXT}
    assert [(r.details["formula_safe"], r.details["neutralised_cells"] > 0) for r in _audit(db_url)] == [
        (True, True),
        (False, False),
        (True, True),
    ]
    help_text = runner.invoke(app, ["export", "csv", "--help"]).output
    assert "--raw-cells" in help_text and "--formula-safe" in help_text
