"""The console's words in Chinese and English: a Babel catalogue of its own (domain
``console``, ``web/console/locale``), apart from the portal's, and how the console writes
instants (Beijing time, the zone named) and durations.

Source strings are English. The ``.mo`` is compiled and shipped (``tests/unit/web``
checks it matches the ``.po`` and that every ``_("...")`` of the console has its Chinese);
``pybabel compile -D console -d src/fairban/web/console/locale`` after editing the ``.po``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

from fairban.clock import BEIJING
from fairban.web.i18n import gettext as portal_gettext
from fairban.web.i18n import normalize

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "console"


@cache
def translations(lang: str) -> NullTranslations:
    """The compiled Chinese catalogue, or English as written (no catalogue)."""
    if normalize(lang) == "en":
        return NullTranslations()
    mo = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo.is_file():
        raise RuntimeError(f"console catalogue {mo} is missing (pybabel compile -D console)")
    return Translations.load(str(LOCALE_DIR), ["zh_CN"], DOMAIN)


def gettext(lang: str) -> Callable[..., str]:
    """``_`` for ``lang``: the console's catalogue, then the portal's words that the shared
    page frame uses; ``%(name)s`` placeholders are filled from keyword arguments."""
    t = translations(lang)
    portal = portal_gettext(lang)
    english = normalize(lang) == "en"

    def _(message: str, **values: Any) -> str:
        text = t.gettext(message)
        # the portal's catalogue only for Chinese: its English words for measures and
        # states ("suspended") are for the person; a reviewer reads "uphold suspend"
        if text == message and not english:
            text = portal(message)
        return text % values if values else text

    return _


def when(at: datetime | None, lang: str) -> str:
    """An instant in Beijing time, the zone said: ``2019-10-16 10:00 北京时间`` or
    ``2019-10-16 10:00 Beijing time (UTC+8)``."""
    if at is None:
        return "—"
    local = at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return f"{local} 北京时间" if normalize(lang) != "en" else f"{local} Beijing time (UTC+8)"


def duration(hours: float | None, lang: str) -> str:
    """A span in the unit that reads best: minutes under an hour, hours under two days,
    else days."""
    if hours is None:
        return "—"
    zh = normalize(lang) != "en"
    if hours < 1:
        n = f"{hours * 60:.0f}"
        return f"{n} 分钟" if zh else f"{n} min"
    if hours < 48:
        n = f"{hours:.1f}"
        return f"{n} 小时" if zh else f"{n} h"
    n = f"{hours / 24:.1f}"
    return f"{n} 天" if zh else f"{n} days"
