"""Every reason code is said in zh-CN and English from its real ``data``, citing the
numbers; what helps an appeal follows from the reasons present."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fairban.notices import LANGS, Reason
from fairban.notices.i18n import Tr
from fairban.notices.reasons import (
    DOC_HOME,
    DOC_LICENCE,
    DOC_LOST,
    DOC_MONEY,
    DOC_OTHER_CASES,
    DOC_PHONE,
    DOC_TRAVEL,
    DOC_WORK,
    SENTENCES,
    documents,
    sentence,
)
from fairban.targeting.reasons import CODES, DATA_FIELDS

CJK = re.compile(r"[\u4e00-\u9fff]")

#: the numbers each sentence must cite (data keys), beyond its wording
CITED: dict[str, tuple[str, ...]] = {
    "CONFIRMED_CASE": ("case_id",),
    "PRESENCE_SUSTAINED": ("nights_sure",),
    "PRESENCE_SOME": (),
    "OUTREACH_STRANGERS": ("first_contacts", "answered", "provinces", "outreach_days"),
    "OUTREACH_SOME": ("first_contacts", "answered", "provinces", "outreach_days"),
    "MULE_PATTERN": ("oneoff_senders", "oneoff_amount", "forwarded"),
    "MONEY_TO_AREA": ("to_area_n", "to_area_amount"),
    "DEVICE_FARM": ("device_peers",),
    "DEVICE_SHARED": ("device_peers",),
    "DEVICE_OPERATION": ("device_operators",),
    "DEVICE_OUTREACH": ("device_reaching",),
    "CONFIRMED_TIES": (),
    "COPRESENCE_CONFIRMED": ("copresent_nights",),
    "MONEY_FROM_MULES": ("from_mules_n", "from_mules_amount"),
    "CASHOUT": ("from_suspects_amount", "money_in_amount"),
    "PERSON_LINK": ("accounts",),
    "CONTACT_CONFIRMED": ("confirmed_messages",),
    "AGAINST_RECIPROCAL": ("contacts",),
    "AGAINST_MERCHANT": ("payers", "repeat_payers"),
    "AGAINST_ELSEWHERE": ("nights_elsewhere",),
    "MEASURE_BASIS": (),
}


def written(value: Any) -> str:
    """How a number is written in a sentence: whole, with thousands separators."""
    if isinstance(value, str):
        return value
    return f"{round(float(value)):,}"


def test_every_code_has_a_sentence_in_both_languages() -> None:
    assert set(SENTENCES) == set(CODES)
    assert set(CITED) == set(CODES)
    for code in CODES:
        reason = Reason(code, CODES[code], 1.0, dict.fromkeys(DATA_FIELDS.get(code, ()), 3))
        zh, en = sentence(reason, Tr("zh-CN")), sentence(reason, Tr("en"))
        assert CJK.search(zh), (code, zh)
        assert not CJK.search(en), (code, en)


def test_the_run_gives_real_data_for_most_codes(real_run: Any) -> None:
    # the rest come from the same run's feature table (see conftest)
    assert len(set(CODES) - real_run.from_features) >= 12, sorted(real_run.from_features)
    for code, reason in real_run.examples.items():
        assert set(DATA_FIELDS.get(code, ())) <= set(reason.data), code


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_renders_with_real_data(real_run: Any, code: str, lang: str) -> None:
    reason = real_run.examples[code]
    text = sentence(reason, Tr(lang))  # type: ignore[arg-type]
    assert text.strip()
    assert "%(" not in text
    assert "None" not in text
    if lang == "zh-CN":
        assert CJK.search(text)
        assert text != sentence(reason, Tr("en"))
        assert text.endswith("。")
    else:
        assert not CJK.search(text)
        assert text.endswith(".")
    for key in CITED[code]:
        assert written(reason.data[key]) in text, (key, reason.data[key], text)
    if code in ("PRESENCE_SUSTAINED", "PRESENCE_SOME") and reason.data.get("first", "?") != "?":
        year = str(reason.data["first"])[:4]
        assert year in text


@pytest.mark.parametrize("lang", LANGS)
def test_area_and_platform_names_are_translated(real_run: Any, lang: str) -> None:
    reason = real_run.examples["PRESENCE_SUSTAINED"]
    area = str(reason.data["area"])
    text = sentence(reason, Tr(lang))  # type: ignore[arg-type]
    names = {"Laukkai": "老街", "Pangkham": "邦康", "Mong La": "勐拉", "Tachileik": "大其力"}
    assert (names[area] if lang == "zh-CN" else area) in text


def test_presence_is_said_not_to_be_enough(real_run: Any) -> None:
    reason = real_run.examples["PRESENCE_SOME"]
    assert "not, by itself, a reason" in sentence(reason, Tr("en"))
    assert "不构成采取任何措施的理由" in sentence(reason, Tr("zh-CN"))


def test_contact_and_person_link_are_not_held_against_anyone(real_run: Any) -> None:
    for code in ("CONTACT_CONFIRMED", "PERSON_LINK"):
        reason = real_run.examples[code]
        assert "not held against you" in sentence(reason, Tr("en"))
        assert "不会作为对您不利的依据" in sentence(reason, Tr("zh-CN")) or (
            "未作为对您不利的依据" in sentence(reason, Tr("zh-CN"))
        )


def test_confirmed_ties_says_what_was_shared() -> None:
    tr = Tr("en")
    phones = Reason("CONFIRMED_TIES", "", 1.5, {"device_confirmed": 2, "confirmed_money": 0})
    money = Reason("CONFIRMED_TIES", "", 1.5, {"device_confirmed": 0, "confirmed_money": 1})
    both = Reason("CONFIRMED_TIES", "", 1.5, {"device_confirmed": 1, "confirmed_money": 4})
    assert "shared phones with 2 accounts" in sentence(phones, tr)
    assert "exchanged 1 payment with" in sentence(money, tr)
    assert "1 account confirmed" in sentence(both, tr)
    assert "4 payments" in sentence(both, tr)


def test_an_unknown_code_falls_back_to_the_engines_sentence() -> None:
    reason = Reason("NEW_SIGNAL", "did something new 3 times", 1.0, {})
    assert sentence(reason, Tr("zh-CN")) == "did something new 3 times"


def test_english_counts_are_singular_and_plural() -> None:
    tr = Tr("en")
    one = Reason("DEVICE_FARM", "", 3.0, {"device_peers": 1})
    two = Reason("DEVICE_FARM", "", 3.0, {"device_peers": 2})
    assert "as 1 account that" in sentence(one, tr)
    assert "as 2 accounts that" in sentence(two, tr)


def r(code: str, **data: Any) -> Reason:
    return Reason(code, CODES[code], 1.0, data)


def test_documents_follow_the_reasons() -> None:
    presence = documents([r("PRESENCE_SUSTAINED")])
    assert DOC_HOME in presence
    assert DOC_TRAVEL in presence
    assert DOC_MONEY not in presence
    assert DOC_MONEY in documents([r("MULE_PATTERN")])
    assert DOC_MONEY in documents([r("CONFIRMED_TIES", device_confirmed=0, confirmed_money=3)])
    assert DOC_PHONE in documents([r("DEVICE_FARM")])
    assert DOC_PHONE in documents([r("CONFIRMED_TIES", device_confirmed=1, confirmed_money=0)])
    assert DOC_WORK in documents([r("OUTREACH_STRANGERS")])
    assert DOC_LICENCE in documents([r("OUTREACH_SOME")], "merchant")
    assert DOC_LICENCE in documents([r("AGAINST_MERCHANT")])
    assert DOC_LICENCE not in documents([r("OUTREACH_SOME")])
    assert DOC_LOST in documents([r("CONFIRMED_CASE", case_id="X")])
    assert DOC_OTHER_CASES in documents([r("PERSON_LINK", accounts=1)])
    outreach_only = documents([r("OUTREACH_STRANGERS")])
    assert DOC_HOME not in outreach_only
    assert DOC_PHONE not in outreach_only


def test_a_reason_without_its_numbers_says_the_engines_text_not_zeros() -> None:
    old = Reason(code="PRESENCE_SUSTAINED", text="Seen on 41 nights in Laukkai.", weight=3.0)
    for lang in LANGS:
        assert sentence(old, Tr(lang)) == "Seen on 41 nights in Laukkai."


@pytest.mark.parametrize("lang", LANGS)
def test_the_measure_basis_says_why_not_a_lighter_measure(lang: str) -> None:
    tr = Tr(lang)  # type: ignore[arg-type]
    mule = Reason(
        "MEASURE_BASIS",
        "",
        0.0,
        {"measure": "restrict", "held_by": "harm", "harms": ["mule"], "risk": 0.97},
    )
    operator = Reason(
        "MEASURE_BASIS",
        "",
        0.0,
        {"measure": "suspend", "held_by": "harm", "harms": ["outreach", "phone_farm"]},
    )
    if lang == "en":
        assert "restricted, not suspended" in sentence(mule, tr)
        assert "passes on money" in sentence(mule, tr)
        assert "suspended rather than only restricted" in sentence(operator, tr)
        assert "strangers" in sentence(operator, tr)
    else:
        assert "限制而非停用" in sentence(mule, tr)
        assert "陌生人" in sentence(operator, tr)
