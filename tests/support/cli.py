"""Running the CLI in tests."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from cli.main import app


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """Invoke `tracegraph ARGS`; a crash (not an exit) is re-raised with its traceback."""
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result
