"""``qualcode user add|list|demo``: accounts for the review web app and ``qualcode review``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pipeline.cli._common import ConfigOption, DatabaseOption, load_settings
from pipeline.review.accounts import (
    ROLES,
    create_demo_users,
    create_user,
    list_users,
    set_password,
    unlock_user,
    update_user,
)
from pipeline.store.db import ensure_schema, session_scope

user_app = typer.Typer(help="User accounts (admin, lead, coder).", no_args_is_help=True)


def _migrated_database(config: Path | None, database_url: str | None) -> str:
    """The project's database URL, migrated to the current schema (every account command needs both)."""
    return ensure_schema(load_settings(config, database_url))


def read_password(password_stdin: bool, username: str) -> str:
    """The new password from standard input (first line) or an interactive prompt (asked twice)."""
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def add(
    name: str = typer.Argument(..., help="Username: lower-case letters, digits, '.', '_' or '-'."),
    role: str = typer.Option("coder", "--role", help=f"One of: {', '.join(ROLES)}."),
    key_holder: bool = typer.Option(
        False, "--key-holder", help="May re-identify pseudonyms (needs the project key as well)."
    ),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Create an account. The password is asked for (or read from stdin); it is stored as an Argon2 hash."""
    url = _migrated_database(config, database_url)
    password = read_password(password_stdin, name)
    with session_scope(url) as db:
        user = create_user(db, name, password, role, key_holder=key_holder, actor="cli")
        typer.echo(f"created {user.role} {user.username}{' (key holder)' if user.is_key_holder else ''}")


@user_app.command("list")
def list_(config: Path | None = ConfigOption, database_url: str | None = DatabaseOption) -> None:
    """List accounts with role, key-holder flag and lock-out state."""
    url = _migrated_database(config, database_url)
    with session_scope(url) as db:
        users = list_users(db)
        if not users:
            typer.echo("no users yet: qualcode user add NAME --role lead")
            return
        typer.echo(f"{'username':<24}{'role':<8}{'key holder':<12}{'active':<8}locked until")
        for user in users:
            locked = f"{user.locked_until:%Y-%m-%d %H:%M} UTC" if user.locked_until else "-"
            typer.echo(
                f"{user.username:<24}{user.role:<8}{'yes' if user.is_key_holder else 'no':<12}"
                f"{'yes' if user.is_active else 'no':<8}{locked}"
            )


@user_app.command("set")
def set_(
    name: str = typer.Argument(..., help="Username."),
    role: str | None = typer.Option(None, "--role", help=f"New role: {', '.join(ROLES)}."),
    key_holder: bool | None = typer.Option(None, "--key-holder/--no-key-holder", help="Grant or revoke."),
    active: bool | None = typer.Option(None, "--active/--inactive", help="Inactive accounts cannot log in."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Change an account's role, key-holder flag or active state (deactivating ends its sessions)."""
    url = _migrated_database(config, database_url)
    with session_scope(url) as db:
        user = update_user(db, name, role=role, key_holder=key_holder, active=active)
        typer.echo(f"{user.username}: role {user.role}, key holder {'yes' if user.is_key_holder else 'no'}, "
                   f"{'active' if user.is_active else 'inactive'}")


@user_app.command("password")
def password(
    name: str = typer.Argument(..., help="Username."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Set a new password (ends the account's sessions and clears a lock-out)."""
    url = _migrated_database(config, database_url)
    new_password = read_password(password_stdin, name)
    with session_scope(url) as db:
        set_password(db, name, new_password)
    typer.echo(f"password changed for {name}; its sessions were ended")


@user_app.command("unlock")
def unlock(
    name: str = typer.Argument(..., help="Username."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Lift a lock-out after repeated failed log-ins."""
    url = _migrated_database(config, database_url)
    with session_scope(url) as db:
        unlock_user(db, name)
    typer.echo(f"unlocked {name}")


@user_app.command("demo")
def demo(config: Path | None = ConfigOption, database_url: str | None = DatabaseOption) -> None:
    """Create the demo lead and demo coder (once) and print their log-ins."""
    url = _migrated_database(config, database_url)
    with session_scope(url) as db:
        created = create_demo_users(db)
    if not created:
        typer.echo("demo users already exist (their passwords were printed when they were created)")
    for username, password in created:
        typer.echo(f"demo log-in: {username} / {password}")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
