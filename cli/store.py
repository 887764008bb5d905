"""`tracegraph store upgrade`: bring an embedded store written by an older TraceGraph up to date."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.app import Db, app, failures, settings_for
from tracegraph.errors import BadInput
from tracegraph.store import is_neo4j
from tracegraph.store.upgrade import upgrade

store_app = typer.Typer(
    name="store",
    help="The embedded store's file: upgrade one written by an older TraceGraph.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(store_app, name="store")


@store_app.command("upgrade")
def upgrade_command(db: Db = None) -> None:
    """Upgrade an embedded store written by TraceGraph 0.1 (one JSON file) to the SQLite store,
    in place, keeping the old file beside it as <store>.v1-backup.json. Its records, their
    versions, the audit chain and the API keys carry over; `tracegraph audit verify` checks
    them after. Any command that opens an old store upgrades it the same way; this one does
    it on purpose, and says what it did."""
    with failures():
        location = settings_for(db).db
        if is_neo4j(location):
            raise BadInput(f"{location}: a Neo4j store needs no upgrade; --db names a store file")
        path = Path(location)
        if not path.is_file():
            raise BadInput(f"{path}: no store file here")
        backup = upgrade(path)
    if backup is None:
        typer.echo(f"{path}: already a current store; nothing to do")
    else:
        typer.echo(f"{path}: upgraded; the old store is kept as {backup}")
        typer.echo(f"check it: tracegraph audit verify --db {path}")
