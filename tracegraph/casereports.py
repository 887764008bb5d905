"""The reports a recall case feeds (docs/cases.md): the FDA 21 CFR 806 report, the EU FSCA
report with its field safety notice draft, and the one-row-per-device spreadsheet.

Everything comes from the case's frozen scope, so a report made today and one made next month
from the same case agree. Fields the store cannot know (the firm, its registration numbers,
the person responsible) come from settings (``firm`` here); a report lists each one it lacks
under ``missing`` rather than leaving it out. Each line carries ``keys``: the nodes behind it.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from tracegraph.errors import BadInput
from tracegraph.model import iso
from tracegraph.store.base import CaseRecord

#: The firm's fields each report needs, and the setting that fills each.
FIRM_SETTINGS: Final[Mapping[str, str]] = {
    "firm_name": "TRACEGRAPH_FIRM_NAME",
    "firm_address": "TRACEGRAPH_FIRM_ADDRESS",
    "firm_fei": "TRACEGRAPH_FIRM_FEI",
    "firm_srn": "TRACEGRAPH_FIRM_SRN",
    "responsible_person": "TRACEGRAPH_RESPONSIBLE_PERSON",
}
FDA_806_FIRM: Final = ("firm_name", "firm_address", "firm_fei", "responsible_person")
FSCA_FIRM: Final = ("firm_name", "firm_address", "firm_srn", "responsible_person")

SPREADSHEET_HEADER: Final = (
    "device",
    "product",
    "GTIN",
    "batch",
    "serial",
    "UDI",
    "consignee",
    "consignee name",
    "address",
    "shipment",
    "shipped at",
)
CONSIGNEE_COLUMNS: Final = (
    "id",
    "name",
    "address",
    "phone",
    "contact",
    "country",
    "devices",
    "shipments",
    "first_shipped_at",
    "last_shipped_at",
)


def firm_from(settings: Any) -> dict[str, str | None]:
    """The firm's fields from the settings (`tracegraph.settings.Settings`)."""
    return {name: getattr(settings, name, None) for name in FIRM_SETTINGS}


def _firm(
    firm: Mapping[str, str | None], wanted: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    values = {name: (firm.get(name) or None) for name in wanted}
    missing = [f"{name} (set {FIRM_SETTINGS[name]})" for name in wanted if values[name] is None]
    return values, missing


def _products(case: CaseRecord) -> dict[str, Mapping[str, Any]]:
    return {p["key"]: p for p in (case.scope or {}).get("products", [])}


def device_rows(case: CaseRecord) -> list[dict[str, Any]]:
    """One object per device in scope, sorted by id, with the nodes behind it."""
    scope = case.scope or {}
    products = _products(case)
    customers = {c["key"]: c for c in scope.get("customers", [])}
    rows = []
    for d in scope.get("devices", []):
        product = products.get(d.get("product") or "", {})
        customer = customers.get(d.get("customer") or "", {})
        keys = [d["key"], d.get("batch"), d.get("product"), d.get("shipment"), d.get("customer")]
        rows.append(
            {
                "id": d["id"],
                "key": d["key"],
                "udi": d.get("udi"),
                "product": d.get("product"),
                "product_name": product.get("name"),
                "gtin": product.get("gtin"),
                "batch": d.get("batch"),
                "lot": d.get("udi_lot"),
                "serial": d.get("udi_serial"),
                "shipment": d.get("shipment"),
                "shipped_at": d.get("shipped_at"),
                "customer": d.get("customer"),
                "customer_name": customer.get("name"),
                "address": customer.get("address"),
                "keys": [k for k in keys if k],
            }
        )
    return sorted(rows, key=lambda r: (r["id"], r["key"]))


def consignee_rows(case: CaseRecord) -> list[dict[str, Any]]:
    """One object per consignee in scope, sorted by id: how many of its devices are in scope,
    in how many shipments, first and last shipped."""
    shipments: dict[str, set[str]] = defaultdict(set)
    times: dict[str, list[str]] = defaultdict(list)
    devices: dict[str, int] = defaultdict(int)
    for d in (case.scope or {}).get("devices", []):
        customer = d.get("customer")
        if not customer:
            continue
        devices[customer] += 1
        if d.get("shipment"):
            shipments[customer].add(d["shipment"])
        if d.get("shipped_at"):
            times[customer].append(d["shipped_at"])
    rows = []
    for c in (case.scope or {}).get("customers", []):
        key = c["key"]
        when = sorted(times.get(key, []))
        rows.append(
            {
                "id": c["id"],
                "key": key,
                "name": c.get("name"),
                "address": c.get("address"),
                "phone": c.get("phone"),
                "contact": c.get("contact"),
                "country": c.get("country"),
                "devices": devices.get(key, 0),
                "shipments": len(shipments.get(key, ())),
                "first_shipped_at": when[0] if when else None,
                "last_shipped_at": when[-1] if when else None,
                "keys": [key, *sorted(shipments.get(key, ()))],
            }
        )
    return sorted(rows, key=lambda r: (r["id"], r["key"]))


def _gaps(
    devices: Sequence[Mapping[str, Any]], consignees: Sequence[Mapping[str, Any]]
) -> list[str]:
    out = []
    for c in consignees:
        for name in ("address", "phone"):
            if not c[name]:
                out.append(f"consignee {c['key']}: {name}")
    unshipped = [d["key"] for d in devices if not d["customer"]]
    if unshipped:
        out.append(f"{len(unshipped)} devices in scope have no consignee (not shipped)")
    no_udi = [d["key"] for d in devices if not d["udi"]]
    if no_udi:
        out.append(f"{len(no_udi)} devices in scope have no UDI")
    return out


def fda806(
    case: CaseRecord, firm: Mapping[str, str | None], now: dt.datetime | None = None
) -> dict[str, Any]:
    """The data of a 21 CFR 806.10 report of correction or removal."""
    devices = device_rows(case)
    consignees = consignee_rows(case)
    firm_values, missing = _firm(firm, FDA_806_FIRM)
    return {
        "report": "fda-806",
        "generated_at": iso(now or dt.datetime.now(dt.UTC)),
        "case": case.as_json(),
        "firm": firm_values,
        "products": list((case.scope or {}).get("products", [])),
        "devices": devices,
        "consignees": consignees,
        "counts": {
            "devices": len(devices),
            "consignees": len(consignees),
            "shipments": len({d["shipment"] for d in devices if d["shipment"]}),
            "batches": len({d["batch"] for d in devices if d["batch"]}),
        },
        "missing": missing + _gaps(devices, consignees),
    }


def fsca(
    case: CaseRecord, firm: Mapping[str, str | None], now: dt.datetime | None = None
) -> dict[str, Any]:
    """The data of an EU MDR Art. 87-89 FSCA report, and the lists its notice carries."""
    devices = device_rows(case)
    consignees = consignee_rows(case)
    firm_values, missing = _firm(firm, FSCA_FIRM)
    countries = sorted({c["country"] for c in consignees if c["country"]})
    return {
        "report": "fsca",
        "generated_at": iso(now or dt.datetime.now(dt.UTC)),
        "case": case.as_json(),
        "manufacturer": firm_values,
        "products": list((case.scope or {}).get("products", [])),
        "countries": countries,
        "udis": sorted({d["udi"] for d in devices if d["udi"]}),
        "lots": sorted({d["lot"] or d["batch"] for d in devices if d["lot"] or d["batch"]}),
        "serials": sorted({d["serial"] for d in devices if d["serial"]}),
        "devices": devices,
        "consignees": consignees,
        "counts": {"devices": len(devices), "consignees": len(consignees)},
        "missing": missing + _gaps(devices, consignees),
    }


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


_CSS: Final = """
body { font: 13px/1.45 system-ui, Arial, sans-serif; margin: 24px auto; max-width: 1100px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; }
th, td { border: 1px solid #d0d7de; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.missing { color: #a40e26; }
@page { size: A4 landscape; margin: 12mm; }
@media print { thead { display: table-header-group; } tr { break-inside: avoid; } }
"""


def _table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, parts: Sequence[str]) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def _missing_html(missing: Sequence[str]) -> str:
    if not missing:
        return "<p>Nothing missing.</p>"
    items = "".join(f"<li>{_e(m)}</li>" for m in missing)
    return f'<ul class="missing">{items}</ul>'


def fda806_html(report: Mapping[str, Any]) -> str:
    case = report["case"]
    firm = report["firm"]
    return _page(
        f"21 CFR 806 report — case {case['id']}",
        [
            f"<h1>Report of correction or removal (21 CFR 806) — case {_e(case['id'])}</h1>",
            f"<p>{_e(case['title'])}; level {_e(case['level'])}; scope as of "
            f"{_e(case['as_of'])}; generated {_e(report['generated_at'])}.</p>",
            "<h2>Firm</h2>",
            _table(list(firm), [firm]),
            "<h2>Missing</h2>",
            _missing_html(report["missing"]),
            f"<h2>Consignees ({len(report['consignees'])})</h2>",
            _table(CONSIGNEE_COLUMNS, report["consignees"]),
            f"<h2>Devices ({len(report['devices'])})</h2>",
            _table(
                ("id", "udi", "product_name", "batch", "serial", "shipped_at", "customer"),
                report["devices"],
            ),
        ],
    )


def fsn_html(report: Mapping[str, Any]) -> str:
    """A field safety notice draft: what the manufacturer sends each consignee, to edit."""
    case = report["case"]
    maker = report["manufacturer"]
    names = ", ".join(f"{p.get('name')} (GTIN {p.get('gtin')})" for p in report["products"])

    def listing(title: str, values: Sequence[str]) -> str:
        items = "".join(f"<li>{_e(v)}</li>" for v in values)
        return f"<h3>{_e(title)} ({len(values)})</h3><ul>{items}</ul>"

    return _page(
        f"Field safety notice (draft) — case {case['id']}",
        [
            "<h1>Urgent field safety notice — DRAFT</h1>",
            f"<p>Case {_e(case['id'])}: {_e(case['title'])}. Reason: {_e(case['reason'])}.</p>",
            f"<p>Manufacturer: {_e(maker.get('firm_name') or '[firm name]')}, "
            f"{_e(maker.get('firm_address') or '[address]')}; SRN "
            f"{_e(maker.get('firm_srn') or '[SRN]')}; contact "
            f"{_e(maker.get('responsible_person') or '[responsible person]')}.</p>",
            f"<p>Affected devices: {_e(names)}.</p>",
            "<h2>Actions to be taken by the user</h2>",
            "<p>[Describe the action: stop use, quarantine, return or correct.]</p>",
            "<h2>Missing</h2>",
            _missing_html(report["missing"]),
            "<h2>Affected devices</h2>",
            listing("UDIs", report["udis"]),
            listing("Lots", report["lots"]),
            listing("Serial numbers", report["serials"]),
        ],
    )


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue()


def consignees_csv(report: Mapping[str, Any]) -> str:
    return csv_text(
        CONSIGNEE_COLUMNS, [[c.get(k) for k in CONSIGNEE_COLUMNS] for c in report["consignees"]]
    )


def spreadsheet_rows(case: CaseRecord) -> list[list[Any]]:
    return [
        [
            d["key"],
            d["product_name"] or d["product"],
            d["gtin"],
            d["batch"],
            d["serial"],
            d["udi"],
            d["customer"],
            d["customer_name"],
            d["address"],
            d["shipment"],
            d["shipped_at"],
        ]
        for d in device_rows(case)
    ]


def spreadsheet_xlsx(case: CaseRecord) -> bytes:
    """The device list as an .xlsx workbook: a bold header row, filters on every column and
    the header frozen, so it sorts and filters as it opens."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{case.id or 'drill'} devices"[:31]
    sheet.append(list(SPREADSHEET_HEADER))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in spreadsheet_rows(case):
        sheet.append(["" if v is None else v for v in row])
    sheet.auto_filter.ref = sheet.dimensions
    sheet.freeze_panes = "A2"
    for column, width in zip(
        "ABCDEFGHIJK", (16, 24, 16, 18, 14, 44, 14, 30, 40, 16, 22), strict=True
    ):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def spreadsheet_csv(case: CaseRecord) -> str:
    return csv_text(SPREADSHEET_HEADER, spreadsheet_rows(case))


def _json(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def write_fda806(case: CaseRecord, firm: Mapping[str, str | None], out: Path) -> dict[str, Any]:
    report = fda806(case, firm)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_bytes(_json(report))
    (out / "report.html").write_text(fda806_html(report), encoding="utf-8")
    (out / "consignees.csv").write_text(consignees_csv(report), encoding="utf-8")
    return report


def write_fsca(case: CaseRecord, firm: Mapping[str, str | None], out: Path) -> dict[str, Any]:
    report = fsca(case, firm)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_bytes(_json(report))
    (out / "field-safety-notice.html").write_text(fsn_html(report), encoding="utf-8")
    (out / "devices.csv").write_text(spreadsheet_csv(case), encoding="utf-8")
    return report


def write_spreadsheet(case: CaseRecord, path: Path) -> int:
    """Write the device list to ``path`` (.xlsx or .csv by its suffix); the rows written."""
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise BadInput(f"{path}: the spreadsheet is a .xlsx or .csv file")
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        path.write_bytes(spreadsheet_xlsx(case))
    else:
        path.write_text(spreadsheet_csv(case), encoding="utf-8")
    return len((case.scope or {}).get("devices", []))
