"""``qualcode key init|rotate`` and ``qualcode reidentify``: the key holder's commands.

Every re-identification is written to the audit log (who, which item, how many originals), never the
originals themselves.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from pipeline.cli._common import ConfigOption, DatabaseOption, PasswordStdinOption, load_settings, sign_in
from pipeline.errors import PermissionDenied

key_app = typer.Typer(help="The re-identification key (kept outside the database).", no_args_is_help=True)


@key_app.command("init")
def init(
    force: bool = typer.Option(False, "--force", help="Overwrite an existing key file (loses the old map!)."),
    config: Path | None = ConfigOption,
) -> None:
    """Create the project's key file (settings.key_file, default data/qualcode.key)."""
    from pipeline.anonymise.keys import default_key_path, init_key_file

    settings = load_settings(config)
    path = default_key_path(settings)
    ring = init_key_file(path, overwrite=force)
    typer.echo(f"key {ring.key_id} written to {path} (owner-only); back it up somewhere safe, not in the database")


@key_app.command("rotate")
def rotate(
    keep_old: bool = typer.Option(False, "--keep-old", help="Keep old keys in the file after re-encrypting."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Generate a new key, re-encrypt and re-hash the whole map with it, then retire the old key."""
    from pipeline.anonymise.keys import Keyring, default_key_path
    from pipeline.anonymise.reidentify import rotate_map
    from pipeline.errors import ConfigError
    from pipeline.store.db import ensure_schema, session_scope

    settings = load_settings(config, database_url)
    if settings.key is not None:
        raise ConfigError("the key comes from QUALCODE_KEY: rotate with a key file (unset QUALCODE_KEY, set key_file)")
    path = default_key_path(settings)
    ensure_schema(settings)
    rotated = Keyring.from_file(path).rotated()
    # New key first, old keys kept: an interruption before the commit leaves everything readable.
    rotated.write(path)
    with session_scope() as session:
        report = rotate_map(session, rotated, f"cli:{getpass.getuser()}")
    if not keep_old:
        rotated.current_only().write(path)
    typer.echo(
        f"rotated to key {report.new_key_id}: {report.pseudonyms} pseudonyms and {report.deny_terms} deny terms "
        f"re-encrypted; old key(s) {'kept' if keep_old else 'removed'}"
    )


def reidentify(
    items: list[str] = typer.Argument(..., help="Placeholders like [PERSON_7] or transcript ids."),
    text: bool = typer.Option(False, "--text", help="For a transcript id: print its re-identified text."),
    user: str = typer.Option(..., "--user", "-u", help="Your account: it must be marked as the key holder."),
    password_stdin: bool = PasswordStdinOption,
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Show the originals behind placeholders (key holder only; every call is audited)."""
    from pipeline.anonymise.keys import load_keyring
    from pipeline.anonymise.reidentify import reidentified_text
    from pipeline.anonymise.reidentify import reidentify as lookup
    from pipeline.store.db import ensure_schema, session_scope

    settings = load_settings(config, database_url)
    url = ensure_schema(settings)
    account = sign_in(url, user, password_stdin)
    if not account.is_key_holder:
        raise PermissionDenied(f"{account.username} is not the project's key holder (qualcode user set --key-holder)")
    keyring = load_keyring(settings, create=False)
    actor = f"cli:{account.username}"
    with session_scope() as session:
        if text:
            for item in items:
                if not item.isdigit():
                    raise typer.BadParameter("--text takes transcript ids")
                typer.echo(reidentified_text(session, keyring, int(item), actor))
            return
        found = lookup(session, keyring, items, actor)
    for item, rows in found.items():
        if not rows:
            typer.echo(f"{item}: not found")
        for row in rows:
            typer.echo(f"{item}\t{row.placeholder}\t{row.entity}\t" + " | ".join(row.originals))


def register(app: typer.Typer) -> None:
    app.add_typer(key_app, name="key")
    app.command("reidentify")(reidentify)
