"""`tracegraph common-cause`: the risk-hotspot list."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.app import AsOf, Db, Fmt, app, failures, option_time, store_for
from cli.render import Format, console, counts_table, csv_text, default_format, echo_json, table
from tracegraph.commoncause import common_cause as run_common_cause
from tracegraph.model import Severity, bound_end

CSV_HEADER = [
    "rank",
    "key",
    "type",
    "name",
    "cases",
    "exposure",
    "rate",
    "p_value",
    "case_devices",
]

#: The table lists the case devices by key up to this many (JSON and CSV always have them).
TABLE_CASES = 20


@app.command("common-cause")
def common_cause(
    devices: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[KEY...]",
            help="Case devices (Device:id). Without any: every device with a complaint "
            "matching --severity / --from / --to.",
            show_default=False,
        ),
    ] = None,
    severity: Annotated[
        Severity | None,
        typer.Option(help="Only complaints of this severity.", show_default=False),
    ] = None,
    product: Annotated[
        str | None,
        typer.Option(
            help="Product id or key: the population (and the cases) are the devices built in "
            "its batches [default: every device].",
            show_default=False,
        ),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Only complaints reported at or after this time (ISO 8601 date or date-time).",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Only complaints reported at or before this time (a date covers that whole day).",
            show_default=False,
        ),
    ] = None,
    db: Db = None,
    fmt: Fmt = None,
    as_of: AsOf = None,
) -> None:
    """The upstream lots, suppliers, batches, equipment, processes and change orders that two
    or more case devices share, most suspicious first: cases reached, exposure (devices
    reached), rate, and the hypergeometric p-value of that many cases among that many devices."""
    with failures():
        start = option_time("--from", from_)
        end = option_time("--to", to, bound_end)
        with store_for(db, as_of) as store:
            result = run_common_cause(
                store,
                devices or (),
                severity=str(severity) if severity is not None else None,
                product=product,
                start=start,
                end=end,
            ).as_json()
        _render(result, default_format(fmt))


def _render(result: dict[str, Any], form: Format) -> None:
    ranking = result["ranking"]
    if form is Format.json:
        echo_json(result)
        return
    if form is Format.csv:
        rows = [
            (
                rank,
                h["key"],
                h["type"],
                h["name"],
                h["cases"],
                h["exposure"],
                h["rate"],
                h["p_value"],
                " ".join(h["case_devices"]),
            )
            for rank, h in enumerate(ranking, start=1)
        ]
        typer.echo(csv_text(CSV_HEADER, rows), nl=False)
        return
    out = console()
    cases = result["cases"]
    out.print(
        f"Cases: {len(cases)} of a population of {result['population']} devices "
        f"({result['population_scope']})"
        + (f": {', '.join(cases)}" if 0 < len(cases) <= TABLE_CASES else "")
    )
    if not ranking:
        out.print("No upstream entity reaches two or more cases.")
    else:
        header = ["rank", "key", "name", "cases", "exposure", "rate", "p-value", "p (BH)"]
        cells = [
            [
                str(rank),
                h["key"],
                h["name"] or "",
                str(h["cases"]),
                str(h["exposure"]),
                f"{h['rate']:.0%}",
                f"{h['p_value']:.3g}",
                f"{h['p_adjusted']:.3g}",
            ]
            for rank, h in enumerate(ranking, start=1)
        ]
        if not _name_fits(header, cells, out.width):
            # Too narrow for a column of names beside the keys and figures (an 80-column
            # terminal): each name goes under its key.
            header = ["rank", "key / name", *header[3:]]
            cells = [[r[0], f"{r[1]}\n{r[2]}" if r[2] else r[1], *r[3:]] for r in cells]
        ranked = table(None, header, cells)
        for column in ranked.columns:  # a cut key or number is useless; let the name wrap
            column.no_wrap = column.header not in ("name", "key / name")
        out.print(ranked)
        out.print(
            f"{len(ranking)} candidates were tested, so a small p-value can be luck: p (BH) is "
            "adjusted for that many (Benjamini-Hochberg), the false discovery rate at which "
            "each would be called."
        )
    out.print(counts_table("counts", result["counts"]))


#: The narrowest the name column may be before names go under their keys.
NAME_WIDTH = 16


def _name_fits(header: list[str], rows: list[list[str]], width: int) -> bool:
    """Whether a table of these rows leaves the name column (the third) `NAME_WIDTH`
    characters, or its longest name if shorter, beside the other columns whole (a column
    takes its widest cell, and each three more for its border and padding)."""
    others = sum(
        max(len(cell) for cell in (name, *(r[n] for r in rows)))
        for n, name in enumerate(header)
        if n != 2
    )
    names = max((len(r[2]) for r in rows), default=0)
    return others + min(names, NAME_WIDTH) + 3 * len(header) + 1 <= width
