"""``qualcode run``, ``qualcode status`` and ``qualcode schedule``: the batch job from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.cli._common import ConfigOption, DatabaseOption, load_settings
from pipeline.settings import Settings

console = Console(stderr=True)


def run(
    inbox: Path | None = typer.Argument(None, help="Folder of transcripts (default: the configured inbox)."),
    no_prefect: bool = typer.Option(False, "--no-prefect", help="Run the steps directly, without Prefect."),
    workers: int = typer.Option(1, help="Files processed in parallel (threads)."),
    dask_address: str | None = typer.Option(None, help="Run file tasks on this Dask scheduler."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Process new transcripts once: anonymise, segment, embed, suggest, queue. Re-runs do only new work."""
    settings = load_settings(config, database_url)
    folder = (inbox or settings.inbox).resolve()
    if not folder.is_dir():
        if inbox is not None:
            raise typer.BadParameter(f"no such folder: {folder}")
        from pipeline.fileperms import private_folder

        private_folder(folder)  # the configured inbox of a new project: made for the user (owner-only)
        typer.echo(f"created the inbox {folder}: copy transcripts there, then run `qualcode run` again")
    run_once(folder, settings, use_prefect=not no_prefect, workers=workers, dask_address=dask_address,
             as_json=as_json)


def run_once(
    folder: Path,
    settings: Settings,
    *,
    use_prefect: bool = True,
    workers: int = 1,
    dask_address: str | None = None,
    as_json: bool = False,
) -> dict:
    """One batch over ``folder`` with a progress bar and a printed summary; returns the summary dict."""
    from pipeline.batch import BatchSummary, discover_new, run_batch
    from pipeline.prefect_env import configure_prefect
    from pipeline.store.db import ensure_schema

    ensure_schema(settings)
    total = len(discover_new(folder, settings))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    needs_attention: list[tuple[str, str]] = []  # (inbox file name, outcome): shown here, stored nowhere
    with Progress(*columns, console=console, transient=False, disable=as_json) as bar:
        task_id = bar.add_task("transcripts", total=total)
        stage_ids: dict[str, TaskID] = {}

        def hook(name: str, outcome: str) -> None:
            if outcome in ("quarantined", "failed"):
                needs_attention.append((name, outcome))
            bar.update(task_id, advance=1, description=f"{outcome:<11} {escape(name[:40])}")

        def stage_hook(stage: str, done: int, stage_total: int) -> None:
            if stage not in stage_ids:
                bar.update(task_id, description="transcripts")
                stage_ids[stage] = bar.add_task(f"segments: {stage}", total=stage_total)
            bar.update(stage_ids[stage], completed=done, total=stage_total)

        if not use_prefect:
            summary_dict = run_batch(folder, settings, progress=hook, stage_progress=stage_hook).to_dict()
        else:
            configure_prefect(settings)
            from flows.batch import progress_hook, with_runner
            from flows.batch import stage_hook as stage_var

            token = progress_hook.set(hook)
            stage_token = stage_var.set(stage_hook)
            try:
                summary_dict = with_runner(workers, dask_address)(inbox=str(folder), workers=workers)
            finally:
                progress_hook.reset(token)
                stage_var.reset(stage_token)
        bar.update(task_id, description="transcripts")
    if as_json:
        typer.echo(json.dumps(summary_dict, indent=2, default=str))
    else:
        summary = BatchSummary(**{k: v for k, v in summary_dict.items() if k != "outcomes"})
        _print_summary(summary, summary_dict.get("outcomes", []), needs_attention)
    return summary_dict


def _print_summary(summary, outcomes, needs_attention=()) -> None:  # type: ignore[no-untyped-def]
    """The run's table, then what needs the operator: files to look at (by their inbox names, which are
    shown on this console only), held transcripts, problems, and one line for agreement alerts."""
    from pipeline.batch import alerts_message

    table = Table(title=f"Batch {summary.batch_id}", show_header=False, box=None)
    table.add_row("new files processed", str(summary.files_done))
    table.add_row("already processed (skipped)", str(summary.files_skipped))
    table.add_row("quarantined", str(summary.files_quarantined))
    table.add_row("failed", str(summary.files_failed))
    table.add_row("held for anonymisation review", str(summary.files_held))
    table.add_row("segments created", str(summary.segments_created))
    table.add_row("segments embedded", str(summary.segments_embedded))
    shown = ("applied", "queued", "dropped", "cold_start")
    for key in shown:
        if key in summary.suggestions:
            table.add_row(f"suggestions {key.replace('_', '-')}", str(summary.suggestions[key]))
    table.add_row("review items queued", str(summary.review_items))
    table.add_row("blind items assigned", str(summary.blind_items))
    table.add_row("agreement alerts", str(len(summary.alerts)))
    table.add_row("time", f"{summary.seconds:.1f} s")
    Console().print(table)
    stored = [o for o in outcomes if o["outcome"] in ("quarantined", "failed")]
    for (name, outcome), o in zip(needs_attention, stored, strict=False):
        Console().print(f"[yellow]{outcome}[/] {escape(name)} ({escape(o['name'])}): {escape(o['reason'] or '')}")
    for o in stored[len(needs_attention):]:
        Console().print(f"[yellow]{o['outcome']}[/] {escape(o['name'])}: {escape(o['reason'] or '')}")
    if summary.held_message:  # plain echo: the command in it must not be wrapped across lines
        typer.secho(f"held: {summary.held_message}", fg=typer.colors.YELLOW)
    for problem in summary.problems:
        Console().print(f"[red]problem[/] {escape(problem)}")
    if alerts_message(summary.alerts):
        typer.secho(f"agreement: {alerts_message(summary.alerts)}", fg=typer.colors.RED)


def status(config: Path | None = ConfigOption, database_url: str | None = DatabaseOption) -> None:
    """Show transcripts per status and the database in use."""
    from pipeline.batch import counts
    from pipeline.store.db import ensure_schema, safe_url

    settings = load_settings(config, database_url)
    ensure_schema(settings)
    typer.echo(f"database: {safe_url(settings.resolved_database_url)}")
    typer.echo(f"inbox:    {settings.inbox}")
    for state, n in sorted(counts(settings).items()):
        typer.echo(f"{state:<12} {n}")


def schedule(
    cron: str | None = typer.Option(None, help="Cron expression (default: QUALCODE_SCHEDULE_CRON)."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Serve the batch flow on its cron schedule (long-running; Ctrl-C to stop)."""
    from pipeline.prefect_env import configure_prefect

    settings = load_settings(config, database_url)
    configure_prefect(settings)
    from flows.deploy import serve

    serve(cron)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("status")(status)
    app.command("schedule")(schedule)
