"""Tests that keep the docs honest: the data dictionary, commands and settings are documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from cli.main import app
from tracegraph.model import dictionary_markdown
from tracegraph.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _docs_text() -> str:
    parts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in parts)


def test_data_dictionary_is_generated_from_the_model() -> None:
    on_disk = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert on_disk == dictionary_markdown(), "stale: run `make docs`"


def _command_names(group: typer.Typer, prefix: str = "") -> list[str]:
    names = [f"{prefix}{c.name or c.callback.__name__}" for c in group.registered_commands]  # type: ignore[union-attr]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        names += _command_names(sub.typer_instance, f"{prefix}{sub.name} ")
    return names


def test_every_cli_command_is_documented() -> None:
    docs = _docs_text()
    for name in _command_names(app):
        assert re.search(rf"tracegraph {re.escape(name)}\b", docs), (
            f"`tracegraph {name}` undocumented"
        )


def test_every_setting_is_documented() -> None:
    docs = _docs_text()
    for name in Settings.model_fields:
        assert f"TRACEGRAPH_{name.upper()}" in docs, (
            f"setting TRACEGRAPH_{name.upper()} undocumented"
        )
