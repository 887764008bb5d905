"""The Typer app and what every command shares: options, the store, errors, the exit code."""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # Typer >= 0.25 bundles its own Click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException  # type: ignore[assignment]

from cli.render import Format
from tracegraph import __version__
from tracegraph.errors import BadInput, TraceGraphError
from tracegraph.model import utc
from tracegraph.settings import Settings, get_settings
from tracegraph.store import GraphStore, open_store


class OneLineErrors(TyperGroup):
    """A bad option or argument is a one-line reason on stderr and exit 2, like every error."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `tracegraph`: the help
                typer.echo(exc.format_message())
                code = 0
            else:
                # (pydantic's prefix on a validator's message says nothing to a user)
                message = exc.format_message().replace(": Value error, ", ": ")
                typer.echo(f"tracegraph: {message}", err=True)
                code = exc.exit_code
        except typer.Abort:
            typer.echo("tracegraph: aborted", err=True)
            code = 1
        else:
            code = result if isinstance(result, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name="tracegraph",
    cls=OneLineErrors,
    rich_markup_mode=None,
    help="TraceGraph: traceability for medical devices — recall scope, change impact, common "
    "cause and evidence chains over one graph of suppliers, lots, batches, devices and their "
    "records.\n\nThe store is chosen by --db or TRACEGRAPH_DB: a bolt:// or neo4j:// URI selects "
    "Neo4j (credentials from NEO4J_USER / NEO4J_PASSWORD); anything else is the path of the "
    "embedded store, created on first use.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="TRACEGRAPH_DB",
        help="Store: bolt:// / neo4j:// URI, or the path of an embedded store "
        "[default: ./tracegraph.tgdb].",
        show_default=False,
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Answer as the store knew it at this time (ISO 8601 date or date-time; a date "
        "means 00:00 UTC).",
        show_default=False,
    ),
]
Fmt = Annotated[
    Format | None,
    typer.Option(
        "--format", help="Output: table (default on a terminal), json (default when piped), csv."
    ),
]


def settings_for(db: str | None) -> Settings:
    return get_settings(db=db)


@contextmanager
def failures() -> Iterator[None]:
    """The one place where errors become a one-line reason on stderr and an exit code."""
    try:
        yield
    except TraceGraphError as exc:
        typer.echo(f"tracegraph: {exc.message}", err=True)
        for line in exc.details[1:]:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(exc.exit_code) from None


def option_time(
    option: str, value: str | None, parse: Callable[[str], dt.datetime] = utc
) -> dt.datetime | None:
    """A time given to an option (None if not given); bad input names the option."""
    if value is None:
        return None
    try:
        return parse(value)
    except BadInput as exc:
        raise BadInput(f"{option}: {exc.message}") from None


@contextmanager
def store_for(
    db: str | None, as_of: str | None = None, *, writes: bool = False
) -> Iterator[GraphStore]:
    """The store --db names; with --as-of, a read-only view of it as it was then. Only a
    command that ``writes`` creates an embedded store that is not there yet; any other fails
    naming the path, and leaves no file or folder behind."""
    when = option_time("--as-of", as_of)
    store = open_store(settings_for(db), create=writes)
    try:
        yield store.at(when) if when is not None else store
    finally:
        store.close()


def actor(settings: Settings) -> str:
    if settings.actor:
        return settings.actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tracegraph {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """TraceGraph command line."""
