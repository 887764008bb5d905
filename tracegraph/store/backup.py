"""A backup of an embedded store: one new file holding the store as of one moment.

A store in use is more than its file: what the last writes committed may still sit in the
``-wal`` file beside it, so a copy of the file alone (``cp``) can miss them, and a copy taken
while a write lands can be torn. This copies the store with SQLite's online backup, all of it
read in one read transaction (one WAL snapshot): writes of other processes go on meanwhile,
and none of them is in the copy, which is the store as of the backup's start.

The copy is made in a temporary file beside the destination, checked (SQLite's
``quick_check``, then opened as a store), synced, and only then linked to the destination, so
a failed or interrupted backup leaves no file where the backup was asked for, and an existing
file there is never replaced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tracegraph.errors import BadInput, StoreError, StoreUnavailable
from tracegraph.store.embedded import EmbeddedStore

#: Pages copied a step: the progress is reported between steps (16 MiB at 4 KiB pages).
STEP_PAGES: Final = 4096


@dataclass(frozen=True)
class BackupReport:
    store: Path
    copy: Path
    bytes: int
    #: The hash of the copy's last audit entry: `tracegraph audit verify` on the copy checks
    #: the chain up to it.
    audit_head: str

    def as_json(self) -> dict[str, Any]:
        return {
            "store": str(self.store),
            "copy": str(self.copy),
            "bytes": self.bytes,
            "audit_head": self.audit_head,
        }


def backup(
    store: EmbeddedStore,
    dest: Path,
    progress: Callable[[int, int], None] | None = None,
) -> BackupReport:
    """Copy ``store`` to the new file ``dest``; ``progress(done, total)`` in bytes between
    steps. Raises BadInput when ``dest`` exists or its folder does not."""
    if dest.exists() or dest.is_symlink():
        raise BadInput(f"{dest}: already exists; a backup goes to a new file")
    if not dest.parent.is_dir():
        raise BadInput(f"{dest.parent}: no such folder for the backup")
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    part = Path(name)
    try:
        _copy(store, part, progress)
        head = _checked(part)
        shutil.copymode(store.path, part)  # (a temporary file is made readable by its owner only)
        _sync(part)
        try:
            os.link(part, dest)  # fails, rather than replaces, if dest appeared meanwhile
        except FileExistsError:
            raise BadInput(f"{dest}: already exists; a backup goes to a new file") from None
        except OSError as exc:
            raise StoreUnavailable(f"{dest}: cannot write the backup: {exc}") from None
        _sync_folder(dest.parent)
    finally:
        for leftover in (part, *_sidecars(part)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return BackupReport(store=store.path, copy=dest, bytes=dest.stat().st_size, audit_head=head)


def _copy(store: EmbeddedStore, part: Path, progress: Callable[[int, int], None] | None) -> None:
    try:
        source = sqlite3.connect(store.path, isolation_level=None, timeout=store.busy_seconds)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"{store.path}: cannot read the store: {exc}") from None
    try:
        copy = sqlite3.connect(part, isolation_level=None)
        try:
            (page,) = source.execute("PRAGMA page_size").fetchone()
            # One read transaction over every step: each reads the same snapshot, so a write
            # landing between steps neither tears the copy nor starts it over.
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM meta").fetchone()

            def step(_status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress((total - remaining) * page, total * page)

            source.backup(copy, pages=STEP_PAGES, progress=step, sleep=0)
            source.execute("COMMIT")
        finally:
            copy.close()
    except sqlite3.Error as exc:
        # (busy: a first load holds the store alone; the store's own words for it)
        raise store._fail(exc) from None
    finally:
        source.close()


def _checked(part: Path) -> str:
    """SQLite's own check of the copy's pages, then the copy opened as a store; its audit
    head."""
    db = sqlite3.connect(part, isolation_level=None)
    try:
        found = [row[0] for row in db.execute("PRAGMA quick_check")]
    except sqlite3.Error as exc:
        raise StoreError(f"the backup failed its check: {exc}") from None
    finally:
        db.close()
    if found != ["ok"]:
        raise StoreError(f"the backup failed its check: {'; '.join(map(str, found[:3]))}")
    copy = EmbeddedStore(part, create=False)
    try:
        return copy.audit_head()
    finally:
        copy.close()


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform syncs a folder
        _sync(folder)


def _sidecars(path: Path) -> tuple[Path, ...]:
    return tuple(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))
