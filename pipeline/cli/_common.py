"""Helpers shared by command modules (not a command itself: the leading underscore hides it)."""

from __future__ import annotations

from dataclasses import dataclass
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


PasswordStdinOption = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of stdin (keys may follow)."
)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The account a shell command acts for, after its password was checked."""

    user_id: int
    username: str
    role: str
    is_key_holder: bool


def sign_in(url: str, username: str, password_stdin: bool = False) -> SignedIn:
    """Check ``username``'s password (prompt, or first stdin line) the same way the web app does.

    Why commands sign in: decisions and re-identification are recorded under a person, and the same
    lock-out and rate rules must hold in the shell as in the browser.
    """
    import sys

    from pipeline.review.accounts import authenticate
    from pipeline.store.db import session_scope

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"Password for {username}", hide_input=True)
    with session_scope(url) as db:
        account = authenticate(db, username, password)
        return SignedIn(account.id, account.username, account.role, bool(account.is_key_holder))
