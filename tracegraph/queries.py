"""Loads the named Cypher files under `cypher/` once, and fails fast on a bad one.

Each file holds one query and starts with a header of `//` comments::

    // name: node_get
    // mode: read            (read | write | schema)
    // params: keys: list[str]
    // returns: key: str, props: map

The name must equal the file's stem and be unique; a query whose text contains no `$` still
declares `params: none`. Labels and relationship types are spelled out in the files (Cypher
cannot take them as parameters in variable-length patterns); a test checks them against the
model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Mode = Literal["read", "write", "schema"]

_HEADER = re.compile(r"^//\s*(name|mode|params|returns):\s*(.*?)\s*$")


@dataclass(frozen=True)
class NamedQuery:
    name: str
    mode: Mode
    params: tuple[str, ...]
    returns: str
    text: str


class QueryFileError(RuntimeError):
    """A `.cypher` file is malformed: a packaging bug, not a user error."""


def _names(params: str) -> tuple[str, ...]:
    """Parameter names of a header line such as ``rows: list[{key, id}], at: datetime``."""
    flat = params
    while True:
        inner = re.sub(r"[\[{(][^\[\]{}()]*[\]})]", "", flat)
        if inner == flat:
            break
        flat = inner
    return tuple(part.split(":")[0].strip().lstrip("$") for part in flat.split(","))


def parse(filename: str, source: str) -> NamedQuery:
    header: dict[str, str] = {}
    body: list[str] = []
    for line in source.splitlines():
        match = _HEADER.match(line)
        if match and not body:
            header[match.group(1)] = match.group(2)
        elif line.strip() or body:
            body.append(line)
    stem = filename.removesuffix(".cypher")
    missing = [f for f in ("name", "mode", "params", "returns") if f not in header]
    if missing:
        raise QueryFileError(f"{filename}: header lacks {', '.join(missing)}")
    if header["name"] != stem:
        raise QueryFileError(f"{filename}: name {header['name']!r} differs from the file name")
    if header["mode"] not in ("read", "write", "schema"):
        raise QueryFileError(f"{filename}: mode must be read, write or schema")
    declared = () if header["params"] == "none" else _names(header["params"])
    text = "\n".join(body).strip()
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))
    if used != set(declared):
        raise QueryFileError(
            f"{filename}: parameters used {sorted(used)} but declared {sorted(declared)}"
        )
    mode: Mode = header["mode"]  # type: ignore[assignment]
    return NamedQuery(stem, mode, declared, header["returns"], text)


@cache
def load_all() -> dict[str, NamedQuery]:
    found: dict[str, NamedQuery] = {}
    for entry in sorted(resources.files("cypher").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".cypher"):
            continue
        query = parse(entry.name, entry.read_text(encoding="utf-8"))
        if query.name in found:
            raise QueryFileError(f"{entry.name}: duplicate query name {query.name!r}")
        found[query.name] = query
    return found


def get(name: str) -> NamedQuery:
    queries = load_all()
    if name not in queries:
        raise QueryFileError(f"no Cypher file named {name}.cypher")
    return queries[name]
