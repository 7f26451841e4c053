"""The console speaks Chinese and English: every string of its templates and views has
its Chinese in the console's own catalogue, the shipped ``.mo`` matches the ``.po``,
instants are in Beijing time with the zone named, durations in a unit that reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from fairban.web.console.i18n import LOCALE_DIR, duration, gettext, when

WEB = Path(__file__).resolve().parents[3] / "src" / "fairban" / "web"
CATALOG = LOCALE_DIR / "zh_CN" / "LC_MESSAGES"


def test_every_console_string_has_its_chinese() -> None:
    pattern = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
    files = [*(WEB / "templates" / "console").glob("*.html"), WEB / "console" / "routes.py"]
    found = {a or b for f in files for a, b in pattern.findall(f.read_text(encoding="utf-8"))}
    routes = (WEB / "console" / "routes.py").read_text(encoding="utf-8")
    found |= set(re.findall(r'^\s+"\w+": "([^"]+)",$', routes, re.M))  # STEP_DONE
    with (CATALOG / "console.po").open("rb") as f:
        po = read_po(f)
    translated = {m.id: m.string for m in po if m.id and m.string}
    assert sorted(found - translated.keys()) == []
    assert len(found) > 120


def test_the_shipped_mo_is_the_po() -> None:
    with (CATALOG / "console.po").open("rb") as f:
        po = {m.id: m.string for m in read_po(f) if m.id}
    with (CATALOG / "console.mo").open("rb") as f:
        mo = {m.id: m.string for m in read_mo(f) if m.id}
    assert po == mo


def test_values_labels_and_the_frame_translate() -> None:
    zh, en = gettext("zh-CN"), gettext("en")
    assert zh("uphold %(measure)s", measure=zh("suspend")) == "维持暂停使用"
    assert en("uphold %(measure)s", measure=en("suspend")) == "uphold suspend"
    assert zh("Skip to content") == "跳到正文"  # the shared frame: the portal's words
    assert en("Queue") == "Queue"


def test_beijing_time_with_the_zone_and_durations() -> None:
    at = datetime(2019, 10, 16, 2, 0, tzinfo=UTC)
    assert when(at, "zh-CN") == "2019-10-16 10:00 北京时间"
    assert when(at, "en") == "2019-10-16 10:00 Beijing time (UTC+8)"
    assert duration(0.06, "en") == "4 min"
    assert duration(0.5, "zh-CN") == "30 分钟"
    assert duration(13.25, "en") == "13.2 h"
    assert duration(72, "en") == "3.0 days"
