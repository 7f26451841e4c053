"""A notice of a person's decision on the appeal (upheld, downgraded, granted), in both
languages: the decision, the reviewer's written reason, each of the person's accounts
as it is now, and what they can do next (a further review where the case allows it,
the authority's complaint route, the courts); its SMS within the limits; one language
only."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from fairban.notices import LANGS, AccountNow, NoticeFacts, render_long, render_sms, sms_length
from fairban.notices.model import DECISIONS
from fairban.notices.render import SMS_LIMIT
from fairban.platforms.webhooks import AppealDecision

REASON = "The receipt shows the phone was sold in May 2019 <before the nights counted>."
ZH_WORDS = {
    "title": "缅北电信网络诈骗重点地区",
    "issuer": "打击治理电信网络新型违法犯罪工作部际联席会议办公室",
    "legal_basis": "2019年10月14日通告",
}
ACCOUNTS = (
    AccountNow("wechat:wxid_f1", "wechat", "suspend"),
    AccountNow("alipay:2088f1", "alipay", "restrict"),
    AccountNow("qq:10001", "qq", None),
)
#: what each decision's first sentence says, per language
OUTCOME = {
    ("upheld", "zh-CN"): "维持原措施",
    ("upheld", "en"): "upheld the measure",
    ("downgraded", "zh-CN"): "减轻为限制部分功能",
    ("downgraded", "en"): "reduced the measure to a restriction",
    ("granted", "zh-CN"): "申诉成立",
    ("granted", "en"): "granted it",
}
#: each account's line, per language: (account, words)
ACCOUNT_WORDS = {
    "zh-CN": {"wxid_f1": "暂停使用", "2088f1": "部分功能受限", "10001": "无处置措施"},
    "en": {"wxid_f1": "suspended", "2088f1": "restricted", "10001": "no measure"},
}
NEXT = {
    "zh-CN": ("再次申诉", "投诉", "人民法院"),
    "en": ("Ask for a further review", "Complain to", "people's court"),
}


@pytest.fixture(scope="module")
def facts(make_facts: Any, busiest: Any) -> NoticeFacts:
    row = busiest["suspend"]
    base: NoticeFacts = make_facts(
        row["reasons"], "suspend", account_id=row["account_id"], platform=row["platform"]
    )
    return replace(
        base,
        automated=False,
        review_reason=REASON,
        accounts=ACCOUNTS,
        translations={"zh-CN": ZH_WORDS},
    )


def decided(facts: NoticeFacts, decision: str, *, again: bool = False) -> NoticeFacts:
    measure = {"upheld": "suspend", "downgraded": "restrict", "granted": "lift"}[decision]
    lift = "appeal_granted" if decision == "granted" else None
    return replace(facts, measure=measure, decision=decision, appeal_again=again, lift_reason=lift)


def section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}"')
    return html[start : html.index("</section>", start)]


def test_the_webhooks_decisions_are_the_notices() -> None:
    import typing

    assert typing.get_args(AppealDecision) == DECISIONS


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("decision", DECISIONS)
def test_a_decision_notice_says_the_decision_the_reason_and_each_account(
    facts: NoticeFacts, decision: str, lang: str
) -> None:
    html = render_long(decided(facts, decision), lang)
    review = section(html, "review")
    assert "The receipt shows the phone was sold in May 2019 &lt;before" in review  # escaped
    assert OUTCOME[decision, lang] in html[: html.index('<section id="review"')] + review
    lines = re.findall(r"<li>(.*?)</li>", review[review.index('class="accounts"') :])
    for (account, words), line in zip(ACCOUNT_WORDS[lang].items(), lines, strict=False):
        assert account in line, line
        assert words in line, line
    assert len(lines) >= len(ACCOUNTS)


@pytest.mark.parametrize("lang", LANGS)
def test_an_upheld_measure_says_what_can_be_done_next(facts: NoticeFacts, lang: str) -> None:
    html = render_long(decided(facts, "upheld"), lang)
    nxt = section(html, "review")
    nxt = nxt[nxt.index('class="next"') :]
    further, complain, court = NEXT[lang]
    assert further not in nxt  # an upheld case is not appealed again
    assert complain in nxt
    assert court in nxt
    issuer = ZH_WORDS["issuer"] if lang == "zh-CN" else facts.issuer
    assert issuer in nxt
    # no appeal form is offered where none can be made: the case link instead
    assert 'id="appeal"' not in html
    assert 'id="documents"' not in html
    assert 'id="case-link"' in html
    assert "appeal-button" not in html


@pytest.mark.parametrize("lang", LANGS)
def test_a_downgrade_offers_a_further_review(facts: NoticeFacts, lang: str) -> None:
    html = render_long(decided(facts, "downgraded", again=True), lang)
    nxt = section(html, "review")
    further, complain, court = NEXT[lang]
    assert further in nxt
    assert complain in nxt
    assert court in nxt
    assert 'id="appeal"' in html
    assert 'class="button appeal-button"' in html
    assert html.index('class="decision"') < html.index('id="measure"')


@pytest.mark.parametrize("lang", LANGS)
def test_a_granted_appeal_names_no_directive_and_no_fraud(facts: NoticeFacts, lang: str) -> None:
    html = render_long(
        decided(replace(facts, review_reason="The phone was sold."), "granted"), lang
    )
    assert 'id="review"' in html
    assert 'class="next"' not in html
    for word in (*ZH_WORDS.values(), facts.issuer, facts.directive_title, "fraud", "诈"):
        assert word not in html


@pytest.mark.parametrize("decision", DECISIONS)
def test_each_language_stays_itself(facts: NoticeFacts, decision: str) -> None:
    """What the decision adds, outside the reviewer's own words, the account ids and the
    links: no Latin letter in Chinese, no Chinese character in English."""
    f = decided(facts, decision, again=decision == "downgraded")
    own = (
        REASON.replace("<", "&lt;").replace(">", "&gt;"),
        f.appeal_url,
        f.account_id,
        *(a.account_id for a in ACCOUNTS),
        "QQ",  # the platform's name in Chinese too
    )
    for lang, foreign in (("zh-CN", r"[A-Za-z]"), ("en", r"[\u4e00-\u9fff]")):
        html = render_long(f, lang)
        parts = [html[html.index("<h2>") : html.index("</h2>")]]
        parts += [
            section(html, name)
            for name in ("summary", "review", "case-link", "lifted", "why-lifted")
            if f'<section id="{name}"' in html
        ]
        text = re.sub(r"<[^>]+>", " ", " ".join(parts))
        for words in sorted(own, key=len, reverse=True):
            text = text.replace(words, " ")
        assert re.findall(foreign, text) == [], (lang, text)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("url", ["https://fb.cn/a/7Kx2p", "http://127.0.0.1:8000/c/FB-2019-000229"])
def test_a_decision_sms_fits_and_says_the_decision(
    facts: NoticeFacts, decision: str, lang: str, url: str
) -> None:
    f = replace(decided(facts, decision), short_url=url, platform="alipay")
    sms = render_sms(f, lang)
    size = sms_length(sms, lang)
    assert size is not None
    assert size <= SMS_LIMIT[lang]  # type: ignore[index]
    assert sms.endswith(url)
    words = {
        ("upheld", "zh-CN"): "维持原措施",
        ("upheld", "en"): "upheld",
        ("downgraded", "zh-CN"): "减轻",
        ("downgraded", "en"): "reduced",
        ("granted", "zh-CN"): "解除",
        ("granted", "en"): "lifted",
    }
    assert words[decision, lang] in sms
    if decision != "granted":
        assert ("后续途径" if lang == "zh-CN" else "next") in sms


def test_a_decision_notice_needs_the_reviewers_reason_and_a_fitting_measure(
    facts: NoticeFacts,
) -> None:
    with pytest.raises(ValueError, match="needs review_reason"):
        render_long(replace(decided(facts, "upheld"), review_reason=" "))
    with pytest.raises(ValueError, match="does not leave the measure 'lift'"):
        render_long(replace(decided(facts, "upheld"), measure="lift", lift_reason="review"))
    with pytest.raises(ValueError, match="none of upheld, downgraded, granted"):
        render_long(replace(facts, decision="overturned"))
