"""Foundation commands: import, trace, schema, generate, demo."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from cli.app import AsOf, Db, Fmt, actor, app, failures, settings_for, store_for
from cli.render import Format, console, counts_table, csv_text, default_format, echo_json, table
from tracegraph import checks, model
from tracegraph.audit import required_reason
from tracegraph.checks.core import plural
from tracegraph.errors import BadInput
from tracegraph.events import record_write
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
    check: Annotated[
        bool,
        typer.Option(
            help="After a write, run `tracegraph check` and say how many findings are about "
            "records the import created or changed (--no-check skips it: a whole check costs "
            "seconds on a large store)."
        ),
    ] = True,
    initial_load: Annotated[
        bool,
        typer.Option(
            "--initial-load",
            help="Load a new, empty Neo4j database offline with neo4j-admin, for the first "
            "load of a new site. The server must be stopped; --neo4j-home names its "
            "installation. See docs/neo4j-load.md.",
        ),
    ] = False,
    neo4j_home: Annotated[
        Path | None,
        typer.Option(
            "--neo4j-home",
            help="With --initial-load: the Neo4j installation (NEO4J_HOME) whose database to "
            "load; its bin/neo4j-admin is used, else the one on PATH.",
        ),
    ] = None,
    database: Annotated[
        str, typer.Option(help="With --initial-load: the database to load.")
    ] = "neo4j",
) -> None:
    """Import records: JSON Lines or CSV (docs/import-format.md; `tracegraph schema` lists
    every type and field). All are checked first: one bad record and
    nothing is written; every problem is listed as file:line: message (exit 2). Importing the
    same data twice changes nothing; changed values update and keep the old version."""
    with failures():
        settings = settings_for(db)
        reason = required_reason(reason, required=settings.require_reason)
        request = WriteRequest(
            actor=actor(settings), operation="import", source=source, reason=reason
        )
        if initial_load or neo4j_home is not None:
            if not initial_load or neo4j_home is None:
                raise BadInput("--initial-load and --neo4j-home go together")
            from tracegraph.store.neo4j_load import initial_load as load

            report = load(paths, neo4j_home, request, database=database)
            _print_counts(report.as_json(), fmt)
            typer.echo(
                f"loaded into database '{database}' of {neo4j_home}; start the server, and "
                "the first tracegraph command creates the indexes",
                err=True,
            )
            if check:
                typer.echo(
                    "new data-quality findings: not counted while the server is stopped; "
                    "run `tracegraph check` once it is started",
                    err=True,
                )
            return
        with store_for(db, writes=True) as store:
            if sys.stderr.isatty():
                # Redrawn from the import's own calls, not by a thread of rich's: a first load
                # forks a child to read half of the files, which it does only while this
                # process has no other thread (tracegraph/bulkload.py).
                with Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    TextColumn("{task.completed:,} records"),
                    TimeElapsedColumn(),
                    transient=True,
                    auto_refresh=False,
                ) as bar:
                    task = bar.add_task("checking", total=None)
                    report = import_paths(store, paths, request, _redrawn(bar, task))
            else:
                report = import_paths(store, paths, request)
            brought = checks.brought_by(store, report.summary) if check else []
            # its outbound events, for hooks and pollers (docs/hooks.md)
            record_write(store, report, request, brought if check else None, check=check)
        _print_counts(report.as_json(), fmt)
        if check:  # one line naming how many findings the import brought, none included
            levels = Counter(f.severity for f in brought)
            detail = ", ".join(plural(levels[lv], str(lv)) for lv in checks.LEVELS if levels[lv])
            typer.echo(
                f"{plural(len(brought), 'new data-quality finding')} (tracegraph check)"
                + (f": {detail}" if detail else ""),
                err=True,
            )


def _redrawn(bar: Progress, task: TaskID) -> Callable[[int], None]:
    """A progress callback that redraws the bar at most ten times a second."""
    last = 0.0

    def progress(records: int) -> None:
        nonlocal last
        bar.update(task, completed=records)
        now = time.monotonic()
        if now - last >= 0.1:
            bar.refresh()
            last = now

    return progress


def _print_counts(out: dict[str, int | None], fmt: Format | None) -> None:
    if default_format(fmt) is Format.table:
        console().print(counts_table("import", out))
    elif default_format(fmt) is Format.csv:
        typer.echo(csv_text(list(out), [list(out.values())]), nl=False)
    else:
        echo_json(out)


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
            echo_json(result)
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
            echo_json(model.json_schema())
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
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="jsonl (the import format) or epcis (the same genealogy as an EPCIS 2.0 "
            "document, written batch by batch; see docs/epcis.md).",
        ),
    ] = "jsonl",
) -> None:
    """Write a synthetic genealogy in the import format (JSON Lines), or as EPCIS 2.0."""
    from tracegraph.epcis import write_records
    from tracegraph.generate import generate as make
    from tracegraph.generate import write_jsonl

    with failures():
        if fmt not in ("jsonl", "epcis"):
            raise typer.BadParameter(f"{fmt!r}: use jsonl or epcis", param_hint="--format")
        write, noun = (write_jsonl, "records") if fmt == "jsonl" else (write_records, "events")
        records = make(devices, seed)
        if out is None:
            write(records, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with open(out, "wb") as handle:
                count = write(records, handle)
            typer.echo(f"wrote {count:,} {noun} to {out}", err=True)


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
