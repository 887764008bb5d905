"""Bulk import (§3 of the contract): JSON Lines files and CSV folders.

Every record is read and validated before anything is written; one bad record means the whole
import is refused, with every problem reported as ``file:line: message``. The records that pass
are merged (a key given twice: later fields win) and written in one atomic store write.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tracegraph.errors import BadInput, InvalidImport
from tracegraph.gcpause import cycles_collected_after
from tracegraph.model import Edge, EntityType, Node, RecordError, RelType, parse_record
from tracegraph.store.base import GraphStore, WriteRequest, WriteSummary

#: How many problems an import reports before it says "and N more".
MAX_ERRORS = 100

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Raw:
    """One record as read, with the place it came from."""

    where: str
    record: Mapping[str, Any] | None
    problem: str | None = None


@dataclass
class Parsed:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], Edge] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    edge_where: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: (record number, message): sorted by record before reporting, so they read in file order
    errors: list[tuple[int, str]] = field(default_factory=list)
    edge_record: dict[tuple[str, str, str], int] = field(default_factory=dict)
    records: int = 0


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


def read_jsonl(name: str, lines: Iterable[str | bytes]) -> Iterator[Raw]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Raw(where, None, f"not valid JSON ({exc.msg}, column {exc.colno})")
            continue
        if not isinstance(value, dict):
            yield Raw(where, None, "a record must be a JSON object")
            continue
        yield Raw(where, value)


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


def read_paths(paths: Sequence[str | Path]) -> Iterator[Raw]:
    """Records from JSON Lines files and CSV folders (or single ``<Type>.csv`` files)."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(path.glob("*.csv"))
            if not files:
                yield Raw(str(path), None, "folder holds no <Type>.csv files")
            # Nodes before edges, so a reader sees a folder in a natural order.
            files.sort(key=lambda p: (p.stem in RelType.__members__, p.name))
            for file in files:
                yield from read_csv(file)
        elif path.suffix.lower() == ".csv":
            yield from read_csv(path)
        else:
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                yield Raw(str(path), None, f"cannot read: {exc.strerror}")
                continue
            with handle:
                yield from read_jsonl(str(path), handle)


# --------------------------------------------------------------------------- validating


def parse(raws: Iterable[Raw], progress: Progress | None = None) -> Parsed:
    """Validate every record; duplicates of a key are merged field by field, later wins."""
    out = Parsed()
    # Locals, not attributes: this loop runs once per record of imports of millions.
    nodes, edges, errors = out.nodes, out.edges, out.errors
    count = 0
    for raw in raws:
        count += 1
        if progress is not None and count % 1000 == 0:
            progress(count)
        if raw.problem is not None or raw.record is None:
            errors.append((count, f"{raw.where}: {raw.problem}"))
            continue
        try:
            item = parse_record(raw.record)
        except RecordError as exc:
            errors.append((count, f"{raw.where}: {exc}"))
            continue
        if isinstance(item, Node):
            key = item.key
            seen = nodes.get(key)
            if seen is None:
                nodes[key] = item
                out.where[key] = raw.where
            else:
                nodes[key] = Node(item.type, item.id, {**seen.props, **item.props})
        else:
            ident = item.ident
            prior = edges.get(ident)
            if prior is None:
                edges[ident] = item
                out.edge_where[ident] = raw.where
                out.edge_record[ident] = count
            else:
                edges[ident] = Edge(item.type, item.src, item.dst, {**prior.props, **item.props})
    out.records = count
    if progress is not None:
        progress(count)
    return out


def check_endpoints(store: GraphStore, parsed: Parsed) -> None:
    """An edge must join nodes that exist in the store or in the same import."""
    outside = {
        key
        for edge in parsed.edges.values()
        for key in (edge.src, edge.dst)
        if key not in parsed.nodes
    }
    known = store.existing(outside) if outside else set()
    for ident, edge in parsed.edges.items():
        for end, key in (("from", edge.src), ("to", edge.dst)):
            if key not in parsed.nodes and key not in known:
                parsed.errors.append(
                    (
                        parsed.edge_record[ident],
                        f"{parsed.edge_where[ident]}: field '{end}': {key} exists neither in "
                        "the store nor in this import",
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


def import_records(
    store: GraphStore,
    raws: Iterable[Raw],
    request: WriteRequest,
    progress: Progress | None = None,
    name: str | None = None,
) -> ImportReport:
    with cycles_collected_after():
        return _import_records(store, raws, request, progress, name)


def _import_records(
    store: GraphStore,
    raws: Iterable[Raw],
    request: WriteRequest,
    progress: Progress | None,
    name: str | None,
) -> ImportReport:
    parsed = parse(raws, progress)
    if parsed.records == 0:
        raise BadInput(f"{name}: holds no records" if name else "the import holds no records")
    check_endpoints(store, parsed)
    if parsed.errors:
        raise refuse([message for _, message in sorted(parsed.errors, key=lambda e: e[0])])
    # In key order, by the keys the merge already holds (a property per record costs more).
    nodes = [parsed.nodes[key] for key in sorted(parsed.nodes)]
    edges = [parsed.edges[ident] for ident in sorted(parsed.edges)]
    summary = store.write(nodes, edges, request)
    return ImportReport(parsed.records, len(nodes), len(edges), summary)


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
    return import_records(
        store, read_paths(paths), request, progress, name=", ".join(str(p) for p in paths)
    )
