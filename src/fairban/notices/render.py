"""Notices in three forms: SMS, the in-app long form (HTML fragment) and its plain text.

- ``render_sms``: zh-CN at most 70 characters, English at most 160 GSM-7 characters,
  the short link included. Names the measure, says it is about a fraud-risk check
  without calling anyone a fraudster, and gives the link to see why and appeal.
- ``render_long``: every element PRC Anti-Telecom and Online Fraud Law art. 32 and EU
  DSA art. 17 ask for (docs/notices.md maps them), from ``templates/long.html``.
- ``render_text``: the same HTML as plain text, so the two forms never drift apart.

``monitor`` and ``none`` are refused (``ValueError``): monitoring is invisible by
definition and ``none`` is no measure.
"""

from __future__ import annotations

import re
import unicodedata
from html import unescape
from html.parser import HTMLParser
from typing import Any

from fairban.notices.i18n import (
    DEFAULT_LANG,
    HTML_LANG,
    N_,
    Lang,
    Tr,
    environment,
    normalize_lang,
)
from fairban.notices.model import NoticeFacts, check_facts
from fairban.notices.reasons import documents, platform_name, sentence

SMS_LIMIT: dict[Lang, int] = {"zh-CN": 70, "en": 160}

# --- SMS -------------------------------------------------------------------------------

#: per measure, from the fullest wording to the shortest; the first that fits is sent
SMS_WORDINGS: dict[str, tuple[str, ...]] = {
    "restrict": (
        N_(
            "%(platform)s: your account is restricted after a fraud-risk check: outgoing "
            "payments held, new contacts limited. See why and appeal free: %(url)s"
        ),
        N_("Your account is restricted after a fraud-risk check. See why, appeal free: %(url)s"),
    ),
    "suspend": (
        N_(
            "%(platform)s: your account is suspended after a fraud-risk check. Nothing is "
            "deleted. See why and appeal free: %(url)s"
        ),
        N_("Your account is suspended after a fraud-risk check. See why, appeal free: %(url)s"),
    ),
    "lift": (
        N_(
            "%(platform)s: the measure on your account is lifted on every platform. It works "
            "as before. Details: %(url)s"
        ),
        N_("The measure on your account is lifted everywhere. Details: %(url)s"),
    ),
}

#: the SMS of a person's decision on the appeal, by what it leaves (:func:`_decision_key`)
DECISION_SMS: dict[str, tuple[str, ...]] = {
    "upheld": (
        N_(
            "%(platform)s: a person reviewed your appeal and upheld the measure. The reasons "
            "and what you can do next: %(url)s"
        ),
        N_("Your appeal was reviewed: the measure stays. Reasons, next steps: %(url)s"),
    ),
    "reduced": (
        N_(
            "%(platform)s: a person reviewed your appeal and reduced the measure to a "
            "restriction. The reasons and what you can do next: %(url)s"
        ),
        N_("Your appeal was reviewed: the measure is reduced. Reasons, next steps: %(url)s"),
    ),
    "ended": (
        N_(
            "%(platform)s: a person reviewed your appeal and lifted the measure on your "
            "account. It works as before. Details: %(url)s"
        ),
        N_("Your appeal was reviewed: the measure is lifted. Details: %(url)s"),
    ),
}


def _decision_key(facts: NoticeFacts) -> str | None:
    """What a decision notice tells: the measure stays, is reduced, or ends."""
    if facts.decision is None:
        return None
    if facts.measure == "lift":
        return "ended"
    return "upheld" if facts.decision == "upheld" else "reduced"


#: a decision notice's first sentence, by :func:`_decision_key` (and a grant's own)
DECISION_SENTENCES = {
    "upheld": N_("A person reviewed your appeal and upheld the measure: it stays as it was."),
    "reduced": N_(
        "A person reviewed your appeal and reduced the measure to a restriction: outgoing "
        "payments are held and new contacts are limited; everything else works again."
    ),
    "ended": N_("A person reviewed your appeal and lifted the measure on this account."),
    "granted": N_(
        "A person reviewed your appeal and granted it: the measure is lifted on every "
        "platform and on every linked account."
    ),
}

#: one of the person's accounts as a decision leaves it, by its visible measure
ACCOUNT_LINES = {
    "restrict": N_(
        "%(platform)s %(account)s: restricted (outgoing payments held, new contacts limited)"
    ),
    "suspend": N_(
        "%(platform)s %(account)s: suspended (no sign-in except to appeal and to export data)"
    ),
    None: N_("%(platform)s %(account)s: no measure, it works as before"),
}

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def gsm7_length(text: str) -> int | None:
    """Septets ``text`` takes in GSM-7 (extended characters count 2); None if it cannot."""
    n = 0
    for ch in text:
        if ch in GSM7_BASIC:
            n += 1
        elif ch in GSM7_EXTENDED:
            n += 2
        else:
            return None
    return n


def sms_length(text: str, lang: str) -> int | None:
    """What counts against the SMS limit of ``lang``: characters (zh-CN), GSM-7 septets."""
    return len(text) if normalize_lang(lang) == "zh-CN" else gsm7_length(text)


def render_sms(facts: NoticeFacts, lang: str = DEFAULT_LANG) -> str:
    """The SMS: within the limit of the language, the short link included."""
    check_facts(facts)
    code = normalize_lang(lang)
    tr = Tr(code)
    limit = SMS_LIMIT[code]
    tried: list[int | None] = []
    key = _decision_key(facts)
    wordings = DECISION_SMS[key] if key else SMS_WORDINGS[facts.measure]
    for wording in wordings:
        text = tr._(wording, platform=platform_name(facts.platform, tr), url=facts.short_url)
        size = sms_length(text, code)
        if size is not None and size <= limit:
            return text
        tried.append(size)
    raise ValueError(
        f"case {facts.case_number}: no {code} SMS fits {limit} characters with short link "
        f"{facts.short_url!r} (shortest came to {tried[-1]})"
    )


# --- long form -------------------------------------------------------------------------

LIFT_SENTENCES = {
    "appeal_granted": N_(
        "Your appeal was granted: the check found that the measure was not justified."
    ),
    "recheck_passed": N_(
        "A re-check with the information you gave found that the measure no longer holds."
    ),
    "review": N_("A reviewer checked the case and found that the measure was not justified."),
    "directive_amended": N_(
        "The directive behind the measure was changed, and it no longer covers your account."
    ),
    "directive_withdrawn": N_("The directive behind the measure was withdrawn."),
    "directive_ended": N_("The directive behind the measure no longer stands: its term has ended."),
    "evidence_rechecked": N_(
        "A new check of the latest records found that the measure no longer holds."
    ),
    "evidence_aged_out": N_(
        "The records the measure rested on are now older than the directive looks back, "
        "and newer records do not support it."
    ),
    "expired": N_("The measure reached its end date."),
}


def _weight(w: float) -> str:
    return f"{w:+.1f}"


def context(facts: NoticeFacts, lang: str = DEFAULT_LANG) -> dict[str, Any]:
    """The values ``templates/long.html`` is rendered with (all already in ``lang``)."""
    check_facts(facts)
    code = normalize_lang(lang)
    tr = Tr(code)

    def item(r: Any) -> dict[str, str]:
        return {"code": r.code, "sentence": sentence(r, tr), "weight": _weight(r.weight)}

    # a lift's notice states no reasons and no documents (the template's lift part has
    # none): left out, lifts of different reasons share one stamped text (render_text)
    reasons = () if facts.measure == "lift" else facts.reasons

    lift = (facts.lift_reason or "").strip()
    title, issuer, legal_basis = facts.directive_words(code)
    key = _decision_key(facts)
    if facts.decision == "granted":
        key = "granted"
    accounts = [
        tr._(
            ACCOUNT_LINES[a.measure if a.measure in ("restrict", "suspend") else None],
            platform=platform_name(a.platform, tr),
            account=a.account_id,
        )
        for a in facts.accounts
    ]
    return {
        "lang": code,
        "html_lang": HTML_LANG[code],
        # between a sentence and what follows it inline: none after full-width punctuation
        "gap": "" if code == "zh-CN" else " ",
        "measure": facts.measure,
        "case_number": facts.case_number,
        "account_id": facts.account_id,
        "platform_name": platform_name(facts.platform, tr),
        "decided": tr.moment(facts.decided_at),
        "expires": tr.moment(facts.expires_at) if facts.expires_at else "",
        "answer_by": tr.moment(facts.answer_by) if facts.answer_by else "",
        "answer_hours": facts.answer_hours,
        "relied": [item(r) for r in reasons if r.weight > 0],
        "context_facts": [item(r) for r in reasons if r.weight == 0],
        "favour": [item(r) for r in reasons if r.weight < 0],
        "directive_id": facts.directive_id,
        "directive_title": title,
        "issuer": issuer,
        "legal_basis": legal_basis.rstrip("."),
        "automated": facts.automated,
        "appeal_url": facts.appeal_url,
        "appeal_button": facts.appeal_button or facts.appeal_url,
        "review_reason": (facts.review_reason or "").strip(),
        "decision": facts.decision or "",
        "decision_sentence": tr._(DECISION_SENTENCES[key]) if key else "",
        "accounts": accounts,
        # a decision notice offers an appeal only where the case can be appealed again
        "can_appeal": facts.decision is None or facts.appeal_again,
        "appeal_again": facts.appeal_again,
        # a link with a token opens the case at once; a bare one asks for a code
        "link_has_token": "?t=" in facts.appeal_url,
        "documents": []
        if facts.measure == "lift"
        else [tr._(d) for d in documents(reasons, facts.account_kind)],
        "lift_reason": tr._(LIFT_SENTENCES[lift]) if lift in LIFT_SENTENCES else lift,
    }


def render_long(facts: NoticeFacts, lang: str = DEFAULT_LANG) -> str:
    """The in-app long form: an autoescaped HTML fragment (``<article>``)."""
    return _render(context(facts, lang))


def _render(ctx: dict[str, Any]) -> str:
    html = environment(ctx["lang"]).get_template("long.html").render(ctx)
    return html.strip() + "\n"


def render_text(facts: NoticeFacts, lang: str = DEFAULT_LANG) -> str:
    """The long form as plain text: the same HTML, laid out for a terminal or e-mail.

    Equal to ``html_to_text(render_long(facts, lang))``, byte for byte
    (``tests/unit/notices/test_stamp.py``), but rendered once per *shape*: the values
    of one case that the template only shows and never branches on (:data:`_PER_CASE`)
    are rendered as marks, and the text with the marks is kept and filled in for every
    case of the same shape (a re-check's batch of lifts: same language, platform, hour
    and reason). The Jinja render and the HTML's reading, two thirds of a lift's cost,
    then run once a shape instead of once a case."""
    ctx = context(facts, lang)
    marks: dict[str, str] = {}  # value -> its mark; equal values share one
    stamped = dict(ctx)
    for name in _PER_CASE:
        value = ctx[name]
        if not isinstance(value, str) or not _stampable(value):
            return html_to_text(_render(ctx))
        stamped[name] = marks.setdefault(value, f"\x00{len(marks)}\x00")
    key = repr(tuple(stamped.items()))
    text = _STAMPED.get(key)
    if text is None:
        text = html_to_text(_render(stamped))
        if not _layout_free(text):
            text = ""  # a mark in a heading: this shape is rendered case by case
        if len(_STAMPED) >= _STAMPED_MAX:
            _STAMPED.clear()
        _STAMPED[key] = text
    if not text:
        return html_to_text(_render(ctx))
    for value, mark in marks.items():
        text = text.replace(mark, value)
    return text


#: the values of one case that the template only shows (autoescaped text, an attribute,
#: a link): never a branch, a filter or a length. Whatever depends on them (whether the
#: link carries a token) is worked out in :func:`context` before they are marked.
_PER_CASE = ("case_number", "account_id", "appeal_url", "appeal_button")
#: stamped texts by shape (:func:`render_text`); "" for a shape that cannot be stamped
_STAMPED: dict[str, str] = {}
_STAMPED_MAX = 512
_NO_STAMP = re.compile(r"[\s\x00]")


def _stampable(value: str) -> bool:
    """A value the plain text shows exactly as given, wherever it stands: not empty, no
    white space (the text folds it), no NUL (the marks' own character). Escaping does
    not matter: the text reads back what the HTML escaped."""
    return bool(value) and _NO_STAMP.search(value) is None


def _layout_free(text: str) -> bool:
    """No mark stands in a heading (its underline is as wide as the value) or ends a
    term of a definition list (its separator depends on the value's last character)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "\x00" not in line:
            continue
        below = lines[i + 1] if i + 1 < len(lines) else ""
        if below and set(below) <= {"=", "-"}:
            return False
        if re.search("\x00(: |：)", line):
            return False
    return True


# --- HTML fragment -> plain text -------------------------------------------------------

_BLOCKS = {"h2", "h3", "p", "li", "dt", "dd", "footer"}
#: containers whose end ends a line too (after a list, a blank line)
_CLOSES = {"section", "ul", "dl", "article"}
_SPACE = re.compile(r"\s+")


def display_width(text: str) -> int:
    """Terminal columns: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class _TextWriter(HTMLParser):
    """Block elements become lines; headings are underlined; lists get '- '."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.buf: list[str] = []
        self.stack: list[str] = []
        self.dt: str | None = None
        self.href: str | None = None
        self.link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self._flush()
            self.stack.append(tag)
        elif tag == "a":
            self.href = dict(attrs).get("href")
            self.link_text = []
        elif tag == "br":
            self.buf.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            shown = "".join(self.link_text).strip()
            if self.href and self.href != shown:
                self.buf.append(f" ({self.href})")
            self.href = None
        elif tag in _BLOCKS:
            self._flush(tag)
            if self.stack and self.stack[-1] == tag:
                self.stack.pop()
        elif tag in _CLOSES:
            self._flush()
            if tag in ("ul", "dl"):
                self._blank()

    def handle_data(self, data: str) -> None:
        self.buf.append(data)
        if self.href is not None:
            self.link_text.append(data)

    def _blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def _flush(self, tag: str | None = None) -> None:
        text = _SPACE.sub(" ", "".join(self.buf)).strip()
        self.buf = []
        if not text:
            return
        if tag == "h2":
            self._blank()
            self.lines += [text, "=" * display_width(text), ""]
        elif tag == "h3":
            self._blank()
            self.lines += [text, "-" * display_width(text)]
        elif tag == "li":
            self.lines.append(f"- {text}")
        elif tag == "dt":
            self.dt = text
        elif tag == "dd":
            sep = ": " if self.dt and not _is_wide(self.dt[-1]) else "："
            self.lines.append(f"{self.dt}{sep}{text}" if self.dt else text)
            self.dt = None
        else:
            self.lines.append(text)
            self.lines.append("")

    def text(self) -> str:
        self._flush()
        return _joined(self.lines)


def _joined(lines: list[str]) -> str:
    """The lines as one text: trailing spaces off, at most one blank line in a row."""
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


#: what the template writes, token by token: a start tag with double-quoted attributes
#: (optionally self-closing), an end tag, or text up to the next ``<``
_TOKEN = re.compile(
    r'<([a-zA-Z][a-zA-Z0-9]*)((?:[ \t\n\r\f]+[a-zA-Z][-a-zA-Z0-9_]*="[^"<>]*")*)(/?)>'
    r"|</([a-zA-Z][a-zA-Z0-9]*)>"
    r"|([^<]+)"
)
_ATTR = re.compile(r'([a-zA-Z][-a-zA-Z0-9_]*)="([^"<>]*)"')
#: elements whose content HTMLParser reads raw (no tags inside): left to it
_RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript"}
)


def html_to_text(html: str) -> str:
    """The long form as plain text: block elements become lines, headings are
    underlined, lists get '- ', a link's address follows its text when they differ.

    The fragment the template writes (autoescaped values, tags with double-quoted
    attributes, no comments) is read by one regular expression in one pass that does
    what :class:`_TextWriter` does with what :class:`html.parser.HTMLParser` hands it,
    at a fraction of the cost; anything else (a comment, a stray ``<``, a raw-text
    element) goes to the parser. Both give the same text, byte for byte
    (``tests/unit/notices/test_text.py``)."""
    text = _read(html)
    return _parsed(html) if text is None else text


def _read(html: str) -> str | None:
    """:func:`html_to_text` by the regular expression; None where it does not apply."""
    lines: list[str] = []
    buf: list[str] = []
    dt: str | None = None
    href: str | None = None
    link_text: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(html):
        if m.start() != pos:
            return None
        pos = m.end()
        start, attrs, closed, end, data = m.groups()
        if data is not None:
            data = unescape(data)
            # a line starts at its first non-space: space before it would be stripped
            if buf or not data.isspace():
                buf.append(data)
            if href is not None:
                link_text.append(data)
            continue
        if start is not None:
            tag = start.lower()
            if tag in _RAW_TEXT:
                return None
            if tag in _BLOCKS:
                if buf:
                    dt = _flush(lines, buf, None, dt)
                    buf = []
            elif tag == "a":
                # as HTMLParser gives them: names in lower case, values unescaped, the
                # last of a name counts
                href = None
                for name, value in _ATTR.findall(attrs):
                    if name.lower() == "href":
                        href = unescape(value)
                link_text = []
            elif tag == "br":
                buf.append("\n")
            if not closed:
                continue
        else:
            tag = end.lower()
        # an end tag (a self-closing tag ends at once)
        if tag == "a":
            shown = "".join(link_text).strip()
            if href and href != shown:
                buf.append(f" ({href})")
            href = None
        elif tag in _BLOCKS:
            if buf:
                dt = _flush(lines, buf, tag, dt)
                buf = []
        elif tag in _CLOSES:
            if buf:
                dt = _flush(lines, buf, None, dt)
                buf = []
            if tag in ("ul", "dl") and lines and lines[-1] != "":
                lines.append("")
    if pos != len(html):
        return None
    _flush(lines, buf, None, dt)
    return _joined(lines)


def _flush(lines: list[str], buf: list[str], tag: str | None, dt: str | None) -> str | None:
    """:meth:`_TextWriter._flush` on ``lines``; returns the pending ``dt`` (the caller
    empties ``buf``)."""
    text = _SPACE.sub(" ", "".join(buf)).strip()
    if not text:
        return dt
    if tag == "h2":
        if lines and lines[-1] != "":
            lines.append("")
        lines += [text, "=" * display_width(text), ""]
    elif tag == "h3":
        if lines and lines[-1] != "":
            lines.append("")
        lines += [text, "-" * display_width(text)]
    elif tag == "li":
        lines.append(f"- {text}")
    elif tag == "dt":
        return text
    elif tag == "dd":
        sep = ": " if dt and not _is_wide(dt[-1]) else "："
        lines.append(f"{dt}{sep}{text}" if dt else text)
        return None
    else:
        lines.append(text)
        lines.append("")
    return dt


def _parsed(html: str) -> str:
    """The long form as plain text, read by :class:`html.parser.HTMLParser`."""
    writer = _TextWriter()
    writer.feed(html)
    writer.close()
    return writer.text()
