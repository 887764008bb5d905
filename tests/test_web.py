"""The web page: its endpoints through the app, and every view in a real headless Chromium
against a real `tracegraph serve` on loopback, loaded with the ECG demo.

The browser tests follow the demo story a newcomer follows (complaint → hotspot → recall by
hospital → evidence download), check that each view shows the story's items, that the browser
logged no console error, and write a screenshot of each view under the test's temp dir.
What the page must show is worked out independently: by the services on the same data, and by
the command line (the CSV download must be byte for byte `tracegraph recall --format csv`).

Chromium is Debian's `chromium` (found on PATH), driven by Playwright for Python; `make test`
installs both (`make browser`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.support.serve import free_port, wait_until_healthy
from tracegraph.commoncause import exposures
from tracegraph.demo import SOLDER_STATION, SUSPECT_LOT, load_demo
from tracegraph.evidence import verify_package
from tracegraph.impact import impact
from tracegraph.keys import Role, create_key
from tracegraph.model import EntityType
from tracegraph.recall import recall
from tracegraph.settings import get_settings
from tracegraph.store.embedded import EmbeddedStore

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "cli.main"]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERIOUS_DEVICE = "Device:D-000125"  # the device of the serious-injury complaint CMP-0438
UDI_117 = "(01)09501101530003(11)260113(21)SN000117"


# --------------------------------------------------------------------------- the app in-process


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    store = EmbeddedStore(tmp_path / "demo.tgdb")
    load_demo(store)
    keys = {str(role): create_key(store, role, None).key for role in Role}
    store.close()
    with TestClient(create_app(get_settings(db=str(tmp_path / "demo.tgdb")))) as c:
        yield c, keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_page_and_its_files_are_served_with_a_strict_policy(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, _ = client
    page = c.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js" defer></script>' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe" not in policy
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"),
                       ("favicon.svg", "image/svg+xml")):  # fmt: skip
        answer = c.get(f"/static/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith(kind)
        assert answer.content == (ROOT / "api" / "static" / name).read_bytes()
    assert c.get("/static/../app.py").status_code == 404
    assert c.get("/static/web.py").status_code == 404
    # The page is not an API endpoint: it stays out of the OpenAPI document.
    assert "/" not in c.get("/openapi.json").json()["paths"]


def test_page_endpoints_need_a_key_and_a_query_role(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, keys = client
    calls: list[tuple[str, str, Any]] = [
        ("GET", "/v1/search?q=S-7", None),
        ("GET", "/v1/layout/MaterialLot/L-2026-0042", None),
        ("GET", "/v1/dashboard", None),
        ("POST", "/v1/recall/csv", {"suspects": [SUSPECT_LOT]}),
    ]
    for method, path, body in calls:
        assert c.request(method, path, json=body).status_code == 401, path
        denied = c.request(method, path, json=body, headers=bearer(keys[Role.integrator]))
        assert denied.status_code == 403, path
        assert denied.headers["content-type"] == "application/problem+json"
        for role in (Role.analyst, Role.auditor, Role.admin):
            assert c.request(method, path, json=body, headers=bearer(keys[role])).is_success
    me = c.get("/v1/whoami", headers=bearer(keys[Role.integrator]))
    assert me.status_code == 200
    assert me.json()["role"] == "integrator"
    assert c.get("/v1/whoami", headers=bearer("tg_nope_nope")).status_code == 401


def test_page_endpoints_answer_bad_input_with_problems(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, keys = client
    auth = bearer(keys[Role.analyst])
    unknown = c.get("/v1/layout/Device/NOPE", headers=auth)
    assert unknown.status_code == 404
    assert "Device:NOPE" in unknown.json()["detail"]
    assert c.get("/v1/layout/Device/D-000101?cap=0", headers=auth).status_code == 422
    assert c.get("/v1/layout/Device/D-000101?direction=sideways", headers=auth).status_code == 422
    bad_expand = c.get("/v1/layout/Device/D-000101?expand=Device:NOPE", headers=auth)
    assert bad_expand.status_code == 404
    assert c.get("/v1/search?q=", headers=auth).status_code == 422
    assert c.get("/v1/search?q=D-0001&offset=-1", headers=auth).status_code == 422
    assert c.get("/v1/dashboard?top=1000001", headers=auth).status_code == 422
    assert c.get("/v1/dashboard?product=P-NOPE", headers=auth).status_code == 404
    assert c.get("/v1/dashboard?from=yesterday", headers=auth).status_code == 422
    assert c.post("/v1/recall/csv", json={"suspects": []}, headers=auth).status_code == 422


def test_dashboard_endpoint_reads_the_store_as_of_a_time(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, keys = client
    auth = bearer(keys[Role.analyst])
    now = c.get("/v1/dashboard", headers=auth).json()
    assert now["hotspots"]["ranking"][0]["key"] == SUSPECT_LOT
    assert now["page"]["total"]["complaints"] == now["counts"]["complaints_shown"] == 9
    before = c.get("/v1/dashboard?as_of=2000-01-01", headers=auth).json()
    assert before["counts"]["complaints"] == 0
    assert before["hotspots"]["ranking"] == []
    assert before["today"] == "2000-01-01"


def test_recall_csv_is_the_command_lines_csv(
    client: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    c, keys = client
    answer = c.post(
        "/v1/recall/csv",
        json={"suspects": [SOLDER_STATION], "from": "2026-01-16", "to": "2026-02-16"},
        headers=bearer(keys[Role.analyst]),
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="recall-EQ-SOLDER-3.csv"' in answer.headers["content-disposition"]
    cli = subprocess.run(
        [*CLI, "recall", SOLDER_STATION, "--from", "2026-01-16", "--to", "2026-02-16",
         "--format", "csv", "--db", str(tmp_path / "demo.tgdb")],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert answer.text == cli.stdout
    lines = cli.stdout.splitlines()
    assert lines[0] == "device,udi,product,batch,customer,shipped_at,reason"
    # EQ-SOLDER-3 processed B-MB-105 on 01-13, B-MB-106 on 01-20 and B-MB-107 on 02-09: the
    # window 01-16..02-16 holds the last two (data/README.md).
    assert any("B-MB-106" in line for line in lines[1:])
    assert any("B-MB-107" in line for line in lines[1:])
    assert not any("B-MB-105" in line for line in lines[1:])


def test_wheel_ships_the_page(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    (wheel,) = tmp_path.glob("tracegraph-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in ("index.html", "app.js", "app.css", "favicon.svg"):
            shipped = f"tracegraph/api/static/{name}"  # inside the package (hatch_build.py)
            assert shipped in names
            assert zf.read(shipped) == (ROOT / "api" / "static" / name).read_bytes()
    # Served from the wheel's files alone (not the checkout): unpacked, first on the path.
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    probe = (
        "import tracegraph.api as api; from fastapi.testclient import TestClient;"
        "from tracegraph.api.app import create_app;"
        "from tracegraph.settings import get_settings;"
        "c = TestClient(create_app(get_settings(db='x.tgdb')));"
        "r = c.get('/static/app.js'); p = c.get('/');"
        "print(api.__file__, r.status_code, p.status_code, len(r.content))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True, text=True, cwd=tmp_path, check=True,
        env={**os.environ, "PYTHONPATH": str(site)},
    ).stdout.split()  # fmt: skip
    assert out[0].startswith(str(site))
    assert out[1:3] == ["200", "200"]
    assert int(out[3]) == (ROOT / "api" / "static" / "app.js").stat().st_size


# --------------------------------------------------------------------------- a real server


@dataclass
class Demo:
    """A `tracegraph serve` on the demo store, with keys and the answers the page must show."""

    url: str
    db: Path
    keys: dict[str, str]
    recall_customers: list[dict[str, Any]]
    recall_csv: str
    recall_devices: list[str]
    impact_counts: dict[str, int]
    what_if_counts: dict[str, int]
    log: Path


def _cli(*args: str, cwd: Path) -> str:
    run = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd)
    assert run.returncode == 0, run.stderr
    return run.stdout


@contextmanager
def _serving(db: Path, folder: Path) -> Iterator[tuple[str, Path]]:
    """A `tracegraph serve` of ``db`` on a free loopback port: its URL and its log."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*CLI, "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=folder, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_healthy(url, server, log)
        yield url, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("web")
    db = folder / "demo.tgdb"
    store = EmbeddedStore(db)
    load_demo(store)
    analyst = create_key(store, Role.analyst).key
    auditor = create_key(store, Role.auditor).key
    # What the page must show, from the services and the command line on the same store.
    scope = recall(store, [SUSPECT_LOT]).as_json()
    changed = impact(store, "CO-118").as_json()
    proposed = impact(store, "CO-121").as_json()
    store.close()
    made = _cli(
        "keys", "create", "--role", "admin", "--format", "json", "--db", str(db), cwd=folder
    )
    keys = {"admin": orjson.loads(made)["key"], "analyst": analyst, "auditor": auditor}
    csv = _cli("recall", SUSPECT_LOT, "--format", "csv", "--db", str(db), cwd=folder)

    with _serving(db, folder) as (url, log):
        yield Demo(
            url=url,
            db=db,
            keys=keys,
            recall_customers=scope["customers"],
            recall_csv=csv,
            recall_devices=[d["key"] for d in scope["devices"]],
            impact_counts=changed["counts"],
            what_if_counts=proposed["counts"],
            log=log,
        )


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "no `chromium` on PATH: run `make browser` (apt-get install chromium)", pytrace=False
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: run `make install` (dev extra)", pytrace=False)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """One browser tab on the page, signed in, collecting what the console says."""

    page: Any
    base: str
    shots: Path
    errors: list[str]

    def open(self, route: str, ready: str) -> None:
        self.page.goto(f"{self.base}/{route}")
        self.ready(ready)

    #: The render stamp (`data-rendered`) of the last render `ready` saw.
    seen: str = ""

    def ready(self, view: str) -> None:
        """Wait until a render newer than the last one seen shows ``view``: after a click that
        changes the hash, the render before it still says ready until the hashchange runs."""
        self.page.wait_for_function(
            """([view, seen]) => {
                const host = document.querySelector("#view");
                return host?.dataset.ready === view && host.dataset.rendered !== seen;
            }""",
            arg=[view, self.seen],
        )
        self.seen = self.page.eval_on_selector("#view", "h => h.dataset.rendered")

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return path

    def text(self, selector: str) -> str:
        value: str = self.page.inner_text(selector)
        return value


#: In every tab: when the page first said it was ready (ms since navigation start), so a test
#: can read how long the page took to render in the browser, not in the test's clock.
READY_PROBE = """
document.addEventListener("DOMContentLoaded", () => {
  const view = document.querySelector("#view");
  new MutationObserver(() => {
    if (view.dataset.ready && window.tracegraphReadyAt === undefined) {
      window.tracegraphReadyAt = performance.now();
    }
  }).observe(view, { attributes: true });
});
"""


@contextmanager
def _tabs(browser: Any, url: str, shots: Path) -> Iterator[Callable[[str], Tab]]:
    """Signed-in tabs on the page at ``url``, each with a key; on leaving, every tab must have
    logged no console error and no failed request."""
    contexts: list[Any] = []
    tabs: list[Tab] = []

    def make(key: str) -> Tab:
        context = browser.new_context(
            viewport={"width": 1440, "height": 1000}, accept_downloads=True
        )
        context.add_init_script(READY_PROBE)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        tab = Tab(page, url, shots, errors)
        page.goto(f"{url}/")
        page.wait_for_selector("#key-overlay:not([hidden])")
        page.fill("#key-input", key)
        page.click("#key-form button[type=submit]")
        tab.ready("hotspots")
        tabs.append(tab)
        return tab

    try:
        yield make
    finally:
        for context in contexts:
            context.close()
    for tab in tabs:
        assert tab.errors == [], f"the browser console reported errors: {tab.errors}"


@pytest.fixture
def tab_for(browser: Any, demo: Demo, tmp_path: Path) -> Iterator[Callable[[str], Tab]]:
    with _tabs(browser, demo.url, tmp_path) as make:
        yield lambda role: make(demo.keys[role])


def _rows(tab: Tab, selector: str) -> list[list[str]]:
    rows: list[list[str]] = tab.page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))",
    )
    return rows


def test_key_is_asked_once_per_tab_and_a_wrong_one_is_refused(
    browser: Any, demo: Demo, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.goto(f"{demo.url}/")
    page.wait_for_selector("#key-overlay:not([hidden])")
    page.screenshot(path=str(tmp_path / "sign-in.png"))
    page.fill("#key-input", "tg_00000000_wrong")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-error:not([hidden])")
    assert "not valid" in page.inner_text("#key-error")
    page.fill("#key-input", demo.keys["analyst"])
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#view[data-ready='hotspots']")
    assert "analyst" in page.inner_text("#who-name")
    # Kept for the session: a reload does not ask again.
    page.reload()
    page.wait_for_selector("#view[data-ready='hotspots']")
    assert page.is_hidden("#key-overlay")
    context.close()


def test_hotspot_dashboard_shows_the_demo_story(tab_for: Callable[[str], Tab]) -> None:
    tab = tab_for("analyst")
    complaints = _rows(tab, "#panel-recent-complaints")
    assert len(complaints) == 9
    serious = [r for r in complaints if "CMP-0438" in r]
    assert serious
    assert "serious injury" in serious[0]
    assert "D-000125" in serious[0]
    ranking = _rows(tab, "#panel-common-cause-ranking")
    assert "L-2026-0042" in ranking[0][1]
    assert ranking[0][3] == "6"
    assert ranking[0][4] == "12"
    assert ranking[0][6] == "0.012"
    # Beside it, the p-value adjusted for every candidate tested (Benjamini-Hochberg).
    assert "p (BH)" in tab.text("#panel-common-cause-ranking")
    assert float(ranking[0][7]) > 0.012
    lapsed = tab.text("#panel-suppliers-with-lapsed-certificates")
    assert "S-7" in lapsed
    assert "Shenzhen Passives Co." in lapsed
    assert "L-2026-0042" in lapsed
    calibrations = tab.text("#panel-failed-calibrations")
    assert "EQ-SOLDER-3" in calibrations
    assert "M-3303" in calibrations
    assert "B-MB-106" in calibrations
    assert "B-MB-107" in calibrations
    assert "B-MB-105" not in calibrations
    # The data-quality panel (asked for once the rest is drawn): the finding behind the story,
    # linked to every record it names.
    tab.page.wait_for_selector("#panel-data-quality[data-loaded='true']")
    quality = tab.text("#panel-data-quality")
    assert "supplier.lot-outside-certificate" in quality
    finding = tab.page.locator("#panel-data-quality tr", has_text="when none of its certificates")
    links = finding.locator("a").evaluate_all("links => links.map(a => a.textContent.trim())")
    assert any("L-2026-0042" in text for text in links)
    assert any("S-7" in text for text in links)
    tab.shot("hotspots")
    # Filters: only the serious injury.
    tab.page.select_option("#f-severity", "serious_injury")
    tab.page.click("#hotspot-filters button[type=submit]")
    tab.page.wait_for_url("**/#/?severity=serious_injury")
    tab.ready("hotspots")
    only = _rows(tab, "#panel-recent-complaints")
    assert [r[2] for r in only] == ["CMP-0438"]
    assert "Fewer than two complaint devices" in tab.text("#panel-common-cause-ranking")
    tab.shot("hotspots-serious")


def test_ecg_story_complaint_hotspot_recall_evidence(
    tab_for: Callable[[str], Tab], demo: Demo, tmp_path: Path
) -> None:
    tab = tab_for("admin")
    # Complaint → hotspot: the top-ranked suspect's Recall button.
    tab.page.click("#panel-common-cause-ranking tbody tr:first-child a:has-text('Recall')")
    tab.ready("recall")
    assert tab.page.input_value("#recall-suspects") == SUSPECT_LOT
    # Recall by hospital: every customer with its affected-device count, as the service says.
    customers = _rows(tab, "#panel-customers")
    expected = sorted(demo.recall_customers, key=lambda c: (-c["devices"], c["key"]))
    assert [(r[0], r[2], r[3]) for r in customers] == [
        (c["name"], c["country"], str(c["devices"])) for c in expected
    ]
    assert len(customers) == 5  # five of the six hospitals
    devices = _rows(tab, "#panel-devices")
    assert [r[0] for r in devices] == [k.partition(":")[2] for k in demo.recall_devices]
    row_125 = next(r for r in devices if r[0] == "D-000125")
    assert row_125[6].split() == ["L-2026-0042", "→", "B-MB-105", "→", "B-PRO-204", "→", "D-000125"]
    tab.shot("recall")
    # The CSV download is the command line's CSV.
    with tab.page.expect_download() as download:
        tab.page.click("#recall-csv")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "recall-L-2026-0042.csv"
    assert saved.read_text() == demo.recall_csv
    # Evidence: open the serious-injury device and download its BagIt package.
    tab.page.click("#panel-devices a:text-is('D-000125')")
    tab.ready("node")
    assert "(01)09501101530003(11)260120(21)SN000125" in tab.text(".entity-head")
    assert "CMP-0438" in tab.text("#panel-links-out")
    tab.shot("device")
    with tab.page.expect_download() as download:
        tab.page.click("#evidence-download")
    package = tmp_path / download.value.suggested_filename
    download.value.save_as(package)
    assert package.name == "evidence-Device-D-000125.zip"
    with zipfile.ZipFile(package) as zf:
        assert any(n.endswith("manifest-sha256.txt") for n in zf.namelist())
    report = verify_package(package)
    assert report.ok, report.lines()
    tab.page.wait_for_selector("#evidence-status:has-text('Saved')")


def test_trace_view_draws_the_layered_graph(tab_for: Callable[[str], Tab]) -> None:
    tab = tab_for("analyst")
    tab.open("#/trace/MaterialLot/L-2026-0042", "trace")
    svg = "#trace-graph"
    keys = tab.page.eval_on_selector_all(f"{svg} a.node", "ns => ns.map(n => n.dataset.key)")
    assert "Supplier:S-7" in keys
    assert "Customer:C-02" in keys
    assert sum(k.startswith("Device:") for k in keys) == 12
    flow = ("Supplier:S-7", SUSPECT_LOT, "Batch:B-MB-104", "Batch:B-PRO-203", "Device:D-000117",
            "Shipment:SH-2026-0004", "Customer:C-01")  # fmt: skip
    x = {
        k: tab.page.eval_on_selector(
            f"{svg} a.node[data-key='{k}'] rect", "r => +r.getAttribute('x')"
        )
        for k in flow
    }
    assert list(x.values()) == sorted(x.values())
    assert len(set(x.values())) == len(x)
    legend = tab.text(".legend")
    for type_ in ("Supplier", "MaterialLot", "Batch", "Device", "Shipment", "Customer"):
        assert type_ in legend
    tab.shot("trace")
    # A small cap: the device level says how many it shows of how many.
    tab.open("#/trace/MaterialLot/L-2026-0042?cap=5", "trace")
    assert "5 of 12 shown" in (tab.page.text_content(svg) or "")
    # Expanding a batch shows its neighbours outside the lot's closure (its equipment).
    tab.page.click(f"{svg} .plus-badge[data-key='Batch:B-MB-104']")
    tab.page.wait_for_url("**expand=Batch%3AB-MB-104**")
    tab.ready("trace")
    assert tab.page.is_visible(f"{svg} a.node[data-key='Equipment:EQ-SOLDER-2']")
    tab.shot("trace-expanded")
    # Clicking a node opens it.
    tab.page.click(f"{svg} a.node[data-key='Batch:B-MB-104']")
    tab.ready("node")
    assert tab.page.inner_text("h1.entity-id") == "B-MB-104"


def test_impact_view_shows_every_category_and_the_what_if(
    tab_for: Callable[[str], Tab], demo: Demo
) -> None:
    tab = tab_for("analyst")
    tab.page.click(".tabs a[data-view='impact']")
    tab.ready("impact")
    tab.page.select_option("#impact-change", "CO-118")
    tab.page.click("#impact-form button[type=submit]")
    tab.ready("impact")
    for name, count in demo.impact_counts.items():
        head = tab.text(f"#cat-{name} .card-head")
        assert head.split()[-1].startswith(str(count)), (name, head)
    assert "B-PRO-207" in tab.text("#cat-batches_in_process")
    assert not tab.page.is_visible("#what-if")
    tab.shot("impact")
    tab.open("#/impact/CO-121", "impact")
    assert tab.page.is_visible("#what-if")
    for name, count in demo.what_if_counts.items():
        assert tab.text(f"#cat-{name} .card-head").split()[-1].startswith(str(count)), name
    tab.shot("impact-what-if")


def test_search_by_udi_serial_and_text(tab_for: Callable[[str], Tab]) -> None:
    tab = tab_for("analyst")
    tab.page.fill("#search-input", UDI_117)
    tab.page.press("#search-input", "Enter")
    tab.ready("node")
    assert tab.page.inner_text("h1.entity-id") == "D-000117"
    versions = _rows(tab, "#panel-version-history")
    assert len(versions) == 1
    assert "created" in versions[0]
    tab.page.fill("#search-input", "baseline noise")
    tab.page.press("#search-input", "Enter")
    tab.ready("search")
    found = _rows(tab, "#panel-matches")
    assert [r[1] for r in found] == ["CMP-0431", "CMP-0436", "CMP-0442"]
    tab.shot("search")


def test_an_analyst_key_may_not_download_evidence(tab_for: Callable[[str], Tab]) -> None:
    tab = tab_for("analyst")
    tab.open(f"#/node/Device/{SERIOUS_DEVICE.partition(':')[2]}", "node")
    assert tab.page.is_disabled("#evidence-download")
    assert "auditor" in tab.text("#evidence-status")


def _case_api(demo: Demo, path: str) -> Any:
    """An answer of the case API, with the analyst's key: what the page must show."""
    answer = httpx.get(
        f"{demo.url}/v1/cases{path}",
        headers={"Authorization": f"Bearer {demo.keys['analyst']}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _case_rows_match(tab: Tab, shown: dict[str, Any]) -> None:
    """The consignee table says what GET /v1/cases/{id} says, row for row."""
    rows = _rows(tab, "#case-consignees")
    consignees = shown["consignees"]
    assert len(rows) == len(consignees) == shown["effectiveness"]["consignees"]
    for row, c in zip(rows, consignees, strict=True):
        assert row[0].splitlines()[0] == c["name"]
        assert c["id"] in row[0]
        assert row[1] == c["address"]
        assert row[2].splitlines()[0] == c["phone"]
        assert row[3] == str(c["devices"])
        if c["notified_at"]:
            assert f"via {c['notified_via']}" in row[4]
        else:
            assert row[4] == "not yet"
        assert (row[5] == "not yet") == (c["responded_at"] is None)
        assert row[6:8] == [str(c["returned"]), str(c["corrected"])]


def _effectiveness_matches(tab: Tab, shown: dict[str, Any]) -> None:
    e = shown["effectiveness"]
    stats = tab.text("#case-effectiveness")
    assert f"{e['checked']} of {e['target_consignees']}\nconsignees checked" in stats
    assert f"{e['notified']} of {e['consignees']}\nnotified" in stats
    returned = f"{e['devices_returned_or_corrected']} of {e['devices']}"
    assert f"{returned}\ndevices returned or corrected" in stats
    unnotified = [c for c in shown["consignees"] if not c["notified_at"]]
    if unnotified:
        assert len(_items(tab, "#missing-unnotified")) == len(unnotified)
    else:
        assert "Every consignee was notified" in tab.text("#missing-unnotified")


def _items(tab: Tab, selector: str) -> list[str]:
    items: list[str] = tab.page.eval_on_selector_all(
        f"{selector} li", "items => items.map(i => i.innerText.trim())"
    )
    return items


def test_recall_case_opened_worked_and_read_by_an_auditor(
    tab_for: Callable[[str], Tab], demo: Demo, tmp_path: Path
) -> None:
    tab = tab_for("analyst")
    # Open a case from the recall view of the lot.
    tab.open(f"#/recall?s={SUSPECT_LOT}", "recall")
    tab.page.fill("#case-title-input", "Capacitor lot L-2026-0042: field action")
    tab.page.select_option("#case-level", "B")
    tab.shot("recall-open-case")
    tab.page.click("#case-open button[type=submit]")
    tab.page.wait_for_url("**/#/cases/RC-*")
    tab.ready("cases")
    case_id = tab.page.url.rpartition("/")[2]
    shown = _case_api(demo, f"/{case_id}")
    assert shown["case"]["title"] == "Capacitor lot L-2026-0042: field action"
    assert shown["case"]["level"] == "B"
    assert shown["case"]["suspects"] == [SUSPECT_LOT]
    # The frozen scope: the recall's figures, as of the case's opening.
    assert f"{case_id} open" in tab.text("#case-id").replace("\n", " ").replace("OPEN", "open")
    counts = shown["scope"]["counts"]
    assert counts["devices"] == len(demo.recall_devices)
    stats = tab.text("#case-stats")
    assert f"{counts['devices']}\ndevices" in stats
    assert f"{counts['customers']}\nconsignees" in stats
    assert shown["case"]["as_of"][:10] in tab.text("#panel-frozen-scope .card-head")
    _case_rows_match(tab, shown)
    _effectiveness_matches(tab, shown)
    # What is missing: every consignee to notify, and the 806 report's missing fields.
    fda = _case_api(demo, f"/{case_id}/reports/fda-806")
    assert fda["missing"]
    assert _items(tab, "#missing-fda-806") == fda["missing"]
    tab.shot("case")
    # The list: the case with its figures.
    tab.page.click(".tabs a[data-view='cases']")
    tab.ready("cases")
    listed = _case_api(demo, "")["cases"]
    rows = _rows(tab, "#panel-cases")
    assert [r[0] for r in rows] == [c["id"] for c in reversed(listed)]
    row = next(r for r in rows if r[0] == case_id)
    e = shown["effectiveness"]
    assert row[1] == shown["case"]["title"]
    assert row[2] == "B"
    assert row[6:8] == [str(counts["devices"]), str(e["consignees"])]
    assert row[8].startswith(f"{e['checked']} of {e['target_consignees']}")
    tab.shot("cases")
    # Notify one consignee, then record its answer: each is counted.
    tab.page.click(f"#panel-cases a:text-is('{case_id}')")
    tab.ready("cases")
    first = shown["consignees"][0]
    tab.page.click(f"#case-consignees button.notify[data-customer='{first['key']}']")
    form = ".action-form[data-kind='notify']"
    tab.page.select_option(f"{form} select[name=via]", "email")
    tab.page.click(f"{form} button[type=submit]")
    tab.ready("cases")
    after = _case_api(demo, f"/{case_id}")
    assert after["effectiveness"]["notified"] == e["notified"] + 1
    assert after["consignees"][0]["notified_via"] == "email"
    _case_rows_match(tab, after)
    _effectiveness_matches(tab, after)
    assert first["name"] not in " ".join(_items(tab, "#missing-unnotified"))
    assert first["name"] in " ".join(_items(tab, "#missing-unanswered"))
    tab.page.click(f"#case-consignees button.respond[data-customer='{first['key']}']")
    form = ".action-form[data-kind='respond']"
    tab.page.fill(f"{form} input[name=returned]", "1")
    tab.page.fill(f"{form} input[name=note]", "one unit sent back")
    tab.page.click(f"{form} button[type=submit]")
    tab.ready("cases")
    answered = _case_api(demo, f"/{case_id}")
    assert answered["effectiveness"]["checked"] == e["checked"] + 1
    assert answered["consignees"][0]["returned"] == 1
    _case_rows_match(tab, answered)
    _effectiveness_matches(tab, answered)
    assert "one unit sent back" in tab.text("#case-consignees")
    assert len(_rows(tab, "#panel-action-log")) == len(answered["actions"]) == 2
    tab.shot("case-worked")
    # The reports download with the key: the 806 is the API's report.
    with tab.page.expect_download() as download:
        tab.page.click("#report-fda-806")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"{case_id}-fda-806.json"
    report = orjson.loads(saved.read_bytes())
    assert report["report"] == "fda-806"
    assert [c["key"] for c in report["consignees"]] == [c["key"] for c in answered["consignees"]]
    assert report["missing"] == fda["missing"]
    with tab.page.expect_download() as download:
        tab.page.click("#report-spreadsheet")
    sheet = tmp_path / download.value.suggested_filename
    download.value.save_as(sheet)
    assert sheet.name == f"{case_id}-devices.xlsx"
    assert zipfile.is_zipfile(sheet)  # an .xlsx is a zip of XML parts
    tab.page.wait_for_selector("#case-download-status:has-text('Saved')")

    # An auditor reads the same case, with no write control.
    auditor = tab_for("auditor")
    auditor.open(f"#/cases/{case_id}", "cases")
    _case_rows_match(auditor, answered)
    _effectiveness_matches(auditor, answered)
    for control in ("#case-consignees button", ".action-form", "#case-close"):
        assert auditor.page.locator(control).count() == 0, control
    assert "Read only" in auditor.text("#case-read-only")
    assert tab.page.locator("#case-read-only").count() == 0
    auditor.shot("case-auditor")
    auditor.open("#/cases", "cases")
    assert case_id in [r[0] for r in _rows(auditor, "#panel-cases")]
    auditor.open(f"#/recall?s={SUSPECT_LOT}", "recall")
    assert auditor.page.locator("#case-open").count() == 0
    assert "analyst" in auditor.text("#case-open-denied")
    auditor.page.wait_for_selector(f"#case-existing a:text-is('{case_id}')")
    # And the API refuses the auditor's writes (the page does not offer them).
    refused = httpx.post(
        f"{demo.url}/v1/cases/{case_id}/notify",
        json={"customer": first["key"], "at": "2026-03-01"},
        headers={"Authorization": f"Bearer {demo.keys['auditor']}"},
    )
    assert refused.status_code == 403
    # The analyst closes it (a second click confirms): no more write controls, and the list
    # says so.
    tab.page.click("#case-close")
    assert tab.page.locator("#case-id").inner_text().lower().endswith("open")  # not yet
    tab.page.click("#case-close")
    tab.ready("cases")
    assert _case_api(demo, f"/{case_id}")["case"]["status"] == "closed"
    assert tab.text("#case-id").lower().endswith("closed")
    assert tab.page.locator("#case-consignees button").count() == 0
    _case_rows_match(tab, answered)


# --------------------------------------------------------------------------- 20,000 devices

#: Devices in the store of the tests below: issue 18's "web page at 20k devices".
BIG = 20_000
#: The page's first rows of a recall's devices, and of an impact's categories (app.js).
FIRST_DEVICES = 100
FIRST_ROWS = 10
#: How long the hotspots page may take to render (ms from navigation start to drawn): the
#: issue's "under 2 s", enforced with TRACEGRAPH_WEB_TIMING=1 (a quiet machine); otherwise the
#: times are measured and reported, and only a slide back towards the 10 s of before fails.
RENDER_BUDGET_MS = 2_000 if os.environ.get("TRACEGRAPH_WEB_TIMING") == "1" else 6_000


@dataclass
class Big:
    """A `tracegraph serve` on a generated store of `BIG` devices, and what the page must show
    there, worked out by the services."""

    url: str
    key: str
    #: Seconds the fixture took: generate, import, the expected answers, the server's start.
    seconds: dict[str, float]
    #: The lot whose recall reaches the most devices, and that recall.
    lot: str
    recall: dict[str, Any]
    #: The change order with the longest impact category, and that impact.
    change: str
    impact: dict[str, Any]


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """A line in the test run's output, whatever pytest captures (timings are part of the
    answer these tests give)."""
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\n[web {BIG:,} devices] {line}")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Big]:
    folder = tmp_path_factory.mktemp("web-big")
    db = folder / "big.tgdb"
    data = folder / "big.jsonl"
    clock = [time.monotonic()]
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        clock.append(time.monotonic())
        seconds[name] = round(clock[-1] - clock[-2], 1)

    _cli("generate", "--devices", str(BIG), "--out", str(data), cwd=folder)
    lap("generate")
    _cli("import", str(data), "--db", str(db), "--no-check", "--format", "json", cwd=folder)
    lap("import")
    store = EmbeddedStore(db)
    key = create_key(store, Role.analyst).key
    lots = store.keys_of_type(EntityType.MaterialLot)
    reached = exposures(store, lots)
    lot = max(lots, key=lambda k: (reached[k], k))
    scope = recall(store, [lot]).as_json()
    changes = [k.partition(":")[2] for k in store.keys_of_type(EntityType.ChangeOrder)]
    impacts = {c: impact(store, c).as_json() for c in changes}
    change = max(changes, key=lambda c: (max(impacts[c]["counts"].values()), c))
    store.close()
    lap("expected answers")
    with _serving(db, folder) as (url, _):
        lap("server start")
        seconds["fixture"] = round(clock[-1] - clock[0], 1)
        _report(request, f"store and server: {seconds} s")
        yield Big(url, key, seconds, lot, scope, change, impacts[change])


@pytest.fixture
def big_tab(browser: Any, big: Big, tmp_path: Path) -> Iterator[Callable[[], Tab]]:
    with _tabs(browser, big.url, tmp_path) as make:
        yield lambda: make(big.key)


def _status(tab: Tab, panel: str) -> str:
    return tab.text(f"{panel} .pager-status")


def _page_through(tab: Tab, panel: str, button: str) -> int:
    """Click a list's Show more (``more``) or Show all (``all``) until the list is whole;
    how many clicks it took."""
    clicks = 0
    while tab.page.is_visible(f"{panel} .pager button.{button}"):
        tab.page.click(f"{panel} .pager button.{button}")
        tab.page.wait_for_selector(f"{panel} .pager:not([data-busy])", timeout=180_000)
        clicks += 1
    return clicks


def _keys(tab: Tab, panel: str) -> list[str]:
    """The key of each row's first link, in order (its title is the whole key)."""
    keys: list[str] = tab.page.eval_on_selector_all(
        f"{panel} tbody tr td:first-child a.key", "links => links.map(a => a.title)"
    )
    return keys


def test_big_recall_shows_totals_and_pages_to_the_last_device(
    big_tab: Callable[[], Tab], big: Big
) -> None:
    tab = big_tab()
    tab.open(f"#/recall?s={big.lot}", "recall")
    devices = [d["key"] for d in big.recall["devices"]]
    total = len(devices)
    assert total == big.recall["counts"]["devices"] > 1000  # past the API's default page
    # The totals, and what is shown of them: never a silent cut.
    assert f"{total}\ndevices" in tab.text(".stats")
    assert f"{total} devices" in tab.text("#panel-devices .card-head")
    assert _status(tab, "#panel-devices") == f"{FIRST_DEVICES} of {total} shown"
    assert _keys(tab, "#panel-devices") == devices[:FIRST_DEVICES]
    tab.shot("big-recall")
    clicks = _page_through(tab, "#panel-devices", "more")
    assert clicks == -(-(total - FIRST_DEVICES) // 500)  # 500 more a click
    assert _status(tab, "#panel-devices") == f"{total} of {total} shown"
    shown = _keys(tab, "#panel-devices")
    assert shown == devices
    assert shown[-1] == devices[-1]
    # Every customer, most affected first, as the service counts them.
    customers = sorted(big.recall["customers"], key=lambda c: (-c["devices"], c["key"]))
    assert _keys(tab, "#panel-customers") == [c["key"] for c in customers]
    # The other lists page the same way, from the same answer.
    batches = [b["key"] for b in big.recall["batches"]]
    _page_through(tab, "#panel-batches", "more")
    assert _keys(tab, "#panel-batches") == batches


def test_big_impact_shows_totals_and_pages_to_the_last_item(
    big_tab: Callable[[], Tab], big: Big
) -> None:
    tab = big_tab()
    tab.open(f"#/impact/{big.change}", "impact")
    counts: dict[str, int] = big.impact["counts"]
    for name, n in counts.items():
        assert str(n) in tab.text(f"#cat-{name} .card-head").split(), name
        if n > FIRST_ROWS:
            assert _status(tab, f"#cat-{name}") == f"{FIRST_ROWS} of {n} shown", name
    tab.shot("big-impact")
    biggest = max(counts, key=lambda name: (counts[name], name))
    total = counts[biggest]
    assert total > 1000
    panel = f"#cat-{biggest}"
    assert _page_through(tab, panel, "all") == 1
    assert _status(tab, panel) == f"{total} of {total} shown"
    items = [x["key"] for x in big.impact[biggest]]
    shown = _keys(tab, panel)
    assert shown == items
    assert shown[-1] == items[-1]
    # Another category grows by Show more, from the pages loaded meanwhile.
    other = next(n for n in sorted(counts, key=counts.__getitem__) if counts[n] > FIRST_ROWS)
    tab.page.click(f"#cat-{other} .pager button.more")
    tab.page.wait_for_selector(f"#cat-{other} .pager:not([data-busy])")
    assert _keys(tab, f"#cat-{other}") == [x["key"] for x in big.impact[other]][: FIRST_ROWS + 500]


def _load_hotspots(tab: Tab, n: int) -> tuple[float, float]:
    """Open the hotspots page afresh (a new document; the key is kept in the tab): ms from
    navigation start until it is drawn, and until the data-quality panel has filled in."""
    tab.page.goto(f"{tab.base}/?load={n}#/")
    tab.page.wait_for_selector("#view[data-ready='hotspots']", timeout=60_000)
    drawn: float = tab.page.evaluate("window.tracegraphReadyAt")
    tab.page.wait_for_selector("#panel-data-quality[data-loaded]", timeout=60_000)
    complete: float = tab.page.evaluate("performance.now()")
    return drawn, complete


def test_big_hotspots_rank_what_separates_fold_and_render_in_time(
    big_tab: Callable[[], Tab], big: Big, request: pytest.FixtureRequest
) -> None:
    tab = big_tab()
    # The sign-in drew the page once (the server's first ranking imports scipy); wait until it
    # is quiet, then open the page afresh three times, one after the other.
    tab.page.wait_for_selector("#panel-data-quality[data-loaded]", timeout=60_000)
    loads = [_load_hotspots(tab, n) for n in range(3)]
    drawn = sorted(ms for ms, _ in loads)
    _report(
        request,
        f"hotspots drawn in {', '.join(f'{ms:.0f}' for ms, _ in loads)} ms (best {drawn[0]:.0f}); "
        f"with the data-quality panel {', '.join(f'{ms:.0f}' for _, ms in loads)} ms "
        f"(budget {RENDER_BUDGET_MS} ms)",
    )
    assert drawn[0] < RENDER_BUDGET_MS
    height: int = tab.page.evaluate("document.body.scrollHeight")
    assert height < 10_000  # every panel folded (the lapsed certificates alone took 573,606 px)
    answer = httpx.get(
        f"{big.url}/v1/dashboard?top=1000000&limit=10000",
        headers={"Authorization": f"Bearer {big.key}"},
        timeout=60,
    ).json()
    hot = answer["hotspots"]
    ranking = [h["key"] for h in hot["ranking"]]
    counts = hot["counts"]
    # At 20k devices 7,061 serialised modules are installed in the monitors: the units are the
    # rest, and what made every one of them separates nothing.
    assert hot["units"] < hot["population"] == BIG
    weak = counts["ranked"] - counts["separating"]
    assert weak > 0
    assert all(h["separates"] for h in hot["ranking"][: counts["separating"]])
    assert not any(h["separates"] for h in hot["ranking"][counts["separating"] :])
    assert f"{weak} entries reached 95 % or more of the units" in tab.text("#ranking-ties")
    panel = "#panel-common-cause-ranking"
    assert _keys_of(tab, panel) == ranking[:FIRST_ROWS]
    assert "separates nothing" not in tab.text(f"{panel} tbody")
    assert _status(tab, panel) == f"{FIRST_ROWS} of {counts['ranked']} shown"
    tab.shot("big-hotspots")
    # The whole ranking, to its last entry: those that separate nothing come last, greyed.
    _page_through(tab, panel, "all")
    assert _keys_of(tab, panel) == ranking
    assert tab.page.locator(f"{panel} tbody tr.weak").count() == weak
    assert "separates nothing" in tab.text(f"{panel} tbody tr:last-child")
    for name in ("recent-complaints", "suppliers-with-lapsed-certificates", "failed-calibrations"):
        text = tab.text(f"#panel-{name}")
        assert "None." not in text, name


def _keys_of(tab: Tab, panel: str) -> list[str]:
    """The ranking's suspects in order: the key of each row's link in its second column."""
    keys: list[str] = tab.page.eval_on_selector_all(
        f"{panel} tbody tr td:nth-child(2) a.key", "links => links.map(a => a.title)"
    )
    return keys


def _boxes(tab: Tab, selector: str) -> list[tuple[float, float, float, float]]:
    """Each match's box in page coordinates: (left, top, right, bottom)."""
    boxes: list[list[float]] = tab.page.eval_on_selector_all(
        selector,
        "els => els.map(e => { const b = e.getBoundingClientRect(); "
        "return [b.left, b.top, b.right, b.bottom]; })",
    )
    return [(a, b, c, d) for a, b, c, d in boxes]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_big_trace_headers_badges_and_legend_keep_their_room(
    big_tab: Callable[[], Tab], big: Big
) -> None:
    tab = big_tab()
    tab.open(f"#/trace/{big.lot.replace(':', '/')}", "trace")
    tab.page.click("#graph-zoom")  # actual size: the boxes as the layout placed them
    svg = "#trace-graph"
    headers = _boxes(tab, f"{svg} text.level-label, {svg} text.level-count")
    assert len(headers) >= 10
    for i, a in enumerate(headers):
        for b in headers[i + 1 :]:
            assert not _overlap(a, b), (a, b)
    cut = tab.page.eval_on_selector_all(
        f"{svg} text.level-count.cut", "ts => ts.map(t => t.textContent)"
    )
    assert cut
    assert all(c.startswith("12 of ") for c in cut)
    # Every +N badge holds its number, three digits or four.
    badges: list[list[float]] = tab.page.eval_on_selector_all(
        f"{svg} .plus-badge",
        "gs => gs.map(g => { const r = g.querySelector('rect').getBBox(); "
        "const t = g.querySelector('text').getBBox(); "
        "return [r.x, r.x + r.width, t.x, t.x + t.width, t.width]; })",
    )
    assert any(width > 20 for *_, width in badges)  # some "+224" (the lot reaches many)
    for left, right, text_left, text_right, _ in badges:
        assert left <= text_left
        assert text_right <= right
    # The legend and the zoom button share a row without covering each other.
    for item in _boxes(tab, ".legend .legend-item"):
        assert not _overlap(item, _boxes(tab, "#graph-zoom")[0])
    tab.shot("big-trace")
    # A cut level's count shows more of it: the next cap.
    tab.page.click(f"{svg} a.level-more")
    tab.page.wait_for_url("**cap=25**")
    tab.ready("trace")
    assert tab.page.input_value("#trace-cap") == "25"
    assert (tab.page.text_content(f"{svg} text.level-count.cut") or "").startswith("25 of ")
    # Every node of the trace, a page at a time, in the list view.
    tab.page.click("#trace-list")
    tab.ready("trace-list")
    down = tab.text("#panel-downstream .card-head")
    total = int(down.split()[-2])
    tab.page.click("#panel-downstream .pager button.all")
    tab.page.wait_for_selector("#panel-downstream .pager:not([data-busy])", timeout=60_000)
    assert _status(tab, "#panel-downstream") == f"{total} of {total} shown"


def test_big_search_finds_pieces_of_serials_and_pages_to_the_last_match(
    big_tab: Callable[[], Tab],
) -> None:
    tab = big_tab()
    # A piece of a serial (the UDI's (21) SN0000132 … SN0000139).
    tab.open("#/search?q=SN000013", "search")
    found = _rows(tab, "#panel-matches")
    assert [r[1] for r in found] == [f"D-000013{i}" for i in range(2, 10)]
    assert all(r[3].startswith("serial SN000013") for r in found)
    # A piece of an id that a thousand devices share: 50 first, then every one.
    tab.open("#/search?q=D-0001", "search")
    assert "1000 matches" in tab.text("#panel-matches .card-head")
    assert _status(tab, "#panel-matches") == "50 of 1000 shown"
    _page_through(tab, "#panel-matches", "more")
    rows = _rows(tab, "#panel-matches")
    assert _status(tab, "#panel-matches") == "1000 of 1000 shown"
    assert [r[1] for r in rows] == [f"D-0001{i:03d}" for i in range(1000)]
