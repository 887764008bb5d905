"""A synthetic genealogy in the import format (§3): ``tracegraph generate --devices N --seed S``.

The data has the shape of a small ECG-monitor maker's: three monitor models built from a
serialisable acquisition module and a main board (a sub-assembly built in its own batches
from ~190 purchased parts), twelve suppliers (one of them with a lapsed ISO 13485
certificate window), reel-sized material lots that feed many batches, equipment with
periodic calibrations (one soldering station fails a calibration about half way through),
a few change orders, inspections, shipments to hospitals, field service and complaints.

Complaints are not uniform: devices whose main board consumed a 100 µF capacitor lot
received while its supplier's certificate had lapsed, or that was soldered on a station
whose next calibration failed, complain several times more often, so that a common-cause
analysis over a large data set has something to find.

Everything is streamed: the output of ``generate`` is produced batch by batch and holds only
small per-batch state (the current lot of each material, the open main-board batches, the
devices of the batch being built). The same ``seed`` always gives the same records (one
``random.Random``; no clock, no hashing of strings); records are ready for ``orjson``:
instants are ISO 8601 strings in UTC with a ``Z`` and dates are ``YYYY-MM-DD``.

Every node is written before the first edge that uses it. Per device (at large sizes) there
are about 2.7 nodes and 10 edges; about 2 in 3 devices are finished monitors, the rest are
serialised acquisition modules installed in them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final

import orjson

__all__ = ["generate", "write_jsonl"]

Record = dict[str, Any]

DAY: Final = 86_400
HOUR: Final = 3_600

#: Day 0 of the synthetic timeline; every instant is a number of seconds from its midnight.
BASE_DAY: Final = dt.date(2024, 1, 8)
#: No record is dated after this day: a time line too long to end by it starts earlier than
#: `BASE_DAY` (by whole days), so the data of any size lies in the past for a check run
#: later (at 1M devices it ran to 2028 and a check found a million dates "in the future").
LAST_DAY: Final = dt.date(2026, 6, 30)
#: Records go on this long after the last finished device (complaints, service, audits;
#: ~404 days at every size measured).
TAIL_DAYS: Final = 450

#: The clock advances this many seconds per finished device (several lines in parallel).
SECONDS_PER_DEVICE: Final = 150
#: How long one finished device takes on its line.
LINE_SECONDS_PER_DEVICE: Final = 240

FINISHED_BATCH: Final = (50, 200)
BOARD_BATCH: Final = (15, 30)
SHIPMENT: Final = (10, 30)

#: Per shipped finished device; devices from a suspect lot or station have these times `risk`.
COMPLAINT_RATE: Final = 0.011
SERVICE_RATE: Final = 0.062
BAD_LOT_RISK: Final = 5.0
BAD_STATION_RISK: Final = 3.0

CALIBRATION_FAIL_RATE: Final = 0.03
INCOMING_FAIL_RATE: Final = 0.02
DEVICE_TEST_FAIL_RATE: Final = 0.004
BATCH_FINAL_FAIL_RATE: Final = 0.03


# --------------------------------------------------------------------------- time


def base_day(span: int) -> dt.date:
    """Day 0 of a time line whose finished devices take ``span`` seconds: `BASE_DAY`, or
    earlier if the records would otherwise run past `LAST_DAY`."""
    days = -(-span // DAY) + TAIL_DAYS
    return min(BASE_DAY, LAST_DAY - dt.timedelta(days=days))


class _Times:
    """Fast ISO 8601 text for instants given as seconds from ``base`` (cached per day)."""

    __slots__ = ("_base", "_days")

    def __init__(self, base: dt.date = BASE_DAY) -> None:
        self._base = base
        self._days: dict[int, tuple[str, str, str]] = {}

    def _day(self, day: int) -> tuple[str, str, str]:
        hit = self._days.get(day)
        if hit is None:
            date = self._base + dt.timedelta(days=day)
            text = date.isoformat()
            hit = (text, text + "T", date.strftime("%y%m%d"))
            self._days[day] = hit
        return hit

    def at(self, sec: int) -> str:
        day, rest = divmod(sec, DAY)
        hour, rest = divmod(rest, HOUR)
        minute, second = divmod(rest, 60)
        return f"{self._day(day)[1]}{hour:02d}:{minute:02d}:{second:02d}Z"

    def date(self, sec: int) -> str:
        return self._day(sec // DAY)[0]

    def yymmdd(self, sec: int) -> str:
        return self._day(sec // DAY)[2]


#: How far past the data's last day suppliers stay certified (chains of renewals).
CERTIFIED_AHEAD: Final = 6 * 365 * DAY
CERTIFICATE_DAYS: Final = 3 * 365


def _renewals(begin: int, until: int) -> list[tuple[int, int]]:
    """Back-to-back certificate windows (seconds, inclusive days) from ``begin`` past ``until``."""
    windows = []
    while begin <= until:
        end = begin + (CERTIFICATE_DAYS - 1) * DAY
        windows.append((begin, end))
        begin = end + DAY
    return windows


def _gtin(base13: str) -> str:
    """A GTIN-14 with its GS1 check digit."""
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(base13)))
    return base13 + str((10 - total % 10) % 10)


# --------------------------------------------------------------------------- master data

# id, name, country, status; S-0007 has the lapsed certificate window, S-0011 none at all.
SUPPLIERS: Final = (
    ("S-0001", "Tecnomed PCB GmbH", "DE", "approved"),
    ("S-0002", "Penang Semiconductor Sdn Bhd", "MY", "approved"),
    ("S-0003", "Kyoto Electrolytics K.K.", "JP", "approved"),
    ("S-0004", "Lumen Displays Ltd.", "TW", "approved"),
    ("S-0005", "Baltic Plastics UAB", "LT", "approved"),
    ("S-0006", "Alpen Cable AG", "CH", "approved"),
    ("S-0007", "Shenzhen Passives Co.", "CN", "approved"),
    ("S-0008", "Hsinchu Micro Devices Corp.", "TW", "approved"),
    ("S-0009", "Great Lakes Power Systems Inc.", "US", "approved"),
    ("S-0010", "Suzhou Precision Connectors Ltd.", "CN", "conditional"),
    ("S-0011", "Nordpack Verpackungen GmbH", "DE", "conditional"),
    ("S-0012", "Seoul Energy Cells Co.", "KR", "approved"),
)
LAPSED_SUPPLIER: Final = "S-0007"
#: Who signs change orders off (the change control board's members).
APPROVERS: Final = ("A. Keller (CCB)", "M. Rossi (CCB)", "S. Tanaka (CCB)")
UNCERTIFIED: Final = ("S-0011",)

# Which suppliers deliver which kind of material: (supplier, weight) pairs.
SOURCES: Final[dict[str, tuple[tuple[str, float], ...]]] = {
    "ceramic": (("S-0007", 0.5), ("S-0003", 0.5)),
    "electrolytic": (("S-0007", 0.5), ("S-0003", 0.5)),
    "tantalum": (("S-0003", 1.0),),
    "resistor": (("S-0007", 0.6), ("S-0008", 0.4)),
    "ic": (("S-0002", 0.6), ("S-0008", 0.4)),
    "discrete": (("S-0008", 0.7), ("S-0002", 0.3)),
    "electromechanical": (("S-0010", 1.0),),
    "pcb": (("S-0001", 1.0),),
    "display": (("S-0004", 1.0),),
    "mechanical": (("S-0005", 1.0),),
    "fastener": (("S-0010", 1.0),),
    "cable": (("S-0006", 1.0),),
    "power": (("S-0009", 1.0),),
    "battery": (("S-0012", 1.0),),
    "packaging": (("S-0011", 1.0),),
}

# category -> (material category field, lot fan-out in batches (low, high), always inspected)
CATEGORY: Final[dict[str, tuple[str, tuple[int, int], bool]]] = {
    "ceramic": ("capacitor", (10, 40), False),
    "electrolytic": ("capacitor", (6, 16), True),
    "tantalum": ("capacitor", (8, 24), False),
    "resistor": ("resistor", (10, 40), False),
    "ic": ("ic", (4, 16), True),
    "discrete": ("discrete", (8, 30), False),
    "electromechanical": ("electromechanical", (6, 20), False),
    "pcb": ("pcb", (2, 6), True),
    "display": ("display", (3, 8), True),
    "mechanical": ("mechanical", (3, 10), False),
    "fastener": ("mechanical", (6, 20), False),
    "cable": ("cable", (3, 10), False),
    "power": ("power supply", (3, 8), True),
    "battery": ("battery", (3, 8), True),
    "packaging": ("packaging", (4, 12), False),
}

CERAMIC_VALUES: Final = (
    "10 pF", "22 pF", "47 pF", "100 pF", "220 pF", "1 nF", "2.2 nF", "4.7 nF", "10 nF", "22 nF",
    "47 nF", "100 nF", "220 nF", "470 nF", "1 µF", "2.2 µF", "4.7 µF", "10 µF", "22 µF",
)  # fmt: skip
CERAMIC_STYLES: Final = ("16 V X7R 0402", "50 V X7R 0603", "25 V X5R 0805")
RESISTOR_VALUES: Final = (
    "0 Ω", "1 Ω", "10 Ω", "22 Ω", "33 Ω", "47 Ω", "100 Ω", "220 Ω", "330 Ω", "470 Ω", "1 kΩ",
    "2.2 kΩ", "3.3 kΩ", "4.7 kΩ", "10 kΩ", "22 kΩ", "33 kΩ", "47 kΩ", "100 kΩ", "220 kΩ",
    "470 kΩ", "1 MΩ", "4.7 MΩ", "10 MΩ",
)  # fmt: skip
RESISTOR_STYLES: Final = ("1% 0402", "1% 0603", "0.1% thin film 0603")
BOARD_PARTS: Final = (
    # (kind, name, per board)
    ("pcb", "PCB MB-2 bare board, 6 layers", 1),
    ("electrolytic", "Capacitor 100 µF 25 V electrolytic", 2),
    ("electrolytic", "Capacitor 470 µF 16 V electrolytic", 1),
    ("electrolytic", "Capacitor 220 µF 35 V electrolytic", 1),
    ("tantalum", "Capacitor 47 µF 10 V tantalum", 2),
    ("tantalum", "Capacitor 10 µF 16 V tantalum", 3),
    ("ic", "ECG analog front end, 3-lead, 24-bit", 1),
    ("ic", "Microcontroller 32-bit Cortex-M7", 1),
    ("ic", "SDRAM 256 Mbit", 1),
    ("ic", "QSPI flash 128 Mbit", 1),
    ("ic", "EEPROM 64 kbit", 1),
    ("ic", "Isolated DC/DC converter 5 V 1 W", 1),
    ("ic", "Digital isolator 4-channel", 2),
    ("ic", "LDO regulator 3.3 V", 2),
    ("ic", "LDO regulator 1.8 V", 1),
    ("ic", "Buck converter 5 V 3 A", 1),
    ("ic", "Battery charger IC, Li-ion 4S", 1),
    ("ic", "Fuel gauge IC", 1),
    ("ic", "USB 2.0 PHY", 1),
    ("ic", "Ethernet PHY 10/100", 1),
    ("ic", "Wi-Fi / Bluetooth module", 1),
    ("ic", "Real-time clock", 1),
    ("ic", "Class-D audio amplifier", 1),
    ("ic", "Op-amp, dual, rail-to-rail", 3),
    ("ic", "Instrumentation amplifier", 1),
    ("ic", "Comparator, dual", 1),
    ("ic", "Voltage reference 2.5 V", 1),
    ("ic", "Supervisor / watchdog", 1),
    ("ic", "Load switch 2 A", 2),
    ("ic", "Level shifter 8-bit", 2),
    ("discrete", "ESD protection array 4-channel", 4),
    ("discrete", "TVS diode 15 V", 3),
    ("discrete", "Schottky diode 40 V 1 A", 4),
    ("discrete", "MOSFET N-channel 30 V", 3),
    ("discrete", "MOSFET P-channel 30 V", 2),
    ("discrete", "Crystal 24 MHz", 1),
    ("discrete", "Crystal 32.768 kHz", 1),
    ("discrete", "Inductor 4.7 µH 3 A", 2),
    ("discrete", "Inductor 10 µH 1 A", 1),
    ("discrete", "Ferrite bead 600 Ω", 8),
    ("discrete", "Common-mode choke", 2),
    ("discrete", "Fuse 2 A slow-blow", 1),
    ("discrete", "LED green 0603", 2),
    ("discrete", "LED red 0603", 1),
    ("electromechanical", "Buzzer 85 dB", 1),
    ("electromechanical", "Connector ECG lead, 6-pin", 1),
    ("electromechanical", "Connector display FPC, 40-pin", 1),
    ("electromechanical", "Connector battery, 4-pin", 1),
    ("electromechanical", "Connector USB-C", 1),
    ("electromechanical", "Connector RJ45", 1),
    ("electromechanical", "Connector board-to-board, 30-pin", 1),
    ("electromechanical", "Pin header 2x10", 1),
    ("electromechanical", "Shield can MB-2", 2),
    ("electromechanical", "Coin cell holder", 1),
)
MODULE_PARTS: Final = (
    ("pcb", "PCB AM-1 bare board, 4 layers", 1),
    ("ic", "ECG analog front end, 8-channel, 24-bit", 1),
    ("ic", "Digital isolator 4-channel", 1),
    ("ic", "Isolated DC/DC converter 5 V 1 W", 1),
    ("ic", "Microcontroller 32-bit Cortex-M4", 1),
    ("discrete", "Gas discharge tube 90 V", 10),
    ("resistor", "Resistor 10 kΩ 2 W pulse-proof (defibrillation protection)", 10),
    ("electromechanical", "Connector ECG trunk cable, 12-pin", 1),
    ("electromechanical", "Connector board-to-board, 30-pin", 1),
    ("mechanical", "Module housing AM-1", 1),
    ("electromechanical", "Shield can AM-1", 1),
)
# Parts of the finished monitors: (kind, name, per device, which models use it)
FINISHED_PARTS: Final = (
    ("display", "Display 12.1 in TFT", 1, ("P-PRO12",)),
    ("display", "Touch panel 12.1 in", 1, ("P-PRO12",)),
    ("display", "Display 15.6 in TFT", 1, ("P-PRO16",)),
    ("display", "Touch panel 15.6 in", 1, ("P-PRO16",)),
    ("display", "Display 7 in TFT", 1, ("P-LITE3",)),
    ("mechanical", "Enclosure front cover Pro", 1, ("P-PRO12", "P-PRO16")),
    ("mechanical", "Enclosure rear cover Pro", 1, ("P-PRO12", "P-PRO16")),
    ("mechanical", "Enclosure front cover Lite", 1, ("P-LITE3",)),
    ("mechanical", "Enclosure rear cover Lite", 1, ("P-LITE3",)),
    ("mechanical", "Keypad membrane", 1, ("P-PRO12", "P-PRO16", "P-LITE3")),
    ("electromechanical", "Speaker 8 Ω 1 W", 1, ("P-PRO12", "P-PRO16", "P-LITE3")),
    ("electromechanical", "Thermal printer module 80 mm", 1, ("P-PRO16",)),
    ("fastener", "Screw M3x8 stainless", 12, ("P-PRO12", "P-PRO16", "P-LITE3")),
    ("battery", "Battery pack Li-ion 14.4 V 2.6 Ah", 1, ("P-PRO12", "P-PRO16", "P-LITE3")),
    ("power", "Power supply 15 V 60 W, medical", 1, ("P-PRO12", "P-PRO16", "P-LITE3")),
    ("cable", "Patient lead set, 10-lead", 1, ("P-PRO12", "P-PRO16")),
    ("cable", "Patient lead set, 3-lead", 1, ("P-LITE3",)),
    ("cable", "Mains cable, hospital grade", 1, ("P-PRO12", "P-PRO16", "P-LITE3")),
    ("packaging", "Label set", 1, ("P-PRO12", "P-PRO16", "P-LITE3")),
    ("packaging", "Instructions for use, printed", 1, ("P-PRO12", "P-PRO16", "P-LITE3")),
    ("packaging", "Shipping carton with foam insert", 1, ("P-PRO12", "P-PRO16", "P-LITE3")),
)
#: The material whose lots from the lapsed supplier, received while lapsed, are bad.
SUSPECT_MATERIAL: Final = "Capacitor 100 µF 25 V electrolytic"

# id, name, GTIN index (None: not a sold device), risk class, share of finished batches
MONITORS: Final = (
    ("P-PRO12", "ECG-Monitor Pro 12", 0, "IIb", 0.30),
    ("P-LITE3", "ECG-Monitor Lite 3", 1, "IIa", 0.50),
    ("P-PRO16", "ECG-Monitor Pro 16", 2, "IIb", 0.20),
)
BOARD_PRODUCT: Final = ("P-MB2", "Main board MB-2")
MODULE_PRODUCT: Final = ("P-AM1", "Acquisition module AM-1")
#: Models with an acquisition module (a serialised component, INSTALLED_IN the device).
WITH_MODULE: Final = ("P-PRO12", "P-PRO16")

# id, name, revision, governed products, documents (id, title, revision)
PROCESSES: Final = (
    ("PR-SMT", "SMT assembly and reflow", "C", ("P-MB2",),
     (("DOC-0001", "Work instruction: SMT line MB-2", "7"),
      ("DOC-0002", "Reflow profile specification", "3"))),
    ("PR-THT", "THT hand soldering", "B", ("P-MB2",),
     (("DOC-0003", "Work instruction: hand soldering", "5"),)),
    ("PR-ICT", "In-circuit test", "A", ("P-MB2",),
     (("DOC-0004", "Test specification: ICT MB-2", "2"),)),
    ("PR-MOD", "Acquisition module assembly and test", "B", ("P-AM1",),
     (("DOC-0005", "Work instruction: module AM-1", "4"),)),
    ("PR-FA", "Final assembly", "E", ("P-PRO12", "P-LITE3", "P-PRO16"),
     (("DOC-0006", "Work instruction: final assembly", "9"),)),
    ("PR-FT", "Final test and electrical safety test", "D", ("P-PRO12", "P-LITE3", "P-PRO16"),
     (("DOC-0007", "Final test procedure", "6"),
      ("DOC-0008", "IEC 60601-1 safety test procedure", "3"))),
    ("PR-PACK", "Packaging and labelling", "B", ("P-PRO12", "P-LITE3", "P-PRO16"),
     (("DOC-0009", "Labelling and UDI specification", "2"),)),
)  # fmt: skip
FOLLOWS: Final = {
    "board": ("PR-SMT", "PR-THT", "PR-ICT"),
    "module": ("PR-MOD",),
    "finished": ("PR-FA", "PR-FT", "PR-PACK"),
}

# id, name, line (board / module / finished), group (one of a group processes a batch)
EQUIPMENT: Final = (
    ("EQ-0001", "Stencil printer SP-1", "board", "printer"),
    ("EQ-0002", "Pick-and-place machine PNP-1", "board", "pnp"),
    ("EQ-0003", "Pick-and-place machine PNP-2", "board", "pnp"),
    ("EQ-0004", "Reflow oven RO-1", "board", "reflow"),
    ("EQ-0005", "Automated optical inspection AOI-1", "board", "aoi"),
    ("EQ-0006", "Soldering station SOL-1", "board", "solder"),
    ("EQ-0007", "Soldering station SOL-2", "board", "solder"),
    ("EQ-0008", "Soldering station SOL-3", "board", "solder"),
    ("EQ-0009", "Soldering station SOL-4", "board", "solder"),
    ("EQ-0010", "In-circuit tester ICT-1", "board", "ict"),
    ("EQ-0011", "Module assembly fixture MAF-1", "module", "fixture"),
    ("EQ-0012", "Module tester MT-1", "module", "tester"),
    ("EQ-0013", "Torque screwdriver TS-1", "finished", "torque"),
    ("EQ-0014", "Functional test station FT-1", "finished", "ft"),
    ("EQ-0015", "Functional test station FT-2", "finished", "ft"),
    ("EQ-0016", "Electrical safety tester EST-1", "finished", "safety"),
    ("EQ-0017", "Patient simulator ECG-SIM-1", "finished", "sim"),
)
#: This station's first calibration after half the timeline fails (a suspect window).
FAILING_STATION: Final = "EQ-0008"

COUNTRIES: Final = (
    ("DE", ("Berlin", "Hamburg", "München", "Köln", "Leipzig")),
    ("FR", ("Lyon", "Marseille", "Lille", "Bordeaux")),
    ("IT", ("Milano", "Bologna", "Torino", "Napoli")),
    ("ES", ("Valencia", "Sevilla", "Bilbao", "Zaragoza")),
    ("NL", ("Utrecht", "Groningen", "Eindhoven")),
    ("GB", ("Leeds", "Bristol", "Glasgow", "Cardiff")),
    ("SE", ("Uppsala", "Malmö", "Göteborg")),
    ("PL", ("Kraków", "Poznań", "Gdańsk")),
    ("US", ("Madison", "Denver", "Columbus", "Sacramento", "Raleigh")),
    ("CA", ("Calgary", "Halifax", "Winnipeg")),
    ("BR", ("Curitiba", "Recife", "Porto Alegre")),
    ("JP", ("Sendai", "Fukuoka", "Kobe")),
    ("AU", ("Adelaide", "Hobart", "Perth")),
    ("IN", ("Pune", "Kochi", "Jaipur")),
)
DISTRICTS: Final = ("North", "South", "East", "West", "Central", "Riverside", "Hillside")
#: Country calling codes, for the customers' phone numbers: each number is +CC 555 01NN, a
#: block kept for fiction in North America and used here everywhere so no real line is named.
CALLING_CODES: Final = {
    "DE": "49", "FR": "33", "IT": "39", "ES": "34", "NL": "31", "GB": "44", "SE": "46",
    "PL": "48", "US": "1", "CA": "1", "BR": "55", "JP": "81", "AU": "61", "IN": "91",
}  # fmt: skip
#: Streets and recall contacts of the generated customers: plainly made up.
STREETS: Final = ("Example Street", "Sample Road", "Placeholder Avenue", "Fictional Way")
CONTACTS: Final = ("A. Sample", "B. Example", "C. Placeholder", "D. Fictional", "E. Testperson")
HOSPITAL_KINDS: Final = (
    "University Hospital",
    "General Hospital",
    "Heart Center",
    "Medical Center",
    "Children's Hospital",
    "Regional Clinic",
)

COMPLAINTS: Final = (
    # severity, cumulative weight, descriptions
    ("malfunction", 0.62, (
        "intermittent baseline noise",
        "device reboots during monitoring",
        "lead-off alarm without cause",
        "display freezes",
        "battery does not charge",
        "implausible ST-segment values",
        "no sound on alarm",
    )),
    ("other", 0.95, (
        "cosmetic damage on delivery",
        "missing accessory in carton",
        "instructions for use unclear",
        "alarm volume too low for ward",
    )),
    ("serious_injury", 0.995, (
        "delayed arrhythmia alarm; patient required intervention",
        "loss of ECG trace during monitoring; treatment delayed",
    )),
    ("death", 1.0, (
        "no alarm during ventricular fibrillation; patient died (causality under review)",
    )),
)  # fmt: skip
SERVICE_KINDS: Final = (
    "preventive maintenance",
    "software update",
    "battery replacement",
    "lead set replacement",
    "safety check (IEC 62353)",
    "repair",
)


class _Material:
    """A material and its current lot (the only per-material state kept while streaming)."""

    __slots__ = (
        "category",
        "fan",
        "id",
        "inspect",
        "kind",
        "lot",
        "lot_bad",
        "name",
        "received",
        "remaining",
        "suppliers",
        "suspect",
        "unit",
        "weights",
    )

    def __init__(self, ident: str, kind: str, name: str, unit: int) -> None:
        self.id = ident
        self.kind = kind
        self.name = name
        self.unit = unit  # a typical consumption per batch, sets the lot size
        category, fan, inspect = CATEGORY[kind]
        self.category = category
        self.fan = fan
        self.inspect = inspect
        pairs = SOURCES[kind]
        self.suppliers = [s for s, _ in pairs]
        self.weights = [w for _, w in pairs]
        self.suspect = name == SUSPECT_MATERIAL
        self.lot = ""
        self.remaining = 0
        self.received = 0  # when the current lot was received (seconds)
        self.lot_bad = False


class _Equipment:
    __slots__ = ("due", "fails", "id", "name")

    def __init__(self, ident: str, name: str) -> None:
        self.id = ident
        self.name = name
        self.due = 0  # the next calibration
        self.fails = False  # that calibration will fail: batches processed before it are suspect


# --------------------------------------------------------------------------- generator


class _Generator:
    def __init__(self, devices: int, seed: int) -> None:
        if devices < 0:
            raise ValueError("devices must be >= 0")
        self.rng = random.Random(seed)
        self.devices = devices
        share_with_module = sum(m[4] for m in MONITORS if m[0] in WITH_MODULE)
        finished = devices / (1 + share_with_module)
        self.span = max(int(finished * SECONDS_PER_DEVICE), DAY)
        self.times = _Times(base_day(self.span))
        self.start = 6 * HOUR
        self.counters: dict[str, int] = {}
        self.materials: dict[str, _Material] = {}
        self.board_bom: list[tuple[_Material, int]] = []
        self.module_bom: list[tuple[_Material, int]] = []
        self.finished_bom: dict[str, list[tuple[_Material, int]]] = {m[0]: [] for m in MONITORS}
        self.equipment: dict[str, _Equipment] = {}
        self.groups: dict[str, dict[str, list[_Equipment]]] = {}
        self.cal_interval = min(max(self.span // 6, DAY), 35 * DAY)
        self.fail_after = self.start + self.span // 2
        self.forced_fail_done = False
        # the lapsed supplier's certificate window: [gap_from, gap_to) in seconds
        self.gap_from = (self.start + int(self.span * 0.30)) // DAY * DAY
        self.gap_to = self.gap_from + max(2 * DAY, int(self.span * 0.10) // DAY * DAY)
        self.forced_bad_done = False
        self.customers = min(max(devices // 400, 6), 20_000)
        self.changes: list[tuple[str, str, int]] = []  # (id, applies to: board, from second)
        self.component_edges: list[tuple[str, str]] = []  # (material, product)
        # streaming state
        self.clock = self.start  # when the next finished batch starts
        self.last_board = self.start - 10 * DAY
        self.boards: deque[list[Any]] = deque()  # open main-board batches: [id, boards left, risk]
        self.modules: list[str] = []  # the modules of the current batch
        self.bad_lot = False  # the last batch consumed a bad lot
        self.bad_station = False  # the last batch was processed by a station about to fail

    def next_id(self, prefix: str, width: int) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}-{n:0{width}d}"

    # ----------------------------------------------------------------- master data

    def master(self) -> Iterator[Record]:
        t = self.times
        start = self.start
        horizon = start + self.span
        for sid, name, country, status in SUPPLIERS:
            yield {
                "type": "Supplier",
                "id": sid,
                "name": name,
                "country": country,
                "status": status,
                "source": "ERP",
                "source_ref": "V-1" + sid[2:],
            }
        for sid, *_ in SUPPLIERS:
            if sid in UNCERTIFIED:
                continue
            # Certificates run three years and are renewed the day after they end, up to
            # years past the data (so none lapses while the data is in use); the lapsed
            # supplier's renewal comes late, which leaves the story's gap.
            until = horizon + CERTIFIED_AHEAD
            if sid == LAPSED_SUPPLIER:
                windows = [(start - 3 * 365 * DAY, self.gap_from - DAY)]
                windows += _renewals(self.gap_to, until)
            else:
                windows = _renewals(start - self.rng.randint(200, 900) * DAY, until)
            for begin, end in windows:
                cid = self.next_id("CERT", 4)
                yield {
                    "type": "Certificate",
                    "id": cid,
                    "kind": "ISO 13485:2016",
                    "valid_from": t.date(begin),
                    "valid_to": t.date(end),
                    "source": "QMS",
                }
                yield {"type": "CERTIFIES", "from": f"Certificate:{cid}", "to": f"Supplier:{sid}"}

        yield from self._materials()
        yield from self._products()

        for pid, name, revision, products, documents in PROCESSES:
            yield {"type": "Process", "id": pid, "name": name, "revision": revision}
            for did, title, doc_revision in documents:
                yield {
                    "type": "Document",
                    "id": did,
                    "title": title,
                    "revision": doc_revision,
                    "source": "QMS",
                }
                yield {"type": "GOVERNS", "from": f"Document:{did}", "to": f"Process:{pid}"}
            for product in products:
                yield {"type": "GOVERNS", "from": f"Process:{pid}", "to": f"Product:{product}"}

        for eid, name, line, group in EQUIPMENT:
            eq = _Equipment(eid, name)
            self.equipment[eid] = eq
            self.groups.setdefault(line, {}).setdefault(group, []).append(eq)
            yield {
                "type": "Equipment",
                "id": eid,
                "name": name,
                "source": "CMMS",
                "source_ref": "ASSET-" + eid[3:],
            }

        yield from self._change_orders()

        rng = self.rng
        for n in range(self.customers):
            country, cities = COUNTRIES[n % len(COUNTRIES)]
            city = cities[(n // len(COUNTRIES)) % len(cities)]
            kind = HOSPITAL_KINDS[rng.randrange(len(HOSPITAL_KINDS))]
            cycle = n // (len(COUNTRIES) * 3)
            district = DISTRICTS[(cycle - 1) % len(DISTRICTS)] + " " if cycle else ""
            name = f"{city} {district}{kind}"
            yield {
                "type": "Customer",
                "id": f"C-{n + 1:04d}",
                "name": name,
                "country": country,
                # derived from n, not drawn from rng: the rest of the genealogy stays as it was
                "address": f"{n % 180 + 1} {STREETS[n % len(STREETS)]}, "
                f"{10000 + (n * 7919) % 89999:05d} {city}, {country}",
                "phone": f"+{CALLING_CODES.get(country, '1')} 555 01{n % 100:02d}",
                "contact": f"{CONTACTS[n % len(CONTACTS)]}, recall coordinator",
                "source": "ERP",
            }

        # every piece of equipment starts with a passing calibration
        for eq in self.equipment.values():
            interval = self.cal_interval
            when = start - rng.randint(interval // 4, interval // 2)
            yield from self._maintenance(eq, "calibration", when, fail=False)
            self._schedule(eq, when)

    def _materials(self) -> Iterator[Record]:
        seen: dict[str, _Material] = {}
        rng = self.rng

        def material(kind: str, name: str, unit: int) -> tuple[_Material, bool]:
            if name in seen:
                return seen[name], False
            mat = _Material(self.next_id("MAT", 4), kind, name, unit)
            seen[name] = mat
            self.materials[mat.id] = mat
            return mat, True

        board: list[tuple[str, str, int]] = list(BOARD_PARTS)
        board += [
            ("ceramic", f"Capacitor {v} {s}", 0) for s in CERAMIC_STYLES for v in CERAMIC_VALUES
        ]
        board += [
            ("resistor", f"Resistor {v} {s}", 0) for s in RESISTOR_STYLES for v in RESISTOR_VALUES
        ]
        mean_board = sum(BOARD_BATCH) // 2
        mean_finished = sum(FINISHED_BATCH) // 2
        groups: list[tuple[str, list[tuple[str, str, int]], int]] = [("P-MB2", board, mean_board)]
        module = list(MODULE_PARTS)
        # the module shares some passives with the main board
        module += [board[i] for i in range(len(BOARD_PARTS) + 3, len(board), 9)]
        groups.append(("P-AM1", module, mean_finished))
        for kind, name, unit, _models in FINISHED_PARTS:
            groups.append(("finished", [(kind, name, unit)], mean_finished))

        for product, parts, mean in groups:
            for kind, name, unit in parts:
                per = unit or rng.randint(1, 12)
                mat, new = material(kind, name, per * mean)
                if new:
                    yield {
                        "type": "Material",
                        "id": mat.id,
                        "name": name,
                        "category": mat.category,
                        "revision": "ABC"[rng.randrange(3)],
                        "source": "PLM",
                        "source_ref": "PN-" + mat.id[4:],
                    }
                if product == "P-MB2":
                    self.board_bom.append((mat, per))
                    targets: tuple[str, ...] = ("P-MB2",)
                elif product == "P-AM1":
                    self.module_bom.append((mat, per))
                    targets = ("P-AM1",)
                else:
                    targets = next(p[3] for p in FINISHED_PARTS if p[1] == name)
                    for model in targets:
                        self.finished_bom[model].append((mat, per))
                for target in targets:
                    # products are written after materials: keep the edges for later
                    self.component_edges.append((mat.id, target))

    def _products(self) -> Iterator[Record]:
        for pid, name, gtin, risk, _share in MONITORS:
            yield {
                "type": "Product",
                "id": pid,
                "name": name,
                "gtin": _gtin(f"0950110153{gtin:03d}"),
                "risk_class": risk,
                "source": "PLM",
            }
        for pid, name in (BOARD_PRODUCT, MODULE_PRODUCT):
            yield {"type": "Product", "id": pid, "name": name, "source": "PLM"}
        for mid, pid in self.component_edges:
            yield {"type": "COMPONENT_OF", "from": f"Material:{mid}", "to": f"Product:{pid}"}
        for pid, *_ in MONITORS:
            yield {"type": "COMPONENT_OF", "from": "Product:P-MB2", "to": f"Product:{pid}"}
        for pid in WITH_MODULE:
            yield {"type": "COMPONENT_OF", "from": "Product:P-AM1", "to": f"Product:{pid}"}

    def _change_orders(self) -> Iterator[Record]:
        t = self.times
        start, span = self.start, self.span
        pcb = next(m.id for m in self.materials.values() if m.name.startswith("PCB MB-2"))
        cap = next(m.id for m in self.materials.values() if m.suspect)
        display = next(m.id for m in self.materials.values() if m.name == "Display 7 in TFT")
        orders: list[tuple[str, str, int | None, str, list[str], bool]] = [
            # kind, status, effective (seconds), title, changes, implemented in board batches
            (
                "design",
                "implemented",
                start + int(span * 0.4),
                "Main board MB-2 rev D: additional ECG input filtering",
                ["Product:P-MB2", f"Material:{pcb}", "Document:DOC-0001"],
                True,
            ),
            (
                "material",
                "implemented",
                start + int(span * 0.7),
                "Phase out Shenzhen Passives Co. for the 100 µF electrolytic capacitor",
                [f"Material:{cap}", f"Supplier:{LAPSED_SUPPLIER}"],
                True,
            ),
            (
                "process",
                "approved",
                start + int(span * 1.05),
                "Final test: add lead-off detection test",
                ["Process:PR-FT", "Document:DOC-0007"],
                False,
            ),
            (
                "design",
                "proposed",
                None,
                "Lite 3: replace 7 in display with 8 in IPS display",
                [f"Material:{display}", "Product:P-LITE3"],
                False,
            ),
            (
                "supplier",
                "cancelled",
                None,
                "Move enclosure moulding to a second supplier",
                ["Supplier:S-0005"],
                False,
            ),
        ]
        for kind, status, effective, title, changes, implemented in orders:
            cid = self.next_id("CO", 4)
            record: Record = {
                "type": "ChangeOrder",
                "id": cid,
                "kind": kind,
                "status": status,
                "title": title,
                "source": "PLM",
                "source_ref": "ECO-" + cid[3:],
            }
            if effective is not None:
                record["effective_at"] = t.at(effective)
            if status in ("approved", "implemented") and effective is not None:
                record["approved_by"] = self.rng.choice(APPROVERS)
                record["approved_at"] = t.at(effective - self.rng.randint(3, 20) * DAY)
            yield record
            for target in changes:
                yield {"type": "CHANGES", "from": f"ChangeOrder:{cid}", "to": target}
            if implemented and effective is not None:
                self.changes.append((cid, "board", effective))

    # ----------------------------------------------------------------- events

    def _schedule(self, eq: _Equipment, last: int) -> None:
        rng = self.rng
        interval = self.cal_interval
        eq.due = last + interval + rng.randint(-interval // 10, interval // 10)
        forced = (
            eq.id == FAILING_STATION and not self.forced_fail_done and eq.due >= self.fail_after
        )
        if forced:
            self.forced_fail_done = True
        eq.fails = forced or rng.random() < CALIBRATION_FAIL_RATE

    def _maintenance(self, eq: _Equipment, kind: str, when: int, *, fail: bool) -> Iterator[Record]:
        mid = self.next_id("M", 6)
        yield {
            "type": "MaintenanceEvent",
            "id": mid,
            "kind": kind,
            "performed_at": self.times.at(when),
            "result": "fail" if fail else "pass",
            "source": "CMMS",
            "source_ref": "WO-CM-" + mid[2:],
        }
        yield {"type": "MAINTAINS", "from": f"MaintenanceEvent:{mid}", "to": f"Equipment:{eq.id}"}

    def maintenance_until(self, now: int) -> Iterator[Record]:
        """Every calibration due before ``now`` (a failure is followed by repair and recal)."""
        rng = self.rng
        for eq in self.equipment.values():
            while eq.due <= now:
                when = eq.due
                if rng.random() < 0.25:
                    yield from self._maintenance(eq, "preventive", when - HOUR, fail=False)
                yield from self._maintenance(eq, "calibration", when, fail=eq.fails)
                if eq.fails:
                    when += rng.randint(2 * HOUR, 20 * HOUR)
                    yield from self._maintenance(eq, "repair", when, fail=False)
                    when += rng.randint(HOUR, 3 * HOUR)
                    yield from self._maintenance(eq, "calibration", when, fail=False)
                self._schedule(eq, when)

    def _lot(self, mat: _Material, when: int) -> Iterator[Record]:
        """Open a new lot of ``mat`` received before ``when``; it becomes the current lot."""
        rng = self.rng
        t = self.times
        while True:
            received = when - rng.randint(1, 20) * DAY - rng.randint(0, 8 * HOUR)
            if len(mat.suppliers) > 1:
                supplier = rng.choices(mat.suppliers, mat.weights)[0]
            else:
                supplier = mat.suppliers[0]
            if mat.suspect and not self.forced_bad_done and when > self.gap_from + HOUR:
                # the story: one capacitor lot arrives from the supplier while it is uncertified
                self.forced_bad_done = True
                supplier = LAPSED_SUPPLIER
                received = rng.randint(self.gap_from, min(self.gap_to, when) - HOUR)
            elif supplier == LAPSED_SUPPLIER and self.gap_from <= received < self.gap_to + DAY:
                # purchasing orders from the other source while the certificate is lapsed
                supplier = next((s for s in mat.suppliers if s != supplier), supplier)
            lid = self.next_id("L", 6)
            quantity = mat.unit * rng.randint(*mat.fan)
            yield {
                "type": "MaterialLot",
                "id": lid,
                "received_at": t.at(received),
                "quantity": quantity,
                "source": "ERP",
                "source_ref": "GR-" + lid[2:],
            }
            yield {"type": "SUPPLIED", "from": f"Supplier:{supplier}", "to": f"MaterialLot:{lid}"}
            yield {"type": "HAS_LOT", "from": f"Material:{mat.id}", "to": f"MaterialLot:{lid}"}
            rejected = False
            if mat.inspect or rng.random() < 0.3:
                rejected = rng.random() < INCOMING_FAIL_RATE
                iid = self.next_id("I", 7)
                yield {
                    "type": "Inspection",
                    "id": iid,
                    "kind": "incoming",
                    "performed_at": t.at(received + rng.randint(2 * HOUR, 30 * HOUR)),
                    "result": "fail" if rejected else "pass",
                    "source": "QMS",
                }
                yield {"type": "INSPECTED", "from": f"Inspection:{iid}", "to": f"MaterialLot:{lid}"}
            if not rejected:  # a rejected lot goes back to its supplier; another one comes
                mat.lot = lid
                mat.remaining = quantity
                mat.received = received
                mat.lot_bad = (
                    mat.suspect
                    and supplier == LAPSED_SUPPLIER
                    and self.gap_from <= received < self.gap_to
                )
                return

    def consume(
        self, bom: list[tuple[_Material, int]], size: int, batch: str, when: int
    ) -> Iterator[Record]:
        """CONSUMED_IN edges for one batch (a line switches lots when one runs out)."""
        at = self.times.at(when)
        to = f"Batch:{batch}"
        self.bad_lot = False
        for mat, per in bom:
            need = per * size
            while need > 0:
                # (lines run side by side: one may start before another's lot arrived)
                if mat.remaining <= 0 or when < mat.received:
                    yield from self._lot(mat, when)
                take = need if need <= mat.remaining else mat.remaining
                mat.remaining -= take
                need -= take
                if mat.lot_bad:
                    self.bad_lot = True
                yield {
                    "type": "CONSUMED_IN",
                    "from": f"MaterialLot:{mat.lot}",
                    "to": to,
                    "quantity": take,
                    "at": at,
                }

    def processed(self, line: str, batch: str, begin: int, end: int) -> Iterator[Record]:
        """PROCESSED edges: one machine of every group of the line works on the batch."""
        rng = self.rng
        t = self.times
        to = f"Batch:{batch}"
        self.bad_station = False
        groups = self.groups[line]
        step = max((end - begin) // (len(groups) + 1), 60)
        when = begin
        for group, machines in groups.items():
            eq = machines[rng.randrange(len(machines))] if len(machines) > 1 else machines[0]
            when += step
            if eq.fails and when < eq.due and group == "solder":
                self.bad_station = True
            yield {"type": "PROCESSED", "from": f"Equipment:{eq.id}", "to": to, "at": t.at(when)}

    def batch_header(
        self,
        bid: str,
        product: str,
        kind: str,
        begin: int,
        end: int | None,
        status: str,
        followed: tuple[str, ...],
    ) -> Iterator[Record]:
        t = self.times
        record: Record = {
            "type": "Batch",
            "id": bid,
            "started_at": t.at(begin),
            "status": status,
            "kind": kind,
            "source": "MES",
            "source_ref": "WO-" + bid[2:],
        }
        if end is not None:
            record["completed_at"] = t.at(end)
        yield record
        yield {"type": "HAS_BATCH", "from": f"Product:{product}", "to": f"Batch:{bid}"}
        for process in followed:
            yield {"type": "FOLLOWED", "from": f"Process:{process}", "to": f"Batch:{bid}"}

    def inspect(self, kind: str, subject: str, when: int, *, fail: bool) -> Iterator[Record]:
        iid = self.next_id("I", 7)
        yield {
            "type": "Inspection",
            "id": iid,
            "kind": kind,
            "performed_at": self.times.at(when),
            "result": "fail" if fail else "pass",
            "source": "QMS",
        }
        yield {"type": "INSPECTED", "from": f"Inspection:{iid}", "to": subject}

    # ----------------------------------------------------------------- batches

    def board_batch(self, begin: int) -> Iterator[Record]:
        """One main-board batch; leaves (id, boards, risk) in ``self.boards``."""
        rng = self.rng
        size = rng.randint(*BOARD_BATCH)
        bid = self.next_id("B", 6)
        end = begin + size * 15 * 60 + rng.randint(HOUR, 3 * HOUR)
        yield from self.batch_header(
            bid, "P-MB2", "subassembly", begin, end, "released", (FOLLOWS["board"])
        )
        for cid, applies, effective in self.changes:
            if applies == "board" and begin >= effective:
                yield {"type": "IMPLEMENTED_IN", "from": f"ChangeOrder:{cid}", "to": f"Batch:{bid}"}
        yield from self.consume(self.board_bom, size, bid, begin)
        yield from self.processed("board", bid, begin, end)
        risk = 1.0
        if self.bad_lot:
            risk *= BAD_LOT_RISK
        if self.bad_station:
            risk *= BAD_STATION_RISK
        subject = f"Batch:{bid}"
        if rng.random() < 0.01:  # AOI finds a defect; reworked and passed
            yield from self.inspect("in_process", subject, end - HOUR, fail=True)
            yield from self.inspect("in_process", subject, end + 2 * HOUR, fail=False)
        else:
            yield from self.inspect("in_process", subject, end - HOUR, fail=False)
        self.boards.append([bid, size, risk])

    def module_batch(self, size: int, begin: int) -> Iterator[Record]:
        """A batch of serialised acquisition modules; leaves their ids in ``self.modules``."""
        t = self.times
        bid = self.next_id("B", 6)
        end = begin + size * 5 * 60 + HOUR
        yield from self.batch_header(
            bid, "P-AM1", "subassembly", begin, end, "released", (FOLLOWS["module"])
        )
        yield from self.consume(self.module_bom, size, bid, begin)
        yield from self.processed("module", bid, begin, end)
        produced = f"Batch:{bid}"
        modules = self.modules = []
        step = (end - begin - HOUR) // size
        when = begin
        for _ in range(size):
            when += step
            did = self.next_id("D", 7)
            modules.append(did)
            key = f"Device:{did}"
            yield {
                "type": "Device",
                "id": did,
                "manufactured_at": t.at(when),
                "status": "installed",
                "source": "MES",
                "source_ref": "AM1-" + did[2:],
            }
            yield {"type": "PRODUCED", "from": produced, "to": key}
            iid = self.next_id("I", 7)
            yield {
                "type": "Inspection",
                "id": iid,
                "kind": "in_process",
                "performed_at": t.at(when + 120),
                "result": "pass",
                "source": "MES",
            }
            yield {"type": "INSPECTED", "from": f"Inspection:{iid}", "to": key}

    def finished_batch(self, product: str, gtin: str, size: int, *, last: bool) -> Iterator[Record]:
        rng = self.rng
        t = self.times
        begin = self.clock
        yield from self.maintenance_until(begin)

        # main boards: enough board batches built in the day and a half before
        have = sum(b[1] for b in self.boards)
        board_time = begin - 36 * HOUR
        while have < size:
            board_time = max(board_time + HOUR, self.last_board + HOUR)
            self.last_board = board_time
            yield from self.board_batch(board_time)
            have += self.boards[-1][1]
        with_module = product in WITH_MODULE
        if with_module:
            yield from self.module_batch(size, begin - 20 * HOUR)

        bid = self.next_id("B", 6)
        line_end = begin + size * LINE_SECONDS_PER_DEVICE
        end = line_end + rng.randint(HOUR, 4 * HOUR)
        roll = rng.random()
        if last:
            status, final = "in_process", "none"
        elif roll < BATCH_FINAL_FAIL_RATE * 0.4:
            status, final = "quarantined", "fail"
        elif roll < BATCH_FINAL_FAIL_RATE:
            status, final = "released", "rework"
        else:
            status, final = "released", "pass"
        yield from self.batch_header(
            bid, product, "finished", begin, None if last else end, status, FOLLOWS["finished"]
        )
        batch_key = f"Batch:{bid}"
        # boards, first in first out; every device remembers the risk of its board
        risks: list[float] = []
        need = size
        at = t.at(begin)
        while need:
            entry = self.boards[0]
            take = min(need, entry[1])
            entry[1] -= take
            need -= take
            risks += [entry[2]] * take
            yield {
                "type": "CONSUMED_IN",
                "from": f"Batch:{entry[0]}",
                "to": batch_key,
                "quantity": take,
                "at": at,
            }
            if entry[1] == 0:
                self.boards.popleft()
        yield from self.consume(self.finished_bom[product], size, bid, begin)
        yield from self.processed("finished", bid, begin, line_end)

        # the devices, each with its final test
        device_status = {"released": "in_service", "quarantined": "quarantined"}.get(
            status, "in_process"
        )
        devices: list[str] = []
        modules = self.modules if with_module else None
        when = begin
        prefix = "(01)" + gtin + "(11)"
        for i in range(size):
            when += LINE_SECONDS_PER_DEVICE
            did = self.next_id("D", 7)
            devices.append(did)
            key = f"Device:{did}"
            at = t.at(when)
            serial = "SN" + did[2:]
            yield {
                "type": "Device",
                "id": did,
                "manufactured_at": at,
                "udi": prefix + t.yymmdd(when) + "(21)" + serial,
                "status": device_status,
                "source": "MES",
                "source_ref": serial,
            }
            yield {"type": "PRODUCED", "from": batch_key, "to": key}
            if modules is not None:
                yield {
                    "type": "INSTALLED_IN",
                    "from": f"Device:{modules[i]}",
                    "to": key,
                    "at": at,
                }
            failed = rng.random() < DEVICE_TEST_FAIL_RATE
            iid = self.next_id("I", 7)
            yield {
                "type": "Inspection",
                "id": iid,
                "kind": "final",
                "performed_at": t.at(when + 180),
                "result": "fail" if failed else "pass",
                "source": "MES",
            }
            yield {"type": "INSPECTED", "from": f"Inspection:{iid}", "to": key}
            if failed:  # repaired and retested
                yield from self.inspect("final", key, when + 2 * HOUR, fail=False)

        if final == "pass":
            yield from self.inspect("final", batch_key, end, fail=False)
        elif final == "rework":
            yield from self.inspect("final", batch_key, end, fail=True)
            yield from self.inspect("final", batch_key, end + DAY, fail=False)
            end += DAY
        elif final == "fail":
            yield from self.inspect("final", batch_key, end, fail=True)

        if status == "released":
            yield from self.ship(devices, risks, end)
        self.clock += int(size * SECONDS_PER_DEVICE * rng.uniform(0.8, 1.2))

    def ship(self, devices: list[str], risks: list[float], ready: int) -> Iterator[Record]:
        rng = self.rng
        t = self.times
        customers = self.customers
        done = 0
        while done < len(devices):
            count = rng.randint(*SHIPMENT)
            chunk = devices[done : done + count]
            chunk_risks = risks[done : done + count]
            done += count
            sid = self.next_id("SH", 6)
            shipped = ready + rng.randint(1, 10) * DAY + rng.randint(0, 8 * HOUR)
            customer = int(customers * rng.random() ** 1.6)
            yield {
                "type": "Shipment",
                "id": sid,
                "shipped_at": t.at(shipped),
                "source": "ERP",
                "source_ref": "DN-" + sid[3:],
            }
            shipment = f"Shipment:{sid}"
            yield {"type": "DELIVERED_TO", "from": shipment, "to": f"Customer:C-{customer + 1:04d}"}
            for did in chunk:
                yield {"type": "SHIPPED_IN", "from": f"Device:{did}", "to": shipment}
            for did, risk in zip(chunk, chunk_risks, strict=True):
                complaint = rng.random() < COMPLAINT_RATE * risk
                service = rng.random() < SERVICE_RATE
                if not (complaint or service):
                    continue
                key = f"Device:{did}"
                if complaint:
                    yield from self.complaint(key, shipped + rng.randint(5 * DAY, 240 * DAY))
                if service:
                    kind = SERVICE_KINDS[rng.randrange(len(SERVICE_KINDS))]
                    yield from self.service(key, kind, shipped + rng.randint(20 * DAY, 400 * DAY))

    def complaint(self, device: str, when: int) -> Iterator[Record]:
        rng = self.rng
        roll = rng.random()
        severity, descriptions = next((s, d) for s, c, d in COMPLAINTS if roll < c)
        cid = self.next_id("CMP", 6)
        yield {
            "type": "Complaint",
            "id": cid,
            "reported_at": self.times.at(when),
            "severity": severity,
            "description": descriptions[rng.randrange(len(descriptions))],
            "source": "QMS",
            "source_ref": "CC-" + cid[4:],
        }
        yield {"type": "HAS_COMPLAINT", "from": device, "to": f"Complaint:{cid}"}
        if severity != "other" and rng.random() < 0.5:  # the unit is looked at in the field
            yield from self.service(device, "repair", when + rng.randint(1 * DAY, 14 * DAY))

    def service(self, device: str, kind: str, when: int) -> Iterator[Record]:
        sid = self.next_id("SE", 6)
        yield {
            "type": "ServiceEvent",
            "id": sid,
            "kind": kind,
            "performed_at": self.times.at(when),
            "source": "ERP",
        }
        yield {"type": "HAS_SERVICE", "from": device, "to": f"ServiceEvent:{sid}"}

    # ----------------------------------------------------------------- the whole run

    def run(self) -> Iterator[Record]:
        rng = self.rng
        yield from self.master()
        gtins = {pid: _gtin(f"0950110153{g:03d}") for pid, _n, g, _r, _s in MONITORS}
        plain = [m[0] for m in MONITORS if m[0] not in WITH_MODULE]
        ids = [m[0] for m in MONITORS]
        shares = [m[4] for m in MONITORS]
        low, high = FINISHED_BATCH
        remaining = self.devices
        while remaining > 0:
            # a model and a size; modules count as devices too, so a batch of a model with a
            # module uses two devices per unit. Every batch has low..high units, except when
            # fewer than `low` devices are asked for in all.
            if remaining <= high:
                product, size = plain[rng.randrange(len(plain))], remaining
            elif remaining < high + low:
                product, size = plain[rng.randrange(len(plain))], remaining // 2
            else:
                product = rng.choices(ids, shares)[0]
                per_unit = 2 if product in WITH_MODULE else 1
                most = min(high, (remaining - low) // per_unit)
                if most < low:
                    product, per_unit, most = plain[0], 1, min(high, remaining - low)
                size = rng.randint(low, most)
            used = size * (2 if product in WITH_MODULE else 1)
            remaining -= used
            # the very last batch of a big run is still on the line
            last = remaining == 0 and self.devices >= 1000
            yield from self.finished_batch(product, gtins[product], size, last=last)


def generate(devices: int, seed: int) -> Iterator[dict[str, Any]]:
    """Records of a synthetic genealogy with exactly ``devices`` Device records.

    Deterministic per ``seed``; streamed (memory does not grow with ``devices``).
    """
    return _Generator(devices, seed).run()


def write_jsonl(records: Iterable[dict[str, Any]], out: IO[bytes]) -> int:
    """Write records as JSON Lines (one per line); returns how many were written."""
    dumps = orjson.dumps
    count = 0
    chunk: list[bytes] = []
    append = chunk.append
    for record in records:
        append(dumps(record))
        count += 1
        if len(chunk) >= 4096:
            append(b"")
            out.write(b"\n".join(chunk))
            chunk.clear()
    if chunk:
        append(b"")
        out.write(b"\n".join(chunk))
    return count
