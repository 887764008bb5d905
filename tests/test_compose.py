"""`docker compose up` without a Docker engine: what can be checked is checked.

The compose file parses and wires Neo4j (healthchecked, with a volume) to the API built from
the repo's Dockerfile; the Dockerfile installs the package the way the README says
(`pip install .`), and the files it copies are enough to build that package.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of each line of the Dockerfile, comments left out."""
    lines = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            lines.append((word.upper(), rest.strip()))
    return lines


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def test_neo4j_is_the_5_26_community_image_healthchecked_with_a_volume(
    compose: dict[str, Any],
) -> None:
    neo4j = compose["services"]["neo4j"]
    assert neo4j["image"] == "neo4j:5.26-community"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in neo4j["volumes"]}
    assert mounts["/data"] in compose["volumes"]
    check = neo4j["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    assert "cypher-shell" in check[1]
    # Variables the check's shell expands ($$ in compose) must exist inside the container.
    for name in re.findall(r"\$\$\{(\w+)", check[1]):
        assert name in neo4j["environment"], f"{name} is not set in the neo4j container"


def test_the_api_is_built_here_waits_for_a_healthy_neo4j_and_is_configured_by_environment(
    compose: dict[str, Any],
) -> None:
    api = compose["services"]["api"]
    assert api["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert api["environment"]["TRACEGRAPH_DB"] == "neo4j://neo4j:7687"
    assert api["env_file"] == ".env"
    assert "NEO4J_PASSWORD" in _env_example()  # the credentials come from the env file
    assert api["command"][:2] == ["tracegraph", "serve"]
    port = api["command"][api["command"].index("--port") + 1]
    assert any(p.endswith(f":{port}") for p in api["ports"])
    # Every ${VAR} compose substitutes is one the env file example provides.
    text = (ROOT / "docker-compose.yml").read_text()
    wanted = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    assert wanted <= set(_env_example()), wanted - set(_env_example())


def test_the_dockerfile_installs_the_package_the_way_the_readme_does() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "`pip install .`" in readme
    assert "docker compose up" in readme
    runs = [args for word, args in _dockerfile() if word == "RUN"]
    assert any(re.search(r"\bpip install\b.* \.(\s|$)", run) for run in runs), runs
    (cmd,) = [args for word, args in _dockerfile() if word == "CMD"]
    assert " ".join(json.loads(cmd)).startswith("tracegraph serve --host 0.0.0.0")


def test_what_the_dockerfile_copies_builds_the_whole_package(tmp_path: Path) -> None:
    """Rebuild the image's build context from its COPY lines and build the wheel from it, as
    `pip install .` in the image does: nothing the package needs may be left out."""
    context = tmp_path / "app"
    context.mkdir()
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.tgdb*")
    for word, args in _dockerfile():
        if word != "COPY":
            continue
        *sources, target = shlex.split(args)
        for source in sources:
            src = ROOT / source
            dest = context / target / src.name if target.endswith("/") else context / target
            if src.is_dir():
                shutil.copytree(src, dest, ignore=ignored)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    # (api/, cli/ and cypher/ go into the package by the build hook, which reads them too)
    for package in [*packages, "api", "cli", "cypher"]:
        assert (context / package).is_dir(), f"the Dockerfile does not copy {package}/"
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(context)],
        check=True,
    )
    (wheel,) = wheels.glob("tracegraph-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("tracegraph/api/app.py", "tracegraph/cli/serve.py",
                   "tracegraph/cypher/api_key_all.cypher", "tracegraph/data/ecg_demo.jsonl",
                   "tracegraph/keys.py"):  # fmt: skip
        assert needed in names, needed
