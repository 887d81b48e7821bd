"""Code suggestion commands.

Without a database (pure files; what the measurement uses):
  ``qualcode train --codebook CODEBOOK.yaml --examples EXAMPLES.csv --model-out DIR``
  ``qualcode suggest --model DIR --input-jsonl UNITS.jsonl --output-csv OUT.csv``
With the project database:
  ``qualcode examples import FILE --anonymised|--anonymise``, ``qualcode retrain``,
  ``qualcode codebook import FILE`` (YAML or REFI-QDA .qdc/.qde/.qdpx), ``qualcode codebook export FILE``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli._common import ConfigOption, DatabaseOption, load_settings

examples_app = typer.Typer(help="Human-coded examples (training data).", no_args_is_help=True)
codebook_app = typer.Typer(help="Codebook versions and REFI-QDA exchange.", no_args_is_help=True)

SchemaOption = typer.Option(
    None, "--schema", help="XSD to validate a REFI-QDA file against (e.g. the REFI Project or Codebook schema)."
)


def train(
    codebook: Path = typer.Option(..., "--codebook", help="Codebook YAML (qualcode-codebook/1)."),
    examples: Path = typer.Option(..., "--examples", help="Examples CSV or .csv.gz: unit_id,text,code,coder,applied."),
    model_out: Path = typer.Option(..., "--model-out", help="Folder to write the model artefact to."),
    config: Path | None = ConfigOption,
) -> None:
    """Train a suggestion model from files (no database) and write it with its model card."""
    from pipeline.suggest.files import train_from_files

    settings = load_settings(config)
    model = train_from_files(codebook, examples, model_out, settings)
    training = model.card.get("training", {})
    typer.echo(
        f"model {model.version}: {training.get('n_units')} units, {len(model.learned_codes)}/{len(model.codes)} "
        f"codes trained (others cold start); written to {model_out} (card: {model_out / 'card.md'})"
    )


def suggest(
    model: Path = typer.Option(..., "--model", help="Model folder written by `qualcode train`."),
    input_jsonl: Path = typer.Option(..., "--input-jsonl", help='Units, one JSON object a line: {"id", "text"}.'),
    output_csv: Path = typer.Option(..., "--output-csv", help="Output: unit_id,code,probability,decision."),
    config: Path | None = ConfigOption,
) -> None:
    """Score units from a JSONL file for every code (no database)."""
    from pipeline.suggest.files import suggest_from_files

    settings = load_settings(config)
    stats = suggest_from_files(model, input_jsonl, output_csv, settings)
    typer.echo(
        f"{stats.units} units x codes = {stats.rows} rows: {stats.applied} apply, {stats.review} review, "
        f"{stats.dropped} drop; written to {output_csv}"
    )


@examples_app.command("import")
def examples_import(
    file: Path = typer.Argument(..., help="Examples CSV or .csv.gz: unit_id,text,code,coder,applied."),
    anonymised: bool = typer.Option(
        False, "--anonymised", help="Confirm the texts are already anonymised (they are then stored as given)."
    ),
    anonymise: bool = typer.Option(
        False, "--anonymise", help="Run the texts through the project's anonymiser before storing them."
    ),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Import human-coded examples into the project database (idempotent)."""
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.suggest.examples import read_examples
    from pipeline.suggest.service import ensure_active_codebook, file_sha256, project_anonymiser, store_examples

    if anonymised == anonymise:
        raise typer.BadParameter(
            "say how the texts are made safe: --anonymised (they already are; stored as given) "
            "or --anonymise (run the project's anonymiser first)",
            param_hint="--anonymised / --anonymise",
        )
    settings = load_settings(config, database_url)
    ensure_schema(settings)
    with session_scope() as session:
        codebook = ensure_active_codebook(session, settings)
        examples = read_examples(file, known_codes=set(codebook.code_ids))
        hook = project_anonymiser(session, settings) if anonymise else None
        stats = store_examples(session, examples, source_name=file.name, content_hash=file_sha256(file), anonymise=hook)
    typer.echo(
        f"{file.name}: {stats.units} units ({stats.new_segments} new), codings: {stats.codings_created} created, "
        f"{stats.codings_updated} updated, {stats.codings_unchanged} unchanged"
    )


def retrain_command(
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Train a new model on all human decisions in the database and re-score the review queue."""
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.suggest.service import embed_labelled_segments, retrain

    settings = load_settings(config, database_url)
    ensure_schema(settings)
    with session_scope() as session:  # short write: embeddings first, so training holds no write lock
        embed_labelled_segments(session, settings)
    with session_scope() as session:
        row = retrain(session, settings, actor="cli")
        if row is None:
            typer.echo(
                f"not enough human decisions yet (need {settings.min_positive_examples} positive and negative "
                "labels for at least one code); still in cold-start mode"
            )
            return
        if row.is_active:
            typer.echo(f"model {row.version} trained and activated; saved to {row.path}")
        else:
            typer.echo(
                f"model {row.version} trained and saved to {row.path}, but not activated: a retrain that read "
                "newer decisions finished first and stays active"
            )


@codebook_app.command("import")
def codebook_import(
    file: Path = typer.Argument(..., help="Codebook YAML, or REFI-QDA .qdc / .qde / .qdpx."),
    schema: Path | None = SchemaOption,
    name: str | None = typer.Option(None, help="Codebook name for a REFI import (default: from the file)."),
    version: str | None = typer.Option(None, help="Version label for a REFI import (default: from its content)."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Store a codebook version in the database and make it active (idempotent by content hash)."""
    from pipeline.codebook import load_codebook
    from pipeline.codebook.refi import import_refi_codebook
    from pipeline.codebook.store import store_codebook
    from pipeline.store.db import ensure_schema, session_scope

    if file.suffix.lower() in (".qdc", ".qde", ".qdpx"):
        codebook = import_refi_codebook(file, schema, name=name, version=version)
    else:
        codebook = load_codebook(file)
    settings = load_settings(config, database_url)
    ensure_schema(settings)
    from pipeline.suggest import rescore_queued

    with session_scope() as session:
        store_codebook(session, codebook, actor="cli")
    typer.echo(
        f"codebook {codebook.name!r} v{codebook.version}: {len(codebook.themes)} themes, {len(codebook)} codes, "
        f"hash {codebook.content_hash[:12]} (active)"
    )
    # Queued suggestions of changed or removed codes must not wait for the next batch or retrain.
    with session_scope() as session:
        stats = rescore_queued(session, settings)
    if stats.suggestions:
        typer.echo(f"re-scored {stats.suggestions} queued suggestions ({stats.queued} still queued for review)")


@codebook_app.command("export")
def codebook_export(
    file: Path = typer.Argument(..., help="Output: .qdc (REFI-QDA) or .yaml."),
    schema: Path | None = SchemaOption,
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Export the active codebook as REFI-QDA .qdc (validated against --schema if given) or YAML."""
    from pipeline.codebook import dump_codebook
    from pipeline.codebook.refi import export_qdc
    from pipeline.store.db import ensure_schema, session_scope
    from pipeline.suggest.service import ensure_active_codebook

    settings = load_settings(config, database_url)
    ensure_schema(settings)
    with session_scope() as session:
        codebook = ensure_active_codebook(session, settings)
    if file.suffix.lower() == ".qdc":
        export_qdc(codebook, file, schema)
    elif file.suffix.lower() in (".yaml", ".yml"):
        dump_codebook(codebook, file)
    else:
        raise typer.BadParameter("export to a .qdc or .yaml file", param_hint="FILE")
    typer.echo(f"codebook {codebook.name!r} v{codebook.version} ({len(codebook)} codes) written to {file}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("suggest")(suggest)
    app.command("retrain")(retrain_command)
    app.add_typer(examples_app, name="examples")
    app.add_typer(codebook_app, name="codebook")
