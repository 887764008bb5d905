"""The first import into an empty store, on two CPUs and without a Python object per record.

An import into an empty embedded store (a new site's first load, every benchmark, every demo)
has nothing to merge with and nothing to compare against: each record is a creation. This
path reads the JSON Lines files in two halves, one in this process and one in a forked child,
checks each line with the same fast reader the ordinary import uses (`_fast_json_made`) and
puts the records into a staging area of the store per process as rows of text
(`StagedBatch`), with no `Node` or `Edge` kept per record. The store then moves both areas in
with one transaction (SQLite orders them and gives the ids), while the child, idle by then,
works out the audit digest.

It is only a shortcut. Anything it cannot judge alone — a line the fast reader declines (bad
JSON, a field pydantic must judge), a key or an edge given twice, an edge to a node not in the
files, a CSV folder or an EPCIS document, a store that is not empty — makes it step aside
with nothing written, and `import_paths` imports the files the ordinary way, which merges,
judges and reports as the contract says (`file:line: field: problem`). A test holds the two
ways to the same store and the same audit digest.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any, Final

from tracegraph.gcpause import cycles_collected_after
from tracegraph.model import EntityType, RelType, _fast_json_made
from tracegraph.store.base import (
    LoadDeclined,
    LoadsEmpty,
    StagingArea,
    WriteRequest,
    WriteSummary,
    canonical,
    change_row,
)

Progress = Callable[[int], None]

#: Files smaller than this together are read by this process alone: a child is not worth it.
SPLIT_BYTES: Final = 4 * 1024 * 1024

#: Bytes read from a file at a time, and lines checked per batch.
_BLOCK: Final = 4 * 1024 * 1024
_LINES: Final = 2048

#: The part of each file the child reads: half, as both stage at the same pace (the store's
#: load, which this process runs after, takes about as long as the child's digest beside it).
_CHILD_SHARE: Final = 0.5


class _Declined(Exception):
    """A line this path cannot judge alone: the ordinary import will."""


@dataclass
class Loaded:
    """What a first load read and wrote."""

    records: int = 0
    nodes: int = 0
    edges: int = 0


def jsonl_files(paths: Sequence[str | Path]) -> list[Path] | None:
    """The paths as JSON Lines files, or None if any is something else (a folder, a CSV
    file, a ``.json`` file, which may be an EPCIS document) or is not there."""
    files = []
    for given in paths:
        path = Path(given)
        if not path.is_file() or path.suffix.lower() in (".csv", ".json", ".jsonld"):
            return None
        files.append(path)
    return files or None


def load(
    store: LoadsEmpty,
    files: Sequence[Path],
    request: WriteRequest,
    progress: Progress | None = None,
) -> tuple[Loaded, WriteSummary] | None:
    """Load the files into the empty store; None, with nothing written, where the ordinary
    import must do it (see the module's text)."""
    if not store.is_empty():
        return None
    mine, theirs = _halves(files)
    stages = [store.stage() for _ in range(2 if theirs else 1)]
    loaded = Loaded()
    try:
        with cycles_collected_after():
            child = _Child(theirs, store, stages) if theirs else None
            try:
                for lines in _lines(mine):
                    stages[0].add(_stage(lines, loaded))
                    if child is not None:
                        child.heard(loaded, wait=False)
                    if progress is not None:
                        progress(loaded.records)
                stages[0].finish()
                digest = None
                if child is not None:
                    child.heard(loaded, wait=True)
                    # The child hashes the staged records while this process writes them
                    # (two threads of one process contend: SQLite's allocator has one lock).
                    digest = child.digest()
                if progress is not None:
                    progress(loaded.records)
                summary = store.load_empty(stages, request, digest)
            finally:
                if child is not None:
                    child.stop()
    except (_Declined, LoadDeclined):
        return None
    finally:
        for stage in stages:
            stage.discard()
    return loaded, summary


# --------------------------------------------------------------------------- reading


Range = tuple[Path, int, int]


def _halves(files: Sequence[Path]) -> tuple[list[Range], list[Range]]:
    """Each file cut at the first line that starts at or after its middle: the first parts
    for this process, the second for the child (none if the files are small)."""
    sizes = [f.stat().st_size for f in files]
    if sum(sizes) < SPLIT_BYTES or not _may_fork():
        return [(f, 0, size) for f, size in zip(files, sizes, strict=True)], []
    mine, theirs = [], []
    for f, size in zip(files, sizes, strict=True):
        with open(f, "rb") as handle:
            handle.seek(int(size * (1 - _CHILD_SHARE)))
            handle.readline()
            cut = min(handle.tell(), size)
        mine.append((f, 0, cut))
        if cut < size:
            theirs.append((f, cut, size))
    return mine, theirs


def _may_fork() -> bool:
    """A fork copies one thread: only safe here while this process has no other."""
    return sys.platform == "linux" and threading.active_count() == 1


def _lines(ranges: Sequence[Range]) -> Iterator[list[bytes]]:
    """The lines of each range, ``_LINES`` at a time, as the ordinary reader splits them (at
    ``\\n`` only), a byte order mark at a file's start dropped as it drops it."""
    for path, start, end in ranges:
        with open(path, "rb") as handle:
            handle.seek(start)
            left = end - start
            if start == 0:
                head = handle.read(len(codecs.BOM_UTF8))
                if head == codecs.BOM_UTF8:
                    left -= len(head)
                else:
                    handle.seek(0)
            rest = b""
            while left > 0:
                block = handle.read(min(_BLOCK, left))
                if not block:
                    break
                left -= len(block)
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for at in range(0, len(lines), _LINES):
                    yield lines[at : at + _LINES]
            if rest:
                yield [rest]


NodeRows = list[tuple[str, str, str | None]]
EdgeRows = list[tuple[str, str, str, str, str | None]]


def _stage(lines: list[bytes], loaded: Loaded) -> tuple[NodeRows, EdgeRows]:
    """One batch of lines as staged rows (`StagedBatch`), made as each line is checked (no
    `Node` or `Edge`). Counts them into ``loaded``."""
    from tracegraph.importer import udi_fields  # (that module imports this one)

    nodes: NodeRows = []
    edges: EdgeRows = []
    add_node, add_edge = nodes.append, edges.append

    def node(etype: EntityType, _id: str, props: dict[str, Any], key: str) -> None:
        if etype is EntityType.Device and (udi := props.get("udi")) is not None:
            props.update(udi_fields(udi))
        add_node((key, _props_text(props), _change(key, props) if _escaped(key) else None))

    def edge(rtype: RelType, src: str, dst: str, props: dict[str, Any]) -> None:
        change = None
        if _escaped(src) or _escaped(dst):
            change = _change(f"{rtype}:{src}->{dst}", props)  # (`edge_ident`)
        add_edge((str(rtype), src, dst, _props_text(props), change))

    _items, declined = _fast_json_made(lines, node, edge)
    for i in declined:
        if lines[i].strip():
            raise _Declined(f"line {i}")
    loaded.records += len(nodes) + len(edges)
    loaded.nodes += len(nodes)
    loaded.edges += len(edges)
    return nodes, edges


def _props_text(props: dict[str, Any]) -> str:
    """Props as the embedded store keeps them (its ``encode``: `canonical` JSON)."""
    return canonical(props).decode() if props else "{}"


def _escaped(key: str) -> bool:
    """Whether JSON escapes something in this key: a quote or a backslash (the model refuses
    control characters in an id). Most keys are written as they are, and the store makes
    their change rows from them and the props text (see `StagedBatch`)."""
    return '"' in key or "\\" in key


def _change(ident: str, props: dict[str, Any]) -> str:
    """The change row of a record's creation, as text."""
    return change_row(ident, "create", None, props).decode()


# --------------------------------------------------------------------------- two processes


class _Child:
    """A forked process that stages the ranges given into the second staging area and says
    how many records each batch held (a few bytes through a pipe); asked, it then works out
    the digest of both areas. If this process is killed, the child's next word, or its wait
    for one, fails and it ends: nothing is left running, and the next open of the store
    removes its staging file."""

    def __init__(
        self, ranges: Sequence[Range], store: LoadsEmpty, stages: Sequence[StagingArea]
    ) -> None:
        mine, theirs = Pipe(duplex=True)
        self._pid = os.fork()
        if self._pid == 0:  # the child
            code = 1
            try:
                mine.close()
                _serve(ranges, store, stages, theirs)
                code = 0
            finally:
                os._exit(code)
        theirs.close()
        self._pipe = mine
        self._done = False

    def heard(self, loaded: Loaded, *, wait: bool) -> None:
        """Count what the child said it staged so far (``wait``: to its end); `_Declined` if
        it declined, failed or died."""
        while not self._done and (wait or self._pipe.poll()):
            message = self._receive()
            if message[:1] == b"c":
                records, nodes, edges = map(int, message[1:].split())
                loaded.records += records
                loaded.nodes += nodes
                loaded.edges += edges
                continue
            self._done = True
            if message != b"d":
                raise _Declined("the child declined")

    def digest(self) -> Callable[[], str]:
        """Ask the child for the staged records' digest; the function returned waits for it."""
        self._pipe.send_bytes(b"digest")

        def answer() -> str:
            message = self._receive()
            if message[:1] != b"h":
                raise _Declined("the child gave no digest")
            return message[1:].decode()

        return answer

    def _receive(self) -> bytes:
        try:
            return self._pipe.recv_bytes()
        except (EOFError, OSError):
            return b"x"  # it died

    def stop(self) -> None:
        """End the child (if it still runs), and collect it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)
        self._pipe.close()


def _serve(
    ranges: Sequence[Range], store: LoadsEmpty, stages: Sequence[StagingArea], pipe: Connection
) -> None:
    """The child's work: each batch of its ranges staged into the last area and counted to
    the parent, the area finished, then ``d`` (``x`` if it declines or fails); then, if asked,
    ``h`` and the digest of every area."""
    try:
        for lines in _lines(ranges):
            counts = Loaded()
            stages[-1].add(_stage(lines, counts))
            pipe.send_bytes(b"c%d %d %d" % (counts.records, counts.nodes, counts.edges))
        stages[-1].finish()
    except (_Declined, LoadDeclined):
        pipe.send_bytes(b"x")
        return
    except Exception:
        pipe.send_bytes(b"x")
        raise
    pipe.send_bytes(b"d")
    try:
        asked = pipe.recv_bytes()
    except EOFError:
        return
    if asked == b"digest":
        pipe.send_bytes(b"h" + store.staged_digest(stages).encode())
