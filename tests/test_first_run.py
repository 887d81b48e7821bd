"""A newcomer's first run (issue 16, item 6): after the demo, the next command works and says what it does.

All data is SYNTHETIC. The demo itself runs in a subprocess (it starts Prefect's temporary server, whose
environment must not leak into this test process); the other commands run through typer's CliRunner.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "QUALCODE_")) and k != "DO_NOT_TRACK"}
    env.update(QUALCODE_HOME=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def test_the_demo_creates_the_inbox_prints_the_next_command_and_stops_prefect(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    env = _clean_env(tmp_path, QUALCODE_DATA_DIR=str(tmp_path / "data"), QUALCODE_INBOX=str(tmp_path / "data/inbox"),
                     QUALCODE_KEY_FILE=str(tmp_path / "keys" / "qualcode.key"), COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--no-serve", "--inbox", str(samples)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    inbox = tmp_path / "data" / "inbox"
    assert inbox.is_dir() and stat.S_IMODE(inbox.stat().st_mode) == 0o700
    assert f"into the inbox {inbox}, then run:" in done.stdout
    assert "qualcode run" in done.stdout.splitlines()[-1]
    assert "anonymous usage data" not in done.stdout + done.stderr
    servers = tmp_path / "data" / "prefect" / "servers"
    assert servers.is_dir(), "the batch ran on Prefect's temporary server (its record folder exists)"
    assert not list(servers.glob("*.json")), "Prefect's temporary server was stopped before the review app"


def test_the_next_command_is_the_one_that_runs_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pipeline.cli.demo import next_command

    script = tmp_path / ".venv" / "bin" / "qualcode"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert next_command() == ".venv/bin/qualcode run", "not on PATH: the venv's command, as typed from here"
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    script.chmod(0o755)
    assert next_command() == "qualcode run", "an activated venv: the plain command"


def test_run_creates_a_missing_inbox(project: Path, sqlite_url: str) -> None:
    inbox = project / "data" / "inbox"
    inbox.rmdir()
    result = runner.invoke(app, ["run", "--no-prefect"])
    assert result.exit_code == 0, result.output
    assert inbox.is_dir()


def test_prefect_home_is_created_when_data_is_missing_and_the_database_is_elsewhere(tmp_path: Path) -> None:
    """A fresh folder whose database URL points elsewhere has no data/: Prefect's home is created under it."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    env = _clean_env(tmp_path, QUALCODE_DATABASE_URL=f"sqlite:///{tmp_path / 'elsewhere' / 'project.db'}",
                     QUALCODE_DATA_DIR=str(fresh / "data"), QUALCODE_INBOX=str(fresh / "data" / "inbox"))
    code = ("from pipeline.settings import get_settings\nfrom pipeline.prefect_env import configure_prefect\n"
            "configure_prefect(get_settings())\nimport os\nprint(os.environ['PREFECT_HOME'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=fresh, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    home = Path(done.stdout.strip())
    assert home == fresh / "data" / "prefect" and home.is_dir()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def _folder_with_an_rtf(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "interview_01.txt").write_text("# SYNTHETIC\nInterviewer: Hello?\nP1: Hi.\n", encoding="utf-8")
    (inbox / "interview_02.rtf").write_text(r"{\rtf1 SYNTHETIC}", encoding="utf-8")
    (inbox / "interview_02.meta.yaml").write_text("site_code: LA-A\n", encoding="utf-8")
    return inbox


def test_check_names_an_unsupported_file_and_says_why(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(_folder_with_an_rtf(tmp_path))], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    line = next(row for row in result.output.splitlines() if "interview_02.rtf" in row)
    assert "unsupported file type .rtf" in line and ".docx" in line
    assert "1 files, 1 readable, 0 would be quarantined; 1 not read" in result.output
    assert "meta.yaml" not in result.output, "sidecars are not files to read"


def test_the_batch_reports_an_unsupported_file_by_name_and_reason(tmp_path: Path) -> None:
    from pipeline.ingest.readers import scan_inbox

    scan = scan_inbox(_folder_with_an_rtf(tmp_path), settle_seconds=0)
    assert [(r.path.name, "unsupported file type .rtf" in r.reason) for r in scan.refused] == [
        ("interview_02.rtf", True)
    ]


def test_check_a_path_that_does_not_exist(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "/nope"])
    assert result.exit_code == 2
    assert "no such file or folder: /nope" in result.output
    assert "Traceback" not in result.output
