"""`pip install .` (not editable) into a fresh virtualenv gives a working `tracegraph`."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_install_gives_a_working_command(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
    )
    (wheel,) = wheels.glob("tracegraph-*.whl")
    env_dir = tmp_path / "venv"
    # The fresh venv sees this environment's third-party packages, but not the source tree:
    # what it runs comes from the wheel alone (Cypher files and demo data included).
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    pth = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(pth) / "deps.pth").write_text(site + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    exe = env_dir / "bin" / "tracegraph"
    run = subprocess.run(
        [str(exe), "schema", "--format", "json"], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert '"oneOf"' in run.stdout
    demo = subprocess.run(
        [str(exe), "demo", "--db", str(tmp_path / "demo.tgdb")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    where = subprocess.run(
        [str(py), "-c", "import tracegraph, tracegraph.cypher as c; print(tracegraph.__file__, "
         "c.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    ).stdout  # fmt: skip
    assert str(ROOT) not in where  # loaded from the installed wheel, not the checkout
    # One top-level package, `tracegraph`: the front ends and the query files ship inside it,
    # so nothing named `api`, `cli` or `cypher` lands in site-packages to collide with others.
    with zipfile.ZipFile(wheel) as archive:
        tops = {n.split("/")[0] for n in archive.namelist() if not n.split("/")[0].endswith(
            (".dist-info", ".data"))}  # fmt: skip
    assert tops == {"tracegraph"}
    assert not [p.name for p in Path(pth).iterdir() if p.name in ("api", "cli", "cypher")]
    found = subprocess.run(
        [str(py), "-c", "import importlib.util as u; print([n for n in ('api', 'cli', 'cypher') "
         "if u.find_spec(n)])"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    ).stdout.strip()  # fmt: skip
    assert found == "[]"
    # The API's app and its page come from inside the package too.
    page = subprocess.run(
        [str(py), "-c", "from tracegraph.api.app import create_app; "
         "from fastapi.testclient import TestClient; from tracegraph.settings import Settings; "
         f"c = TestClient(create_app(Settings(db={str(tmp_path / 'demo.tgdb')!r}))); "
         "print(c.get('/').status_code, c.get('/static/app.js').status_code)"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert page.stdout.split() == ["200", "200"], page.stderr
