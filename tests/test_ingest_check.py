"""``qualcode check``: a dry run of the readers that prints counts and reasons, never text (SYNTHETIC files)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.ingest.check import check_paths

SECRET = "Zephyrine Quillfeather"


def _inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    text = f"# SYNTHETIC\nInterviewer: Hello {SECRET}?\n{SECRET}: Hi.\nInterviewer: Well?\n{SECRET}: Fine.\n"
    (inbox / "good.txt").write_text(text, encoding="utf-8")
    (inbox / "good.meta.yaml").write_text("site_code: LA-A\n", encoding="utf-8")
    (inbox / "empty.txt").write_bytes(b"")
    return inbox


def test_check_paths_summarises_without_text(tmp_path: Path) -> None:
    checks = {c.path.name: c for c in check_paths([_inbox(tmp_path)])}
    good, empty = checks["good.txt"], checks["empty.txt"]
    assert good.ok and good.turns == 4 and good.speakers == 2 and good.synthetic
    assert good.roles == {"interviewer": 2, "participant": 2}
    assert good.metadata_keys == ("site_code", "synthetic")
    assert not empty.ok and empty.reason == "empty file (0 bytes)"
    assert SECRET not in repr(checks)


def test_check_command_prints_counts_and_fails_on_unreadable_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(_inbox(tmp_path))], env={"COLUMNS": "160"})
    assert result.exit_code == 1
    assert "2 files, 1 readable, 1 would be quarantined" in result.output
    assert "empty file (0 bytes)" in result.output
    assert SECRET not in result.output and "Zephyrine" not in result.output
