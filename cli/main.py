"""The `tracegraph` command. Each command parses, calls one service and renders its answer."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # Typer >= 0.25 bundles its own Click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException  # type: ignore[assignment]
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cli.render import Format, console, counts_table, csv_text, default_format, dumps, table
from tracegraph import __version__, model
from tracegraph.errors import TraceGraphError
from tracegraph.importer import import_paths
from tracegraph.settings import Settings, get_settings
from tracegraph.store import GraphStore, WriteRequest, open_store
from tracegraph.trace import trace as run_trace


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
                typer.echo(f"tracegraph: {exc.format_message()}", err=True)
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


@contextmanager
def store_for(db: str | None) -> Iterator[GraphStore]:
    store = open_store(settings_for(db))
    try:
        yield store
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


# --------------------------------------------------------------------------- import


@app.command("import")
def import_(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH...",
            help="JSON Lines files, CSV folders (one <Type>.csv per type) or CSV files.",
        ),
    ],
    db: Db = None,
    fmt: Fmt = None,
    reason: Annotated[
        str | None, typer.Option(help="Why this import is made; kept in the audit trail.")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="System the data comes from (PLM, MES, ...); audited.")
    ] = None,
) -> None:
    """Import records (§3 of the data format). All are checked first: one bad record and
    nothing is written; every problem is listed as file:line: message (exit 2). Importing the
    same data twice changes nothing; changed values update and keep the old version."""
    with failures():
        settings = settings_for(db)
        request = WriteRequest(
            actor=actor(settings), operation="import", source=source, reason=reason
        )
        with store_for(db) as store:
            if sys.stderr.isatty():
                with Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    TextColumn("{task.completed:,} records"),
                    TimeElapsedColumn(),
                    transient=True,
                ) as bar:
                    task = bar.add_task("checking", total=None)
                    report = import_paths(
                        store, paths, request, lambda n: bar.update(task, completed=n)
                    )
            else:
                report = import_paths(store, paths, request)
        out = report.as_json()
        if default_format(fmt) is Format.table:
            console().print(counts_table("import", out))
        elif default_format(fmt) is Format.csv:
            typer.echo(csv_text(list(out), [list(out.values())]), nl=False)
        else:
            typer.echo(dumps(out))


# --------------------------------------------------------------------------- trace


@app.command()
def trace(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="Start node, Type:id (e.g. MaterialLot:L-42).")
    ],
    up: Annotated[bool, typer.Option("--up", help="Trace upstream (where it came from).")] = False,
    down: Annotated[
        bool, typer.Option("--down", help="Trace downstream (where it went; the default).")
    ] = False,
    depth: Annotated[
        int | None, typer.Option(min=1, help="At most this many hops [default: no limit].")
    ] = None,
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """The upstream or downstream closure of a node over genealogy edges, each node with its
    distance in hops, and the edges among them."""
    with failures():
        if up and down:
            raise typer.BadParameter("give --up or --down, not both")
        direction = model.Direction.up if up else model.Direction.down
        with store_for(db) as store:
            result = run_trace(store, key, direction, depth).as_json()
        form = default_format(fmt)
        if form is Format.json:
            typer.echo(dumps(result))
        elif form is Format.csv:
            rows = [(n["key"], n["type"], n["depth"]) for n in result["nodes"]]
            typer.echo(csv_text(["key", "type", "depth"], rows), nl=False)
        else:
            out = console()
            out.print(
                f"{'Upstream' if up else 'Downstream'} of {result['start']}: "
                f"{result['counts']['nodes'] - 1} nodes, {result['counts']['edges']} edges"
            )
            nodes = sorted(result["nodes"], key=lambda n: (n["depth"], n["key"]))
            out.print(table(None, ["depth", "type", "key"], [
                (n["depth"], n["type"], n["key"]) for n in nodes
            ]))  # fmt: skip


# --------------------------------------------------------------------------- schema


@app.command()
def schema(
    fmt: Annotated[
        str, typer.Option("--format", help="markdown (the data dictionary) or json (JSON Schema).")
    ] = "markdown",
) -> None:
    """Print the data dictionary: every entity and relationship type with its fields."""
    with failures():
        if fmt == "json":
            typer.echo(dumps(model.json_schema()))
        elif fmt in ("markdown", "md", "table"):
            typer.echo(model.dictionary_markdown(), nl=False)
        else:
            raise typer.BadParameter(f"{fmt!r}: use markdown or json", param_hint="--format")


# --------------------------------------------------------------------------- generate


@app.command()
def generate(
    devices: Annotated[int, typer.Option(min=1, help="How many devices to generate.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 1,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file [default: stdout].")
    ] = None,
) -> None:
    """Write a synthetic genealogy in the import format (JSON Lines)."""
    from tracegraph.generate import generate as make
    from tracegraph.generate import write_jsonl

    with failures():
        records = make(devices, seed)
        if out is None:
            write_jsonl(records, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with open(out, "wb") as handle:
                count = write_jsonl(records, handle)
            typer.echo(f"wrote {count:,} records to {out}", err=True)


# --------------------------------------------------------------------------- demo


@app.command()
def demo(
    db: Annotated[
        Path,
        typer.Option("--db", help="Where the demo's own embedded store is (re)created."),
    ] = Path("tracegraph-demo.tgdb"),
) -> None:
    """Load the ECG-monitor scenario into a fresh embedded store and walk through it."""
    from cli.demo import run_demo

    with failures():
        run_demo(db, console())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
