"""Helpers shared by command modules (not a command itself: the leading underscore hides it)."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.settings import Settings, get_settings, reset_settings

ConfigOption = typer.Option(
    None, "--config", envvar="QUALCODE_CONFIG", help="TOML settings file (overrides ./qualcode.toml)."
)
DatabaseOption = typer.Option(
    None, "--database-url", envvar="QUALCODE_DATABASE_URL", help="SQLAlchemy database URL."
)


def load_settings(config: Path | None = None, database_url: str | None = None) -> Settings:
    """Settings for one command, honouring --config and --database-url."""
    overrides: dict[str, str] = {}
    if config is not None:
        overrides["config"] = str(config)
    if database_url:
        overrides["database_url"] = database_url
    return reset_settings(**overrides) if overrides else get_settings()
