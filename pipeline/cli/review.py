"""``qualcode review``: the review queue in the terminal, with the same keys as the web page."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pipeline.cli._common import ConfigOption, DatabaseOption, PasswordStdinOption, load_settings, sign_in
from pipeline.review.queue import ActingUser
from pipeline.review.terminal import keys_for, run_review
from pipeline.store.db import ensure_schema


def review(
    user: str = typer.Option(..., "--user", "-u", help="Your username (decisions are recorded under it)."),
    keys: str | None = typer.Option(
        None, "--keys", help="Keys to play instead of reading the keyboard (scripted use), e.g. 'aars'."
    ),
    password_stdin: bool = PasswordStdinOption,
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Review your queue in the terminal, with the web page's keys.

    a accept (blind: save codes), r reject, c or / choose codes, b accept the near-duplicate group, s skip,
    u undo, n note, 1-5 certainty, l list the codes, q quit. Keys are read one at a time from the terminal,
    or from a pipe or --keys.
    """
    settings = load_settings(config, database_url)
    url = ensure_schema(settings)
    console = Console(highlight=False)
    account = sign_in(url, user, password_stdin)
    reviewer = ActingUser(user_id=account.user_id, username=account.username, role=account.role)
    with keys_for(console, keys) as source:
        summary = run_review(url, settings, reviewer, source, console)
    console.print(
        f"decided {summary.decided}, skipped {summary.skipped}, undone {summary.undone}"
        + (f", {summary.conflicts} taken by someone else meanwhile" if summary.conflicts else "")
    )


def register(app: typer.Typer) -> None:
    app.command("review")(review)
