"""Loads the named Cypher files under `cypher/` once, and fails fast on a bad one.

Each file holds one query and starts with a header of `//` comments::

    // name: node_get
    // mode: read            (read | write | schema)
    // params: keys: list[str]
    // returns: key: str, props: map

The name must equal the file's stem and be unique; a query whose text contains no `$` still
declares `params: none`. Nothing the model defines is typed into a file twice:

- **Placeholders.** ``{{GENEALOGY}}``, ``{{DESIGN}}``, ``{{EVIDENCE}}``, ``{{MAKING}}`` and
  ``{{OUTPUT}}`` expand to the model's relationship-type tuple of that name joined with ``|``,
  ``{{MAX_HOPS}}`` to `model.MAX_HOPS` (Cypher cannot take types or a hop bound as parameters in
  a variable-length pattern). An unknown placeholder fails the load.
- **Derived as-of twins.** A read whose header has the line ``// as_of: derived`` also defines
  the query ``<name>_as_of``: its text is the file's with every ``/*as_of: …*/`` fragment
  unwrapped (the text after ``as_of:`` and one optional space, up to ``*/``, on one line),
  while the file's own query drops the fragments (trailing blanks go, and so does a line that
  held only fragments). The twin's params are the file's plus ``as_of: datetime``; its returns
  are those of an ``// as_of returns: …`` header line, else the file's. So
  ``WHERE type(r) IN $types /*as_of: AND r._c <= $as_of*/`` reads, in the twin,
  ``WHERE type(r) IN $types AND r._c <= $as_of``, and ``[/*as_of: rs*/:{{OUTPUT}}*1..{{MAX_HOPS}}]``
  reads ``[rs:PRODUCED|INSTALLED_IN*1..100]`` (and ``[:PRODUCED|INSTALLED_IN*1..100]`` in the
  base: bind a path's relationships only where the twin filters them). A twin that is not a
  few fragments away from its base may be a file of its own, but not both: a file and a
  derived twin of one name fail the load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources, util
from typing import Literal

from tracegraph.model import DESIGN, EVIDENCE, GENEALOGY, MAKING, MAX_HOPS, OUTPUT

Mode = Literal["read", "write", "schema"]

_HEADER = re.compile(r"^//\s*(name|mode|params|returns|as_of|as_of returns):\s*(.*?)\s*$")
_FRAGMENT = re.compile(r"/\*as_of: ?(.*?)\*/")
_PLACEHOLDER = re.compile(r"\{\{(\w*)\}\}")

#: What each ``{{NAME}}`` in a query file stands for.
PLACEHOLDERS: Mapping[str, str] = {
    **{
        name: "|".join(str(t) for t in types)
        for name, types in (
            ("GENEALOGY", GENEALOGY),
            ("DESIGN", DESIGN),
            ("EVIDENCE", EVIDENCE),
            ("MAKING", MAKING),
            ("OUTPUT", OUTPUT),
        )
    },
    "MAX_HOPS": str(MAX_HOPS),
}

AS_OF_SUFFIX = "_as_of"


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


def _expand(where: str, text: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1) not in PLACEHOLDERS:
            raise QueryFileError(
                f"{where}: unknown placeholder {match.group(0)!r}"
                f" (known: {', '.join(sorted(PLACEHOLDERS))})"
            )
        return PLACEHOLDERS[match.group(1)]

    out = _PLACEHOLDER.sub(one, text)
    if "{{" in out:
        raise QueryFileError(f"{where}: malformed placeholder (expected {{{{NAME}}}})")
    return out


def _variant(body: list[str], as_of: bool) -> str:
    """The body with its ``/*as_of: …*/`` fragments unwrapped (`as_of`) or dropped."""
    lines: list[str] = []
    for line in body:
        if not _FRAGMENT.search(line):
            lines.append(line)
            continue
        out = _FRAGMENT.sub((lambda m: m.group(1)) if as_of else "", line).rstrip()
        if out.strip():
            lines.append(out)
    return "\n".join(lines).strip()


def _query(
    where: str, name: str, mode: Mode, declared: tuple[str, ...], returns: str, text: str
) -> NamedQuery:
    text = _expand(where, text)
    if "/*as_of:" in text:
        raise QueryFileError(f"{where}: an /*as_of: fragment must end with */ on its line")
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))
    if used != set(declared):
        raise QueryFileError(
            f"{where}: parameters used {sorted(used)} but declared {sorted(declared)}"
        )
    return NamedQuery(name, mode, declared, returns, text)


def parse_file(filename: str, source: str) -> tuple[NamedQuery, ...]:
    """The file's query, then its derived ``<name>_as_of`` twin if the header asks for one."""
    header: dict[str, str] = {}
    body: list[str] = []
    for line in source.splitlines():
        match = _HEADER.match(line)
        if match and not body:
            if match.group(1) in header:
                raise QueryFileError(f"{filename}: header repeats {match.group(1)}")
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
    mode: Mode = header["mode"]  # type: ignore[assignment]
    declared = () if header["params"] == "none" else _names(header["params"])
    derived = "as_of" in header
    if derived and header["as_of"] != "derived":
        raise QueryFileError(f"{filename}: the only as_of header is '// as_of: derived'")
    if not derived and "as_of returns" in header:
        raise QueryFileError(f"{filename}: 'as_of returns' without '// as_of: derived'")
    if not derived and any(_FRAGMENT.search(line) for line in body):
        raise QueryFileError(f"{filename}: /*as_of: fragments without '// as_of: derived'")
    base = _query(filename, stem, mode, declared, header["returns"], _variant(body, False))
    if not derived:
        return (base,)
    if mode != "read":
        raise QueryFileError(f"{filename}: only a read can derive an as_of twin")
    if "as_of" in declared:
        raise QueryFileError(f"{filename}: a query that derives its as_of twin takes no $as_of")
    twin = _query(
        f"{filename} (as_of twin)",
        stem + AS_OF_SUFFIX,
        mode,
        (*declared, "as_of"),
        header.get("as_of returns", header["returns"]),
        _variant(body, True),
    )
    return (base, twin)


def parse(filename: str, source: str) -> NamedQuery:
    """The file's own query (`parse_file` also gives its derived twin)."""
    return parse_file(filename, source)[0]


def build(files: Iterable[tuple[str, str]]) -> dict[str, NamedQuery]:
    """Every query of these ``(filename, source)`` pairs, derived twins included, by name."""
    found: dict[str, NamedQuery] = {}
    origin: dict[str, str] = {}
    for filename, source in files:
        for query in parse_file(filename, source):
            own = query.name == filename.removesuffix(".cypher")
            where = filename if own else f"derived from {filename}"
            if query.name in found:
                raise QueryFileError(
                    f"duplicate query name {query.name!r}: {origin[query.name]} and {where}"
                    " (delete the file, or drop '// as_of: derived')"
                )
            found[query.name] = query
            origin[query.name] = where
    return dict(sorted(found.items()))


def _cypher_package() -> str:
    """Where the query files are: inside the package in an installed wheel (hatch_build.py),
    beside it in a checkout."""
    return "tracegraph.cypher" if util.find_spec("tracegraph.cypher") is not None else "cypher"


@cache
def load_all() -> dict[str, NamedQuery]:
    files = resources.files(_cypher_package())
    return build(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in sorted(files.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".cypher")
    )


def get(name: str) -> NamedQuery:
    queries = load_all()
    if name not in queries:
        raise QueryFileError(f"no Cypher query named {name} (a file, or a derived as_of twin)")
    return queries[name]
