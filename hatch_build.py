"""Wheel build hook: ship the front ends and the Cypher files inside the `tracegraph` package.

The repository keeps `api/`, `cli/` and `cypher/` beside `tracegraph/` (the layout the
customer fixed), and a checkout imports them as top-level packages. Installed so, they would
be top-level packages named `api`, `cli` and `cypher` in site-packages, where any other
distribution doing the same would collide with them. So a built wheel carries them as
`tracegraph.api`, `tracegraph.cli` and `tracegraph.cypher`: this hook copies them to a
temporary folder, rewrites the imports of one another (`from api.x import` → `from
tracegraph.api.x import`), and includes the copies at those places. An editable install (the
`make install` one) is left as it is: there the checkout's folders are on the path.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: The folders shipped inside the package, by the name they are imported by in a checkout.
MOVED = ("api", "cli", "cypher")

_IMPORT = re.compile(rf"^(\s*)(from|import) ({'|'.join(MOVED)})\b", re.MULTILINE)


def rewrite(source: str) -> str:
    """Python source with its imports of the moved packages pointed into `tracegraph`."""
    return _IMPORT.sub(r"\1\2 tracegraph.\3", source)


class MoveIntoPackage(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        self._temp = tempfile.TemporaryDirectory(prefix="tracegraph-wheel-")
        root = Path(self.root)
        for name in MOVED:
            target = Path(self._temp.name) / name
            shutil.copytree(
                root / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
            for module in target.rglob("*.py"):
                module.write_text(rewrite(module.read_text(encoding="utf-8")), encoding="utf-8")
            build_data["force_include"][str(target)] = f"tracegraph/{name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        temp = getattr(self, "_temp", None)
        if temp is not None:
            temp.cleanup()
