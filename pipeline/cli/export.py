"""``qualcode export qdpx|csv|check``: hand coded work to NVivo, ATLAS.ti, MAXQDA or a statistics package."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from pipeline.cli._common import ConfigOption, DatabaseOption, load_settings
from pipeline.errors import ExportError

export_app = typer.Typer(
    help="Export coded work: a REFI-QDA project (.qdpx) for QDA packages, or CSV for analysis.",
    no_args_is_help=True,
)

SourceOption = typer.Option(
    None,
    "--source",
    help="Include decisions made this way (repeatable): review, manual, blind, import, adjudication, model.",
)
CoderOption = typer.Option(None, "--coder", help="Only this coder's decisions (repeatable).")
CodebookOption = typer.Option(
    None, "--codebook", help="Codebook YAML for code names and themes (default: the active stored codebook)."
)
HideNamesOption = typer.Option(
    False, "--hide-file-names", help="Name transcripts 'transcript <hash>' instead of their inbox file names."
)
ActorOption = typer.Option(None, "--actor", help="Who is exporting, for the audit trail (default: cli:$USER).")


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def qdpx(
    out: Path = typer.Argument(..., help="The .qdpx file to write (replaced atomically if it exists)."),
    codebook: Path | None = CodebookOption,
    adjudicated_only: bool = typer.Option(
        False,
        "--adjudicated-only",
        help="Where a lead adjudicated a segment and code, export only the lead's resolution.",
    ),
    source: list[str] | None = SourceOption,
    coder: list[str] | None = CoderOption,
    hide_file_names: bool = HideNamesOption,
    validate: Path | None = typer.Option(
        None, "--validate", help="REFI project schema (Project.xsd): refuse to write an invalid project."
    ),
    name: str = typer.Option("qualcode project", "--name", help="Project name shown by the QDA package."),
    actor: str | None = ActorOption,
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Write a REFI-QDA project: anonymised transcripts, codebook, every coder's codings and notes."""
    from pipeline.export import export_qdpx
    from pipeline.export.records import PROJECT_SOURCES
    from pipeline.store.db import ensure_schema, session_scope

    settings = load_settings(config, database_url)
    url = ensure_schema(settings)
    with session_scope(url) as session:
        summary = export_qdpx(
            session,
            out,
            codebook=codebook,
            include_sources=source or PROJECT_SOURCES,
            coders=coder or None,
            resolve="adjudicated" if adjudicated_only else "all",
            project_name=name,
            hide_file_names=hide_file_names,
            validate_with=validate,
            actor=_actor(actor),
        )
    missing = f" ({summary.codes_not_in_codebook} not in the codebook)" if summary.codes_not_in_codebook else ""
    typer.echo(
        f"wrote {out}: {summary.sources} sources, {summary.selections} coded segments, {summary.codings} codings "
        f"by {summary.users - 1} coder(s), {summary.codes} codes{missing}, {summary.notes} notes"
        + (f"; valid against {validate.name}" if validate is not None else "")
    )


def csv(
    out: Path = typer.Argument(..., help="The .csv file to write (replaced atomically if it exists)."),
    level: str = typer.Option(
        "coding", "--level", help="coding (one row per decision), segment (consensus matrix) or agreement."
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="'agreement' writes unit_id,code,coder,applied (same as --level agreement)."
    ),
    no_text: bool = typer.Option(False, "--no-text", help="Leave out the anonymised segment text."),
    codebook: Path | None = CodebookOption,
    source: list[str] | None = SourceOption,
    coder: list[str] | None = CoderOption,
    hide_file_names: bool = HideNamesOption,
    formula_safe: bool = typer.Option(
        True,
        "--formula-safe/--raw-cells",
        help="Formula-safe (default): text cells starting with = + - @, tab or a line break get a leading ' "
        "so Excel/LibreOffice show them as text instead of running them as formulas; numeric columns are "
        "untouched. --raw-cells writes text exactly as stored (for R, pandas or a round trip); open such a "
        "file in a spreadsheet only through its text-import dialog, with text columns set to Text.",
    ),
    actor: str | None = ActorOption,
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Write decisions as CSV: per decision, a per-segment consensus matrix, or the agreement format."""
    from pipeline.export import LEVELS, export_csv
    from pipeline.store.db import ensure_schema, session_scope

    if fmt is not None:
        if fmt != "agreement":
            raise typer.BadParameter(f"--format takes only 'agreement', not {fmt!r}")
        level = "agreement"
    if level not in LEVELS:
        raise typer.BadParameter(f"--level must be one of {', '.join(LEVELS)}, not {level!r}")
    settings = load_settings(config, database_url)
    url = ensure_schema(settings)
    with session_scope(url) as session:
        summary = export_csv(
            session,
            out,
            level=level,  # type: ignore[arg-type]
            include_text=not no_text,
            codebook=codebook,
            include_sources=source or None,
            coders=coder or None,
            hide_file_names=hide_file_names,
            formula_safe=formula_safe,
            actor=_actor(actor),
        )
    cells = (
        f"{summary.neutralised_cells} text cell(s) prefixed with ' against formula injection"
        if summary.formula_safe
        else "raw cells: text exactly as stored, not formula-safe"
    )
    typer.echo(f"wrote {out}: {summary.rows} rows × {summary.columns} columns ({summary.level} level); {cells}")


def check(
    archive: Path = typer.Argument(..., help="A .qdpx file (ours or a QDA package's)."),
    xsd: Path = typer.Option(..., "--xsd", help="REFI project schema (Project.xsd)."),
) -> None:
    """Validate a .qdpx: its project XML against the schema, and every text selection against its source."""
    import zipfile

    from pipeline.export.refi import INTERNAL, qde_member, read_qdpx, read_source_text, validate_qde

    try:
        with zipfile.ZipFile(archive) as handle:
            xml = handle.read(qde_member(handle))
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExportError(archive, f"cannot read as a .qdpx ({type(exc).__name__})") from None
    problems = validate_qde(xml, xsd)
    project = read_qdpx(archive)
    outside = unreadable = 0
    for source in project.text_sources:
        if not (source.plain_text_path or "").startswith(INTERNAL) or not source.selections:
            continue  # external files are not in the archive; nothing to check against
        try:
            length = len(read_source_text(archive, source.plain_text_path or ""))
        except ExportError as exc:
            typer.echo(f"source: {exc}")
            unreadable += 1
            continue
        outside += sum(1 for s in source.selections if not 0 <= s.start <= s.end <= length)
    for problem in problems[:20]:
        typer.echo(f"schema: {problem}")
    if outside:
        typer.echo(f"{outside} selection(s) fall outside their source text")
    if problems or outside or unreadable:
        raise ExportError(
            archive,
            f"{len(problems)} schema problem(s), {unreadable} unreadable source(s), "
            f"{outside} selection(s) out of range",
        )
    typer.echo(
        f"{archive.name}: valid; {len(project.text_sources)} text sources, "
        f"{sum(len(s.selections) for s in project.text_sources)} selections, {project.n_codings} codings"
    )


def register(app: typer.Typer) -> None:
    export_app.command("qdpx")(qdpx)
    export_app.command("csv")(csv)
    export_app.command("check")(check)
    app.add_typer(export_app, name="export")
