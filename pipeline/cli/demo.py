"""``qualcode demo``: the whole product on the synthetic sample data, in one command (``make demo``).

Runs the real batch flow (Prefect) over ``data/sample/``, gives the demo lead and demo coder fresh
passwords and prints them, then serves the review app. Run it twice: the second batch reports zero new
files, because the flow is idempotent.

The samples are synthetic (no real person in them), so after the batch the demo lead, who is the demo's
key holder, releases every transcript the batch held for anonymisation review (audited as a forced
release by ``demo-lead``) and a second batch embeds and queues them: the demo ends with a populated queue.
A real project's key holder decides each doubtful masking first (``qualcode anonymise held``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy import select

from pipeline.cli._common import ConfigOption, DatabaseOption, load_settings
from pipeline.settings import PROJECT_ROOT, Settings, reset_settings
from pipeline.store.db import ensure_schema

SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
#: Blind double-coding needs two coders, so the demo has a second one.
EXTRA_DEMO_USERS = (("demo-coder-2", "coder"),)
#: Holds the re-identification key in the demo (sees the anonymisation page, releases held transcripts).
DEMO_KEY_HOLDER = "demo-lead"


def demo_logins() -> list[tuple[str, str, str]]:
    """Create the demo accounts, or give existing ones new passwords; returns (user, role, password)."""
    from pipeline.review.accounts import DEMO_USERS, create_user, end_all_sessions, hash_password, update_user

    accounts = (*DEMO_USERS, *EXTRA_DEMO_USERS)
    from pipeline.store import audit, session_scope
    from pipeline.store.models import User

    logins = []
    with session_scope() as session:
        for username, role in accounts:
            password = secrets.token_urlsafe(12)
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                create_user(session, username, password, role, actor="demo")
            else:  # only hashes are stored, so a re-run issues new passwords and ends old sessions
                user.password_hash = hash_password(password)
                user.failed_logins, user.locked_until = 0, None
                end_all_sessions(session, user.id)
                audit(session, "demo", "user.password_reset", "user", user.id)
            logins.append((username, role, password))
        update_user(session, DEMO_KEY_HOLDER, key_holder=True, actor="demo")
    return logins


def release_demo_sample() -> list[int]:
    """Release every held transcript as the demo key holder (forced, audited); returns their ids.

    Why forced: the samples are synthetic, so nothing in them can identify anyone; a real project decides
    each doubtful masking before releasing (the release is refused until then).
    """
    from pipeline.anonymise.release import held_transcripts, release_transcript
    from pipeline.store import session_scope

    with session_scope(immediate=True) as session:
        held = [row.transcript_id for row in held_transcripts(session)]
        for transcript_id in held:
            release_transcript(session, transcript_id, f"demo:{DEMO_KEY_HOLDER}", force=True)
    return held


def prepare_inbox(settings: Settings) -> Path:
    """Create the configured inbox (owner-only) so the first ``qualcode run`` after the demo finds it.

    Why: the demo reads ``data/sample/``, so a newcomer's next step, ``qualcode run``, used to fail on a
    missing ``data/inbox/``.
    """
    from pipeline.fileperms import private_folder

    private_folder(settings.inbox)
    return settings.inbox


def next_command() -> str:
    """The exact command that runs a batch from here: the venv's ``qualcode`` unless it is on ``PATH``."""
    import shutil
    import sys

    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    on_path = shutil.which("qualcode")
    if here is not None and here.name == "qualcode" and (on_path is None or Path(on_path).resolve() != here):
        try:
            return f"{here.relative_to(Path.cwd())} run"
        except ValueError:
            return f"{here} run"
    return "qualcode run"


def demo(
    host: str = typer.Option("127.0.0.1", help="Address for the web app."),
    port: int = typer.Option(8000, help="Port for the web app."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the web app at the end."),
    inbox: Path = typer.Option(SAMPLE_DIR, help="Folder to process (default: the synthetic samples)."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Process the sample transcripts, print demo log-ins and serve the review app."""
    from pipeline.cli.run import run_once

    os.environ["QUALCODE_RETAIN_RAW"] = "keep"  # the demo inbox is the committed samples: never delete them
    load_settings(config, database_url)
    settings = reset_settings()
    console = Console()
    ensure_schema(settings)
    logins = demo_logins()  # before the batch, so the blind sample can be assigned to two coders
    console.rule("[bold]qualcode demo: batch run over the synthetic samples")
    summary = run_once(inbox.resolve(), settings, use_prefect=True)
    if summary["files_done"] == 0:
        console.print("[green]No new files: everything in the inbox was processed by an earlier run.")
    released = release_demo_sample()
    if released:
        console.rule("[bold]Releasing the held samples (synthetic data)")
        console.print(
            f"{len(released)} transcript(s) were held for anonymisation review. The samples are synthetic, so "
            f"{DEMO_KEY_HOLDER} (the demo key holder) released them without deciding each doubtful masking "
            "(audited as transcript.release, forced). A real project's key holder reviews them first: "
            "qualcode anonymise held, or the Anonymisation page. Running the batch again to queue them:"
        )
        run_once(inbox.resolve(), settings, use_prefect=True)
    # The review app does not need Prefect: stop its temporary server now rather than when the demo exits.
    from pipeline.prefect_env import stop_started_servers

    stop_started_servers()
    console.rule("[bold]Log-ins (demo accounts; new passwords each run)")
    for username, role, password in logins:
        console.print(f"  {role:<6} [bold]{username:<13}[/] password: [bold]{password}[/]")
    inbox_dir = prepare_inbox(settings)
    console.rule("[bold]Your own transcripts")
    # Plain echo: the command must not be wrapped or styled, so it can be copied as it is.
    typer.echo(f"Copy transcripts (.txt .docx .vtt .srt .pdf) into the inbox {inbox_dir}, then run:")
    typer.echo(f"  {next_command()}")
    if serve:
        from pipeline.cli.serve import serve as serve_app

        console.rule(f"[bold]Review app: http://{host}:{port}/  (Ctrl-C to stop)")
        serve_app(host=host, port=port, config=None, database_url=None)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
