"""`tracegraph store`: the embedded store's file — a backup of it, and the upgrade of one written by
an older TraceGraph."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from cli.app import Db, Fmt, app, failures, settings_for
from cli.render import Format, csv_text, default_format, echo_json
from tracegraph.errors import BadInput
from tracegraph.store import is_neo4j
from tracegraph.store.backup import BackupReport, backup
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.store.upgrade import upgrade

store_app = typer.Typer(
    name="store",
    help="The embedded store's file: back it up, or upgrade one written by an older TraceGraph.",
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


@store_app.command("backup")
def backup_command(
    dest: Annotated[
        Path, typer.Argument(metavar="DEST", help="The backup's file: a new one, not there yet.")
    ],
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """Copy the embedded store to the new file DEST, as it is at the start of the backup: what
    is still in the store's -wal file included, which a copy of the store's file alone can
    miss. A server and other commands go on using the store meanwhile; what they write after
    the start is not in the copy. The copy is checked and opens as a store (`--db DEST`); an
    existing DEST is never replaced. It holds everything the store does, the API keys'
    hashes too. A Neo4j database is backed up by Neo4j (neo4j-admin database dump)."""
    with failures():
        settings = settings_for(db)
        if is_neo4j(settings.db):
            raise BadInput(
                f"{settings.db}: a Neo4j database is backed up by Neo4j (neo4j-admin database "
                "dump); --db names an embedded store's file"
            )
        store = EmbeddedStore(settings.db, create=False, busy_seconds=settings.busy_seconds)
        try:
            report = _backed_up(store, dest)
        finally:
            store.close()
    out = report.as_json()
    if default_format(fmt) is Format.json:
        echo_json(out)
        return
    if default_format(fmt) is Format.csv:
        typer.echo(csv_text(list(out), [list(out.values())]), nl=False)
        return
    typer.echo(
        f"{report.store}: backed up to {report.copy} ({report.bytes / 2**20:,.1f} MiB; "
        f"audit head {report.audit_head[:16]})"
    )
    typer.echo(f"check it: tracegraph audit verify --db {report.copy}", err=True)


def _backed_up(store: EmbeddedStore, dest: Path) -> BackupReport:
    if not sys.stderr.isatty():
        return backup(store, dest)
    with Progress(
        TextColumn("backing up"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("backup", total=None)
        return backup(
            store, dest, lambda done, total: bar.update(task, completed=done, total=total)
        )
