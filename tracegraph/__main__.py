"""`tracegraph` (the console script) and `python -m tracegraph`: the command line.

An installed wheel carries the command line inside the package (`tracegraph.cli`, see
hatch_build.py); a checkout keeps it beside the package as `cli/`, on the path of an editable
install. The command is looked up where it is, so both run the same code.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def _cli() -> ModuleType:
    try:
        return importlib.import_module("tracegraph.cli.main")
    except ModuleNotFoundError as exc:
        if exc.name not in ("tracegraph.cli", "tracegraph.cli.main"):
            raise
        return importlib.import_module("cli.main")


def main() -> None:
    _cli().main()


if __name__ == "__main__":
    main()
