"""The stamped plain text: ``render_text`` renders one text per shape with the case's
own values as marks and fills them in per case; the result is, byte for byte, what
rendering and reading each case's HTML gives, for every kind of notice, with values
the marks must survive (escaping, wide characters, equal values), and values it must
not stamp (white space) rendered case by case."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fairban.notices import LANGS, NoticeFacts, render_long, render_text
from fairban.notices import render as render_module
from fairban.notices.model import reasons_from_json
from fairban.notices.render import _layout_free, html_to_text

from .test_text import kinds

#: (case number, account, appeal link, button) as a careless or hostile platform may name
VALUES = (
    ("FB-2024-000123", "wechat:wxid_1", "https://fb.cn/c/FB-2024-000123?t=abc", ""),
    ("FB-2024-000124", "qq:10002", "https://fb.cn/c/FB-2024-000124?t=d&e=<f>", "/p/x"),
    ("案件-甲", "wechat:微信号_张三", "https://fb.cn/c/案件-甲", "https://fb.cn/c/案件-甲"),
    ('FB-"7"', "alipay:2088&amp;'1'", "https://fb.cn/c/x?a=1&b=%22", "/p?a=<b>"),
    # white space in a value: the text folds it, so this case is rendered on its own
    ("FB 2024 9", "qq:a b", "https://fb.cn/c/FB-9", "/p/9"),
)


@pytest.fixture(scope="module")
def shapes(make_facts: Any, busiest: Any, real_run: Any) -> list[NoticeFacts]:
    row = busiest["suspend"]
    rich = make_facts(
        reasons_from_json(row["reasons"]),
        "suspend",
        account_id=row["account_id"],
        platform=row["platform"],
    )
    return [*kinds(rich), *kinds(make_facts((), "restrict"))]


@pytest.mark.parametrize("lang", LANGS)
def test_stamped_text_is_the_text_of_each_case(shapes: list[NoticeFacts], lang: str) -> None:
    render_module._STAMPED.clear()
    for _ in range(2):  # the second pass reads every shape from what the first kept
        for facts in shapes:
            for number, account, url, button in VALUES:
                case = replace(
                    facts,
                    case_number=number,
                    account_id=account,
                    appeal_url=url,
                    appeal_button=button,
                )
                assert render_text(case, lang) == html_to_text(render_long(case, lang))


def test_lifts_of_one_shape_are_rendered_once(shapes: list[NoticeFacts]) -> None:
    """A batch of lifts (one hour, one reason, one platform) keeps one text per
    language, whatever each case's number, account, link and reasons."""
    lift = next(f for f in shapes if f.measure == "lift" and f.decision is None)
    render_module._STAMPED.clear()
    texts = set()
    for i in range(50):
        case = replace(
            lift,
            case_number=f"FB-2024-{i:06d}",
            account_id=f"qq:{10000 + i}",
            appeal_url=f"https://fb.cn/c/FB-2024-{i:06d}?t={i:x}",
            reasons=shapes[i % len(shapes)].reasons,
        )
        text = render_text(case, "zh-CN")
        assert f"FB-2024-{i:06d}" in text
        assert f"qq:{10000 + i}" in text
        texts.add(text)
    assert len(texts) == 50
    assert len(render_module._STAMPED) == 1


def test_a_mark_in_a_heading_or_a_term_is_not_stamped() -> None:
    assert _layout_free("Case\n====\n\nCase number: \x000\x00\n")
    assert not _layout_free("Case \x000\x00\n=========\n")
    assert not _layout_free("Case \x000\x00\n---------\n")
    assert not _layout_free("\x000\x00: the term\n")
    assert not _layout_free("\x000\x00：全角\n")
