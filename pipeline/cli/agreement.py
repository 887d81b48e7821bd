"""``qualcode agreement``: inter-coder agreement per code and theme, from a CSV or the project database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pipeline.cli._common import ConfigOption, DatabaseOption, load_settings
from pipeline.errors import ConfigError


def agreement(
    codings: Path | None = typer.Option(
        None, "--codings", help="CSV with unit_id,code,coder,applied (or value for multi-category codes)."
    ),
    from_db: bool = typer.Option(False, "--from-db", help="Use the decisions stored in the project database."),
    codebook: Path | None = typer.Option(
        None,
        "--codebook",
        help="Codebook YAML: adds theme and overall rows (default with --from-db: the active stored codebook).",
    ),
    fmt: str = typer.Option("json", "--format", help="json, csv or html."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of standard output."),
    comparison: str = typer.Option(
        "human_human", "--comparison", help="With --from-db: human_human (blind sample) or human_model."
    ),
    batch: int | None = typer.Option(None, "--batch", help="With --from-db: only segments of this batch."),
    level: str = typer.Option("nominal", "--level", help="Krippendorff metric: nominal, ordinal, interval, ratio."),
    ignore_absent: bool = typer.Option(
        False, "--ignore-absent", help="Drop units on which no coder applied the code (rare codes)."
    ),
    bootstrap: int | None = typer.Option(None, "--bootstrap", help="Bootstrap resamples (default: settings)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    no_pairs: bool = typer.Option(False, "--no-pairs", help="Omit per coder-pair rows."),
    snapshot: bool = typer.Option(
        False, "--snapshot", help="With --from-db: also store an agreement snapshot and print its alerts."
    ),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Agreement per code (and per theme and overall with a codebook), with bootstrap intervals."""
    from pipeline.agreement.export import render
    from pipeline.agreement.report import ReportOptions, agreement_report

    if (codings is None) == (not from_db):
        raise typer.BadParameter("give exactly one of --codings FILE or --from-db")
    if snapshot and not from_db:
        raise typer.BadParameter("--snapshot needs --from-db")
    if fmt not in ("json", "csv", "html"):
        raise typer.BadParameter(f"--format must be json, csv or html, not {fmt!r}")
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise typer.BadParameter(f"--level must be nominal, ordinal, interval or ratio, not {level!r}")
    settings = load_settings(config, database_url)
    options = ReportOptions(
        level=level,  # type: ignore[arg-type]
        ignore_absent=ignore_absent,
        n_boot=settings.bootstrap_samples if bootstrap is None else bootstrap,
        seed=seed,
        pairwise=not no_pairs,
        reliable=settings.agreement_reliable,
        tentative=settings.agreement_tentative,
    )
    book = _load_codebook(codebook)
    meta: dict[str, Any] = {}
    if codings is not None:
        from pipeline.agreement.codings_csv import read_codings_csv

        decisions = read_codings_csv(codings, known_codes=set(book.code_ids) if book is not None else None)
        records = agreement_report(decisions, book, options)
        meta.update(source=codings.name, title=f"Inter-coder agreement: {codings.name}")
    else:
        from pipeline.agreement.codebook_view import CodebookView, active_codebook
        from pipeline.agreement.decisions import db_report
        from pipeline.store.db import ensure_schema, session_scope

        if comparison not in ("human_human", "human_model"):
            raise typer.BadParameter("--comparison must be human_human or human_model")
        url = ensure_schema(settings)
        with session_scope(url) as session:
            book = CodebookView.from_codebook(book) if book is not None else active_codebook(session, settings)
            records = db_report(session, comparison, book, options, batch_id=batch)  # type: ignore[arg-type]
            if snapshot:
                from pipeline.agreement.snapshots import snapshot_agreement

                flags = snapshot_agreement(session, settings, batch_id=batch, codebook=book)
                for flag in flags:
                    typer.secho(f"alert: {flag}", fg=typer.colors.YELLOW, err=True)
                typer.echo(f"snapshot stored: {len(flags)} alert(s)", err=True)
        meta.update(
            source="project database" + (f", batch {batch}" if batch is not None else ""),
            comparison=comparison,
            title="Inter-coder agreement" + (" (human vs model)" if comparison == "human_model" else ""),
        )
    if book is not None:
        meta["codebook"] = f"{book.name} {book.version}"
    names = {c.id: c.name for c in book.codes} if book is not None else None
    text = render(records, options, fmt, meta, names)  # type: ignore[arg-type]
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(records)} agreement records to {output}", err=True)


def _load_codebook(path: Path | None) -> Any:
    if path is None:
        return None
    if not path.exists():
        raise ConfigError(f"{path.name}: codebook file not found")
    from pipeline.codebook import load_codebook

    return load_codebook(path)


def register(app: typer.Typer) -> None:
    app.command("agreement")(agreement)
