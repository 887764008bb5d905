"""`tracegraph keys create|list|revoke`: API keys, kept in the store the API serves."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import Db, Fmt, app, failures, store_for
from cli.render import Format, console, csv_text, default_format, echo_json, table
from tracegraph.keys import Role, create_key, list_keys, revoke_key

keys_app = typer.Typer(
    name="keys",
    help="API keys for `tracegraph serve`: create one (shown once), list them, revoke one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(keys_app, name="keys")

COLUMNS = ["id", "name", "role", "created_at", "revoked", "revoked_at"]


@keys_app.command("create")
def create(
    role: Annotated[
        Role,
        typer.Option(
            help="analyst: queries; auditor: queries, evidence and the audit trail; "
            "integrator: writes (import, events); admin: everything.",
            show_default=False,
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            help="Who the key is for; the audit trail names it as the actor of the key's "
            "writes [default: ROLE-ID].",
            show_default=False,
        ),
    ] = None,
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """Make an API key and print it. It is shown this once: the store keeps only its SHA-256."""
    with failures(), store_for(db, writes=True) as store:
        made = create_key(store, role, name)
    form = default_format(fmt)
    if form is Format.json:
        echo_json(made.as_json())
    elif form is Format.csv:
        row = made.as_json()
        typer.echo(csv_text([*COLUMNS, "key"], [[row[c] for c in [*COLUMNS, "key"]]]), nl=False)
    else:
        record = made.record
        typer.echo(
            f"API key {record.id} for {record.name!r} (role {record.role}); it is shown only "
            "this once, keep it now:",
            err=True,
        )
        typer.echo(made.key)


@keys_app.command("list")
def list_(db: Db = None, fmt: Fmt = None) -> None:
    """Every API key (never the key itself): id, name, role, when made, whether revoked."""
    with failures(), store_for(db) as store:
        answer = list_keys(store).as_json()
    form = default_format(fmt)
    if form is Format.json:
        echo_json(answer)
    elif form is Format.csv:
        typer.echo(csv_text(COLUMNS, [[k[c] for c in COLUMNS] for k in answer["keys"]]), nl=False)
    else:
        rows = [[k[c] for c in COLUMNS] for k in answer["keys"]]
        console().print(table(f"{answer['counts']['active']} active API keys", COLUMNS, rows))


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (see keys list).")],
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """Revoke a key: the API refuses it from the next request on (401). Revoking a revoked key
    changes nothing."""
    with failures(), store_for(db) as store:
        record = revoke_key(store, key_id)
    form = default_format(fmt)
    row = record.as_json()
    if form is Format.json:
        echo_json(row)
    elif form is Format.csv:
        typer.echo(csv_text(COLUMNS, [[row[c] for c in COLUMNS]]), nl=False)
    else:
        typer.echo(f"revoked API key {record.id} ({record.name}, role {record.role})")
