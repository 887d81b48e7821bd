"""``qualcode check``: read transcripts as the batch would, without storing anything."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli._common import ConfigOption, load_settings


def check(
    paths: list[Path] | None = typer.Argument(None, help="Files or folders (default: the configured inbox)."),
    config: Path | None = ConfigOption,
) -> None:
    """Show what the readers make of each file, or why it would be quarantined.

    Columns: turns, distinct speakers, turns by role (interviewer, participant, unknown) and the number of
    metadata keys. Prints counts only, never transcript text or speaker labels. Exits 1 if any file is
    unreadable.
    """
    from rich.console import Console
    from rich.table import Table

    from pipeline.ingest.check import check_paths

    settings = load_settings(config)
    checks = check_paths(paths or [settings.inbox], settings)
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
    Console().print(table)
    bad = sum(not item.ok for item in checks)
    typer.echo(f"{len(checks)} files, {len(checks) - bad} readable, {bad} would be quarantined")
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
