"""Statements of reasons in the DSA Transparency Database's shape: what
``statement_of_reasons`` makes passes ``validate_statement``; each broken field rule is
caught with its own message; export and bulk batches."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fairban.notices import (
    batches,
    bulk_payloads,
    export_jsonl,
    reasons_from_json,
    statement_of_reasons,
    validate_statement,
)
from fairban.notices.dsa import BULK_LIMIT, KNOWN_FIELDS, MAX_LENGTH, REQUIRED

PLATFORM = {"platform_name": "WeChat", "puid_prefix": "fairban-wechat"}


@pytest.fixture(scope="module")
def suspended(make_facts: Any, busiest: Any) -> Any:
    row = busiest["suspend"]
    return make_facts(row["reasons"], "suspend", account_id=row["account_id"])


@pytest.fixture
def good(suspended: Any) -> dict[str, Any]:
    return statement_of_reasons(suspended, **PLATFORM)


def test_every_real_decision_makes_a_valid_statement(real_run: Any, make_facts: Any) -> None:
    hit = [r for r in real_run.decisions if r["measure"] in ("restrict", "suspend")]
    assert hit
    puids = set()
    for i, row in enumerate(hit):
        for measure in ("restrict", "suspend"):
            facts = make_facts(
                row["reasons"],
                measure,
                case_number=f"FB-2024-{i:06d}",
                account_id=row["account_id"],
                account_kind=row["kind"],
            )
            s = statement_of_reasons(facts, **PLATFORM)
            assert validate_statement(s) == [], (row["account_id"], validate_statement(s))
            puids.add(s["puid"])
    assert len(puids) == 2 * len(hit)  # unique per case and measure


def test_suspend_is_an_account_suspension(good: dict[str, Any]) -> None:
    assert good["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert "decision_monetary" not in good
    assert "decision_provision" not in good
    assert good["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert good["category"] == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    assert good["content_type"] == ["CONTENT_TYPE_OTHER"]
    assert good["content_type_other"] == "account"
    assert good["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    assert good["source_identity"] == "Inter-ministerial office against telecom and online fraud"
    assert good["automated_detection"] == "Yes"
    assert good["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert good["account_type"] == "ACCOUNT_TYPE_PRIVATE"
    assert good["application_date"] == "2024-03-05"
    assert good["puid"] == "fairban-wechat-FB-2024-000123-suspend-20240305T023000Z"
    assert "territorial_scope" not in good  # CN is not an EEA code
    assert good["illegal_content_legal_ground"].startswith("Notice of 14 October 2019")


def test_restrict_holds_payments_and_part_of_the_service(suspended: Any) -> None:
    expires = suspended.decided_at + timedelta(days=30)
    s = statement_of_reasons(replace(suspended, measure="restrict", expires_at=expires), **PLATFORM)
    assert s["decision_monetary"] == "DECISION_MONETARY_SUSPENSION"
    assert s["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"
    assert "decision_account" not in s
    assert s["end_date_monetary_restriction"] == s["end_date_service_restriction"] == "2024-04-04"
    assert validate_statement(s) == []


def test_suspension_end_date(suspended: Any) -> None:
    s = statement_of_reasons(
        replace(suspended, expires_at=suspended.decided_at + timedelta(days=7)), **PLATFORM
    )
    assert s["end_date_account_restriction"] == "2024-03-12"


def test_decision_facts_are_plain_english_without_personal_data(
    suspended: Any, good: dict[str, Any]
) -> None:
    facts = good["decision_facts"]
    assert facts.startswith("WeChat suspended the account")
    assert "Facts relied on:" in facts
    assert len(facts) <= 5000
    public = json.dumps({k: v for k, v in good.items() if k != "puid"}, ensure_ascii=False)
    for private in (suspended.account_id, suspended.case_number, suspended.appeal_url):
        assert private not in public
    case_ids = [r.data["case_id"] for r in suspended.reasons if "case_id" in r.data]
    assert all(c not in public for c in case_ids)


def test_person_decided_is_partially_automated(suspended: Any) -> None:
    s = statement_of_reasons(replace(suspended, automated=False), **PLATFORM)
    assert s["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert s["automated_detection"] == "Yes"


def test_merchants_are_business_accounts(suspended: Any) -> None:
    s = statement_of_reasons(replace(suspended, account_kind="merchant"), **PLATFORM)
    assert s["account_type"] == "ACCOUNT_TYPE_BUSINESS"


def test_category_specification_follows_the_reasons(make_facts: Any, real_run: Any) -> None:
    ex = real_run.examples
    farm = statement_of_reasons(make_facts((ex["DEVICE_FARM"],)), **PLATFORM)
    assert farm["category_specification"] == ["KEYWORD_INAUTHENTIC_ACCOUNTS"]
    assert "category_specification_other" not in farm
    mule = statement_of_reasons(make_facts((ex["MULE_PATTERN"],)), **PLATFORM)
    assert mule["category_specification"] == ["KEYWORD_OTHER"]
    assert "money" in mule["category_specification_other"]
    case = statement_of_reasons(make_facts((ex["CONFIRMED_CASE"],)), **PLATFORM)
    assert case["category_specification"] == ["KEYWORD_OTHER"]


def test_territorial_scope_takes_eea_codes(suspended: Any) -> None:
    s = statement_of_reasons(suspended, territorial_scope=["de", "FR"], **PLATFORM)
    assert s["territorial_scope"] == ["DE", "FR"]
    assert validate_statement(s) == []
    s = statement_of_reasons(suspended, territorial_scope=["CN"], **PLATFORM)
    assert validate_statement(s) == ["territorial_scope: 'CN' is not an allowed value"]


@pytest.mark.parametrize("measure", ["lift", "monitor", "none"])
def test_no_statement_for_lift_monitor_or_none(suspended: Any, measure: str) -> None:
    facts = replace(suspended, measure=measure, lift_reason="appeal_granted")
    with pytest.raises(ValueError, match=r"no DSA statement|monitor is invisible"):
        statement_of_reasons(facts, **PLATFORM)


def test_a_bad_puid_prefix_is_refused(suspended: Any) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        statement_of_reasons(suspended, platform_name="WeChat", puid_prefix="we chat/1")


def test_the_2019_demo_date_is_before_the_database(suspended: Any) -> None:
    old = replace(suspended, decided_at=datetime(2019, 10, 14, 11, tzinfo=UTC))
    assert validate_statement(statement_of_reasons(old, **PLATFORM)) == [
        "application_date: before 2020-01-01"
    ]


# --- one test per broken rule ---------------------------------------------------------

BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    # required fields
    **{f"required {key}": ({key: None}, f"{key}: required") for key in REQUIRED},
    "a decision": (
        {"decision_account": None},
        "decision: at least one of decision_visibility, decision_monetary, "
        "decision_provision or decision_account is required",
    ),
    # enums
    "decision_account enum": (
        {"decision_account": "DECISION_ACCOUNT_BANNED"},
        "decision_account: 'DECISION_ACCOUNT_BANNED' is not an allowed value",
    ),
    "decision_monetary enum": (
        {"decision_monetary": "DECISION_MONETARY_FINE"},
        "decision_monetary: 'DECISION_MONETARY_FINE' is not an allowed value",
    ),
    "decision_provision enum": (
        {"decision_provision": "DECISION_PROVISION_SOME"},
        "decision_provision: 'DECISION_PROVISION_SOME' is not an allowed value",
    ),
    "decision_visibility enum": (
        {"decision_visibility": ["DECISION_VISIBILITY_HIDDEN"]},
        "decision_visibility: 'DECISION_VISIBILITY_HIDDEN' is not an allowed value",
    ),
    "decision_ground enum": (
        {"decision_ground": "DECISION_GROUND_FRAUD"},
        "decision_ground: 'DECISION_GROUND_FRAUD' is not an allowed value",
    ),
    "category enum": (
        {"category": "STATEMENT_CATEGORY_FRAUD"},
        "category: 'STATEMENT_CATEGORY_FRAUD' is not an allowed value",
    ),
    "category_addition enum": (
        {"category_addition": ["STATEMENT_CATEGORY_SPAM"]},
        "category_addition: 'STATEMENT_CATEGORY_SPAM' is not an allowed value",
    ),
    "category_specification enum": (
        {"category_specification": ["KEYWORD_MONEY_MULE"]},
        "category_specification: 'KEYWORD_MONEY_MULE' is not an allowed value",
    ),
    "content_type enum": (
        {"content_type": ["CONTENT_TYPE_ACCOUNT"]},
        "content_type: 'CONTENT_TYPE_ACCOUNT' is not an allowed value",
    ),
    "source_type enum": (
        {"source_type": "SOURCE_GOVERNMENT"},
        "source_type: 'SOURCE_GOVERNMENT' is not an allowed value",
    ),
    "automated_detection enum": (
        {"automated_detection": "yes"},
        "automated_detection: 'yes' is not an allowed value",
    ),
    "automated_decision enum": (
        {"automated_decision": "AUTOMATED_DECISION_YES"},
        "automated_decision: 'AUTOMATED_DECISION_YES' is not an allowed value",
    ),
    "account_type enum": (
        {"account_type": "ACCOUNT_TYPE_MERCHANT"},
        "account_type: 'ACCOUNT_TYPE_MERCHANT' is not an allowed value",
    ),
    "incompatible_content_illegal enum": (
        {"incompatible_content_illegal": "Maybe"},
        "incompatible_content_illegal: 'Maybe' is not an allowed value",
    ),
    "territorial_scope EEA codes": (
        {"territorial_scope": ["CN"]},
        "territorial_scope: 'CN' is not an allowed value",
    ),
    "content_language code": (
        {"content_language": "zh"},
        "content_language: 'zh' is not an ISO 639-1 code in capitals",
    ),
    # two capitals are not enough: the database takes ISO 639-1's codes only
    "content_language not a language": (
        {"content_language": "XX"},
        "content_language: 'XX' is not an ISO 639-1 code in capitals",
    ),
    # the vocabulary of the database's schema update of 1 July 2025: categories and
    # keywords from before it are refused, the new ones taken
    "category from before 1 July 2025": (
        {"category": "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"},
        "category: 'STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE' is not an allowed value",
    ),
    "keyword from before 1 July 2025": (
        {"category_specification": ["KEYWORD_DISINFORMATION"]},
        "category_specification: 'KEYWORD_DISINFORMATION' is not an allowed value",
    ),
    # arrays
    "content_type is an array": (
        {"content_type": "CONTENT_TYPE_OTHER"},
        "content_type: must be an array",
    ),
    "category_specification is an array": (
        {"category_specification": "KEYWORD_OTHER", "category_specification_other": "other"},
        "category_specification: must be an array",
    ),
    # conditional requirements
    "content_type_other when other": (
        {"content_type_other": None},
        "content_type_other: required when content_type is CONTENT_TYPE_OTHER",
    ),
    "category_specification_other when other": (
        {"category_specification": ["KEYWORD_OTHER"], "category_specification_other": None},
        "category_specification_other: required when category_specification is KEYWORD_OTHER",
    ),
    "decision_visibility_other when other": (
        {"decision_visibility": ["DECISION_VISIBILITY_OTHER"]},
        "decision_visibility_other: required when decision_visibility is DECISION_VISIBILITY_OTHER",
    ),
    "decision_monetary_other when other": (
        {"decision_monetary": "DECISION_MONETARY_OTHER"},
        "decision_monetary_other: required when decision_monetary is DECISION_MONETARY_OTHER",
    ),
    "illegal_content_legal_ground when illegal": (
        {"illegal_content_legal_ground": None},
        "illegal_content_legal_ground: required when decision_ground is "
        "DECISION_GROUND_ILLEGAL_CONTENT",
    ),
    "illegal_content_explanation when illegal": (
        {"illegal_content_explanation": ""},
        "illegal_content_explanation: required when decision_ground is "
        "DECISION_GROUND_ILLEGAL_CONTENT",
    ),
    "incompatible_content_ground when incompatible": (
        {
            "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "incompatible_content_explanation": "breaks the terms",
        },
        "incompatible_content_ground: required when decision_ground is "
        "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    ),
    "incompatible_content_explanation when incompatible": (
        {
            "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "incompatible_content_ground": "terms 4.2",
        },
        "incompatible_content_explanation: required when decision_ground is "
        "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    ),
    # lengths
    **{
        f"{key} at most {limit}": (
            {key: "x" * (limit + 1)},
            f"{key}: longer than {limit} characters ({limit + 1})",
        )
        for key, limit in MAX_LENGTH.items()
        if key not in ("puid", "decision_ground_reference_url")
    },
    "puid at most 500": ({"puid": "p" * 501}, "puid: longer than 500 characters (501)"),
    "decision_ground_reference_url at most 500": (
        {"decision_ground_reference_url": "https://example.org/" + "x" * 481},
        "decision_ground_reference_url: longer than 500 characters (501)",
    ),
    "text fields are strings": ({"decision_facts": 42}, "decision_facts: must be a string"),
    # puid charset
    "puid charset": (
        {"puid": "FB 2024/000123"},
        "puid: may hold only letters, digits, '-' and '_'",
    ),
    # url
    "decision_ground_reference_url is a URL": (
        {"decision_ground_reference_url": "law 2022"},
        "decision_ground_reference_url: not a URL",
    ),
    # dates
    "application_date format": (
        {"application_date": "2024-03-05-10"},
        "application_date: not a date in the format YYYY-MM-DD ('2024-03-05-10')",
    ),
    "content_date is a real day": (
        {"content_date": "2024-02-30"},
        "content_date: not a date in the format YYYY-MM-DD ('2024-02-30')",
    ),
    "application_date from 2020": (
        {"application_date": "2019-12-31"},
        "application_date: before 2020-01-01",
    ),
    "application_date until 2038": (
        {"application_date": "2038-01-02"},
        "application_date: after 2038-01-01",
    ),
    "content_date from 2000": ({"content_date": "1999-12-31"}, "content_date: before 2000-01-01"),
    "end_date_account_restriction until 2038": (
        {"end_date_account_restriction": "2040-01-01"},
        "end_date_account_restriction: after 2038-01-01",
    ),
    "end_date_monetary_restriction format": (
        {"end_date_monetary_restriction": "05/03/2024"},
        "end_date_monetary_restriction: not a date in the format YYYY-MM-DD ('05/03/2024')",
    ),
    # typos are not silently dropped
    "known fields only": (
        {"decision_acount": "DECISION_ACCOUNT_SUSPENDED"},
        "decision_acount: not a field of a statement of reasons",
    ),
}


@pytest.mark.parametrize(("change", "message"), BROKEN.values(), ids=BROKEN.keys())
def test_each_broken_rule_is_caught(
    good: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    assert validate_statement(good) == []
    broken = {**good, **change}
    errors = validate_statement(broken)
    assert message in errors, errors
    assert len(errors) == 1, errors


@pytest.mark.parametrize(
    "change",
    [
        {"category": "STATEMENT_CATEGORY_CYBER_VIOLENCE"},
        {"category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"},
        {"category_addition": ["STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"]},
        {"category_specification": ["KEYWORD_MISINFORMATION_DISINFORMATION"]},
        {"category_specification": ["KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS"]},
        {"content_language": "ZH"},
    ],
)
def test_the_current_vocabulary_is_taken(good: dict[str, Any], change: dict[str, Any]) -> None:
    assert validate_statement({**good, **change}) == []


def test_the_rules_cover_every_field() -> None:
    assert set(REQUIRED) <= KNOWN_FIELDS
    assert "end_date_visibility_restriction" in KNOWN_FIELDS


# --- export ---------------------------------------------------------------------------


def test_export_jsonl_writes_one_statement_a_line(good: dict[str, Any]) -> None:
    fh = io.StringIO()
    assert export_jsonl([good, good], fh) == 2
    lines = fh.getvalue().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == good


def test_export_jsonl_refuses_a_broken_statement(good: dict[str, Any]) -> None:
    fh = io.StringIO()
    with pytest.raises(ValueError, match="puid: may hold only"):
        export_jsonl([good, {**good, "puid": "a b"}], fh)
    assert len(fh.getvalue().splitlines()) == 1


def test_batches_hold_at_most_100(good: dict[str, Any]) -> None:
    sizes = [len(b) for b in batches([good] * 250)]
    assert sizes == [100, 100, 50]
    assert [len(b) for b in batches([good] * 5, size=2)] == [2, 2, 1]
    assert list(batches([])) == []
    with pytest.raises(ValueError, match="between 1 and 100"):
        list(batches([good], size=BULK_LIMIT + 1))
    payloads = list(bulk_payloads([good] * 101))
    assert [len(p["statements"]) for p in payloads] == [100, 1]


def test_reasons_from_json_reads_the_decisions_column(busiest: Any) -> None:
    reasons = reasons_from_json(busiest["suspend"]["reasons"])
    assert reasons
    assert all(r.code and isinstance(r.weight, float) for r in reasons)
    assert reasons_from_json(json.loads(busiest["suspend"]["reasons"])) == reasons
