"""Languages of notices: the gettext catalogues, the Jinja2 environment, and how dates,
amounts and counts are written in each language.

The catalogues live in ``locale/<ll_CC>/LC_MESSAGES/messages.{po,mo}``; the ``.mo`` files
are compiled and shipped (a test checks they match the ``.po``), so a fresh clone needs no
build step. Source strings are English; ``en`` has an (empty) catalogue of its own so that
English wording can change without touching the code.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal, cast

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from fairban.clock import BEIJING

Lang = Literal["zh-CN", "en"]
#: the languages of notices, default first
LANGS: tuple[Lang, ...] = ("zh-CN", "en")
DEFAULT_LANG: Lang = "zh-CN"

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
#: notice language -> Babel locale (and catalogue folder)
BABEL_LOCALE: dict[Lang, str] = {"zh-CN": "zh_CN", "en": "en"}
#: notice language -> HTML lang attribute
HTML_LANG: dict[Lang, str] = {"zh-CN": "zh-CN", "en": "en"}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark a string for extraction; it is translated where it is used."""
    return message


def normalize_lang(lang: str) -> Lang:
    """``zh-CN`` (also ``zh``, ``zh_CN``, ``zh-Hans``) or ``en`` (also ``en-GB`` ...)."""
    key = lang.strip().replace("_", "-").lower()
    if key in ("zh", "zh-cn", "zh-hans", "zh-hans-cn"):
        return "zh-CN"
    if key == "en" or key.startswith("en-"):
        return "en"
    raise ValueError(f"language {lang!r} is not supported (use one of {', '.join(LANGS)})")


@cache
def translations(lang: Lang) -> Translations:
    """The compiled catalogue of ``lang``; a missing ``.mo`` is an error, never silent."""
    locale = BABEL_LOCALE[lang]
    mo = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo.is_file():
        raise RuntimeError(f"message catalogue {mo} is missing (see docs/notices.md)")
    t = Translations.load(str(LOCALE_DIR), [locale], DOMAIN)
    if not isinstance(t, Translations):  # Babel falls back to NullTranslations
        raise RuntimeError(f"message catalogue {mo} could not be loaded")
    return t


class Tr:
    """Translate and format for one language."""

    def __init__(self, lang: Lang) -> None:
        self.lang: Lang = lang
        self.locale = BABEL_LOCALE[lang]
        self._t = translations(lang)

    def _(self, message: str, **values: Any) -> str:
        text = self._t.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """A count phrase: ``n`` goes in as ``%(n)s``, written in the language's digits."""
        text = self._t.ngettext(singular, plural, n)
        return text % {"n": self.number(n), **values}

    def number(self, x: float) -> str:
        return str(format_decimal(x, format="#,##0.##", locale=self.locale))

    def amount(self, cny: float) -> str:
        """An amount in yuan, whole yuan (the sentences round, the data keeps cents)."""
        return self._("CNY %(amount)s", amount=format_decimal(round(cny), locale=self.locale))

    def percent(self, share: float) -> str:
        return str(format_percent(share, locale=self.locale))

    def day(self, value: date | datetime | str) -> str:
        """A calendar day: '14 October 2019' / '2019年10月14日'."""
        day: date
        if isinstance(value, str):
            try:
                day = date.fromisoformat(value[:10])
            except ValueError:
                return value
        elif isinstance(value, datetime):
            day = value.astimezone(BEIJING).date() if value.tzinfo else value.date()
        else:
            day = value
        pattern = "y年M月d日" if self.lang == "zh-CN" else "d MMMM y"
        return str(format_date(day, pattern, locale=self.locale))

    def moment(self, value: datetime) -> str:
        """A time in Beijing time: '14 October 2019, 14:00 (Beijing time)'."""
        return _moment(self.lang, value)

    def join(self, items: list[str]) -> str:
        return ("、" if self.lang == "zh-CN" else ", ").join(items)


@lru_cache(maxsize=1024)
def _moment(lang: Lang, value: datetime) -> str:
    # a batch's notices share their instant: Babel formats it once per language
    local = value.astimezone(BEIJING)
    pattern = "y年M月d日 HH:mm" if lang == "zh-CN" else "d MMMM y, HH:mm"
    text = str(format_datetime(local, pattern, tzinfo=BEIJING, locale=BABEL_LOCALE[lang]))
    return Tr(lang)._("%(time)s (Beijing time)", time=text)


@cache
def environment(lang: Lang) -> Environment:
    """Jinja2 with autoescape for HTML and the i18n extension bound to ``lang``."""
    env = Environment(
        loader=PackageLoader("fairban.notices", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # the templates ship with the package: no stat of the file at every notice
        auto_reload=False,
    )
    i18n: Any = env
    catalogue = translations(lang)
    i18n.install_gettext_translations(catalogue, newstyle=True)

    @pass_context
    def gettext(context: Context, message: str, **variables: Any) -> str:
        # what the extension's newstyle gettext does (the catalogue's text as markup,
        # the values escaped into it), without its two extra context calls for each
        # of the 30 strings of a notice
        text: str = catalogue.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    env.globals.update(gettext=gettext, _=gettext)
    return cast(Environment, i18n)
