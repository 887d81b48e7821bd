"""``qualcode check``: read transcripts as the batch would, without storing anything."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipeline.cli._common import ConfigOption, load_settings
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.ingest.check import FileCheck


def check(
    paths: list[Path] | None = typer.Argument(None, help="Files or folders (default: the configured inbox)."),
    config: Path | None = ConfigOption,
) -> None:
    """Show what the readers make of each file, or why it would be quarantined.

    Columns: turns, distinct speakers, turns by role (interviewer, participant, unknown) and the number of
    metadata keys. Prints counts only, never transcript text or speaker labels. Exits 1 if any file is
    unreadable or left out (an unsupported type, a link...), 2 if a path does not exist.
    """
    from rich.console import Console
    from rich.table import Table

    from pipeline.ingest.check import check_paths

    settings = load_settings(config)
    targets = paths or [settings.inbox]
    missing = [path for path in targets if not os.path.lexists(path)]
    if missing:
        for path in missing:
            typer.echo(f"no such file or folder: {path}", err=True)
        raise typer.Exit(2)
    checks = check_paths(targets, settings)
    left_out = [
        item
        for folder in targets
        if folder.is_dir()
        for item in _left_out(folder, settings, {c.path for c in checks})
    ]
    table = Table("file", "result", "kind", "turns", "speakers", "int.", "part.", "unkn.", "meta")
    table.columns[0].no_wrap = True
    for item in checks:
        if item.ok:
            table.add_row(
                item.path.name,
                "ok, synthetic" if item.synthetic else "ok",
                item.kind,
                str(item.turns),
                str(item.speakers),
                *(str(item.roles.get(role, 0)) for role in ("interviewer", "participant", "unknown")),
                str(len(item.metadata_keys)),
            )
        else:
            table.add_row(item.path.name, f"[red]{item.reason}[/red]")
    for item in left_out:
        table.add_row(item.path.name, f"[yellow]{item.reason}[/yellow]")
    Console().print(table)
    bad = sum(not item.ok for item in checks)
    summary = f"{len(checks)} files, {len(checks) - bad} readable, {bad} would be quarantined"
    typer.echo(summary + (f"; {len(left_out)} not read (see above)" if left_out else ""))
    if bad or left_out:
        raise typer.Exit(1)


def _left_out(folder: Path, settings: Settings, seen: set[Path]) -> list[FileCheck]:
    """Regular files in ``folder`` whose type no reader handles, each with its reason, so a ``.rtf`` dropped
    in the inbox is named instead of silently ignored.

    ``scan_inbox`` already logs links, FIFOs and the like by name (``not read: …``), but skips files of an
    unsupported type without a word; they are listed here by its rules (hidden files, sidecars and
    quarantine folders aside). Never opens a file.
    """
    from pipeline.ingest.check import FileCheck
    from pipeline.ingest.metadata import is_sidecar
    from pipeline.ingest.readers import QUARANTINE_FOLDER, READERS

    out: list[FileCheck] = []
    quarantine = os.path.realpath(settings.quarantine_dir)
    for here, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d.lower() != QUARANTINE_FOLDER
            and os.path.realpath(Path(here) / d) != quarantine
        )
        for name in sorted(files):
            path = Path(here) / name
            if name.startswith((".", "~$")) or name.endswith("~") or is_sidecar(path) or path in seen:
                continue
            if path.suffix.lower() not in READERS and not path.is_symlink() and path.is_file():
                kinds = " ".join(sorted(READERS))
                reason = f"unsupported file type {path.suffix.lower() or '(no extension)'}: not read ({kinds} are)"
                out.append(FileCheck(path=path, ok=False, reason=reason))
    return out


def register(app: typer.Typer) -> None:
    app.command("check")(check)
