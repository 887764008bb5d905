"""`tracegraph case open|list|show|notify|respond|close|drill` and `tracegraph report
fda-806|fsca|spreadsheet`: recall cases and the reports they feed (docs/cases.md)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.app import Db, Fmt, actor, app, failures, option_time, settings_for, store_for
from cli.render import Format, console, default_format, echo_json, table
from tracegraph import casereports, cases
from tracegraph.errors import BadInput
from tracegraph.model import bound_end

case_app = typer.Typer(
    name="case",
    help="Recall cases: a recall scope frozen at opening, consignees notified and their "
    "responses, the 21 CFR 7.42 effectiveness check (docs/cases.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(case_app, name="case")
report_app = typer.Typer(
    name="report",
    help="Reports from a recall case: FDA 806, EU FSCA, the device spreadsheet.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(report_app, name="report")

Suspects = Annotated[
    list[str],
    typer.Argument(metavar="SUSPECT...", help="Suspects, Type:id, as `tracegraph recall` takes."),
]
Start = Annotated[str | None, typer.Option("--from", help="Window start.", show_default=False)]
End = Annotated[
    str | None,
    typer.Option("--to", help="Window end (a date covers that whole day).", show_default=False),
]
CaseId = Annotated[str, typer.Argument(metavar="CASE", help="The case id, e.g. RC-2026-0001.")]
Customer = Annotated[
    str, typer.Argument(metavar="CUSTOMER", help="A consignee of the case: Customer:id or id.")
]
At = Annotated[str, typer.Option("--at", help="When it happened (ISO 8601).", show_default=False)]
Out = Annotated[Path, typer.Option("--out", help="The folder to write.", show_default=False)]


def _who(db: str | None) -> str:
    return actor(settings_for(db))


@case_app.command("open")
def open_(
    suspects: Suspects,
    title: Annotated[str, typer.Option("--title", help="The case's title.", show_default=False)],
    start: Start = None,
    end: End = None,
    level: Annotated[
        str,
        typer.Option("--level", help="21 CFR 7.42(b)(3) effectiveness check level, A to E."),
    ] = cases.DEFAULT_LEVEL,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why the recall.", show_default=False)
    ] = None,
    db: Db = None,
) -> None:
    """Open a recall case: run the recall now, freeze its scope, print the case id."""
    with failures():
        window = (option_time("--from", start), option_time("--to", end, bound_end))
        who = _who(db)
        with store_for(db, writes=True) as store:
            draft = cases.draft_case(
                store, suspects, title=title, actor=who, start=window[0], end=window[1],
                level=level, reason=reason,
            )  # fmt: skip
            made = cases.open_case(store, draft, who)
    typer.echo(made.id)


@case_app.command("list")
def list_(db: Db = None, fmt: Fmt = None) -> None:
    """Every recall case, oldest first."""
    with failures(), store_for(db) as store:
        found = [c.as_json() for c in cases.list_cases(store)]
    if default_format(fmt) is Format.json:
        echo_json({"cases": found})
        return
    columns = ["id", "status", "level", "title", "opened_at", "opened_by", "closed_at"]
    console().print(table("Recall cases", columns, [[c[k] for k in columns] for c in found]))


@case_app.command("show")
def show(
    case: CaseId,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Also say what a recall run now would change.")
    ] = False,
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """One case per consignee: devices in scope, notified (when, how), responded, returned,
    corrected; the effectiveness level's target against what is reached."""
    with failures(), store_for(db) as store:
        answer = cases.show(store, case, with_refresh=refresh).as_json()
    if default_format(fmt) is Format.json:
        echo_json(answer)
        return
    out = console()
    head = answer["case"]
    out.print(f"{head['id']} [{head['status']}] {head['title']} — level {head['level']}, "
              f"scope as of {head['as_of']}", markup=False)  # fmt: skip
    columns = ["id", "name", "devices", "notified_at", "notified_via", "responded_at",
               "returned", "corrected"]  # fmt: skip
    out.print(table("Consignees", columns, [[c[k] for k in columns] for c in answer["consignees"]]))
    e = answer["effectiveness"]
    out.print(
        f"effectiveness: level {e['level']} checks {e['target_percent']:g} % = "
        f"{e['target_consignees']} of {e['consignees']} consignees; checked {e['checked']} "
        f"({e['checked_percent']:g} %), notified {e['notified']}: "
        + ("target met" if e["met"] else "target not met"),
        markup=False,
    )
    for line in answer["missing"]:
        out.print(f"missing: {line}", markup=False)
    if "refresh" in answer:
        r = answer["refresh"]
        if not r["changed"]:
            out.print("refresh: a recall now gives the same scope", markup=False)
        for name in ("devices_added", "devices_removed", "consignees_added", "consignees_removed"):
            if r[name]:
                out.print(f"refresh: {name.replace('_', ' ')}: {', '.join(r[name])}", markup=False)


@case_app.command("notify")
def notify(
    case: CaseId,
    customer: Customer,
    at: At,
    via: Annotated[str, typer.Option("--via", help="letter, email, phone or visit.")] = "letter",
    db: Db = None,
) -> None:
    """Record that a consignee was notified."""
    with failures():
        when = option_time("--at", at)
        assert when is not None
        with store_for(db) as store:
            done = cases.notify(store, case, customer, at=when, actor=_who(db), via=via)
    typer.echo(f"{done.case}: {done.customer} notified by {via} (entry {done.n})")


@case_app.command("respond")
def respond(
    case: CaseId,
    customer: Customer,
    at: At,
    returned: Annotated[int, typer.Option("--returned", help="Devices returned.")] = 0,
    corrected: Annotated[int, typer.Option("--corrected", help="Devices corrected.")] = 0,
    note: Annotated[str | None, typer.Option("--note", show_default=False)] = None,
    db: Db = None,
) -> None:
    """Record a consignee's response: devices returned or corrected (they add up over
    responses), and a note."""
    with failures():
        when = option_time("--at", at)
        assert when is not None
        with store_for(db) as store:
            done = cases.respond(
                store, case, customer, at=when, actor=_who(db), returned=returned,
                corrected=corrected, note=note,
            )  # fmt: skip
    typer.echo(f"{done.case}: {done.customer} responded (entry {done.n})")


@case_app.command("close")
def close(case: CaseId, db: Db = None) -> None:
    """Close a case: it takes no more actions; its reports stay."""
    with failures(), store_for(db) as store:
        done = cases.close(store, case, _who(db))
    typer.echo(f"{done.id}: closed")


@case_app.command("drill")
def drill(
    suspects: Suspects,
    start: Start = None,
    end: End = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the reports [default: a temporary one].", show_default=False
        ),
    ] = None,
    db: Db = None,
    fmt: Fmt = None,
) -> None:
    """A mock recall: scope, the reports and the evidence in one command, timed per step;
    no case is kept."""
    with failures():
        window = (option_time("--from", start), option_time("--to", end, bound_end))
        target = out or Path(tempfile.mkdtemp(prefix="tracegraph-drill-"))
        if target.exists() and target.is_dir() and any(target.iterdir()):
            raise BadInput(f"{target}: a folder that is not empty; give a new one")
        with store_for(db) as store:
            result = cases.drill(
                store, suspects, target, casereports.firm_from(settings_for(db)),
                start=window[0], end=window[1], actor=_who(db),
            )  # fmt: skip
    answer = result.as_json()
    if default_format(fmt) is Format.json:
        echo_json(answer)
        return
    rows: list[list[Any]] = [
        [s["step"], f"{s['seconds']:.3f}", s["result"]] for s in answer["steps"]
    ]
    rows.append(["total", f"{answer['total_seconds']:.3f}", answer["out"]])
    console().print(table("Mock recall", ["step", "seconds", "result"], rows))


def _case(store: Any, case: str) -> Any:
    return cases.show(store, case).case


@report_app.command("fda-806")
def fda_806(case: CaseId, out: Out, db: Db = None) -> None:
    """The 21 CFR 806 report of a case: report.json, a printable report.html, consignees.csv."""
    with failures(), store_for(db) as store:
        report = casereports.write_fda806(
            _case(store, case), casereports.firm_from(settings_for(db)), out
        )
    _written(out, report)


@report_app.command("fsca")
def fsca(case: CaseId, out: Out, db: Db = None) -> None:
    """The EU FSCA report data (report.json), a field safety notice draft with the UDI, lot and
    serial lists (field-safety-notice.html) and devices.csv."""
    with failures(), store_for(db) as store:
        report = casereports.write_fsca(
            _case(store, case), casereports.firm_from(settings_for(db)), out
        )
    _written(out, report)


def _written(out: Path, report: dict[str, Any]) -> None:
    counts = report["counts"]
    typer.echo(f"{out}: {counts['devices']} devices, {counts['consignees']} consignees")
    for line in report["missing"]:
        typer.echo(f"missing: {line}", err=True)


@report_app.command("spreadsheet")
def spreadsheet(
    case: CaseId,
    out: Annotated[
        Path, typer.Option("--out", help="The .xlsx or .csv file to write.", show_default=False)
    ],
    db: Db = None,
) -> None:
    """One row per device in the case: product, GTIN, batch, serial, UDI, consignee, address,
    shipment, shipped at (.xlsx with filters and a frozen header, or .csv)."""
    with failures(), store_for(db) as store:
        rows = casereports.write_spreadsheet(_case(store, case), out)
    typer.echo(f"{out}: {rows} devices")
