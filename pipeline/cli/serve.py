"""``qualcode serve``: run the review web app with uvicorn."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from pipeline.cli._common import ConfigOption, DatabaseOption, load_settings
from pipeline.store.db import ensure_schema, safe_url


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    config: Path | None = ConfigOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Serve the review queue (and the leads' dashboard) at http://HOST:PORT/."""
    import uvicorn

    from pipeline.web.app import create_app

    settings = load_settings(config, database_url)
    url = ensure_schema(settings)
    if not _is_loopback(host) and not settings.secure_cookies:
        typer.secho(
            "warning: listening beyond this machine without QUALCODE_SECURE_COOKIES=true; put the app behind "
            "HTTPS and set it, or session cookies can travel in clear text",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if not _is_loopback(host) and settings.secret_key is None:
        typer.secho(
            "warning: QUALCODE_SECRET_KEY is not set; the log-in rate limit then keeps an unkeyed hash of "
            "client addresses (for one minute), which can be reversed",
            fg=typer.colors.YELLOW,
            err=True,
        )
    app = create_app(settings)
    app.state.login_limiter.prune()  # attempts left from before a restart
    typer.echo(f"qualcode web app on http://{host}:{port}/ (database {safe_url(url)}); Ctrl-C stops it")
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, proxy_headers=False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
