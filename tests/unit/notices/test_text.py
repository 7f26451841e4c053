"""The plain text of the long form: the one-pass reading of the template's HTML
(``render._read``) gives, byte for byte, what the HTML parser gives
(``render._parsed``, the reading every notice had before), for every kind of notice the
fixtures make and for fragments built at random from the template's vocabulary; what
it does not know goes to the parser."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from fairban.notices import LANGS, LIFT_REASONS, AccountNow, NoticeFacts, render_long, render_text
from fairban.notices.model import DECISIONS, reasons_from_json
from fairban.notices.render import _parsed, _read, html_to_text

ACCOUNTS = (
    AccountNow("wechat:wxid_f1", "wechat", "suspend"),
    AccountNow("alipay:2088f1", "alipay", "restrict"),
    AccountNow("qq:10001", "qq", None),
)


def kinds(base: NoticeFacts) -> list[NoticeFacts]:
    """A notice of every kind: each measure, lift reason and decision, automated or a
    person's, with and without expiry, token, button, reviewer's reason and accounts."""
    out = [
        replace(base, measure=m, automated=a)
        for m in ("restrict", "suspend")
        for a in (True, False)
    ]
    out += [replace(base, expires_at=base.decided_at + timedelta(days=30), answer_by=None)]
    out += [replace(base, appeal_url="https://fb.cn/c/FB-2024-000123", appeal_button="/x")]
    out += [replace(base, measure="lift", lift_reason=r) for r in (*LIFT_REASONS, "free text")]
    out += [replace(base, measure="lift", lift_reason="review", automated=False)]
    leaves = {"upheld": "suspend", "downgraded": "restrict", "granted": "lift"}
    for decision in DECISIONS:
        for again in (False, True):
            out.append(
                replace(
                    base,
                    measure=leaves[decision],
                    decision=decision,
                    appeal_again=again,
                    lift_reason="appeal_granted" if decision == "granted" else None,
                    automated=False,
                    review_reason='Receipt <May 2019> & "sold" — 已出售。',
                    accounts=ACCOUNTS,
                )
            )
    return out


@pytest.fixture(scope="module")
def notices(make_facts: Any, busiest: Any, real_run: Any) -> list[NoticeFacts]:
    row = busiest["suspend"]
    favour = replace(real_run.examples["AGAINST_RECIPROCAL"], weight=-1.0)
    context = replace(real_run.examples["PRESENCE_SOME"], weight=0.0)
    rich = make_facts(
        (*reasons_from_json(row["reasons"]), favour, context),
        "suspend",
        account_id=row["account_id"],
        platform=row["platform"],
    )
    every_code = make_facts(tuple(real_run.examples.values()), "restrict")
    return [*kinds(rich), *kinds(every_code), *kinds(make_facts((), "suspend"))]


@pytest.mark.parametrize("lang", LANGS)
def test_every_notice_reads_the_same_as_by_the_parser(
    notices: list[NoticeFacts], lang: str
) -> None:
    for facts in notices:
        html = render_long(facts, lang)
        fast = _read(html)
        assert fast is not None, "the template's HTML is read in one pass"
        assert fast == _parsed(html)
        assert render_text(facts, lang) == fast


#: the template's vocabulary, and what it never writes (the parser reads those)
BLOCKS = ("h2", "h3", "p", "li", "dt", "dd", "footer")
OTHERS = ("section", "ul", "dl", "article", "small", "blockquote", "span", "A", "P")
TEXTS = (
    "text",
    " spaced  out ",
    "\n",
    "  ",
    "",
    "案件编号",
    "全角：",
    "&amp; &lt;b&gt; &#34;q&#34; &#39;s&#39; &copy; &unknown; &",
    "a\u3000b\xa0c",
    "https://fb.cn/c/FB-1?t=…",
)
ODD = ("<!-- note -->", "< 3", "<br>", "<br/>", "<script>x</script>", "<a href=x>", "<P >")


def fragment(rng: random.Random, odd: bool) -> str:
    parts: list[str] = []
    for _ in range(rng.randrange(1, 40)):
        pick = rng.random()
        if pick < 0.35:
            parts.append(rng.choice(TEXTS))
        elif pick < 0.55:
            tag = rng.choice(BLOCKS)
            parts.append(f"<{tag}>{rng.choice(TEXTS)}</{tag}>")
        elif pick < 0.65:
            url = rng.choice(("https://fb.cn/c/1", "text", "", "a&amp;b"))
            attrs = rng.choice(('class="button" ', "", 'href="other" '))
            parts.append(f'<a {attrs}href="{url}">{rng.choice(TEXTS)}</a>')
        elif pick < 0.8:
            tag = rng.choice(OTHERS + BLOCKS)
            parts.append(rng.choice((f"<{tag}>", f"</{tag}>", f'<{tag} data-x="1"/>')))
        elif odd:
            parts.append(rng.choice(ODD))
        else:
            parts.append(rng.choice(("<br>", "<br/>", "<dl><dt>Case</dt><dd>FB-1</dd></dl>")))
    return "".join(parts)


@pytest.mark.parametrize("odd", [False, True], ids=["template-like", "with-odd-markup"])
def test_random_fragments_read_the_same_as_by_the_parser(odd: bool) -> None:
    rng = random.Random(19)
    read = 0
    for _ in range(3000):
        html = fragment(rng, odd)
        assert html_to_text(html) == _parsed(html), html
        read += _read(html) is not None
    assert read > 0  # the one-pass reading took part


@pytest.mark.parametrize("html", ODD)
def test_what_the_template_never_writes_goes_to_the_parser(html: str) -> None:
    page = f"<p>before {html} after</p>"
    if html.startswith("<br"):
        assert _read(page) is not None
    else:
        assert _read(page) is None
    assert html_to_text(page) == _parsed(page)
