"""The long form says everything PRC Anti-Telecom and Online Fraud Law art. 32 and EU DSA
art. 17 ask for, in both languages, checked by content; the lift notice carries no
suspect language; monitor is never noticed."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from fairban.notices import (
    LANGS,
    LIFT_REASONS,
    Reason,
    reasons_from_json,
    render_long,
    render_text,
)
from fairban.notices.i18n import Tr
from fairban.notices.reasons import DOC_HOME, DOC_LICENCE, DOC_MONEY, DOC_PHONE, documents, sentence
from fairban.notices.render import LIFT_SENTENCES, html_to_text

#: per element of art. 32 / art. 17: what the text says, per language
ELEMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "measure named (restrict)": {
        "zh-CN": ("部分功能受到限制",),
        "en": ("Some functions of your account are restricted",),
    },
    "functions limited (restrict)": {
        "zh-CN": ("转出的付款和转账暂缓执行", "添加新联系人受限"),
        "en": ("Outgoing payments and transfers are held", "Adding new contacts is limited"),
    },
    "measure named (suspend)": {
        "zh-CN": ("您的账号暂停使用",),
        "en": ("Your account is suspended",),
    },
    "functions limited (suspend)": {
        "zh-CN": ("除申诉和导出数据外，您暂时无法登录或使用该账号",),
        "en": ("You cannot sign in or use the account, except to appeal and to export your data",),
    },
    "not a finding of guilt": {
        "zh-CN": ("并不认定您本人实施了诈骗",),
        "en": ("not a finding that you committed fraud",),
    },
    "duration": {"zh-CN": ("没有设定结束日期",), "en": ("The measure has no end date",)},
    "lifted at once when the check passes (art. 32)": {
        "zh-CN": ("将立即解除",),
        "en": ("it is lifted at once, on every platform",),
    },
    "facts relied on": {
        "zh-CN": ("处置原因：所依据的事实",),
        "en": ("Why: the facts we relied on",),
    },
    "evidence in favour shown": {"zh-CN": ("对您有利的情况",), "en": ("In your favour",)},
    "directive and issuer": {
        "zh-CN": ("{issuer}发布的指令“{title}”（{id}）",),
        "en": ("the directive “{title}” ({id}), issued by {issuer}",),
    },
    "legal basis": {"zh-CN": ("法律依据：{basis}",), "en": ("Legal basis: {basis}",)},
    "automated means": {
        "zh-CN": ("上述事实由自动化手段发现，处置决定也由自动化手段作出",),
        "en": ("found by automated means, and the decision was taken by automated means",),
    },
    "appeal link and case number": {
        "zh-CN": ("{url}", "您的案件编号是FB-2024-000123", "一次性验证码"),
        "en": ("{url}", "Your case number is FB-2024-000123", "one-time code"),
    },
    "appeal free and online, no phone queue, no police station": {
        "zh-CN": ("在线申诉，免费", "无需拨打电话，无需排队", "无需前往派出所"),
        "en": (
            "Appeal online, free of charge",
            "no phone line to call and no queue",
            "do not need to go to a police station",
        ),
    },
    "documents that help": {"zh-CN": ("申诉时可提交的材料",), "en": ("What helps your appeal",)},
    "when the answer comes": {
        "zh-CN": ("我们最迟将于2024年3月8日 10:30（北京时间）给出附理由的答复",),
        "en": ("reasoned answer by 8 March 2024, 10:30 (Beijing time) at the latest",),
    },
    "access to data and export (principle 8)": {
        "zh-CN": ("您的数据仍归您所有", "导出全部数据"),
        "en": ("Your data stays yours", "export all of it at any time"),
    },
    "legal references": {
        "zh-CN": ("《中华人民共和国反电信网络诈骗法》第三十二条", "第十七条"),
        "en": ("art. 32 of the PRC Anti-Telecom", "art. 17 of the EU Digital Services Act"),
    },
}
FOR_MEASURE = {
    "restrict": [k for k in ELEMENTS if "(suspend)" not in k],
    "suspend": [k for k in ELEMENTS if "(restrict)" not in k],
}
#: words that call a person a criminal: never in any notice
ACCUSING = (
    "fraudster",
    "scammer",
    "suspect",
    "criminal",
    "guilty",
    "骗子",
    "诈骗分子",
    "嫌疑",
    "犯罪",
)
#: a lift notice says nothing about fraud at all
SUSPECT_LANGUAGE = (*ACCUSING, "fraud", "scam", "risk", "诈", "风险", "涉案")


def expected(element: str, lang: str, facts: Any) -> list[str]:
    return [
        p.format(
            issuer=facts.issuer,
            title=facts.directive_title,
            id=facts.directive_id,
            basis=facts.legal_basis.rstrip("."),
            url=facts.appeal_url,
        )
        for p in ELEMENTS[element][lang]
    ]


@pytest.fixture(scope="module")
def rich_facts(make_facts: Any, busiest: Any, real_run: Any) -> Any:
    """The suspended account with most reasons, plus evidence in its favour."""
    row = busiest["suspend"]
    reasons = (
        *reasons_from_json(row["reasons"]),
        replace(real_run.examples["AGAINST_RECIPROCAL"], weight=-1.0),
    )
    return make_facts(reasons, "suspend", account_id=row["account_id"], platform=row["platform"])


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("measure", ["restrict", "suspend"])
def test_long_form_has_every_required_element(rich_facts: Any, measure: str, lang: str) -> None:
    facts = replace(rich_facts, measure=measure)
    text = render_text(facts, lang)
    html = render_long(facts, lang)
    for element in FOR_MEASURE[measure]:
        for phrase in expected(element, lang, facts):
            assert phrase in text, f"{element}: {phrase!r} missing from the {lang} text"
    # every reason, in the chosen language, in the right place
    tr = Tr(lang)  # type: ignore[arg-type]
    for reason in facts.reasons:
        assert sentence(reason, tr) in text, reason.code
        assert f'data-code="{reason.code}"' in html
    favour = html.split('class="favour"')[1].split("</ul>")[0]
    assert 'data-code="AGAINST_RECIPROCAL"' in favour
    # the documents chosen by the reasons
    for doc in documents(facts.reasons, facts.account_kind):
        assert tr._(doc) in text


@pytest.mark.parametrize("lang", LANGS)
def test_every_reason_code_appears_in_a_long_form(
    real_run: Any, make_facts: Any, lang: str
) -> None:
    reasons = [
        replace(r, weight=-1.0 if r.code.startswith("AGAINST") else 1.0)
        for r in real_run.examples.values()
    ]
    text = render_text(make_facts(reasons, "restrict"), lang)
    tr = Tr(lang)  # type: ignore[arg-type]
    for r in reasons:
        assert sentence(r, tr) in text, r.code


@pytest.mark.parametrize("lang", LANGS)
def test_weight_zero_reasons_are_listed_as_not_held_against(
    real_run: Any, make_facts: Any, lang: str
) -> None:
    contact = replace(real_run.examples["CONTACT_CONFIRMED"], weight=0.0)
    farm = replace(real_run.examples["DEVICE_FARM"], weight=3.0)
    html = render_long(make_facts((farm, contact), "suspend"), lang)
    context = html.split('class="context"')[1].split("</ul>")[0]
    assert 'data-code="CONTACT_CONFIRMED"' in context
    assert 'data-code="DEVICE_FARM"' not in context


@pytest.mark.parametrize("lang", LANGS)
def test_no_evidence_in_favour_is_said_too(real_run: Any, make_facts: Any, lang: str) -> None:
    text = render_text(make_facts((real_run.examples["DEVICE_FARM"],), "suspend"), lang)
    assert ("记录中没有发现对您有利的情况" if lang == "zh-CN" else "nothing in your favour") in text


@pytest.mark.parametrize("lang", LANGS)
def test_expiry_is_stated(rich_facts: Any, lang: str) -> None:
    expires = datetime.fromisoformat("2024-04-04T00:00:00+08:00")
    text = render_text(replace(rich_facts, expires_at=expires), lang)
    assert (
        "将于2024年4月4日 00:00（北京时间）自动结束"
        if lang == "zh-CN"
        else "ends by itself on 4 April 2024, 00:00 (Beijing time)"
    ) in text


@pytest.mark.parametrize("lang", LANGS)
def test_a_person_made_decision_says_so(rich_facts: Any, lang: str) -> None:
    text = render_text(replace(rich_facts, automated=False), lang)
    assert (
        "工作人员核实后作出了处置决定"
        if lang == "zh-CN"
        else "a person checked them and took the decision"
    ) in text
    assert ("没有人工参与" if lang == "zh-CN" else "without a person") not in text


@pytest.mark.parametrize("lang", LANGS)
def test_documents_are_chosen_by_reasons(real_run: Any, make_facts: Any, lang: str) -> None:
    tr = Tr(lang)  # type: ignore[arg-type]
    presence = render_text(make_facts((real_run.examples["PRESENCE_SUSTAINED"],)), lang)
    money = render_text(make_facts((real_run.examples["MULE_PATTERN"],)), lang)
    merchant = render_text(
        make_facts((real_run.examples["OUTREACH_SOME"],), account_kind="merchant"), lang
    )
    assert tr._(DOC_HOME) in presence
    assert tr._(DOC_MONEY) not in presence
    assert tr._(DOC_MONEY) in money
    assert tr._(DOC_HOME) not in money
    assert tr._(DOC_LICENCE) in merchant
    assert tr._(DOC_PHONE) not in merchant


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("measure", ["restrict", "suspend"])
def test_no_notice_calls_anyone_a_criminal(rich_facts: Any, measure: str, lang: str) -> None:
    text = render_text(replace(rich_facts, measure=measure), lang).lower()
    assert not [w for w in ACCUSING if w in text]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("why", [*LIFT_REASONS, "free text from a reviewer"])
@pytest.mark.parametrize("automated", [True, False])
def test_lift_notice_has_no_suspect_language(
    rich_facts: Any, lang: str, why: str, automated: bool
) -> None:
    facts = replace(rich_facts, measure="lift", lift_reason=why, automated=automated)
    text = render_text(facts, lang)
    found = [w for w in SUSPECT_LANGUAGE if w in text.lower()]
    assert not found, (found, text)
    # lifted everywhere, why, and the data
    if lang == "zh-CN":
        assert "涉及的所有平台和所有关联账号均已同步解除" in text
        assert "导出您的数据" in text
    else:
        assert "on every platform and on every linked account" in text
        assert "export your data" in text
    said = Tr(lang)._(LIFT_SENTENCES[why]) if why in LIFT_SENTENCES else why  # type: ignore[arg-type]
    assert said in text
    # no reasons, no directive (its title may itself speak of fraud)
    assert facts.directive_title not in text
    for reason in facts.reasons:
        assert sentence(reason, Tr(lang)) not in text  # type: ignore[arg-type]


def test_every_lift_reason_has_a_sentence() -> None:
    assert set(LIFT_SENTENCES) == set(LIFT_REASONS)


def test_lift_needs_a_reason(rich_facts: Any) -> None:
    with pytest.raises(ValueError, match="lift_reason"):
        render_long(replace(rich_facts, measure="lift", lift_reason=None))


@pytest.mark.parametrize("measure", ["monitor", "none"])
def test_monitor_and_none_are_never_noticed(rich_facts: Any, measure: str) -> None:
    for render in (render_long, render_text):
        with pytest.raises(ValueError, match="monitor is invisible by definition"):
            render(replace(rich_facts, measure=measure))


def test_times_must_be_aware(rich_facts: Any) -> None:
    with pytest.raises(ValueError, match="answer_by must be timezone-aware"):
        render_long(replace(rich_facts, answer_by=datetime(2024, 3, 8, 10, 30)))


def test_html_is_autoescaped(rich_facts: Any) -> None:
    facts = replace(
        rich_facts,
        directive_title="<script>alert(1)</script>",
        issuer="Office & Co",
        reasons=(Reason("NEW_CODE", "<b>bold</b>", 1.0, {}),),
    )
    html = render_long(facts, "en")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>" not in html
    assert "Office &amp; Co" in html
    text = render_text(facts, "en")
    assert "<script>alert(1)</script>" in text  # the text form shows it as it is


@pytest.mark.parametrize("lang", LANGS)
def test_text_is_the_html_as_plain_text(rich_facts: Any, lang: str) -> None:
    html = render_long(rich_facts, lang)
    text = render_text(rich_facts, lang)
    assert text == html_to_text(html)
    assert not re.search(r"</?[a-z]+[ >]", text)
    assert html.startswith("<article")
    assert html.rstrip().endswith("</article>")
    assert f'lang="{lang}"' in html


def test_zh_cn_is_the_default(rich_facts: Any) -> None:
    assert render_long(rich_facts) == render_long(rich_facts, "zh-CN")
    assert render_text(rich_facts).startswith("账号处置告知书")


def test_dates_are_beijing_time(rich_facts: Any) -> None:
    utc = datetime(2024, 3, 5, 2, 30, tzinfo=UTC)
    assert "决定时间：2024年3月5日 10:30（北京时间）" in render_text(
        replace(rich_facts, decided_at=utc)
    )
    assert "5 March 2024, 10:30 (Beijing time)" in render_text(
        replace(rich_facts, decided_at=utc), "en"
    )


ZH_WORDS = {
    "title": "缅北电信诈骗窝点地区",
    "issuer": "打击治理电信网络新型违法犯罪工作部际联席会议办公室",
    "legal_basis": "2019年10月14日通告",
}


def test_the_directives_translations_keep_each_notice_in_one_language(rich_facts: Any) -> None:
    facts = replace(rich_facts, translations={"zh-CN": ZH_WORDS})
    zh = render_long(facts, "zh-CN")
    for words in ZH_WORDS.values():
        assert words in zh
    for english in (rich_facts.directive_title, rich_facts.issuer):
        assert english not in zh  # no English in the Chinese notice
    en = render_long(facts, "en")  # no translation for English: the directive's own words
    assert rich_facts.directive_title in en
    assert ZH_WORDS["title"] not in en
    # "zh" serves zh-CN too
    assert ZH_WORDS["issuer"] in render_long(replace(rich_facts, translations={"zh": ZH_WORDS}))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("measure", ["restrict", "suspend"])
def test_the_notice_starts_with_what_happened_and_an_appeal_button(
    rich_facts: Any, measure: str, lang: str
) -> None:
    html = render_long(replace(rich_facts, measure=measure, appeal_button="#appeal-form"), lang)
    summary = html.index('id="summary"')
    assert summary < html.index('id="measure"') < html.index('id="facts"')
    button = re.search(r'<a class="button appeal-button" href="([^"]+)">', html)
    assert button is not None
    assert button.group(1) == "#appeal-form"
    assert button.start() < html.index('id="measure"')
    # without a button target of its own, the button is the notice's link
    plain = render_long(replace(rich_facts, measure=measure), lang)
    assert f'class="button appeal-button" href="{rich_facts.appeal_url}"' in plain


@pytest.mark.parametrize("lang", LANGS)
def test_a_bare_link_is_never_said_to_carry_a_code(rich_facts: Any, lang: str) -> None:
    with_token = render_text(rich_facts, lang)
    bare = render_text(replace(rich_facts, appeal_url="https://fb.cn/c/FB-2024-000123"), lang)
    tr = Tr(lang)
    claim = tr._(
        "Your case number is %(case_number)s. The link is yours alone: it carries your case "
        "number and a one-time code, so do not share it.",
        case_number=rich_facts.case_number,
    )
    assert claim in with_token
    assert claim not in bare
    assert rich_facts.case_number in bare


@pytest.mark.parametrize("lang", LANGS)
def test_before_an_appeal_the_deadline_counts_from_filing(rich_facts: Any, lang: str) -> None:
    text = render_text(replace(rich_facts, answer_by=None, answer_hours=48), lang)
    said = {"zh-CN": "您提交申诉后，最迟48小时内", "en": "within 48 hours of filing your appeal"}
    assert said[lang] in text
    assert Tr(lang).moment(rich_facts.answer_by) not in text  # no made-up instant


@pytest.mark.parametrize("lang", LANGS)
def test_a_reviewers_reason_is_part_of_the_notice(rich_facts: Any, lang: str) -> None:
    reason = "Seen on 26 nights in Laukkai <in 2019>; the receipt is dated 2020."
    html = render_long(replace(rich_facts, review_reason=reason), lang)
    section = html[html.index('<section id="review">') :]
    section = section[: section.index("</section>")]
    assert "Seen on 26 nights in Laukkai &lt;in 2019&gt;" in section  # escaped
    court = {"zh-CN": "人民法院", "en": "people's court"}
    assert court[lang] in section
    assert html.index('id="review"') < html.index('id="measure"')
    lifted = render_long(
        replace(rich_facts, measure="lift", lift_reason="review", review_reason=reason), lang
    )
    assert 'id="review"' in lifted
    assert 'id="review"' not in render_long(rich_facts, lang)
