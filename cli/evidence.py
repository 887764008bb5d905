"""`tracegraph evidence`: export a device's or batch's evidence chain, or verify a package.

One command with two forms (`evidence KEY --out PATH`, `evidence verify PATH`): Click cannot
give a group both a positional argument of its own and subcommands, and the contract spells
both forms under the one name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.app import AsOf, Db, Fmt, app, failures, option_time, store_for
from cli.render import Format, console, csv_text, default_format, echo_json, table
from tracegraph.errors import BadInput
from tracegraph.evidence import evidence as run_evidence
from tracegraph.evidence import verify_package, write_package

FINDING_HEADER = ["severity", "rule", "subject", "message", "evidence"]


@app.command(
    "evidence",
    help="""Export the evidence chain of a Device or Batch as a BagIt package, or verify one.

\b
  tracegraph evidence KEY --out PATH
      KEY is a Device or Batch (Type:id). Writes its upstream and downstream genealogy,
      every record about it (inspections, maintenance around each use of the equipment,
      supplier certificates with their validity at each lot's receipt, change orders,
      processes and documents), a timeline and the automatic findings as a BagIt bag
      (RFC 8493): data/evidence.json, data/timeline.csv, data/report.html. PATH is a new
      folder, or a .zip file. An existing file or non-empty folder is never overwritten.
      Prints the findings. Exit 0 when written (findings or not), 2 for bad input.

\b
  tracegraph evidence verify PATH
      Recomputes every checksum of a package (folder or .zip) and names each altered,
      missing or added file, one per line on stderr. Exit 0 when intact, 1 when not,
      2 when PATH is not a BagIt package.""",
)
def evidence(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="KEY | verify PATH",
            help="A Device or Batch key, or `verify` followed by a package path.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write the package: a folder, or a .zip."),
    ] = None,
    db: Db = None,
    fmt: Fmt = None,
    as_of: AsOf = None,
) -> None:
    with failures():
        if args[0] == "verify":
            if len(args) != 2:
                raise BadInput("usage: tracegraph evidence verify PATH (one package)")
            if out is not None or as_of is not None:
                raise BadInput("--out and --as-of are for `evidence KEY`, not for verify")
            _verify(Path(args[1]), fmt)
            return
        if len(args) != 1:
            raise BadInput(
                f"one key at a time (got {len(args)}): tracegraph evidence KEY --out PATH"
            )
        if out is None:
            raise BadInput("--out PATH is required: where to write the package (folder or .zip)")
        when = option_time("--as-of", as_of)
        with store_for(db, as_of) as store:
            chain = run_evidence(store, args[0], as_of=when)
        path = write_package(chain, out)
        _render_written(chain.as_json(), path, fmt)


def _render_written(doc: dict[str, Any], path: Path, fmt: Format | None) -> None:
    findings = doc["findings"]
    form = default_format(fmt)
    if form is Format.json:
        echo_json(
            {
                "package": str(path),
                "subject": doc["subject"]["key"],
                "as_of": doc["as_of"],
                "findings": findings,
                "counts": doc["counts"],
            }
        )
    elif form is Format.csv:
        rows = [
            (f["severity"], f["rule"], f["subject"], f["message"], " ".join(f["evidence"]))
            for f in findings
        ]
        typer.echo(csv_text(FINDING_HEADER, rows), nl=False)
    else:
        screen = console()
        counts = doc["counts"]
        screen.print(
            f"Evidence chain of {doc['subject']['key']}: {counts['nodes']} nodes, "
            f"{counts['timeline']} dated facts, {_plural(counts['findings'], 'finding')}"
        )
        if findings:
            screen.print(
                table(
                    "Findings",
                    ["severity", "rule", "subject", "finding"],
                    [(f["severity"], f["rule"], f["subject"], f["message"]) for f in findings],
                )
            )
        screen.print(f"Wrote {path}")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _verify(path: Path, fmt: Format | None) -> None:
    report = verify_package(path)
    form = default_format(fmt)
    if form is Format.json:
        echo_json(report.as_json())
    elif form is Format.csv:
        rows = [
            *(("altered", n) for n in report.altered),
            *(("missing", n) for n in report.missing),
            *(("added", n) for n in report.added),
            *(("problem", p) for p in report.problems),
        ]
        typer.echo(csv_text(["status", "file"], rows), nl=False)
    elif report.ok:
        console().print(f"{path}: intact ({_plural(report.files, 'file')} checked)")
    else:
        # The verdict on stdout, where `verify`'s answer goes; each problem on stderr.
        broken = len(report.altered) + len(report.missing) + len(report.added)
        console().print(
            f"{path}: NOT intact: {_plural(broken, 'file')} altered, missing or added, "
            f"{_plural(len(report.problems), 'problem')} ({report.files} files checked)"
        )
    if not report.ok:
        for line in report.lines():
            typer.echo(f"tracegraph: {path}: {line}", err=True)
        raise typer.Exit(1)
