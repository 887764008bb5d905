"""Rendering answers for the terminal: JSON, CSV and Rich tables. No logic beyond layout."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from tracegraph.model import iso


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def default_format(given: Format | None) -> Format:
    """Table on a terminal, JSON when piped (scripts get something parseable)."""
    if given is not None:
        return given
    return Format.table if sys.stdout.isatty() else Format.json


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=iso).decode()


#: Items of a long list serialised together by `json_pieces`.
PIECE = 2_000


def echo_json(value: Any) -> None:
    """Print `dumps(value)` and a newline, written to stdout a piece at a time.

    A 1M-device recall is ~670 MB of JSON: made whole, decoded to text and encoded again to
    be printed, it took longer than the answer itself and held the answer three times over.
    """
    out = sys.stdout
    stream = getattr(out, "buffer", None)
    if stream is None:  # a text-only stdout (some test runners): the whole text at once
        out.write(dumps(value) + "\n")
        out.flush()
        return
    out.flush()
    for piece in json_pieces(value):
        stream.write(piece)
    stream.write(b"\n")
    stream.flush()


def json_pieces(value: Any, piece: int = PIECE, depth: int = 0) -> Iterator[bytes]:
    """The bytes of ``orjson.dumps(value, OPT_INDENT_2)`` in pieces: a dict's members one by
    one, a long list ``piece`` items at a time, anything else whole (indented to its depth)."""
    pad = b"  " * depth
    inner = pad + b"  "
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        yield b"{\n"
        last = len(value) - 1
        for i, (k, v) in enumerate(value.items()):
            yield inner + orjson.dumps(k) + b": "
            yield from json_pieces(v, piece, depth + 1)
            yield b",\n" if i < last else b"\n"
        yield pad + b"}"
    elif isinstance(value, list) and len(value) > piece:
        yield b"[\n"
        for start in range(0, len(value), piece):
            body = _indented(value[start : start + piece], depth)
            # "[\n" + items + "\n" + pad + "]": the items alone, joined to the next piece.
            yield body[2 : -2 - len(pad)]
            yield b",\n" if start + piece < len(value) else b"\n"
        yield pad + b"]"
    else:
        yield _indented(value, depth)


def _indented(value: Any, depth: int) -> bytes:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2, default=iso)
    # A newline in JSON text is only ever layout: one inside a string is written as \n.
    return text.replace(b"\n", b"\n" + b"  " * depth) if depth else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else iso(v) for v in row])
    return buffer.getvalue()


#: The longest word (a key, an id, a date) a column keeps whole when the table must shrink.
WHOLE_WORD = 48


def table(title: str | None, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A table that, when narrower than its text (a pipe is 80 columns), wraps text at spaces
    and keeps every word — a key, an id — whole up to `WHOLE_WORD` characters."""
    cells = [["" if v is None else str(iso(v)) for v in row] for row in rows]
    out = Table(title=title, title_justify="left", show_lines=False)
    for n, name in enumerate(header):
        words = [w for row in cells if n < len(row) for w in row[n].split()]
        longest = max((len(w) for w in [name, *words]), default=0)
        out.add_column(name, overflow="fold", min_width=min(longest, WHOLE_WORD))
    for row in cells:
        out.add_row(*row)
    return out


def counts_table(title: str, counts: Mapping[str, Any]) -> Table:
    return table(title, ["what", "count"], [(k, v) for k, v in counts.items()])


def console() -> Console:
    return Console(soft_wrap=False)
