"""`tracegraph hooks add|list|remove|log|deliver`: outbound events to other systems, on the
store directly (like `tracegraph keys`; over HTTP, admins use /v1/hooks)."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from cli.app import Db, Fmt, app, failures, store_for
from cli.render import Format, console, csv_text, default_format, echo_json, table
from tracegraph.events import KINDS
from tracegraph.hooks import Deliverer, add_hook, delivery_log, list_hooks, remove_hook

hooks_app = typer.Typer(
    name="hooks",
    help="Outbound events: POST findings and imports, signed, to other systems (docs/hooks.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(hooks_app, name="hooks")

COLUMNS = ["id", "url", "events", "created_at", "acked_seq", "failures", "next_attempt_at"]
LOG_COLUMNS = ["hook", "seq", "attempt", "at", "status", "ok", "error"]


def _row(hook: dict[str, object], columns: list[str]) -> list[object]:
    return [",".join(v) if isinstance(v := hook[c], list) else v for c in columns]


@hooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(metavar="URL", help="Where to POST (http:// or https://).")],
    events: Annotated[
        str,
        typer.Option(
            help=f"The kinds of event to send, comma-separated: {', '.join(KINDS)} "
            "(cases: a recall case opened, notified, answered, closed).",
            show_default=False,
        ),
    ],
    secret: Annotated[
        str | None,
        typer.Option(
            help="The HMAC secret the receiver checks signatures with (16 to 200 printable "
            "characters) [default: a new random one, shown once].",
            show_default=False,
        ),
    ] = None,
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """Add a hook: each event appended from now on is POSTed to URL, signed with the secret.
    The secret is shown this once (`hooks list` never shows it)."""
    with failures(), store_for(db, writes=True) as store:
        made = add_hook(store, url, [events], secret)
    row = made.as_json()
    form = default_format(fmt)
    if form is Format.json:
        echo_json(row)
    elif form is Format.csv:
        typer.echo(csv_text([*COLUMNS, "secret"], [_row(row, [*COLUMNS, "secret"])]), nl=False)
    else:
        record = made.record
        typer.echo(
            f"hook {record.id} → {record.url} ({', '.join(record.events)}); its signing "
            "secret is shown only this once, keep it now:",
            err=True,
        )
        typer.echo(record.secret)


@hooks_app.command("list")
def list_(db: Db = None, fmt: Fmt = None) -> None:
    """Every hook and its delivery state (never its secret): the last event it acknowledged,
    failures since, and when the next attempt is due."""
    with failures(), store_for(db) as store:
        answer = list_hooks(store).as_json()
    form = default_format(fmt)
    rows = [_row(h, COLUMNS) for h in answer["hooks"]]
    if form is Format.json:
        echo_json(answer)
    elif form is Format.csv:
        typer.echo(csv_text(COLUMNS, rows), nl=False)
    else:
        title = f"{answer['counts']['hooks']} hooks (event log at seq {answer['last_seq']})"
        console().print(table(title, COLUMNS, rows))


@hooks_app.command("remove")
def remove(
    hook_id: Annotated[str, typer.Argument(metavar="ID", help="The hook's id (see hooks list).")],
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """Remove a hook with its delivery state and log: nothing more is sent to it."""
    with failures(), store_for(db) as store:
        record = remove_hook(store, hook_id)
    row = record.as_json()
    form = default_format(fmt)
    if form is Format.json:
        echo_json(row)
    elif form is Format.csv:
        typer.echo(csv_text(COLUMNS, [_row(row, COLUMNS)]), nl=False)
    else:
        typer.echo(f"removed hook {record.id} ({record.url})")


@hooks_app.command("log")
def log(
    hook_id: Annotated[
        str | None,
        typer.Argument(metavar="[ID]", help="Only this hook's attempts.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest N attempts.")] = 100,
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """The delivery log: each attempt (the event's seq, the attempt's number, when, the HTTP
    status or why it failed), oldest first."""
    with failures(), store_for(db) as store:
        answer = delivery_log(store, hook_id, limit).as_json()
    form = default_format(fmt)
    rows = [[a[c] for c in LOG_COLUMNS] for a in answer["attempts"]]
    if form is Format.json:
        echo_json(answer)
    elif form is Format.csv:
        typer.echo(csv_text(LOG_COLUMNS, rows), nl=False)
    else:
        counts = answer["counts"]
        title = f"{counts['attempts']} delivery attempts, {counts['failed']} failed"
        console().print(table(title, LOG_COLUMNS, rows))


@hooks_app.command("deliver")
def deliver(
    once: Annotated[
        bool, typer.Option("--once", help="One pass, then exit (for cron, and tests).")
    ] = False,
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """Send every hook its pending events, in order, as `tracegraph serve` does in the
    background: one pass with --once (hooks waiting out a retry are left for later), else
    until interrupted."""
    with failures(), store_for(db) as store, Deliverer(store) as deliverer:
        if not once:
            try:
                deliverer.run(threading.Event())
            except KeyboardInterrupt:
                return
        made = deliverer.deliver_once()
    rows = [a.as_json() for a in made]
    failed = sum(1 for a in made if not a.ok)
    form = default_format(fmt)
    if form is Format.json:
        echo_json({"attempts": rows, "counts": {"attempts": len(rows), "failed": failed}})
    elif form is Format.csv:
        typer.echo(csv_text(LOG_COLUMNS, [[r[c] for c in LOG_COLUMNS] for r in rows]), nl=False)
    else:
        typer.echo(f"{len(made) - failed} events delivered, {failed} attempts failed")
