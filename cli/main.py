"""The `tracegraph` command: the app with every command module registered on it."""

from __future__ import annotations

from cli import (
    audit,  # noqa: F401
    cases,  # noqa: F401
    check,  # noqa: F401
    commands,  # noqa: F401  (registers its commands on the app)
    commoncause,  # noqa: F401
    evidence,  # noqa: F401
    export,  # noqa: F401
    hooks,  # noqa: F401
    impact,  # noqa: F401
    keys,  # noqa: F401
    recall,  # noqa: F401
    search,  # noqa: F401
    serve,  # noqa: F401
    store,  # noqa: F401
)
from cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
