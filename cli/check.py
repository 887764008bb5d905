"""`tracegraph check`: the data-quality and supplier-compliance rules over the store."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import AsOf, Db, Fmt, app, failures, option_time, store_for
from cli.render import Format, console, csv_text, default_format, echo_json, table
from tracegraph import checks
from tracegraph.checks import CheckReport, Level

#: Findings a table shows per rule before it says "N of M" (json and csv give them all).
TABLE_ROWS = 20


def render_table(report: CheckReport) -> None:
    out = console()
    counts = report.counts()
    out.print(
        f"Data-quality check as of {report.as_of:%Y-%m-%d %H:%M} UTC: "
        f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''} "
        f"from {len(report.rules)} rules"
    )
    out.print(
        table(
            "Rules",
            ["rule", "severity", "findings", "what it finds"],
            [(r.id, str(r.severity), counts[r.id], r.description) for r in report.rules],
        )
    )
    for r in report.rules:
        found = [f for f in report.findings if f.rule == r.id]
        if not found:
            continue
        shown = found[:TABLE_ROWS]
        title = f"{r.id} ({r.severity}): {len(shown)} of {len(found)}"
        out.print(table(title, ["finding"], [(f.message,) for f in shown]))
        if len(shown) < len(found):
            out.print(
                f"  {len(found) - len(shown)} more: tracegraph check --rule {r.id} --format json"
            )


@app.command()
def check(
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            help="Run only this rule (its id) or family (e.g. supplier); repeatable.",
            show_default=False,
        ),
    ] = None,
    fail_on: Annotated[
        Level,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a finding is at least this severe (error, warning or info).",
        ),
    ] = Level.error,
    within_days: Annotated[
        int,
        typer.Option(
            "--within-days", help="Warn of certificates that expire within this many days."
        ),
    ] = checks.DEFAULT_WITHIN_DAYS,
    list_rules: Annotated[
        bool, typer.Option("--list", help="List the rules (id, severity, what each finds).")
    ] = False,
    db: Db = None,
    fmt: Fmt = None,
    as_of: AsOf = None,
) -> None:
    """Run every data-quality and compliance rule over the store and list what each finds:
    dates out of order, records missing their links, impossible quantities, bad UDIs, lots
    from suppliers not qualified to deliver them, machines out of calibration, changes without
    approval, complaints not reported in time. Each finding names every record it is about.
    With --as-of the store is checked as it was then, and "now" is that time. Exit 0 when no
    finding reaches --fail-on, 1 when one does, 2 for bad input."""
    with failures():
        if list_rules:
            chosen = checks.rules(rule or ())
            if default_format(fmt) is Format.json:
                echo_json([_rule_json(r) for r in chosen])
            else:
                console().print(
                    table(
                        "Rules",
                        ["rule", "severity", "what it finds"],
                        [(r.id, str(r.severity), r.description) for r in chosen],
                    )
                )
            return
        when = option_time("--as-of", as_of)
        with store_for(db) as store:
            report = checks.run(store, selected=rule or (), within_days=within_days, as_of=when)
        form = default_format(fmt)
        if form is Format.json:
            echo_json(report.as_json())
        elif form is Format.csv:
            typer.echo(
                csv_text(
                    ["rule", "severity", "keys", "message"],
                    (
                        (f.rule, str(f.severity), " ".join(f.keys), f.message)
                        for f in report.findings
                    ),
                ),
                nl=False,
            )
        else:
            render_table(report)
    if report.reaches(fail_on):
        raise typer.Exit(1)


def _rule_json(r: checks.Rule) -> dict[str, str]:
    return {"id": r.id, "severity": str(r.severity), "description": r.description}
