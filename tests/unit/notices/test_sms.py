"""The SMS: at most 70 characters in Chinese and 160 GSM-7 characters in English, the
short link included, for every measure and the longest plausible values; names the
measure and the fraud-risk check without calling anyone a fraudster."""

from __future__ import annotations

from typing import Any

import pytest

from fairban.notices import LANGS, render_sms, sms_length
from fairban.notices.render import gsm7_length

SHORT_URLS = (
    "https://fb.cn/a/7Kx2p",  # the usual short link
    "https://fb.cn/a/7Kx2pQ9zR4mT",  # a long short link
    "https://fairban.cn/a/7Kx2pQ9z",  # a longer host
)
PLATFORMS = ("wechat", "qq", "alipay", "pos", "douyin-enterprise")  # the last: not known

#: words that name the measure, per measure and language
MEASURE_WORDS = {
    ("restrict", "zh-CN"): "受限",
    ("suspend", "zh-CN"): "暂停使用",
    ("lift", "zh-CN"): "解除",
    ("restrict", "en"): "restricted",
    ("suspend", "en"): "suspended",
    ("lift", "en"): "lifted",
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
    "涉嫌",
)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("measure", ["restrict", "suspend", "lift"])
def test_sms_fits_and_says_what_it_must(make_facts: Any, measure: str, lang: str) -> None:
    limit = 70 if lang == "zh-CN" else 160
    for platform in PLATFORMS:
        for url in SHORT_URLS:
            facts = make_facts(measure=measure, platform=platform, short_url=url)
            text = render_sms(facts, lang)
            size = len(text) if lang == "zh-CN" else gsm7_length(text)
            assert size is not None, f"not GSM-7: {text!r}"
            assert size <= limit, (size, text)
            assert sms_length(text, lang) == size
            assert text.endswith(url)
            assert MEASURE_WORDS[measure, lang] in text, text
            assert not any(word in text.lower() for word in ACCUSING), text
            if measure == "lift":
                assert "诈" not in text, text
                assert "fraud" not in text.lower(), text
            else:
                assert ("反诈风险" if lang == "zh-CN" else "fraud-risk check") in text, text
                assert ("申诉" if lang == "zh-CN" else "appeal") in text


def test_sms_names_the_platform_when_it_fits(make_facts: Any) -> None:
    assert render_sms(make_facts(measure="restrict")).startswith("您的微信账号")
    assert render_sms(make_facts(measure="restrict"), "en").startswith("WeChat: ")
    # restrict says which functions, when there is room
    assert "转账付款暂缓" in render_sms(make_facts(measure="restrict"))
    assert "outgoing payments held" in render_sms(make_facts(measure="restrict"), "en")


def test_sms_examples(make_facts: Any) -> None:
    """The examples in docs/notices.md, word for word."""
    assert render_sms(make_facts(measure="restrict")) == (
        "您的微信账号经反诈风险核查，转账付款暂缓、加新好友受限。查看原因、免费申诉："
        "https://fb.cn/a/7Kx2p"
    )
    assert render_sms(make_facts(measure="suspend")) == (
        "您的微信账号经反诈风险核查暂停使用，数据不会删除。查看原因、免费申诉："
        "https://fb.cn/a/7Kx2p"
    )
    assert render_sms(make_facts(measure="lift")) == (
        "您的微信账号此前的处置措施已在各平台全部解除，可正常使用。详情：https://fb.cn/a/7Kx2p"
    )
    assert render_sms(make_facts(measure="suspend"), "en") == (
        "WeChat: your account is suspended after a fraud-risk check. Nothing is deleted. "
        "See why and appeal free: https://fb.cn/a/7Kx2p"
    )


def test_zh_is_the_default_language(make_facts: Any) -> None:
    facts = make_facts(measure="suspend")
    assert render_sms(facts) == render_sms(facts, "zh-CN") == render_sms(facts, "zh_CN")


def test_a_link_too_long_for_any_sms_is_refused(make_facts: Any) -> None:
    facts = make_facts(measure="suspend", short_url="https://fb.cn/a/" + "x" * 60)
    with pytest.raises(ValueError, match="no zh-CN SMS fits 70"):
        render_sms(facts)


def test_a_link_outside_gsm7_is_refused_in_english(make_facts: Any) -> None:
    facts = make_facts(measure="suspend", short_url="https://fb.cn/a/7Kx2p`")
    with pytest.raises(ValueError, match="no en SMS fits 160"):
        render_sms(facts, "en")


def test_gsm7_length() -> None:
    assert gsm7_length("abc 123") == 7
    assert gsm7_length("a{b}") == 6  # braces are escapes: two septets each
    assert gsm7_length("€") == 2
    assert gsm7_length("微信") is None
    assert gsm7_length("`") is None


@pytest.mark.parametrize("measure", ["monitor", "none"])
def test_monitor_and_none_are_never_noticed(make_facts: Any, measure: str) -> None:
    facts = make_facts(measure=measure)
    with pytest.raises(ValueError, match="monitor is invisible"):
        render_sms(facts)


def test_unknown_language_is_refused(make_facts: Any) -> None:
    with pytest.raises(ValueError, match="not supported"):
        render_sms(make_facts(), "fr")
