"""The ``qualcode`` command.

Why a package of small modules: each capability (run, anonymise, train, review, agreement, ...) owns one
module here that defines ``register(app: typer.Typer) -> None``. Modules are discovered at start-up, so
adding a command never means editing a shared file. Commands are thin: they parse options, call a
``pipeline`` function and print; the domain lives elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from pipeline.errors import QualcodeError

app = typer.Typer(
    name="qualcode",
    help="Code interview transcripts against a codebook.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main() -> None:
    """Console-script entry point: expected errors print one clear line and exit 2."""
    try:
        app()
    except QualcodeError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
