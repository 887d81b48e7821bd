"""``qualcode anonymise``: anonymise files or JSONL, and review low-confidence replacements.

    qualcode anonymise FILE_OR_FOLDER... --out DIR
    qualcode anonymise --input-jsonl IN.jsonl --output-jsonl OUT.jsonl
    qualcode anonymise review [--transcript ID] [--confirm EVENT_ID ...] [--undo EVENT_ID ...]
    qualcode anonymise held --user KEYHOLDER
    qualcode anonymise release ID [--force] --user KEYHOLDER
    qualcode anonymise mask ID --start N --end M [--entity PERSON] --user KEYHOLDER

The first two forms need no database; the others work on the project database. ``held``, ``release``
and ``mask`` are for the signed-in key holder: a transcript with doubtful maskings is held until they
decide it is safe for coders (``pipeline.anonymise.release``).
"""

from __future__ import annotations

from pathlib import Path

import click
import typer
from typer.core import TyperGroup

from pipeline.cli._common import ConfigOption, DatabaseOption, PasswordStdinOption, load_settings, sign_in


class _FilesByDefault(TyperGroup):
    """Treat ``qualcode anonymise PATH...`` as ``qualcode anonymise files PATH...``.

    Why: the issue fixes the command line (``anonymise FILE... --out DIR``) while ``anonymise review`` is a
    subcommand; click groups cannot take free positional arguments next to subcommands.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["files", *args]
        return super().parse_args(ctx, args)


anonymise_app = typer.Typer(
    cls=_FilesByDefault,
    help="Anonymise transcripts (files or JSONL) and review doubtful replacements.",
    no_args_is_help=True,
)


@anonymise_app.command("files")
def files(
    paths: list[Path] = typer.Argument(None, help="Transcript files or folders (txt, docx, vtt, srt, pdf)."),
    out: Path | None = typer.Option(None, "--out", help="Folder for NAME.anon.txt outputs."),
    input_jsonl: Path | None = typer.Option(None, "--input-jsonl", help='Rows {"id", "text"}.'),
    output_jsonl: Path | None = typer.Option(None, "--output-jsonl", help='Rows {"id", "text", "spans"}.'),
    style: str | None = typer.Option(None, "--style", help="placeholder (default) or surrogate."),
    config: Path | None = ConfigOption,
) -> None:
    """Anonymise files into --out, or a JSONL file (span offsets index the original text)."""
    from pipeline.anonymise import build_anonymiser
    from pipeline.anonymise.files import anonymise_jsonl, anonymise_paths

    settings = load_settings(config)
    if style is not None:
        if style not in ("placeholder", "surrogate"):
            raise typer.BadParameter(f"--style must be placeholder or surrogate, not {style!r}")
        settings = settings.model_copy(update={"pseudonym_style": style})
    jsonl = input_jsonl is not None or output_jsonl is not None
    if jsonl and (input_jsonl is None or output_jsonl is None):
        raise typer.BadParameter("give both --input-jsonl and --output-jsonl")
    if jsonl == bool(paths):
        raise typer.BadParameter("give either FILE_OR_FOLDER... --out DIR or --input-jsonl/--output-jsonl")
    anonymiser = build_anonymiser(settings)
    if input_jsonl is not None and output_jsonl is not None:
        if not input_jsonl.is_file():
            raise typer.BadParameter(f"input file not found: {input_jsonl.name}")
        rows, replaced = anonymise_jsonl(anonymiser, input_jsonl, output_jsonl)
        typer.echo(f"{rows} rows anonymised ({replaced} replacements) -> {output_jsonl}")
        return
    if out is None:
        raise typer.BadParameter("--out DIR is required with files")
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"not found: {', '.join(missing)}")
    reports = anonymise_paths(anonymiser, list(paths), out, settings)
    failed = 0
    for report in reports:
        if report.error:
            failed += 1
            typer.secho(f"skipped {report.source}: {report.error}", fg=typer.colors.YELLOW, err=True)
        else:
            typer.echo(f"{report.source} -> {report.output} ({report.replacements} replacements)")
    typer.echo(f"{len(reports) - failed} file(s) anonymised, {failed} skipped")
    if failed and failed == len(reports):
        raise typer.Exit(1)


@anonymise_app.command("review")
def review(
    transcript: int | None = typer.Option(None, "--transcript", help="Only this transcript."),
    confirm: list[int] = typer.Option(
        [], "--confirm", help="Event ids that were identifying (feeds the deny list; takes back an earlier undo)."
    ),
    undo: list[int] = typer.Option(
        [], "--undo", help="Event ids that were not identifying (feeds the allow list; see --restore)."
    ),
    restore: bool = typer.Option(
        False,
        "--restore",
        help="With --undo: also put the words back into the stored transcript (re-identifies: key holder "
        "only, signs in with --user).",
    ),
    user: str | None = typer.Option(None, "--user", "-u", help="Your account, for --restore (the key holder)."),
    password_stdin: bool = PasswordStdinOption,
    reviewer: str | None = typer.Option(None, "--as", help="Reviewer name for the audit log (default: $USER)."),
    limit: int = typer.Option(50, help="How many candidates to list."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """List low-confidence replacements (anonymised context only), or confirm/undo them."""
    import getpass

    from pipeline.anonymise import decide, list_for_review, load_keyring
    from pipeline.errors import KeyMissingError, PermissionDenied
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.store.models import AnonymisationEvent

    settings = load_settings(config, database_url)
    ensure_schema(settings)
    if confirm or undo:
        who = f"cli:{reviewer or getpass.getuser()}"
        if restore:
            if not user:
                raise typer.BadParameter("--restore re-identifies: sign in as the key holder with --user")
            account = sign_in(settings.resolved_database_url, user, password_stdin)
            if not account.is_key_holder:
                raise PermissionDenied(
                    f"{account.username} is not the project's key holder (qualcode user set --key-holder)"
                )
            who = f"cli:{account.username}"
        try:
            keyring = load_keyring(settings, create=False)
        except KeyMissingError:
            if restore:
                raise
            keyring = None
            typer.secho("no key: decisions recorded, but not fed into the term lists", fg="yellow", err=True)
        restored = 0
        # BEGIN IMMEDIATE on SQLite: a decision may read offsets and rewrite them, so it must not interleave.
        with session_scope(immediate=True) as session:
            style = settings.pseudonym_style
            taken_back = 0
            for event_id in confirm:
                before = session.get(AnonymisationEvent, event_id)
                was_undone = before is not None and before.status == "undone"
                decide(session, event_id, "confirm", who, keyring, style=style)
                taken_back += was_undone
            for event_id in undo:
                event = decide(session, event_id, "undo", who, keyring, restore=restore, style=style)
                restored += restore and event.encrypted_original is not None
        typer.echo(f"{len(confirm)} confirmed, {len(undo)} undone")
        if taken_back:
            typer.echo(f"{taken_back} earlier undo(s) taken back: masked again wherever the words had been put back")
        if undo and keyring is not None:
            if not restore:
                why = " (--restore, as the key holder, does that)"
            elif restored < len(undo):
                why = " (events recorded before this version keep their placeholder)"
            else:
                why = ""
            typer.echo(
                f"undone terms stay readable in transcripts anonymised from now on; {restored} of {len(undo)} "
                f"put back into the stored text{why}"
            )
        return
    with session_scope() as session:
        candidates = list_for_review(session, transcript_id=transcript, limit=limit)
    if not candidates:
        typer.echo("nothing to review")
        return
    for c in candidates:
        typer.echo(f"#{c.event_id}  transcript {c.transcript_id}  {c.placeholder}  {c.score:.2f}  {c.recognizer}")
        typer.echo(f"    {c.context}")


def _key_holder_session(config, database_url, user: str | None, password_stdin: bool):  # type: ignore[no-untyped-def]
    """(settings, account) for a key-holder command: the project's schema ready, the key holder signed in."""
    from pipeline.store.db import ensure_schema

    settings = load_settings(config, database_url)
    ensure_schema(settings)
    return settings, _key_holder(settings, user, password_stdin)


def _key_holder(settings, user: str | None, password_stdin: bool):  # type: ignore[no-untyped-def]
    """Sign ``user`` in and insist on the key holder (as ``review --restore`` does)."""
    from pipeline.errors import PermissionDenied

    if not user:
        raise typer.BadParameter("this command is for the key holder: sign in with --user")
    account = sign_in(settings.resolved_database_url, user, password_stdin)
    if not account.is_key_holder:
        raise PermissionDenied(f"{account.username} is not the project's key holder (qualcode user set --key-holder)")
    return account


_UserOption = typer.Option(None, "--user", "-u", help="Your account (the key holder).")


@anonymise_app.command("held")
def held(
    user: str | None = _UserOption,
    password_stdin: bool = PasswordStdinOption,
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """List transcripts held for anonymisation review (counts only), with the next command for each."""
    from pipeline.anonymise.release import held_transcripts
    from pipeline.store.db import session_scope

    _key_holder_session(config, database_url, user, password_stdin)
    with session_scope() as session:
        rows = held_transcripts(session)
    if not rows:
        typer.echo("no transcripts are held")
        return
    for row in rows:
        typer.echo(
            f"transcript {row.transcript_id}  {row.name}  {row.doubtful} doubtful, {row.decided} decided, "
            f"{row.replacements} maskings, {row.segments} segments"
        )
        if row.doubtful:
            typer.echo(f"    next: qualcode anonymise review --transcript {row.transcript_id}  (then --confirm/--undo)")
        else:
            typer.echo(f"    next: qualcode anonymise release {row.transcript_id}")
    typer.echo(f"{len(rows)} held; the web page /anonymisation shows each doubtful masking in its sentence")


@anonymise_app.command("release")
def release(
    transcript_id: int = typer.Argument(..., help="The held transcript."),
    force: bool = typer.Option(
        False, "--force", help="Release although doubtful maskings are undecided (a lead's call; they stay listed)."
    ),
    user: str | None = _UserOption,
    password_stdin: bool = PasswordStdinOption,
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Release a held transcript to coders: the next `qualcode run` embeds, scores and queues it."""
    from pipeline.anonymise.release import may_force, release_transcript
    from pipeline.errors import PermissionDenied
    from pipeline.store.db import session_scope

    _, account = _key_holder_session(config, database_url, user, password_stdin)
    if force and not may_force(account.role):
        raise PermissionDenied(
            f"only a lead may release with undecided maskings ({account.username} is a {account.role})"
        )
    with session_scope(immediate=True) as session:
        release_transcript(session, transcript_id, f"cli:{account.username}", force=force)
    typer.echo(f"transcript {transcript_id} released; the next batch (qualcode run) embeds, scores and queues it")


@anonymise_app.command("mask")
def mask(
    transcript_id: int = typer.Argument(..., help="The transcript."),
    start: int = typer.Option(..., "--start", help="First character of the missed words (offset in the stored text)."),
    end: int = typer.Option(..., "--end", help="One past the last character."),
    entity: str = typer.Option("PERSON", "--entity", help="What the words are (PERSON, PLACE, SCHOOL, ...)."),
    user: str | None = _UserOption,
    password_stdin: bool = PasswordStdinOption,
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Mask words the anonymiser missed; they join the deny list so later transcripts mask them too."""
    from pipeline.anonymise import load_keyring
    from pipeline.anonymise.release import mask_missed
    from pipeline.store.db import session_scope

    settings, account = _key_holder_session(config, database_url, user, password_stdin)
    keyring = load_keyring(settings, create=False)
    with session_scope(immediate=True) as session:
        result = mask_missed(session, transcript_id, start, end, f"cli:{account.username}", entity.upper(),
                             keyring=keyring, style=settings.pseudonym_style)
    typer.echo(f"masked as {result.placeholder} (event #{result.event_id}); added to the deny list")
    if result.other_mentions:
        typer.echo(f"{result.other_mentions} more mention(s) of the same words in this transcript are not masked yet")


def register(app: typer.Typer) -> None:
    app.add_typer(anonymise_app, name="anonymise")
