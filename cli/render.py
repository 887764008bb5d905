"""Rendering answers for the terminal: JSON, CSV and Rich tables. No logic beyond layout."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Mapping, Sequence
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
