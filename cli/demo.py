"""`tracegraph demo`: load the ECG-monitor scenario into a fresh embedded store and walk it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule

from cli.render import table
from tracegraph import casereports, cases, checks
from tracegraph.commoncause import common_cause
from tracegraph.demo import (
    DEMO_ACTOR,
    DEMO_OPERATION,
    DESIGN_CHANGE,
    FAILED_CALIBRATION,
    PROPOSED_CHANGE,
    SUSPECT_LOT,
    load_demo,
)
from tracegraph.errors import BadInput
from tracegraph.evidence import evidence
from tracegraph.impact import impact
from tracegraph.model import Direction, EntityType, RelType
from tracegraph.recall import recall
from tracegraph.settings import get_settings
from tracegraph.store.base import AuditEntry
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.trace import trace
from tracegraph.words import plural


def fresh_demo_store(path: Path) -> EmbeddedStore:
    """(Re)create the demo's store; never replace a store that holds anything but the demo."""
    if path.exists():
        existing = EmbeddedStore(path)
        try:
            if not all(_the_demos(e) for e in existing.audit_entries()):
                raise BadInput(
                    f"{path}: holds data other than the demo; choose another --db for the demo"
                )
        finally:
            existing.close()
        for part in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            part.unlink(missing_ok=True)
    return EmbeddedStore(path)


def _the_demos(entry: AuditEntry) -> bool:
    """Whether an audit entry is the demo's own: its load, or the case it opens."""
    return entry.operation == DEMO_OPERATION or (
        entry.actor == DEMO_ACTOR and str(entry.operation).startswith("case ")
    )


def command_name() -> tuple[str, str | None]:
    """How to run this program again from here, and a hint when that is not `tracegraph`:
    `make demo` runs ``.venv/bin/tracegraph``, which is not on PATH until the virtualenv is
    activated, so commands the demo suggests name the path it was run by."""
    ran = Path(sys.argv[0])
    found = shutil.which("tracegraph")
    if ran.name != "tracegraph" or (found and Path(found).resolve() == ran.resolve()):
        return "tracegraph", None
    shown = (
        os.path.relpath(ran)
        if not ran.is_absolute() or ran.is_relative_to(Path.cwd())
        else str(ran)
    )
    activate = ran.parent / "activate"
    hint = f"(`{shown}` is not on your PATH"
    if activate.exists():
        hint += f"; `source {os.path.relpath(activate)}` puts `tracegraph` there"
    return shown, hint + ")"


def _recall_summary(out: Console, scope: dict[str, Any]) -> None:
    counts = scope["counts"]
    out.print(
        f"{plural(counts['devices'], 'device')} in "
        f"{plural(counts['batches'], 'batch', 'batches')}, "
        f"{plural(counts['shipments'], 'shipment')} to {plural(counts['customers'], 'customer')}; "
        f"{plural(counts['complaints'], 'complaint')}, "
        f"{plural(counts['service_events'], 'service event')}."
    )
    rows = [
        (c["name"], c.get("country"), c["devices"])
        for c in sorted(scope["customers"], key=lambda c: (-c["devices"], c["key"]))
    ]
    out.print(table(None, ["hospital", "country", "affected devices"], rows))


def run_demo(path: Path, out: Console) -> None:
    store = fresh_demo_store(path)
    report = load_demo(store)
    out.print(Rule("TraceGraph demo: the ECG-monitor scenario"))
    out.print(
        f"Loaded {report.records} records ({report.nodes} nodes, {report.edges} edges) "
        f"from PLM, QMS, MES, CMMS and ERP into the embedded store [bold]{path}[/]."
    )

    complaints = store.nodes(store.keys_of_type(EntityType.Complaint))
    by_device = {
        e.dst: e.src for e in store.edges(list(complaints), [RelType.HAS_COMPLAINT], Direction.up)
    }
    out.print(Rule("1. Complaints arrive from the field"))
    rows = [
        (
            c.props["reported_at"].date(),
            c.props["severity"],
            by_device.get(k, "?"),
            c.props.get("description"),
        )
        for k, c in sorted(complaints.items(), key=lambda kv: kv[1].props["reported_at"])
    ]
    out.print(table(None, ["reported", "severity", "device", "description"], rows))

    worst = next(
        (k for k, c in complaints.items() if c.props["severity"] in ("death", "serious_injury")),
        next(iter(complaints)),
    )
    device = by_device[worst]
    out.print(Rule(f"2. Where did {device} come from? (trace --up)"))
    up = trace(store, device, Direction.up).as_json()
    interesting = [
        n
        for n in up["nodes"]
        if n["type"] in ("MaterialLot", "Supplier", "Equipment", "Batch", "ChangeOrder", "Process")
    ]
    interesting.sort(key=lambda n: (n["depth"], n["key"]))
    out.print(
        table(
            None,
            ["hops", "upstream", "key"],
            [(n["depth"], n["type"], n["key"]) for n in interesting],
        )
    )

    out.print(Rule("3. Which upstream entity explains the complaints? (common-cause)"))
    ranking = common_cause(store).as_json()["ranking"]
    out.print(
        table(
            "Most suspicious first (p: chance of so many cases among its devices by luck)",
            ["upstream", "name", "cases", "devices", "rate", "p"],
            [
                (
                    r["key"],
                    r.get("name"),
                    r["cases"],
                    r["exposure"],
                    f"{r['rate']:.0%}",
                    f"{r['p_value']:.3g}",
                )
                for r in ranking[:6]
            ],
        )
    )

    out.print(Rule(f"4. Recall scope of {ranking[0]['key']} (recall)"))
    scope = recall(store, [ranking[0]["key"]]).as_json()
    _recall_summary(out, scope)

    out.print(Rule(f"5. The failed calibration {FAILED_CALIBRATION} (recall)"))
    scope = recall(store, [FAILED_CALIBRATION]).as_json()
    _recall_summary(out, scope)
    if scope["devices"]:
        out.print(
            f"  e.g. {scope['devices'][0]['key']}: " + " → ".join(scope["devices"][0]["path"])
        )

    out.print(Rule(f"6. What does the design change {DESIGN_CHANGE} touch? (impact)"))
    change = impact(store, DESIGN_CHANGE).as_json()
    out.print(
        table(
            None,
            ["category", "count"],
            [(name.replace("_", " "), count) for name, count in change["counts"].items()],
        )
    )
    out.print(
        f"{change['counts']['devices_before']} devices built before the change are field-action "
        f"candidates; `tracegraph impact {PROPOSED_CHANGE.partition(':')[2]} --db {path}` shows "
        "a proposed "
        "change as a what-if."
    )

    out.print(Rule(f"7. The evidence an auditor gets for {device} (evidence)"))
    chain = evidence(store, device)
    out.print(
        table(
            "Findings, flagged automatically",
            ["rule", "subject", "finding"],
            [(f.rule, f.subject, f.message) for f in chain.findings],
        )
    )
    out.print(
        f"`tracegraph evidence {device} --out evidence.zip --db {path}` writes it as a BagIt "
        "package (JSON, CSV timeline, HTML report); `tracegraph evidence verify evidence.zip` "
        "names any file altered since."
    )

    out.print(Rule("8. What else is wrong in the data? (check)"))
    quality = checks.run(store)
    suspect = ranking[0]["key"]
    about = [f for f in quality.findings if suspect in f.keys]
    out.print(
        table(
            f"{len(quality.findings)} data-quality findings; those about {suspect} first",
            ["rule", "severity", "finding"],
            [
                (f.rule, str(f.severity), f.message)
                for f in [*about, *(f for f in quality.findings if f not in about)]
            ],
        )
    )
    if about:
        out.print(
            "The lot behind the complaints came in while its supplier was not qualified: "
            "the finding `tracegraph check` gives before any complaint arrives."
        )

    out.print(Rule(f"9. A recall case for {suspect}, and its FDA 806 draft (case, report)"))
    case = cases.open_case(
        store,
        cases.draft_case(
            store,
            [suspect],
            title=f"Recall of devices built with {suspect}",
            actor=DEMO_ACTOR,
            level="A",
            reason="ECG baseline noise, reboots and a late arrhythmia alarm (CMP-0438)",
        ),
        DEMO_ACTOR,
    )
    reports = path.with_name(f"{path.stem}-{case.id}-806")
    draft = casereports.write_fda806(case, casereports.firm_from(get_settings()), reports)
    out.print(
        f"Case {case.id} (level A: every consignee checked) froze the scope as of "
        f"{case.as_of:%Y-%m-%d %H:%M} UTC: {plural(draft['counts']['devices'], 'device')} at "
        f"{plural(draft['counts']['consignees'], 'consignee')}. The 806 draft is in "
        f"[bold]{reports}[/] (report.json, report.html, consignees.csv)."
    )
    if draft["missing"]:
        out.print(
            "It lists what the store cannot know, to fill in before it is sent: "
            + "; ".join(draft["missing"][:3])
            + ("; …" if len(draft["missing"]) > 3 else "")
        )

    out.print(Rule("Explore"))
    cmd, hint = command_name()
    if hint:
        out.print(hint, soft_wrap=True)
    out.print(f"  {cmd} check --db {path}", soft_wrap=True)
    out.print(f"  {cmd} case show {case.id} --db {path}", soft_wrap=True)
    out.print(f"  {cmd} trace {SUSPECT_LOT} --down --db {path}", soft_wrap=True)
    out.print(f"  {cmd} trace {device} --up --format json --db {path}", soft_wrap=True)
    out.print("In the browser (docs/web.md walks through the story):")
    out.print(
        f"  {cmd} keys create --role auditor --db {path}   # prints a key, once", soft_wrap=True
    )
    out.print(f"  {cmd} serve --db {path}", soft_wrap=True)
    out.print("  then open http://127.0.0.1:8000/ and paste the key. Follow the story:")
    out.print("  the serious-injury complaint, the hotspot ranking (the lot first),")
    out.print("  Recall (affected devices per hospital), the device's evidence download.")
    out.print("  (An analyst key, --role analyst, sees everything but the evidence.)")
