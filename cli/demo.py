"""`tracegraph demo`: load the ECG-monitor scenario into a fresh embedded store and walk it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from cli.render import table
from tracegraph.demo import DEMO_OPERATION, SUSPECT_LOT, load_demo
from tracegraph.errors import BadInput
from tracegraph.model import GENEALOGY, Direction, EntityType, RelType
from tracegraph.store.embedded import EmbeddedStore
from tracegraph.trace import trace


def fresh_demo_store(path: Path) -> EmbeddedStore:
    """(Re)create the demo's store; never replace a store that holds anything but the demo."""
    if path.exists():
        existing = EmbeddedStore(path)
        if any(e.operation != DEMO_OPERATION for e in existing.audit_entries()):
            raise BadInput(
                f"{path}: holds data other than the demo; choose another --db for the demo"
            )
        path.unlink()
    return EmbeddedStore(path)


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
        e.dst: e.src for e in store.hop(list(complaints), [RelType.HAS_COMPLAINT], Direction.up)
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

    out.print(Rule(f"3. Where did the capacitor lot {SUSPECT_LOT} go? (trace --down)"))
    down = trace(store, SUSPECT_LOT, Direction.down).as_json()
    kinds: dict[str, int] = {}
    for n in down["nodes"]:
        if n["key"] != SUSPECT_LOT:
            kinds[n["type"]] = kinds.get(n["type"], 0) + 1
    out.print(table(None, ["reached", "count"], sorted(kinds.items())))
    customers = store.nodes(
        k
        for k in store.reach([SUSPECT_LOT], GENEALOGY, Direction.down)
        if k.startswith("Customer:")
    )
    out.print(
        table(
            "Hospitals that received devices built from the lot",
            ["customer", "name", "country"],
            [(k, c.props["name"], c.props.get("country")) for k, c in sorted(customers.items())],
        )
    )
    out.print(Rule("Explore"))
    out.print(f"  tracegraph trace {SUSPECT_LOT} --down --db {path}")
    out.print(f"  tracegraph trace {device} --up --format json --db {path}")
