"""`tracegraph audit verify` and `tracegraph audit log KEY`: the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from cli.app import AsOf, Db, Fmt, app, failures, store_for
from cli.render import Format, console, csv_text, default_format, echo_json, table
from tracegraph.audit import history
from tracegraph.audit import verify as verify_chain

audit_app = typer.Typer(
    name="audit",
    help="The audit trail: check its hash chain, show one record's history.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(db: Db = None, fmt: Fmt = None, as_of: AsOf = None) -> None:
    """Recompute the audit chain: every entry's hash and link to the one before, and every
    entry's digest from the record versions it wrote. Exit 0 when intact; exit 1 with the
    first broken entry named (one line on stderr) when not. With --as-of: the chain as it
    stood then (the entries and versions written up to that time)."""
    with failures(), store_for(db, as_of) as store:
        result = verify_chain(store)
    form = default_format(fmt)
    if form is Format.json:
        echo_json(result.as_json())
    elif form is Format.csv:
        broken = result.broken
        header = ["intact", "entries", "records", "versions", "head", "broken_seq", "problem"]
        row = [
            str(result.intact).lower(),
            result.entries,
            result.records,
            result.versions,
            result.head,
            None if broken is None else broken.seq,
            None if broken is None else broken.problem,
        ]
        typer.echo(csv_text(header, [row]), nl=False)
    elif result.intact:
        typer.echo(result.message())
    if not result.intact:
        typer.echo(f"tracegraph: {result.message()}", err=True)
        raise typer.Exit(1)


_LOG_COLUMNS = [
    "version",
    "audit_seq",
    "at",
    "actor",
    "operation",
    "source",
    "reason",
    "change",
    "field",
    "before",
    "after",
]


def _cell(value: Any) -> Any:
    """Objects (the free-form `attributes`) as compact JSON in a cell."""
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


def _log_rows(out: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for v in out["versions"]:
        head = [v[c] for c in _LOG_COLUMNS[:8]]
        for f in v["fields"] or [{"field": None, "before": None, "after": None}]:
            rows.append([*head, f["field"], _cell(f["before"]), _cell(f["after"])])
    return rows


@audit_app.command("log")
def log(
    key: Annotated[
        str,
        typer.Argument(
            metavar="KEY",
            help="A node key, Type:id (e.g. MaterialLot:L-42), or an edge identity, "
            "TYPE:from->to (e.g. CONSUMED_IN:MaterialLot:L-42->Batch:B-9).",
        ),
    ],
    db: Db = None,
    fmt: Fmt = None,
    as_of: AsOf = None,
) -> None:
    """One node's or edge's history, oldest first: every version with who wrote it, when,
    why, from which source and by which operation, and each field's value before and after."""
    with failures(), store_for(db, as_of) as store:
        out = history(store, key).as_json()
    form = default_format(fmt)
    if form is Format.json:
        echo_json(out)
    elif form is Format.csv:
        typer.echo(csv_text(_LOG_COLUMNS, _log_rows(out)), nl=False)
    else:
        screen = console()
        screen.print(
            f"{out['key']} ({out['kind']}), created {out['created_at']}: "
            f"{out['counts']['versions']} versions"
        )
        screen.print(table(None, _TABLE_COLUMNS, _table_rows(out)))


#: On a terminal: who, when and why once per version, then one line per field it changed.
_TABLE_COLUMNS = ["version", "entry", "at", "actor", "source", "reason", "field", "before", "after"]


def _table_rows(out: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for v in out["versions"]:
        head = [f"{v['version']} {v['change']}", v["audit_seq"], v["at"], v["actor"]]
        head += [v["source"], v["reason"]]
        for i, f in enumerate(v["fields"] or [{"field": None, "before": None, "after": None}]):
            lead = head if i == 0 else [None] * len(head)
            rows.append([*lead, f["field"], _cell(f["before"]), _cell(f["after"])])
    return rows
