"""``qualcode db upgrade``: bring the configured database up to date."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli._common import ConfigOption, DatabaseOption, load_settings
from pipeline.store.db import ensure_schema, safe_url

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(config: Path | None = ConfigOption, database_url: str | None = DatabaseOption) -> None:
    """Apply all migrations (safe to run repeatedly)."""
    settings = load_settings(config, database_url)
    url = ensure_schema(settings)
    typer.echo(f"database up to date: {safe_url(url)}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
