"""`tracegraph recall`: the recall scope of one or more suspects."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.app import AsOf, Db, Fmt, app, failures, option_time, store_for
from cli.render import Format, console, counts_table, default_format, echo_json, table
from tracegraph.model import bound_end
from tracegraph.recall import csv_text as recall_csv
from tracegraph.recall import recall as run_recall


def render_table(answer: dict[str, Any]) -> None:
    out = console()
    window = answer["window"]
    bounds = (
        f" from {window['from'] or '…'} to {window['to'] or '…'}" if any(window.values()) else ""
    )
    out.print(f"Recall scope of {', '.join(answer['suspects'])}{bounds}")
    for note in answer["notes"]:
        out.print(f"[yellow]note:[/] {note}")
    out.print(counts_table("Totals", answer["counts"]))
    if answer["counts_by_product"]:
        out.print(counts_table("Devices per product", answer["counts_by_product"]))
    customers = sorted(answer["customers"], key=lambda c: (-c["devices"], c["key"]))
    out.print(
        table(
            "Customers",
            ["customer", "name", "country", "affected devices"],
            [(c["key"], c.get("name"), c.get("country"), c["devices"]) for c in customers],
        )
    )

    def short(key: str | None) -> str:
        return key.partition(":")[2] if key else ""

    out.print(
        table(
            "Devices (reason: the chain from a suspect)",
            ["device", "product", "batch", "customer", "shipped", "reason"],
            [
                (
                    short(d["key"]),
                    short(d.get("product")),
                    short(d.get("batch")),
                    short(d.get("customer")),
                    (d.get("shipped_at") or "")[:10],
                    " → ".join(short(k) for k in d["path"]),
                )
                for d in answer["devices"]
            ],
        )
    )


@app.command()
def recall(
    keys: Annotated[
        list[str],
        typer.Argument(
            metavar="KEY...",
            help="Suspects, Type:id: MaterialLot, Material, Supplier, Certificate, Batch, "
            "Device, Equipment, MaintenanceEvent, Process, ChangeOrder or Inspection.",
        ),
    ],
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="Window start (a date means 00:00 UTC that day).", show_default=False
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Window end (a date covers that whole day).", show_default=False),
    ] = None,
    db: Db = None,
    fmt: Fmt = None,
    as_of: AsOf = None,
) -> None:
    """Everything affected downstream of the suspects: batches, devices, shipments, customers
    (with affected-device counts), service events and complaints, each device with its reason
    (a shortest chain of keys from a suspect). --from/--to bound the lots a Material or Supplier
    reaches (received_at) and the batches an Equipment processed."""
    with failures():
        window = (option_time("--from", start), option_time("--to", end, bound_end))
        with store_for(db, as_of) as store:
            answer = run_recall(store, keys, *window).as_json()
        form = default_format(fmt)
        if form is Format.json:
            echo_json(answer)
        elif form is Format.csv:
            typer.echo(recall_csv(answer), nl=False)
        else:
            render_table(answer)
