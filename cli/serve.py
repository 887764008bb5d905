"""`tracegraph serve`: the HTTP API (uvicorn) on the store --db names."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cli.app import Db, app, failures, settings_for


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    db: Db = None,
    log_level: Annotated[
        LogLevel, typer.Option(help="uvicorn's log level (info: one line per request).")
    ] = LogLevel.info,
) -> None:
    """Serve the HTTP API (/v1, /openapi.json, /healthz, /readyz) until interrupted. Requests
    need an API key from `tracegraph keys create`."""
    import uvicorn

    from api.app import create_app

    with failures():
        application = create_app(settings_for(db))
    try:
        uvicorn.run(application, host=host, port=port, log_level=str(log_level))
    except SystemExit as exc:  # uvicorn exits 3 when it cannot start (port taken, ...)
        if exc.code in (0, None):
            raise
        typer.echo(f"tracegraph: the server could not start on {host}:{port} (see above)", err=True)
        raise typer.Exit(1) from None
