"""`tracegraph search`: find nodes by key, id, serial, a UDI as scanned, or a piece of a name."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.app import AsOf, Db, Fmt, app, failures, store_for
from cli.render import Format, console, csv_text, default_format, echo_json, table
from tracegraph.search import DEFAULT_LIMIT, MAX_LIMIT
from tracegraph.search import search as run_search

HEADER = ["key", "type", "id", "match", "why", "label"]


def render_table(answer: dict[str, Any]) -> None:
    out = console()
    total, shown = answer["total"], len(answer["matches"])
    count = f"{shown} of {total}" if shown < total else str(total)
    out.print(f"Search {answer['query']!r}: {count} match{'' if total == 1 else 'es'}")
    if answer["udi"]:
        parts = ", ".join(f"{k.removeprefix('udi_')} {v}" for k, v in answer["udi"].items())
        out.print(f"read as a UDI: {parts}")
    for note in answer["notes"]:
        out.print(f"[yellow]note:[/] {note}", markup=True, highlight=False)
    if answer["matches"]:
        rows = [(m["key"], m["why"], m["label"]) for m in answer["matches"]]
        out.print(table(None, ["key", "why", "description"], rows))


@app.command(
    help="""Find nodes by key, id, serial, UDI or name; a UDI in any form, as scanned.

\b
Q is a key (Device:D-000117), an id of any type, a device serial, a UDI, or a piece of an
id, name, title or description. A UDI may be GS1 text with (AI)s, the raw element string
a scanner sends (GS separators, with or without a symbology identifier such as ]d2), a
GS1 Digital Link URI, or HIBCC (+...): it finds the device with its DI and serial first,
else the devices of its lot (DI and lot), else the products with its DI (docs/udi.md).
Matches are listed best first; an exact one (key, id, UDI) ends the search. With --type
and no Q: that type's nodes, by key. A cut list says "N of M". Exit 0 whether or not
anything matches; 2 for bad input.""",
)
def search(
    query: Annotated[
        str,
        typer.Argument(
            metavar="Q",
            help="What to look for (quote a UDI: it may hold parentheses or GS characters).",
            show_default=False,
        ),
    ] = "",
    type_: Annotated[
        str | None,
        typer.Option(
            "--type", help="Only nodes of this type (Device, Batch, …).", show_default=False
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_LIMIT, help="Show at most this many matches.")
    ] = DEFAULT_LIMIT,
    db: Db = None,
    fmt: Fmt = None,
    as_of: AsOf = None,
) -> None:
    with failures():
        with store_for(db, as_of) as store:
            answer = run_search(store, query, type_=type_, limit=limit).as_json()
        form = default_format(fmt)
        if form is Format.json:
            echo_json(answer)
        elif form is Format.csv:
            rows = [[m[h] for h in HEADER] for m in answer["matches"]]
            typer.echo(csv_text(HEADER, rows), nl=False)
        else:
            render_table(answer)
