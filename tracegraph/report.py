"""The evidence chain as one self-contained, printable HTML page.

Findings come first, then a summary, the evidence records, the timeline and a small drawing of
the chain. No scripts, fonts, images or style sheets are fetched: the page is a file an auditor
can archive and print. Every value from the store goes through `html.escape`.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

#: Columns of the chain drawing, left to right. Batches and devices get one column per level
#: (a sub-assembly batch left of the batch it went into).
LAYERS: Final = ("Supplier", "MaterialLot", "Batch", "Device", "Shipment", "Customer")
LAYER_TITLES: Final = {
    "Supplier": "Suppliers",
    "MaterialLot": "Lots",
    "Batch": "Batches",
    "Device": "Devices",
    "Shipment": "Shipments",
    "Customer": "Customers",
}
#: Nodes drawn per column; the rest are counted in a "+N more" box.
MAX_ROWS: Final = 30
DRAWN_EDGES: Final = frozenset(
    {"SUPPLIED", "CONSUMED_IN", "PRODUCED", "INSTALLED_IN", "SHIPPED_IN", "DELIVERED_TO"}
)

ROLE_COLUMNS: Final = ("subject", "upstream", "downstream", "context", "evidence", "design")

BOX_W, BOX_H, ROW_GAP, COL_GAP, TOP = 150, 22, 8, 48, 34

CSS: Final = """
:root { color-scheme: light; }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: #1b1f24; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 2px solid #d0d7de; padding-bottom: 3px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
.meta { color: #57606a; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid #d0d7de; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.key, td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
                  font-size: 12px; white-space: nowrap; }
.sev-high { color: #a40e26; font-weight: 600; }
.sev-medium { color: #9a6700; font-weight: 600; }
.ok { color: #1a7f37; }
.bad { color: #a40e26; font-weight: 600; }
.none { color: #57606a; font-style: italic; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
dl.summary dt { color: #57606a; }
dl.summary dd { margin: 0; }
svg { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
svg text { font: 11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
svg .head { font: 600 11px system-ui, sans-serif; fill: #57606a; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5px; }
  h2 { break-after: avoid; }
  tr, .finding { break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: Any) -> str:
    """Escape one value for HTML (None is an empty cell)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_e(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{_e(k)}: {_e(v)}" for k, v in value.items())
    return html.escape(str(value), quote=True)


def _table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, mono: Sequence[int] = ()
) -> str:
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="mono">{_e(v)}</td>' if i in mono else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return '<p class="none">None.</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_report(doc: Mapping[str, Any], info: Mapping[str, str]) -> str:
    """The page for one evidence chain (`EvidenceChain.as_json`) and its package's bag-info."""
    subject = doc["subject"]
    title = f"Evidence chain: {subject['key']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="meta">As of {_e(info.get("TraceGraph-As-Of"))} · generated '
        f"{_e(info.get('TraceGraph-Generated-At'))} by TraceGraph "
        f"{_e(info.get('TraceGraph-Version'))} · query <code>{_e(info.get('TraceGraph-Query'))}"
        "</code></p></header>",
        _findings(doc),
        _summary(doc),
        _records(doc),
        _timeline(doc),
        _graph(doc),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _findings(doc: Mapping[str, Any]) -> str:
    findings = doc["findings"]
    out = [f'<section id="findings"><h2>Findings ({len(findings)})</h2>']
    if not findings:
        out.append(
            '<p class="ok">No finding: none of the rules flagged anything in this chain.</p>'
        )
    else:
        rows = []
        for f in findings:
            rows.append(
                f'<tr class="finding"><td class="sev-{_e(f["severity"])}">{_e(f["severity"])}'
                f'</td><td class="mono">{_e(f["rule"])}</td><td class="key">{_e(f["subject"])}'
                f'</td><td>{_e(f["message"])}</td><td class="mono">{_e(f["evidence"])}</td></tr>'
            )
        out.append(
            "<table><thead><tr><th>severity</th><th>rule</th><th>subject</th><th>finding</th>"
            f"<th>evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    rules = [(r["id"], r["findings"], r["meaning"]) for r in doc["rules"]]
    out.append("<h3>Rules checked</h3>")
    out.append(_table(["rule", "findings", "fires when"], rules, mono=(0,)))
    out.append("</section>")
    return "\n".join(out)


def _summary(doc: Mapping[str, Any]) -> str:
    subject = doc["subject"]
    counts = doc["counts"]
    fields = [(k, v) for k, v in subject.items() if k not in ("key", "type", "id", "role")]
    products = [f"{p['key']} ({p.get('name', '')})" for p in doc["products"]]
    items = [
        ("subject", subject["key"]),
        *fields,
        ("products", products or None),
        ("nodes in the chain", counts["nodes"]),
        ("timeline entries", counts["timeline"]),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    roles = counts["by_role"]
    kinds = sorted({k for c in roles.values() for k in c})
    rows = [(kind, *(roles[r].get(kind, 0) for r in ROLE_COLUMNS)) for kind in kinds]
    return (
        '<section id="summary"><h2>Summary</h2>'
        f'<dl class="summary">{dl}</dl>'
        "<h3>Nodes by type</h3>" + _table(["type", *ROLE_COLUMNS], rows) + "</section>"
    )


def _records(doc: Mapping[str, Any]) -> str:
    certs = [
        (
            c["lot"],
            c["supplier"],
            c["received_on"],
            c["valid_at_receipt"] or "none",
            "yes" if c["covered"] else "NO",
        )
        for c in doc["lot_certificates"]
    ]
    cert_nodes = [
        (c["key"], c.get("kind"), c.get("valid_from"), c.get("valid_to"), c["suppliers"])
        for c in doc["certificates"]
    ]
    uses = [
        (
            u["equipment"],
            u["batch"],
            u["at"],
            _with_result(u["last_calibration_before"], u["last_calibration_before_result"]),
            _with_result(u["first_calibration_after"], u["first_calibration_after_result"]),
        )
        for u in doc["equipment_use"]
    ]
    maintenance = [
        (m["key"], m["equipment"], m.get("kind"), m.get("performed_at"), m.get("result"))
        for m in doc["maintenance"]
    ]
    inspections = [
        (i["key"], i["subjects"], i.get("kind"), i.get("performed_at"), i.get("result"))
        for i in doc["inspections"]
    ]
    changes = [
        (
            c["key"],
            c.get("kind"),
            c.get("status"),
            c.get("effective_at"),
            c.get("title"),
            c["implemented_in"],
            c["changes"],
        )
        for c in doc["change_orders"]
    ]
    processes = [
        (p["key"], p.get("name"), p.get("revision"), p["documents"], p["batches"])
        for p in doc["processes"]
    ]
    documents = [
        (d["key"], d.get("title"), d.get("revision"), d["governs"]) for d in doc["documents"]
    ]
    return "\n".join(
        [
            '<section id="records"><h2>Evidence records</h2>',
            "<h3>Supplier certificates at each lot's receipt</h3>",
            _table(
                ["lot", "supplier", "received", "valid certificates", "covered"], certs, mono=(0, 1)
            ),
            _table(
                ["certificate", "kind", "valid from", "valid to", "supplier"], cert_nodes, mono=(0,)
            ),
            "<h3>Equipment use and calibration</h3>",
            _table(
                ["equipment", "batch", "used at", "last calibration before", "next calibration"],
                uses,
                mono=(0, 1),
            ),
            _table(
                ["maintenance", "equipment", "kind", "performed", "result"], maintenance, mono=(0,)
            ),
            "<h3>Inspections</h3>",
            _table(
                ["inspection", "subject", "kind", "performed", "result"], inspections, mono=(0,)
            ),
            "<h3>Change orders</h3>",
            _table(
                [
                    "change order",
                    "kind",
                    "status",
                    "effective",
                    "title",
                    "implemented in",
                    "changes",
                ],
                changes,
                mono=(0,),
            ),
            "<h3>Processes and documents</h3>",
            _table(["process", "name", "revision", "governed by", "batches"], processes, mono=(0,)),
            _table(["document", "title", "revision", "governs"], documents, mono=(0,)),
            "</section>",
        ]
    )


def _with_result(key: str | None, result: str | None) -> str | None:
    return None if key is None else f"{key} ({result})"


def _timeline(doc: Mapping[str, Any]) -> str:
    rows = [(t["at"], t["key"], t["detail"], t["related"]) for t in doc["timeline"]]
    return (
        f'<section id="timeline"><h2>Timeline ({len(rows)})</h2>'
        + _table(["when", "what", "fact", "related"], rows, mono=(0, 1))
        + "</section>"
    )


# --------------------------------------------------------------------------- the drawing


def _levels(keys: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Longest-path level of each key over the edges among them (0 for sources)."""
    inside = set(keys)
    preds: dict[str, list[str]] = defaultdict(list)
    for src, dst in edges:
        if src in inside and dst in inside:
            preds[dst].append(src)
    level: dict[str, int] = {}

    def visit(key: str, seen: frozenset[str]) -> int:
        if key in level:
            return level[key]
        if key in seen:  # a cycle is a data error; do not loop on it
            return 0
        value = max((visit(p, seen | {key}) + 1 for p in preds.get(key, ())), default=0)
        level[key] = value
        return value

    for key in keys:
        visit(key, frozenset())
    return level


def _graph(doc: Mapping[str, Any]) -> str:
    nodes = {
        n["key"]: n
        for n in doc["nodes"]
        if n["type"] in LAYERS and n["role"] in ("subject", "upstream", "downstream")
    }
    edges = [
        (e["from"], e["to"])
        for e in doc["edges"]
        if e["type"] in DRAWN_EDGES and e["from"] in nodes and e["to"] in nodes
    ]
    columns: list[tuple[str, list[str]]] = []
    for layer in LAYERS:
        keys = sorted(k for k, n in nodes.items() if n["type"] == layer)
        if not keys:
            continue
        if layer in ("Batch", "Device"):
            level = _levels(keys, edges)
            depth = max(level.values())
            for d in range(depth + 1):
                title = LAYER_TITLES[layer] + (f", level {d + 1}" if depth else "")
                columns.append((title, [k for k in keys if level[k] == d]))
        else:
            columns.append((LAYER_TITLES[layer], keys))
    if not columns:
        return '<section id="graph"><h2>Chain</h2><p class="none">Nothing to draw.</p></section>'

    flagged = {f["subject"] for f in doc["findings"]}
    subject = doc["subject"]["key"]
    place: dict[str, tuple[int, int]] = {}
    boxes: list[str] = []
    rows = 0
    for c, (title, keys) in enumerate(columns):
        x = 10 + c * (BOX_W + COL_GAP)
        boxes.append(f'<text class="head" x="{x}" y="18">{_e(title)} ({len(keys)})</text>')
        shown = keys[:MAX_ROWS]
        for r, key in enumerate(shown):
            y = TOP + r * (BOX_H + ROW_GAP)
            place[key] = (x, y)
            stroke, fill, width = "#8c959f", "#ffffff", 1
            if key in flagged:
                stroke, fill, width = "#a40e26", "#ffebe9", 2
            if key == subject:
                stroke, width = "#0550ae", 3
            label = key.partition(":")[2]
            if len(label) > 20:
                label = label[:19] + "…"
            boxes.append(
                f'<g><title>{_e(key)}</title><rect x="{x}" y="{y}" width="{BOX_W}" '
                f'height="{BOX_H}" rx="4" fill="{fill}" stroke="{stroke}" '
                f'stroke-width="{width}"/><text x="{x + 6}" y="{y + 15}">{_e(label)}</text></g>'
            )
        if len(keys) > MAX_ROWS:
            y = TOP + MAX_ROWS * (BOX_H + ROW_GAP)
            boxes.append(f'<text x="{x + 6}" y="{y + 15}">+{len(keys) - MAX_ROWS} more</text>')
        rows = max(rows, min(len(keys), MAX_ROWS + 1))
    lines = []
    for src, dst in edges:
        if src in place and dst in place:
            (x1, y1), (x2, y2) = place[src], place[dst]
            lines.append(
                f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H // 2}" x2="{x2}" '
                f'y2="{y2 + BOX_H // 2}" stroke="#afb8c1" stroke-width="1"/>'
            )
    width = 20 + len(columns) * (BOX_W + COL_GAP) - COL_GAP
    height = TOP + rows * (BOX_H + ROW_GAP) + 10
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-label="{_e("Genealogy of " + subject)}">'
        + "".join(lines)
        + "".join(boxes)
        + "</svg>"
    )
    return (
        '<section id="graph"><h2>Chain</h2>'
        '<p class="meta">Suppliers → lots → batches → devices → shipments → customers. Blue: the '
        "subject; red: a node with a finding. Materials, equipment, processes, change orders, "
        "service events and complaints are in the tables above.</p>" + svg + "</section>"
    )
