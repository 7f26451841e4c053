"""The docs say what the code does: every setting, webhook field, reason code and
command is documented, and the generated tables are the code's own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer.main import get_command

from fairban.cli import app
from fairban.config import Settings
from fairban.platforms.webhooks import field_docs
from fairban.targeting.reasons import CODES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def between(text: str, marker: str) -> str:
    found = re.search(rf"<!-- {marker}:start -->\n(.*?)<!-- {marker}:end -->", text, re.S)
    assert found, f"no <!-- {marker}:start --> ... <!-- {marker}:end --> block"
    return found.group(1)


def first_cells(table: str) -> list[str]:
    """The first column's `code` of each row of a markdown table (header excluded)."""
    return re.findall(r"^\| `([^`]+)` \|", table, re.M)


def test_every_setting_is_in_the_settings_table_and_nothing_else() -> None:
    table = between(read("docs/architecture.md"), "settings")
    documented = first_cells(table)
    expected = [f"FAIRBAN_{name.upper()}" for name in Settings.model_fields]
    assert sorted(documented) == sorted(expected)


def test_the_webhook_table_is_the_contract_modules_own() -> None:
    table = between(read("docs/platforms.md"), "webhook-fields")
    rows = dict(re.findall(r"^\| `([^`]+)` \| (.*) \|$", table, re.M))
    assert rows == field_docs()


def test_every_reason_code_is_explained_in_the_targeting_doc() -> None:
    targeting = read("docs/targeting.md")
    missing = [code for code in CODES if code not in targeting]
    assert missing == []


def commands(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            if not getattr(sub, "hidden", False):
                yield from commands(sub, (*prefix, name))
    else:
        yield " ".join(prefix)


def test_every_command_is_in_the_readme_or_the_docs() -> None:
    text = "\n".join([read("README.md"), *(p.read_text("utf-8") for p in DOCS.glob("*.md"))])
    listed = list(commands(get_command(app)))
    assert len(listed) > 20  # the walk found the command groups
    missing = [c for c in listed if not re.search(rf"fairban {re.escape(c)}\b", text)]
    assert missing == []
