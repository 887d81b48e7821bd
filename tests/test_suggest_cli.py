"""``qualcode train`` / ``qualcode suggest`` on files (no database) and the database commands.

SYNTHETIC data only (see test_suggest_synthetic).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import InputFileError
from pipeline.store.db import session_scope
from pipeline.store.models import CodebookVersion, Coding, Segment, Transcript
from tests.conftest import eval_path
from tests.test_suggest_synthetic import SYNTHETIC_CODEBOOK, synthetic_units, write_examples_csv

runner = CliRunner()


def _codebook_file(tmp_path: Path) -> Path:
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(SYNTHETIC_CODEBOOK, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`qualcode train` on a SYNTHETIC examples file (two coders), shared by the file-based tests."""
    tmp_path = tmp_path_factory.mktemp("train")
    codebook = _codebook_file(tmp_path)
    examples = write_examples_csv(tmp_path / "ex.csv", synthetic_units(n_per_code=24, seed=21), ("a", "b"))
    model_dir = tmp_path / "model"
    args = ["train", "--codebook", str(codebook), "--examples", str(examples), "--model-out", str(model_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return model_dir, result.output


def test_train_then_suggest_from_files(trained: tuple[Path, str], tmp_path: Path) -> None:
    model_dir, output = trained
    assert "3/3 codes trained" in output
    card = json.loads((model_dir / "card.json").read_text())
    assert card["training"]["n_units"] == 72

    units = synthetic_units(n_per_code=4, seed=22)
    long_text = " ".join(text for _, text, code in synthetic_units(40, seed=23) if code == "training_gaps")
    jsonl = tmp_path / "units.jsonl"
    with jsonl.open("w", encoding="utf-8") as handle:
        for unit_id, text, _ in units:
            handle.write(json.dumps({"id": unit_id, "text": text}) + "\n")
        handle.write(json.dumps({"id": "long", "text": long_text}) + "\n")  # > 256 tokens: chunked and pooled
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["suggest", "--model", str(model_dir), "--input-jsonl", str(jsonl), "--output-csv", str(out)]
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["unit_id", "code", "probability", "decision"]
    assert len(rows) == (len(units) + 1) * 3
    assert {r["decision"] for r in rows} <= {"apply", "review", "drop"}
    truth = {unit_id: code for unit_id, _, code in units}
    truth["long"] = "training_gaps"
    best = {}
    for r in rows:
        if float(r["probability"]) > best.get(r["unit_id"], ("", -1.0))[1]:
            best[r["unit_id"]] = (r["code"], float(r["probability"]))
    correct = sum(best[u][0] == truth[u] for u in truth)
    assert correct >= len(truth) - 1
    applied = [r for r in rows if r["decision"] == "apply"]
    assert applied and all(truth[r["unit_id"]] == r["code"] for r in applied)


def test_suggest_reports_bad_input_by_line(trained: tuple[Path, str], tmp_path: Path) -> None:
    model_dir, _ = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "ok"}\nnot json\n', encoding="utf-8")
    result = runner.invoke(
        app, ["suggest", "--model", str(model_dir), "--input-jsonl", str(bad), "--output-csv", str(tmp_path / "o.csv")]
    )
    assert isinstance(result.exception, InputFileError)
    assert "bad.jsonl: line 2: not valid JSON" in str(result.exception)


def test_database_commands(tmp_path: Path, project: Path, sqlite_url: str) -> None:
    codebook = _codebook_file(tmp_path)
    result = runner.invoke(app, ["codebook", "import", str(codebook)])
    assert result.exit_code == 0, result.output
    examples = write_examples_csv(tmp_path / "ex.csv", synthetic_units(n_per_code=4, seed=9))
    refused = runner.invoke(app, ["examples", "import", str(examples)])
    assert refused.exit_code != 0 and "--anonymised" in refused.output
    result = runner.invoke(app, ["examples", "import", str(examples), "--anonymised"])
    assert result.exit_code == 0, result.output
    assert "12 units (12 new)" in result.output
    result = runner.invoke(app, ["retrain"])
    assert result.exit_code == 0 and "cold-start mode" in result.output
    schema = eval_path("refi_qda", "Codebook.repaired.UNOFFICIAL.xsd")
    out = tmp_path / "export.qdc"
    result = runner.invoke(app, ["codebook", "export", str(out), "--schema", str(schema)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["codebook", "import", str(out), "--schema", str(schema)])
    assert result.exit_code == 0, result.output
    with session_scope(sqlite_url) as session:
        assert session.scalar(select(func.count()).select_from(CodebookVersion)) == 2
        assert session.scalar(select(func.count()).select_from(Coding)) == 36


def test_examples_import_can_anonymise(tmp_path: Path, project: Path, sqlite_url: str) -> None:
    """``--anonymise`` runs the project's real anonymiser; the SYNTHETIC name never reaches the database."""
    codebook = _codebook_file(tmp_path)
    assert runner.invoke(app, ["codebook", "import", str(codebook)]).exit_code == 0
    path = tmp_path / "named.csv"
    path.write_text(
        "unit_id,text,code,coder,applied\n"
        "n1,I visited Margaret Thistlewood at home in Doncaster to talk about the plan.,family_engagement,a,1\n",
        encoding="utf-8",
    )
    both = runner.invoke(app, ["examples", "import", str(path), "--anonymised", "--anonymise"])
    assert both.exit_code != 0
    result = runner.invoke(app, ["examples", "import", str(path), "--anonymise"])
    assert result.exit_code == 0, result.output
    with session_scope(sqlite_url) as session:
        text = session.scalar(select(Segment.text).where(Segment.external_id == "n1"))
        body = session.scalar(select(Transcript.anonymised_text).where(Transcript.kind == "import"))
    assert "Thistlewood" not in text and "Thistlewood" not in body
    assert "visited" in text
