"""`tracegraph export`: answers in the file formats other tools read (GraphML, EPCIS 2.0).

A group of subcommands, one per format: `tracegraph export graphml KEY...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import AsOf, Db, app, failures, store_for
from tracegraph.errors import BadInput
from tracegraph.graphml import graphml_bytes, recall_graph, trace_graph
from tracegraph.model import Direction, bound_end, utc

export_app = typer.Typer(
    name="export",
    help="Export answers in the file formats other tools read: GraphML (Gephi, yEd, Cytoscape, "
    "Neo4j Bloom) of a trace or a recall scope, and EPCIS 2.0 events of a recall scope.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(export_app, name="export")


@export_app.command(
    "graphml",
    help="""Write a trace or a recall scope as GraphML.

\b
  tracegraph export graphml KEY [--up|--down] [--depth N] --out FILE
      The trace of KEY (downstream by default): its nodes, each with its depth, and the
      genealogy edges among them.
\b
  tracegraph export graphml KEY... --recall [--from T] [--to T] --out FILE
      The recall scope of the suspects: the affected lots, batches, devices, shipments,
      customers, service events and complaints, the suspects and the nodes on each
      device's reason, and the edges among them.

Nodes carry key, type, id, label and their fields; edges their type and fields (dates as
ISO 8601, lists and objects as JSON text). Without --out the GraphML goes to stdout.
FILE is replaced if it exists.""",
)
def graphml(
    keys: Annotated[
        list[str],
        typer.Argument(metavar="KEY...", help="Start of the trace, or the recall's suspects."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="The GraphML file to write [default: stdout].", show_default=False
        ),
    ] = None,
    up: Annotated[bool, typer.Option("--up", help="Trace upstream (where it came from).")] = False,
    down: Annotated[
        bool, typer.Option("--down", help="Trace downstream (where it went; the default).")
    ] = False,
    depth: Annotated[
        int | None, typer.Option(min=1, help="Trace at most this many hops [default: no limit].")
    ] = None,
    scope: Annotated[
        bool, typer.Option("--recall", help="The recall scope of the keys, not a trace.")
    ] = False,
    start: Annotated[
        str | None,
        typer.Option("--from", help="With --recall: window start.", show_default=False),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help="With --recall: window end (a date covers that day).", show_default=False
        ),
    ] = None,
    db: Db = None,
    as_of: AsOf = None,
) -> None:
    with failures():
        if scope and (up or down or depth is not None):
            raise BadInput("--up, --down and --depth shape a trace; --recall takes --from/--to")
        if not scope and (start or end):
            raise BadInput("--from and --to bound a recall scope: add --recall")
        if up and down:
            raise BadInput("give --up or --down, not both")
        if not scope and len(keys) != 1:
            raise BadInput(
                f"a trace starts from one key (got {len(keys)}); for several suspects, --recall"
            )
        with store_for(db, as_of) as store:
            if scope:
                window = (utc(start) if start else None, bound_end(end) if end else None)
                graph = recall_graph(store, keys, *window)
            else:
                direction = Direction.up if up else Direction.down
                graph = trace_graph(store, keys[0], direction, depth)
        data = graphml_bytes(graph)
        if out is None:
            typer.echo(data.decode(), nl=False)
            return
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise BadInput(f"{out}: cannot write ({exc.strerror or exc})") from None
        typer.echo(
            f"{out}: {graph.graph['name']}: "
            f"{graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges"
        )


@export_app.command(
    "epcis",
    help="""Write the events of a recall scope (or of traces) as an EPCIS 2.0 document.

\b
  tracegraph export epcis KEY... [--from T] [--to T] [--out FILE]
      The recall scope of the suspects (as `tracegraph recall`): its lots, batches,
      devices, shipments, customers and service events.
\b
  tracegraph export epcis KEY... --up|--down [--depth N] [--out FILE]
      The traces of the keys instead, upstream or downstream.

The document (JSON-LD) holds the events that import back as the same genealogy, and the
nodes' other fields as master data; see docs/epcis.md. Complaints, inspections and other
records EPCIS has no event for are left out (the summary counts them). Without --out the
document goes to stdout. FILE is replaced if it exists.""",
)
def epcis_command(
    keys: Annotated[
        list[str], typer.Argument(metavar="KEY...", help="The suspects, or the starts of traces.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="The document to write [default: stdout].", show_default=False
        ),
    ] = None,
    up: Annotated[
        bool, typer.Option("--up", help="The upstream traces of the keys, not a recall scope.")
    ] = False,
    down: Annotated[
        bool, typer.Option("--down", help="The downstream traces of the keys, not a recall scope.")
    ] = False,
    depth: Annotated[
        int | None, typer.Option(min=1, help="Traces of at most this many hops.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Recall window start.", show_default=False)
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help="Recall window end (a date covers that day).", show_default=False
        ),
    ] = None,
    db: Db = None,
    as_of: AsOf = None,
) -> None:
    import io

    from tracegraph import epcis

    with failures():
        if up and down:
            raise BadInput("give --up or --down, not both")
        trace = Direction.up if up else Direction.down if down else None
        if trace is None and depth is not None:
            raise BadInput("--depth bounds a trace: add --up or --down")
        if trace is not None and (start or end):
            raise BadInput("--from and --to bound a recall scope, not a trace")
        with store_for(db, as_of) as store:
            chosen = epcis.scope(
                store,
                keys,
                direction=trace,
                depth=depth,
                start=utc(start) if start else None,
                end=bound_end(end) if end else None,
            )
        if out is None:
            buffer = io.BytesIO()
            epcis.export(chosen, buffer)
            typer.echo(buffer.getvalue().decode(), nl=False)
            return
        try:
            with open(out, "wb") as handle:
                report = epcis.export(chosen, handle)
        except OSError as exc:
            raise BadInput(f"{out}: cannot write ({exc.strerror or exc})") from None
        left = ", ".join(f"{n} {t}" for t, n in report.left_out.items())
        typer.echo(
            f"{out}: {report.events} EPCIS events of {report.nodes} nodes"
            + (f"; left out (no EPCIS form): {left}" if left else "")
        )
