"""`tracegraph impact`: what a change order touches, by category."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from cli.app import AsOf, Db, Fmt, app, failures, store_for
from cli.render import Format, console, counts_table, csv_text, default_format, echo_json, table
from tracegraph.impact import CATEGORIES
from tracegraph.impact import impact as run_impact

CSV_HEADER = [
    "category",
    "key",
    "name",
    "status",
    "changed",
    "product",
    "batch",
    "device",
    "date",
    "detail",
]

TITLES = {
    "changes": "Changed items",
    "products": "Affected products (reason: a chain from a changed item)",
    "processes": "Processes governing them",
    "documents": "Documents governing those processes",
    "suppliers": "Suppliers of changed materials",
    "batches_under_change": "Batches built under the change",
    "batches_in_process": "Batches of affected products still in process",
    "devices_before": "Devices built before effective_at (field-action candidates)",
    "devices_under_change": "Devices built under the change",
    "devices_after_without_change": "Devices built on or after effective_at, not under the change",
    "complaints": "Open complaints on affected devices",
}


def _flag(value: Any) -> str | None:
    return None if value is None else ("true" if value else "false")


def _csv_row(category: str, item: dict[str, Any]) -> list[Any]:
    """One row: the same columns for every category, filled where they mean something."""
    get = item.get
    name = get("name", get("title", get("udi")))
    date = get("manufactured_at") or get("started_at") or get("reported_at")
    if category == "changes":
        detail: Any = f"revision {get('revision')}" if get("revision") else None
    elif category == "products":
        detail = " → ".join(item["path"])
    elif category in ("processes", "documents"):
        detail = "governs " + ", ".join(item["governs"]) if item["governs"] else None
    elif category == "suppliers":
        materials = ", ".join(item["materials"])
        detail = f"{item['lots']} lot(s) of {materials}" if materials else None
    elif category == "complaints":
        detail = f"{get('severity')}: {get('description') or ''}".rstrip(": ")
    else:
        detail = get("kind")
    return [
        category,
        item["key"],
        name if category != "complaints" else None,
        "open" if category == "complaints" else get("status"),
        _flag(True if category == "changes" else get("changed")),
        get("product"),
        get("batch"),
        get("device"),
        date,
        detail,
    ]


def csv_rows(answer: dict[str, Any]) -> list[list[Any]]:
    return [_csv_row(c, item) for c in CATEGORIES for item in answer[c]]


def _short(key: str | None) -> str:
    return key.partition(":")[2] if key else ""


def _day(value: str | None) -> str:
    return (value or "")[:10]


Columns = Sequence[tuple[str, Callable[[dict[str, Any]], Any]]]

COLUMNS: dict[str, Columns] = {
    "changes": [
        ("item", lambda i: i["key"]),
        ("name", lambda i: i.get("name")),
        ("revision", lambda i: i.get("revision")),
    ],
    "products": [
        ("product", lambda i: _short(i["key"])),
        ("name", lambda i: i.get("name")),
        ("changed", lambda i: "yes" if i["changed"] else ""),
        ("reason", lambda i: " → ".join(i["path"])),
    ],
    "processes": [
        ("process", lambda i: _short(i["key"])),
        ("name", lambda i: i.get("name")),
        ("rev", lambda i: i.get("revision")),
        ("changed", lambda i: "yes" if i["changed"] else ""),
        ("governs", lambda i: ", ".join(_short(k) for k in i["governs"])),
    ],
    "documents": [
        ("document", lambda i: _short(i["key"])),
        ("title", lambda i: i.get("title")),
        ("rev", lambda i: i.get("revision")),
        ("changed", lambda i: "yes" if i["changed"] else ""),
        ("governs", lambda i: ", ".join(_short(k) for k in i["governs"])),
    ],
    "suppliers": [
        ("supplier", lambda i: _short(i["key"])),
        ("name", lambda i: i.get("name")),
        ("status", lambda i: i.get("status")),
        ("country", lambda i: i.get("country")),
        ("changed", lambda i: "yes" if i["changed"] else ""),
        ("lots of changed materials", lambda i: i["lots"]),
        ("materials", lambda i: ", ".join(_short(k) for k in i["materials"])),
    ],
    "batches": [
        ("batch", lambda i: _short(i["key"])),
        ("product", lambda i: _short(i.get("product"))),
        ("status", lambda i: i.get("status")),
        ("kind", lambda i: i.get("kind")),
        ("started", lambda i: _day(i.get("started_at"))),
        ("completed", lambda i: _day(i.get("completed_at"))),
    ],
    "devices": [
        ("device", lambda i: _short(i["key"])),
        ("product", lambda i: _short(i.get("product"))),
        ("batch", lambda i: _short(i.get("batch"))),
        ("manufactured", lambda i: _day(i.get("manufactured_at"))),
        ("status", lambda i: i.get("status")),
        ("udi", lambda i: i.get("udi")),
    ],
    "complaints": [
        ("complaint", lambda i: _short(i["key"])),
        ("reported", lambda i: _day(i.get("reported_at"))),
        ("severity", lambda i: i.get("severity")),
        ("device", lambda i: _short(i.get("device"))),
        ("product", lambda i: _short(i.get("product"))),
        ("description", lambda i: i.get("description")),
    ],
}


def _columns(category: str) -> Columns:
    return COLUMNS.get(category) or COLUMNS[category.partition("_")[0]]


def render_table(answer: dict[str, Any]) -> None:
    out = console()
    change = answer["change"]
    effective = change.get("effective_at") or "no effective_at"
    out.print(
        f"[bold]Change impact of {change['key']}[/] — {change.get('kind')}, "
        f"{change.get('status')}, effective {effective}"
        + (f": {change['title']}" if change.get("title") else "")
    )
    if answer["what_if"]:
        out.print("[bold yellow]WHAT-IF:[/] the change is only proposed.")
    for note in answer["notes"]:
        out.print(f"[yellow]note:[/] {note}")
    out.print(counts_table("Counts", answer["counts"]))
    for category in CATEGORIES:
        items = answer[category]
        if not items:
            out.print(f"{TITLES[category]}: none")
            continue
        columns = _columns(category)
        out.print(
            table(
                f"{TITLES[category]} ({len(items)})",
                [name for name, _ in columns],
                [[cell(i) for _, cell in columns] for i in items],
            )
        )


@app.command()
def impact(
    change: Annotated[
        str,
        typer.Argument(
            metavar="CHANGE_ID",
            help="The change order: its id (CO-118) or key (ChangeOrder:CO-118).",
        ),
    ],
    db: Db = None,
    fmt: Fmt = None,
    as_of: AsOf = None,
) -> None:
    """What a change order touches: the changed items, the products reached (where-used over
    COMPONENT_OF, and through changed processes, documents and suppliers), the processes and
    documents governing them, suppliers of changed materials, batches built under the change
    and batches still in process, devices built before effective_at (field-action candidates)
    and under the change, open complaints, and counts. A proposed change is a what-if."""
    with failures():
        with store_for(db, as_of) as store:
            answer = run_impact(store, change).as_json()
        form = default_format(fmt)
        if form is Format.json:
            echo_json(answer)
        elif form is Format.csv:
            typer.echo(csv_text(CSV_HEADER, csv_rows(answer)), nl=False)
        else:
            render_table(answer)
