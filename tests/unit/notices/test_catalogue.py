"""The message catalogue: ``messages.pot`` holds every string of the code and templates,
each ``.po`` holds the template's messages (zh_CN all translated, placeholders kept),
and the shipped ``.mo`` files say exactly what their ``.po`` says (docs/notices.md,
"Catalogue": extract, update, compile)."""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

import fairban.notices

PACKAGE = Path(fairban.notices.__file__).resolve().parent
LOCALE = PACKAGE / "locale"
LOCALES = ("zh_CN", "en")
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def read(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh)


def ids(catalog: Catalog) -> set[Any]:
    return {m.id for m in catalog if m.id}


def test_the_template_holds_every_string_of_code_and_templates() -> None:
    with (PACKAGE / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map, options_map
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    pot = ids(read(LOCALE / "messages.pot"))
    assert found - pot == set(), "run the extract command of docs/notices.md"
    assert pot - found == set(), "run the extract command of docs/notices.md"


@pytest.mark.parametrize("locale", LOCALES)
def test_each_catalogue_holds_the_templates_messages(locale: str) -> None:
    po = read(LOCALE / locale / "LC_MESSAGES" / "messages.po")
    assert ids(po) == ids(read(LOCALE / "messages.pot")), "run the update command"


def test_chinese_is_complete_and_keeps_the_placeholders() -> None:
    po = read(LOCALE / "zh_CN" / "LC_MESSAGES" / "messages.po")
    for m in po:
        if not m.id:
            continue
        assert not m.fuzzy, m.id
        source = m.id if isinstance(m.id, str) else m.id[0]
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        assert strings, f"untranslated: {m.id!r}"
        assert all(strings), f"untranslated: {m.id!r}"
        for s in strings:
            assert sorted(PLACEHOLDER.findall(s)) == sorted(PLACEHOLDER.findall(source)), m.id


@pytest.mark.parametrize("locale", LOCALES)
def test_shipped_mo_matches_its_po(locale: str) -> None:
    folder = LOCALE / locale / "LC_MESSAGES"
    po = read(folder / "messages.po")
    with (folder / "messages.mo").open("rb") as fh:
        mo = Translations(fh)
    plural_index = gettext.c2py(po.plural_expr)
    for m in po:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, str):
            want = m.string or m.id
            assert mo.gettext(m.id) == want, f"{locale} .mo is stale: run the compile command"
        else:
            singular, plural = m.id
            strings = list(m.string)
            for n in (1, 2, 5):
                index = plural_index(n)
                want = (
                    strings[index]
                    if index < len(strings) and strings[index]
                    else (singular if n == 1 else plural)
                )
                got = mo.ngettext(singular, plural, n)
                assert got == want, f"{locale} .mo is stale: run the compile command"
    in_po = {m.id if isinstance(m.id, str) else m.id[0] for m in po if m.id}
    in_mo = {k if isinstance(k, str) else k[0] for k in mo._catalog if k}
    assert in_mo <= in_po, f"{locale} .mo has messages its .po lost: run the compile command"
