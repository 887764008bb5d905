"""Foundation commands: import, trace, schema, generate, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cli.app import AsOf, Db, Fmt, actor, app, failures, settings_for, store_for
from cli.render import Format, console, counts_table, csv_text, default_format, dumps, table
from tracegraph import model
from tracegraph.audit import required_reason
from tracegraph.importer import import_paths
from tracegraph.store import WriteRequest
from tracegraph.trace import trace as run_trace

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
        reason = required_reason(reason, required=settings.require_reason)
        request = WriteRequest(
            actor=actor(settings), operation="import", source=source, reason=reason
        )
        with store_for(db, writes=True) as store:
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
    as_of: AsOf = None,
) -> None:
    """The upstream or downstream closure of a node over genealogy edges, each node with its
    distance in hops, and the edges among them."""
    with failures():
        if up and down:
            raise typer.BadParameter("give --up or --down, not both")
        direction = model.Direction.up if up else model.Direction.down
        with store_for(db, as_of) as store:
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
