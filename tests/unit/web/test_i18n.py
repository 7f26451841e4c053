"""The portal speaks Chinese first: every string it shows has its translation."""

from __future__ import annotations

import re
from pathlib import Path

from fairban.web.i18n import ZH

TEMPLATES = Path(__file__).resolve().parents[3] / "src" / "fairban" / "web" / "templates"
PORTAL_VIEWS = Path(__file__).resolve().parents[3] / "src" / "fairban" / "web" / "portal"


def test_every_portal_string_has_its_chinese() -> None:
    """Every _("...") of the portal's templates and views is in web/i18n.ZH."""
    pattern = re.compile(r'_\(\s*"((?:[^"\\]|\\.)*)"\s*\)')
    files = [
        *TEMPLATES.glob("*.html"),
        *(TEMPLATES / "portal").glob("*.html"),
        *PORTAL_VIEWS.glob("*.py"),
    ]
    found = {m for f in files for m in pattern.findall(f.read_text(encoding="utf-8"))}
    routes = (PORTAL_VIEWS / "routes.py").read_text(encoding="utf-8")
    # the labels and messages the views pass to _() indirectly
    found |= set(re.findall(r'^\s+\(Ground\.\w+, "([^"]+)"\),$', routes, re.M))
    found |= set(re.findall(r'^\s+"\w+": "([^"]+)",$', routes, re.M))
    missing = sorted(s for s in found if s not in ZH)
    assert missing == []
    assert len(found) > 50


def test_no_page_shows_a_raw_state_or_measure() -> None:
    """States and measures come from the database as words ("queued"): each has its
    English and its Chinese."""
    from fairban.appeals.models import AppealState
    from fairban.cases.transitions import CaseState
    from fairban.measures import Measure
    from fairban.web.i18n import EN, gettext

    raw = {s.value for s in AppealState} | {s.value for s in CaseState}
    raw |= {m.value for m in Measure if m.value != "none"}
    for word in sorted(raw):
        assert word in EN, word
        assert gettext("zh-CN")(word) != word, word
    assert gettext("en")("queued") != "queued"
