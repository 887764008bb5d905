"""Bulk import (§3 of the contract): JSON Lines files and CSV folders.

Every record is read and validated before anything is written; one bad record means the whole
import is refused, with every problem reported as ``file:line: message``. The records that pass
are merged (a key given twice: later fields win) and written in one atomic store write.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from pathlib import Path
from typing import Any, cast

import orjson

from tracegraph import bulkload
from tracegraph.errors import BadInput, InvalidImport
from tracegraph.gcpause import cycles_collected_after
from tracegraph.model import (
    Edge,
    EntityType,
    Node,
    RecordError,
    RelType,
    _fast_json_lines,
    parse_record,
)
from tracegraph.store.base import GraphStore, LoadsEmpty, WriteRequest, WriteSummary
from tracegraph.udi import UdiError, parse_udi

#: How many problems an import reports before it says "and N more".
MAX_ERRORS = 100

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Raw:
    """One record as read, with the place it came from."""

    where: str
    record: Mapping[str, Any] | None
    problem: str | None = None
    #: fields of a node record that are set only when the import creates the node: a value a
    #: reader had to give (a required field) but only guessed, such as the time of an EPCIS
    #: packing event standing in for a shipment's shipping time; a node the store holds keeps
    #: its own
    provisional: frozenset[str] = frozenset()


# A frozen dataclass sets each field through object.__setattr__, most of the cost of making
# one; the reader, which makes one per line of a bulk import, fills the slots directly.
_RAW_SLOTS = tuple(vars(Raw)[f].__set__ for f in ("where", "record", "problem", "provisional"))
_NONE: frozenset[str] = frozenset()


def _record(where: str, record: dict[str, Any]) -> Raw:
    """``Raw(where, record)``, made the fast way."""
    raw: Raw = object.__new__(Raw)
    set_where, set_record, set_problem, set_provisional = _RAW_SLOTS
    set_where(raw, where)
    set_record(raw, record)
    set_problem(raw, None)
    set_provisional(raw, _NONE)
    return raw


@dataclass
class Parsed:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], Edge] = field(default_factory=dict)
    #: where each edge was first given, in the order `edges` holds them (a list, as a dict of a
    #: million entries costs more to fill than the rest of the work on one): (record number,
    #: place or None, else file name and line number), for a missing endpoint's report
    edge_origin: list[tuple[int, str | None, str, int]] = field(default_factory=list)
    #: (record number, message): sorted by record before reporting, so they read in file order
    errors: list[tuple[int, str]] = field(default_factory=list)
    records: int = 0
    #: node keys whose records were refused (edges to them are not reported again)
    refused: set[str] = field(default_factory=set)
    #: node key -> fields only guessed (`Raw.provisional`), kept only if the node is new
    provisional: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    records: int
    nodes: int
    edges: int
    summary: WriteSummary

    def as_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "nodes": self.nodes,
            "edges": self.edges,
            **self.summary.as_json(),
        }


# --------------------------------------------------------------------------- reading

#: How `parse` takes records from a reader that can give them in bulk: the file's name, the
#: line number of each entry, and the entries: records already checked, or Raw ones to check.
_Chunk = tuple[str, Iterable[int], Sequence[Node | Edge | Raw]]

#: Lines checked at a time: enough to spread the cost of a chunk, few enough to stream.
_CHUNK_LINES = 1024


class _Records(Iterator[Raw]):
    """What `read_jsonl` and `read_paths` return: to whoever iterates it, a Raw per record, as
    they promise. `parse`, handed one that nobody iterated yet, takes its records in chunks
    instead, most of them checked straight from their JSON text (``_fast_json_lines``): that
    spares a dict and a Raw per record, which were half the cost of a bulk import's checks."""

    def __init__(
        self, raws: Callable[[], Iterator[Raw]], chunks: Callable[[], Iterator[_Chunk]]
    ) -> None:
        self._raws: Iterator[Raw] | None = None
        self._make_raws, self._make_chunks = raws, chunks

    def __next__(self) -> Raw:
        if self._raws is None:
            self._raws = self._make_raws()
        return next(self._raws)

    def chunks(self) -> Iterator[_Chunk] | None:
        """The records in chunks, or None once they are being taken one by one."""
        if self._raws is not None:
            return None
        self._raws = iter(())
        return self._make_chunks()


def _raw_chunks(raws: Iterable[Raw]) -> Iterator[_Chunk]:
    """Records read one by one, as chunks (a Raw says where it came from itself)."""
    it = iter(raws)
    while chunk := list(islice(it, _CHUNK_LINES)):
        yield "", repeat(0), chunk


def _read_line(name: str, number: int, line: str | bytes) -> Raw | None:
    """One line of JSON Lines (None: a blank line, which is no record)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        # A blank line is no JSON either: asking only now spares every other line the test.
        if not line.strip():
            return None
        return Raw(f"{name}:{number}", None, f"not valid JSON ({exc.msg}, column {exc.colno})")
    if value.__class__ is not dict:
        return Raw(f"{name}:{number}", None, "a record must be a JSON object")
    return _record(f"{name}:{number}", value)


def _jsonl_raws(name: str, lines: Iterable[str | bytes]) -> Iterator[Raw]:
    for number, line in enumerate(lines, start=1):
        if (raw := _read_line(name, number, line)) is not None:
            yield raw


def _jsonl_chunks(name: str, lines: Iterable[str | bytes]) -> Iterator[_Chunk]:
    it, first = iter(lines), 1
    while chunk := list(islice(it, _CHUNK_LINES)):
        items, declined = _fast_json_lines(chunk)
        numbers: Iterable[int] = range(first, first + len(chunk))
        entries = cast(list[Node | Edge | Raw | None], items)
        if declined:
            numbers = list(numbers)
            for i in reversed(declined):
                raw = _read_line(name, first + i, chunk[i])
                if raw is None:
                    del entries[i], numbers[i]
                else:
                    entries[i] = raw
        yield name, numbers, cast(list[Node | Edge | Raw], entries)
        first += len(chunk)


def read_jsonl(name: str, lines: Iterable[str | bytes]) -> Iterator[Raw]:
    """The records of JSON Lines, one per line that is not blank; ``name`` names the place."""
    return _Records(lambda: _jsonl_raws(name, lines), lambda: _jsonl_chunks(name, lines))


def _csv_value(column: str, text: str) -> Any:
    if column == "attributes" and text.strip():
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text  # reported by validation as "not an object"
    return text


def read_csv(path: Path) -> Iterator[Raw]:
    type_name = path.stem
    if type_name not in EntityType.__members__ and type_name not in RelType.__members__:
        yield Raw(
            f"{path}:1",
            None,
            f"file name: {type_name!r} is not an entity or relationship type "
            "(a CSV file is named <Type>.csv)",
        )
        return
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        yield Raw(f"{path}:1", None, f"cannot read: {exc.strerror}")
        return
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        if "type" in header:
            yield Raw(f"{path}:1", None, "header: 'type' comes from the file name, not a column")
            return
        try:
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    yield Raw(where, None, f"{len(row)} cells but the header names {len(header)}")
                    continue
                record: dict[str, Any] = {"type": type_name}
                record.update(
                    {h: _csv_value(h, v) for h, v in zip(header, row, strict=True) if v != ""}
                )
                yield Raw(where, record)
        except csv.Error as exc:  # a cell over the csv module's limit (128 KiB), a NUL byte
            yield Raw(f"{path}:{reader.line_num}", None, f"not readable as CSV: {exc}")


def read_paths(paths: Sequence[str | Path]) -> Iterator[Raw]:
    """Records from JSON Lines files and CSV folders (or single ``<Type>.csv`` files)."""
    return _Records(lambda: _paths_raws(paths), lambda: _paths_chunks(paths))


def _sources(
    paths: Sequence[str | Path],
) -> Iterator[Iterator[Raw] | tuple[str, Iterable[bytes]]]:
    """Each path's records: read already (CSV, or a problem), or a JSON Lines file to read."""
    from tracegraph import epcis  # EPCIS 2.0 documents (that module imports this one)

    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(path.glob("*.csv"))
            if not files:
                yield iter([Raw(str(path), None, "folder holds no <Type>.csv files")])
            # Nodes before edges, so a reader sees a folder in a natural order.
            files.sort(key=lambda p: (p.stem in RelType.__members__, p.name))
            for file in files:
                yield read_csv(file)
        elif path.suffix.lower() == ".csv":
            yield read_csv(path)
        elif path.suffix.lower() in (".json", ".jsonld") and epcis.is_document(path):
            yield epcis.read(path)
        else:
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                yield iter([Raw(str(path), None, f"cannot read: {exc.strerror}")])
                continue
            with handle:
                # A byte order mark at the start is accepted, as it is in a CSV file.
                first = handle.readline().removeprefix(codecs.BOM_UTF8)
                yield str(path), chain([first] if first else [], handle)


def _paths_raws(paths: Sequence[str | Path]) -> Iterator[Raw]:
    for source in _sources(paths):
        yield from _jsonl_raws(*source) if isinstance(source, tuple) else source


def _paths_chunks(paths: Sequence[str | Path]) -> Iterator[_Chunk]:
    for source in _sources(paths):
        yield from _jsonl_chunks(*source) if isinstance(source, tuple) else _raw_chunks(source)


# --------------------------------------------------------------------------- validating


def parse(raws: Iterable[Raw], progress: Progress | None = None) -> Parsed:
    """Validate every record; duplicates of a key are merged field by field, later wins."""
    chunks = raws.chunks() if isinstance(raws, _Records) else None
    out = Parsed()
    # Locals, not attributes: this loop runs once per record of imports of millions.
    nodes, edges, origin, errors = out.nodes, out.edges, out.edge_origin, out.errors
    count = 0
    for name, numbers, entries in _raw_chunks(raws) if chunks is None else chunks:
        for number, entry in zip(numbers, entries, strict=False):  # numbers may not end
            count += 1
            if progress is not None and count % 1000 == 0:
                progress(count)
            guessed = _NONE
            if isinstance(entry, Raw):
                where, record, guessed = entry.where, entry.record, entry.provisional
                if record is None or entry.problem is not None:
                    errors.append((count, f"{where}: {entry.problem}"))
                    continue
                try:
                    item = parse_record(record)
                except RecordError as exc:
                    errors.append((count, f"{where}: {exc}"))
                    if (key := _key_of(record)) is not None:
                        out.refused.add(key)  # (the edges to it say nothing more)
                    continue
            else:
                where, item = None, entry
            if isinstance(item, Node):
                key = item.key
                if guessed or key in out.provisional:
                    item = _provisionally(out, nodes.get(key), item, guessed)
                seen = nodes.setdefault(key, item)
                if seen is not item:
                    nodes[key] = Node(item.type, item.id, {**seen.props, **item.props})
            else:
                ident = item.ident
                prior = edges.setdefault(ident, item)
                if prior is item:
                    origin.append((count, where, name, number))
                else:
                    merged = {**prior.props, **item.props}
                    edges[ident] = Edge(item.type, item.src, item.dst, merged)
    out.records = count
    for node in nodes.values():
        if node.type is EntityType.Device and (udi := node.props.get("udi")) is not None:
            node.props.update(udi_fields(udi))
    if progress is not None:
        progress(count)
    return out


def udi_fields(udi: str) -> dict[str, str]:
    """A device's fields derived from its UDI (``udi_di``, ``udi_lot``, ``udi_serial``,
    ``udi_expires``, ``udi_manufactured``): what can be read of it, nothing when it cannot be
    read at all (`tracegraph check` reports that)."""
    try:
        return parse_udi(udi, strict=False).derived()
    except UdiError:
        return {}


def _provisionally(out: Parsed, seen: Node | None, item: Node, guessed: frozenset[str]) -> Node:
    """A node record merged with what is guessed: a guessed field never overrides a value
    given for certain (earlier or later in the import), and is kept only if the import
    creates the node (`keep_guesses_for_new_nodes`)."""
    known = out.provisional.get(item.key, _NONE)
    if not guessed:  # a record for certain: what it gives is no longer a guess
        out.provisional[item.key] = known - set(item.props)
        return item
    certain = set(seen.props) - known if seen is not None else set()
    props = {k: v for k, v in item.props.items() if k not in guessed or k not in certain}
    out.provisional[item.key] = known | (guessed & set(props))
    return Node(item.type, item.id, props)


def keep_guesses_for_new_nodes(store: GraphStore, parsed: Parsed) -> None:
    """Drop the guessed fields of the nodes the store already holds: they keep their own."""
    guessed = {k: v for k, v in parsed.provisional.items() if v}
    for key in store.existing(guessed) if guessed else ():
        node = parsed.nodes[key]
        drop = guessed[key]
        parsed.nodes[key] = Node(
            node.type, node.id, {k: v for k, v in node.props.items() if k not in drop}
        )


def _key_of(record: Mapping[str, Any]) -> str | None:
    """The key a refused node record names, if it names one (for the edges to it)."""
    kind, ident = record.get("type"), record.get("id")
    if isinstance(kind, str) and kind in EntityType.__members__ and isinstance(ident, str):
        return f"{kind}:{ident.strip()}"
    return None


def check_endpoints(store: GraphStore, parsed: Parsed) -> None:
    """An edge must join nodes that exist in the store or in the same import."""
    nodes = parsed.nodes
    outside = {
        key for edge in parsed.edges.values() for key in (edge.src, edge.dst) if key not in nodes
    }
    if not outside:
        return
    missing = outside - store.existing(outside)
    if not missing:
        return
    for edge, (number, where, name, line) in zip(
        parsed.edges.values(), parsed.edge_origin, strict=True
    ):
        for end, key in (("from", edge.src), ("to", edge.dst)):
            if key in missing and key not in parsed.refused:  # (its record's error says why)
                parsed.errors.append(
                    (
                        number,
                        f"{where or f'{name}:{line}'}: field '{end}': {key} exists neither in the "
                        "store nor in this import",
                    )
                )


def refuse(errors: Sequence[str]) -> InvalidImport:
    shown = list(errors[:MAX_ERRORS])
    if len(errors) > MAX_ERRORS:
        shown.append(f"... and {len(errors) - MAX_ERRORS} more problems")
    noun = "problem" if len(errors) == 1 else "problems"
    return InvalidImport(
        f"{errors[0]}"
        + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
        + f" — import refused, nothing written ({len(errors)} {noun})",
        details=shown,
    )


@cycles_collected_after()
def import_records(
    store: GraphStore,
    raws: Iterable[Raw],
    request: WriteRequest,
    progress: Progress | None = None,
    name: str | None = None,
) -> ImportReport:
    parsed = parse(raws, progress)
    if parsed.records == 0:
        raise BadInput(f"{name}: holds no records" if name else "the import holds no records")
    check_endpoints(store, parsed)
    keep_guesses_for_new_nodes(store, parsed)
    if parsed.errors:
        raise refuse([message for _, message in sorted(parsed.errors, key=lambda e: e[0])])
    # In key order, by the keys the merge already holds (a property per record costs more).
    nodes = [parsed.nodes[key] for key in sorted(parsed.nodes)]
    edges = _in_ident_order(parsed.edges)
    summary = store.write(nodes, edges, request)
    return ImportReport(parsed.records, len(nodes), len(edges), summary)


def _in_ident_order(edges: Mapping[tuple[str, str, str], Edge]) -> list[Edge]:
    """The edges sorted by identity (type, from, to). Each identity is joined into one text
    by NUL, which sorts before any character and is in no key or type name (a key may hold
    no control character), so the texts sort as the tuples do: comparing a million tuples
    of three texts cost twice as much."""
    texts = list(map("\0".join, edges))
    order = sorted(range(len(texts)), key=texts.__getitem__)
    del texts
    values = list(edges.values())
    return list(map(values.__getitem__, order))


def import_paths(
    store: GraphStore,
    paths: Sequence[str | Path],
    request: WriteRequest,
    progress: Progress | None = None,
) -> ImportReport:
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise BadInput(
            f"{', '.join(missing)}: no such file or folder",
            details=[f"{m}: missing" for m in missing],
        )
    name = ", ".join(str(p) for p in paths)
    # The first load of an empty store takes a shortcut, which steps aside (writing nothing)
    # wherever it could not say what this import would (tracegraph/bulkload.py).
    if isinstance(store, LoadsEmpty) and (files := bulkload.jsonl_files(paths)) is not None:
        done = bulkload.load(store, files, request, progress)
        if done is not None:
            loaded, summary = done
            return ImportReport(loaded.records, loaded.nodes, loaded.edges, summary)
    return import_records(store, read_paths(paths), request, progress, name=name)
