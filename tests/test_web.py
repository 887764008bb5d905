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
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tracegraph.demo import SOLDER_STATION, SUSPECT_LOT, load_demo
from tracegraph.evidence import verify_package
from tracegraph.impact import impact
from tracegraph.keys import Role, create_key
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
            assert f"api/static/{name}" in names
            assert zf.read(f"api/static/{name}") == (ROOT / "api" / "static" / name).read_bytes()
    # Served from the wheel's files alone (not the checkout): unpacked, first on the path.
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    probe = (
        "import api; from fastapi.testclient import TestClient; from api.app import create_app;"
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(*args: str, cwd: Path) -> str:
    run = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"tracegraph serve exited with {server.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a starting server, not waiting out a race
    pytest.fail(f"tracegraph serve did not answer /healthz within 60 s: {log.read_text()}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("web")
    db = folder / "demo.tgdb"
    store = EmbeddedStore(db)
    load_demo(store)
    analyst = create_key(store, Role.analyst).key
    # What the page must show, from the services and the command line on the same store.
    scope = recall(store, [SUSPECT_LOT]).as_json()
    changed = impact(store, "CO-118").as_json()
    proposed = impact(store, "CO-121").as_json()
    store.close()
    made = _cli(
        "keys", "create", "--role", "admin", "--format", "json", "--db", str(db), cwd=folder
    )
    keys = {"admin": orjson.loads(made)["key"], "analyst": analyst}
    csv = _cli("recall", SUSPECT_LOT, "--format", "csv", "--db", str(db), cwd=folder)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*CLI, "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=folder, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_healthy(url, server, log)
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
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


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


@pytest.fixture
def tab_for(browser: Any, demo: Demo, tmp_path: Path) -> Iterator[Callable[[str], Tab]]:
    contexts: list[Any] = []
    tabs: list[Tab] = []

    def make(role: str) -> Tab:
        context = browser.new_context(
            viewport={"width": 1440, "height": 1000}, accept_downloads=True
        )
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        tab = Tab(page, demo.url, tmp_path, errors)
        page.goto(f"{demo.url}/")
        page.wait_for_selector("#key-overlay:not([hidden])")
        page.fill("#key-input", demo.keys[role])
        page.click("#key-form button[type=submit]")
        tab.ready("hotspots")
        tabs.append(tab)
        return tab

    yield make
    for context in contexts:
        context.close()
    for tab in tabs:
        assert tab.errors == [], f"the browser console reported errors: {tab.errors}"


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
