"""Statements of reasons in the shape of the EU DSA Transparency Database (art. 24(5)).

``statement_of_reasons`` turns the facts of a ``restrict`` or ``suspend`` into one
statement; ``validate_statement`` checks a statement against the database's field rules
(``app/Http/Requests/StatementStoreRequest.php`` and the bulk endpoint's rules of the
public ``digital-services-act/transparency-database`` repository); ``export_jsonl`` writes
statements one a line; ``bulk_payloads`` cuts them into bodies of at most 100 statements,
the bulk API's limit.

Choices (docs/notices.md, "DSA statements"):

- ``suspend`` -> ``decision_account`` ``DECISION_ACCOUNT_SUSPENDED`` (end date:
  ``end_date_account_restriction``);
- ``restrict`` -> both ``decision_monetary`` ``DECISION_MONETARY_SUSPENSION`` (outgoing
  payments held) and ``decision_provision`` ``DECISION_PROVISION_PARTIAL_SUSPENSION``
  (new contacts limited) (end dates: ``end_date_monetary_restriction`` and
  ``end_date_service_restriction``);
- ``lift``, ``monitor`` and ``none`` make no statement: the database records
  restrictions; a lift leaves the original statement as it was;
- ``automated_detection`` is always ``Yes`` (the targeting engine finds the facts);
  ``automated_decision`` is ``AUTOMATED_DECISION_FULLY`` when the engine decided and
  ``AUTOMATED_DECISION_PARTIALLY`` when a person decided on the engine's findings;
- ``territorial_scope`` takes EEA country codes only; measures under a PRC directive
  apply in China, which the database cannot express, so it is left out unless given
  (the directive's ``territorial_scope`` key, or the export's option);
- ``content_date`` comes from the evidence: a presence reason's first night, else the
  first day of the window the decision was judged on;
- a decision that has ended (lifted, expired, replaced) keeps its statement, with the
  day it ended as its end date (``cases/transparency.py`` exports every decision of a
  period);
- the vocabulary is the database's since its schema update of 1 July 2025 (read at
  commit ``69e80a0`` of the repository, 2026-06-24);
- the database is public: statements carry no account id, police case number, appeal
  link or other personal data; ``puid`` (hidden by the database) is derived from the
  case number, the measure and the decision time, so re-exporting the same decision
  gives the same ``puid`` and a later decision on the same case a new one.

Why one module of this size: the mapping to the database's fields and the copy of its
validation rules must be read side by side (each rule next to the field that meets it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import IO, Any

from fairban.clock import BEIJING
from fairban.contract.directive import EEA_COUNTRY_CODES
from fairban.measures import VISIBLE_VALUES
from fairban.notices.i18n import Tr
from fairban.notices.model import NoticeFacts, Reason, check_facts
from fairban.notices.reasons import DEVICES, MONEY, OUTREACH, sentence

# --- the database's vocabularies (enum keys) ------------------------------------------

DECISION_VISIBILITIES = frozenset(
    {
        "DECISION_VISIBILITY_CONTENT_REMOVED",
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_LABELLED",
        "DECISION_VISIBILITY_OTHER",
    }
)
DECISION_MONETARIES = frozenset(
    {"DECISION_MONETARY_SUSPENSION", "DECISION_MONETARY_TERMINATION", "DECISION_MONETARY_OTHER"}
)
DECISION_PROVISIONS = frozenset(
    {
        "DECISION_PROVISION_PARTIAL_SUSPENSION",
        "DECISION_PROVISION_TOTAL_SUSPENSION",
        "DECISION_PROVISION_PARTIAL_TERMINATION",
        "DECISION_PROVISION_TOTAL_TERMINATION",
    }
)
DECISION_ACCOUNTS = frozenset({"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"})
ACCOUNT_TYPES = frozenset({"ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"})
DECISION_GROUNDS = frozenset(
    {"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"}
)
CONTENT_TYPES = frozenset(
    {
        "CONTENT_TYPE_APP",
        "CONTENT_TYPE_AUDIO",
        "CONTENT_TYPE_IMAGE",
        "CONTENT_TYPE_PRODUCT",
        "CONTENT_TYPE_SYNTHETIC_MEDIA",
        "CONTENT_TYPE_TEXT",
        "CONTENT_TYPE_VIDEO",
        "CONTENT_TYPE_OTHER",
    }
)
STATEMENT_CATEGORIES = frozenset(
    {
        "STATEMENT_CATEGORY_ANIMAL_WELFARE",
        "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE",
        "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "STATEMENT_CATEGORY_SELF_HARM",
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
        "STATEMENT_CATEGORY_VIOLENCE",
    }
)
KEYWORDS = frozenset(
    "KEYWORD_" + k
    for k in [
        "ADULT_SEXUAL_MATERIAL",
        "AGE_SPECIFIC_RESTRICTIONS",
        "AGE_SPECIFIC_RESTRICTIONS_MINORS",
        "ANIMAL_HARM",
        "BIOMETRIC_DATA_BREACH",
        "BULLYING_AGAINST_GIRLS",
        "CHILD_SEXUAL_ABUSE_MATERIAL",
        "CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
        "CONTENT_PROMOTING_EATING_DISORDERS",
        "COORDINATED_HARM",
        "COPYRIGHT_INFRINGEMENT",
        "CYBER_BULLYING_INTIMIDATION",
        "CYBER_HARASSMENT",
        "CYBER_HARASSMENT_AGAINST_WOMEN",
        "CYBER_INCITEMENT",
        "CYBER_STALKING",
        "CYBER_STALKING_AGAINST_WOMEN",
        "DATA_FALSIFICATION",
        "DEFAMATION",
        "DESIGN_INFRINGEMENT",
        "DISCRIMINATION",
        "FEMALE_GENDERED_DISINFORMATION",
        "GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
        "GEOGRAPHICAL_REQUIREMENTS",
        "GOODS_SERVICES_NOT_PERMITTED",
        "GROOMING_SEXUAL_ENTICEMENT_MINORS",
        "HATE_SPEECH",
        "HIDDEN_ADVERTISEMENT",
        "HUMAN_EXPLOITATION",
        "HUMAN_TRAFFICKING",
        "ILLEGAL_ORGANIZATIONS",
        "IMPERSONATION_ACCOUNT_HIJACKING",
        "INAUTHENTIC_ACCOUNTS",
        "INAUTHENTIC_LISTINGS",
        "INAUTHENTIC_USER_REVIEWS",
        "INCITEMENT_AGAINST_WOMEN",
        "INCITEMENT_VIOLENCE_HATRED",
        "INSUFFICIENT_INFORMATION_ON_TRADERS",
        "LANGUAGE_REQUIREMENTS",
        "MISINFORMATION_DISINFORMATION",
        "MISLEADING_INFO_CONSUMER_RIGHTS",
        "MISLEADING_INFO_GOODS_SERVICES",
        "MISSING_PROCESSING_GROUND",
        "NON_CONSENSUAL_IMAGE_SHARING",
        "NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
        "NON_CONSENSUAL_MATERIAL_DEEPFAKE",
        "NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
        "NONCOMPLIANCE_PRICING",
        "NUDITY",
        "PATENT_INFRINGEMENT",
        "PHISHING",
        "PROHIBITED_PRODUCTS",
        "PYRAMID_SCHEMES",
        "RIGHT_TO_BE_FORGOTTEN",
        "RISK_ENVIRONMENTAL_DAMAGE",
        "RISK_PUBLIC_HEALTH",
        "SELF_MUTILATION",
        "STALKING",
        "SUICIDE",
        "TERRORIST_CONTENT",
        "TRADE_SECRET_INFRINGEMENT",
        "TRADEMARK_INFRINGEMENT",
        "TRAFFICKING_WOMEN_GIRLS",
        "UNLAWFUL_SALE_ANIMALS",
        "UNSAFE_CHALLENGES",
        "UNSAFE_PRODUCTS",
        "VIOLATION_EU_LAW",
        "VIOLATION_NATIONAL_LAW",
        "OTHER",
    ]
)
SOURCE_TYPES = frozenset(
    {
        "SOURCE_ARTICLE_16",
        "SOURCE_TRUSTED_FLAGGER",
        "SOURCE_TYPE_OTHER_NOTIFICATION",
        "SOURCE_VOLUNTARY",
    }
)
YES_NO = frozenset({"Yes", "No"})
AUTOMATED_DECISIONS = frozenset(
    {"AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY", "AUTOMATED_DECISION_NOT_AUTOMATED"}
)
#: EuropeanLanguagesService::ALL_LANGUAGES (ISO 639-1): ``content_language``'s values
LANGUAGES = frozenset(
    [
        "AA",
        "AB",
        "AE",
        "AF",
        "AK",
        "AM",
        "AN",
        "AR",
        "AS",
        "AV",
        "AY",
        "AZ",
        "BA",
        "BE",
        "BG",
        "BH",
        "BI",
        "BM",
        "BN",
        "BO",
        "BR",
        "BS",
        "CA",
        "CE",
        "CH",
        "CO",
        "CR",
        "CS",
        "CU",
        "CV",
        "CY",
        "DA",
        "DE",
        "DV",
        "DZ",
        "EE",
        "EL",
        "EN",
        "EO",
        "ES",
        "ET",
        "EU",
        "FA",
        "FF",
        "FI",
        "FJ",
        "FO",
        "FR",
        "FY",
        "GA",
        "GD",
        "GL",
        "GN",
        "GU",
        "GV",
        "HA",
        "HE",
        "HI",
        "HO",
        "HR",
        "HT",
        "HU",
        "HY",
        "HZ",
        "IA",
        "ID",
        "IE",
        "IG",
        "II",
        "IK",
        "IO",
        "IS",
        "IT",
        "IU",
        "JA",
        "JV",
        "KA",
        "KG",
        "KI",
        "KJ",
        "KK",
        "KL",
        "KM",
        "KN",
        "KO",
        "KR",
        "KS",
        "KU",
        "KV",
        "KW",
        "KY",
        "LA",
        "LB",
        "LG",
        "LI",
        "LN",
        "LO",
        "LT",
        "LU",
        "LV",
        "MG",
        "MH",
        "MI",
        "MK",
        "ML",
        "MN",
        "MR",
        "MS",
        "MT",
        "MY",
        "NA",
        "NB",
        "ND",
        "NE",
        "NG",
        "NL",
        "NN",
        "NO",
        "NR",
        "NV",
        "NY",
        "OC",
        "OJ",
        "OM",
        "OR",
        "OS",
        "PA",
        "PI",
        "PL",
        "PS",
        "PT",
        "QU",
        "RM",
        "RN",
        "RO",
        "RU",
        "RW",
        "SA",
        "SC",
        "SD",
        "SE",
        "SG",
        "SI",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SQ",
        "SR",
        "SS",
        "ST",
        "SU",
        "SV",
        "SW",
        "TA",
        "TE",
        "TG",
        "TH",
        "TI",
        "TK",
        "TL",
        "TN",
        "TO",
        "TR",
        "TS",
        "TT",
        "TW",
        "TY",
        "UG",
        "UK",
        "UR",
        "UZ",
        "VE",
        "VI",
        "VO",
        "WA",
        "WO",
        "XH",
        "YI",
        "YO",
        "ZA",
        "ZH",
        "ZU",
    ]
)

#: the bulk endpoint takes at most this many statements a call
BULK_LIMIT = 100
PUID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)

REQUIRED = (
    "decision_ground",
    "category",
    "content_type",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "content_date",
    "application_date",
    "puid",
)
DECISION_FIELDS = (
    "decision_visibility",
    "decision_monetary",
    "decision_provision",
    "decision_account",
)
ARRAY_FIELDS = (
    "decision_visibility",
    "content_type",
    "category_addition",
    "category_specification",
    "territorial_scope",
)
#: scalar enum fields -> allowed values
ENUMS: dict[str, frozenset[str]] = {
    "decision_monetary": DECISION_MONETARIES,
    "decision_provision": DECISION_PROVISIONS,
    "decision_account": DECISION_ACCOUNTS,
    "account_type": ACCOUNT_TYPES,
    "decision_ground": DECISION_GROUNDS,
    "category": STATEMENT_CATEGORIES,
    "source_type": SOURCE_TYPES,
    "automated_detection": YES_NO,
    "automated_decision": AUTOMATED_DECISIONS,
    "incompatible_content_illegal": YES_NO,
}
#: array fields -> allowed values of their items
ARRAY_ENUMS: dict[str, frozenset[str]] = {
    "decision_visibility": DECISION_VISIBILITIES,
    "content_type": CONTENT_TYPES,
    "category_addition": STATEMENT_CATEGORIES,
    "category_specification": KEYWORDS,
    "territorial_scope": EEA_COUNTRY_CODES,
}
MAX_LENGTH = {
    "decision_visibility_other": 500,
    "decision_monetary_other": 500,
    "content_type_other": 500,
    "category_specification_other": 500,
    "illegal_content_legal_ground": 500,
    "illegal_content_explanation": 2000,
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "decision_ground_reference_url": 500,
    "decision_facts": 5000,
    "source_identity": 500,
    "puid": 500,
}
#: (field, when this field ...., ... holds this value) -> the field then required
CONDITIONAL: tuple[tuple[str, str, str], ...] = (
    ("decision_visibility_other", "decision_visibility", "DECISION_VISIBILITY_OTHER"),
    ("decision_monetary_other", "decision_monetary", "DECISION_MONETARY_OTHER"),
    ("content_type_other", "content_type", "CONTENT_TYPE_OTHER"),
    ("category_specification_other", "category_specification", "KEYWORD_OTHER"),
    ("illegal_content_legal_ground", "decision_ground", "DECISION_GROUND_ILLEGAL_CONTENT"),
    ("illegal_content_explanation", "decision_ground", "DECISION_GROUND_ILLEGAL_CONTENT"),
    ("incompatible_content_ground", "decision_ground", "DECISION_GROUND_INCOMPATIBLE_CONTENT"),
    (
        "incompatible_content_explanation",
        "decision_ground",
        "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    ),
)
#: date field -> (earliest, latest) allowed, inclusive
DATES: dict[str, tuple[date | None, date]] = {
    "content_date": (date(2000, 1, 1), date(2038, 1, 1)),
    "application_date": (date(2020, 1, 1), date(2038, 1, 1)),
    "end_date_account_restriction": (None, date(2038, 1, 1)),
    "end_date_monetary_restriction": (None, date(2038, 1, 1)),
    "end_date_service_restriction": (None, date(2038, 1, 1)),
    "end_date_visibility_restriction": (None, date(2038, 1, 1)),
}
KNOWN_FIELDS = frozenset(
    {*REQUIRED, *DECISION_FIELDS, *ARRAY_FIELDS, *ENUMS, *MAX_LENGTH, *DATES} | {"content_language"}
)


# --- making a statement ---------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _day(value: datetime) -> str:
    return value.astimezone(BEIJING).date().isoformat()


def puid_for(facts: NoticeFacts, prefix: str) -> str:
    """``<prefix>-<case number>-<measure>-<decided at, UTC>``: stable and unique."""
    at = facts.decided_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    puid = (
        f"{prefix}-{facts.case_number}-{facts.measure}-{at}"
        if prefix
        else (f"{facts.case_number}-{facts.measure}-{at}")
    )
    if not PUID_RE.match(puid):
        raise ValueError(
            f"case {facts.case_number}: puid {puid!r} may hold only letters, digits, '-' and '_'"
        )
    if len(puid) > MAX_LENGTH["puid"]:
        raise ValueError(f"case {facts.case_number}: puid is longer than 500 characters")
    return puid


def _public(reason: Reason) -> Reason:
    """The reason without what identifies anyone (the database is public)."""
    if "case_id" not in reason.data:
        return reason
    data = {k: v for k, v in reason.data.items() if k != "case_id"}
    return replace(reason, data=MappingProxyType(data))


def decision_facts(
    facts: NoticeFacts, platform_name: str, ended: tuple[datetime, str] | None = None
) -> str:
    """Plain-English facts and circumstances (<= 5000 characters), without personal data;
    with ``ended``, when and how the decision ended since."""
    tr = Tr("en")
    what = {
        "suspend": "suspended the account (sign-in blocked except to appeal and to export "
        "the account holder's data)",
        "restrict": "restricted the account (outgoing payments held, new contacts limited)",
    }[facts.measure]
    decided_by = (
        "The facts were found and the decision taken by automated means."
        if facts.automated
        else "The facts were found by automated means; a person took the decision."
    )
    parts = [
        f'{platform_name} {what} under the directive "{facts.directive_title}" '
        f"({facts.directive_id}) issued by {facts.issuer}, which orders measures against "
        "accounts used for telecom and online fraud run from designated areas.",
    ]
    # reasons of weight 0 (contacts, other accounts of the person) were not relied on
    groups = (
        ("Facts relied on:", [r for r in facts.reasons if r.weight > 0]),
        ("In the account's favour:", [r for r in facts.reasons if r.weight < 0]),
    )
    for title, reasons in groups:
        if reasons:
            parts.append(title + " " + " ".join(sentence(_public(r), tr) for r in reasons))
    parts.append(decided_by)
    if ended:
        parts.append(f"The measure ended on {_day(ended[0])}: {ended[1]}.")
    parts.append(
        "Presence in an area alone never leads to a measure. The account holder was notified "
        "with these reasons and can appeal online, free of charge; the measure is lifted at "
        "once on every platform when the check finds it not justified."
    )
    return _clip(" ".join(parts), MAX_LENGTH["decision_facts"])


def _specification(reasons: Sequence[Reason]) -> tuple[list[str], str | None]:
    codes = {r.code for r in reasons}
    keywords: list[str] = []
    other: list[str] = []
    if codes & (OUTREACH | DEVICES):
        keywords.append("KEYWORD_INAUTHENTIC_ACCOUNTS")
    if codes & MONEY:
        other.append("moving or cashing out money taken from fraud victims")
    if not keywords and not other:
        other.append("account used for telecom and online fraud run from designated areas")
    if other:
        keywords.append("KEYWORD_OTHER")
        return keywords, _clip("; ".join(other), MAX_LENGTH["category_specification_other"])
    return keywords, None


def _content_date(facts: NoticeFacts, evidence_from: datetime | None) -> str:
    """When the account's activity relied on begins, from the evidence: the earliest
    first day of the reasons' data (presence), else the first day of the evidence window
    the decision was judged on; the day of the decision only when neither is known, and
    never a day after it."""
    applied = _day(facts.decided_at)
    days: list[str] = []
    for r in facts.reasons:
        first = str(r.data.get("first") or "")
        if DAY_RE.match(first[:10]):
            days.append(first[:10])
    if not days and evidence_from is not None:
        days.append(_day(evidence_from))
    return min([*days, applied])


def statement_of_reasons(
    facts: NoticeFacts,
    *,
    platform_name: str,
    puid_prefix: str,
    territorial_scope: Sequence[str] | None = None,
    evidence_from: datetime | None = None,
    ended: tuple[datetime, str] | None = None,
) -> dict[str, Any]:
    """One statement of reasons for a ``restrict`` or ``suspend`` (``ValueError`` else).
    ``evidence_from``: the start of the evidence window it was judged on (``content_date``
    when no reason dates the activity); ``ended``: when and how the decision has ended
    since (lifted, expired, replaced), which is then its end date."""
    check_facts(facts)
    if facts.measure not in VISIBLE_VALUES:
        raise ValueError(
            f"case {facts.case_number}: a {facts.measure} makes no DSA statement of reasons "
            "(the database records restrictions; the original statement stays)"
        )
    s: dict[str, Any] = {}
    end = _day(ended[0]) if ended else _day(facts.expires_at) if facts.expires_at else None
    if facts.measure == "suspend":
        s["decision_account"] = "DECISION_ACCOUNT_SUSPENDED"
        if end:
            s["end_date_account_restriction"] = end
    else:
        s["decision_monetary"] = "DECISION_MONETARY_SUSPENSION"
        s["decision_provision"] = "DECISION_PROVISION_PARTIAL_SUSPENSION"
        if end:
            s["end_date_monetary_restriction"] = end
            s["end_date_service_restriction"] = end
    s["account_type"] = (
        "ACCOUNT_TYPE_BUSINESS"
        if facts.account_kind in ("merchant", "business")
        else "ACCOUNT_TYPE_PRIVATE"
    )
    s["decision_ground"] = "DECISION_GROUND_ILLEGAL_CONTENT"
    s["illegal_content_legal_ground"] = _clip(
        f"{facts.legal_basis} (directive {facts.directive_id}, issued by {facts.issuer})",
        MAX_LENGTH["illegal_content_legal_ground"],
    )
    s["illegal_content_explanation"] = _clip(
        f'The directive "{facts.directive_title}" orders platforms to restrict or suspend '
        "accounts used to run telecom and online fraud from the areas it designates. The "
        "records of this account's use show fraud-risk signals (see the facts) that together "
        f"reached the directive's threshold for this measure ({facts.measure}); presence in "
        "an area alone never does.",
        MAX_LENGTH["illegal_content_explanation"],
    )
    s["category"] = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    keywords, other = _specification(facts.reasons)
    s["category_specification"] = keywords
    if other:
        s["category_specification_other"] = other
    s["content_type"] = ["CONTENT_TYPE_OTHER"]
    s["content_type_other"] = "account"
    s["decision_facts"] = decision_facts(facts, platform_name, ended)
    s["source_type"] = "SOURCE_TYPE_OTHER_NOTIFICATION"
    s["source_identity"] = _clip(facts.issuer, MAX_LENGTH["source_identity"])
    s["automated_detection"] = "Yes"
    s["automated_decision"] = (
        "AUTOMATED_DECISION_FULLY" if facts.automated else "AUTOMATED_DECISION_PARTIALLY"
    )
    s["content_date"] = _content_date(facts, evidence_from)
    s["application_date"] = _day(facts.decided_at)
    if territorial_scope:
        s["territorial_scope"] = sorted({c.upper() for c in territorial_scope})
    s["puid"] = puid_for(facts, puid_prefix)
    return s


# --- checking a statement -------------------------------------------------------------


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _day_value(value: Any) -> date | None:
    if not isinstance(value, str) or not DAY_RE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def validate_statement(d: Mapping[str, Any]) -> list[str]:
    """Every broken field rule of the database, as ``'<field>: <what is wrong>'``."""
    errors: list[str] = []
    for key in sorted(set(d) - KNOWN_FIELDS):
        errors.append(f"{key}: not a field of a statement of reasons")
    for key in REQUIRED:
        if not _present(d.get(key)):
            errors.append(f"{key}: required")
    if not any(_present(d.get(k)) for k in DECISION_FIELDS):
        errors.append(
            "decision: at least one of decision_visibility, decision_monetary, "
            "decision_provision or decision_account is required"
        )
    for key in ARRAY_FIELDS:
        value = d.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            errors.append(f"{key}: must be an array")
            continue
        for item in value:
            if item not in ARRAY_ENUMS[key]:
                errors.append(f"{key}: {item!r} is not an allowed value")
    for key, allowed in ENUMS.items():
        value = d.get(key)
        if value is not None and value not in allowed:
            errors.append(f"{key}: {value!r} is not an allowed value")
    for other, key, trigger in CONDITIONAL:
        value = d.get(key)
        hit = trigger in value if isinstance(value, list) else value == trigger
        if hit and not _present(d.get(other)):
            errors.append(f"{other}: required when {key} is {trigger}")
    for key, limit in MAX_LENGTH.items():
        value = d.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            errors.append(f"{key}: must be a string")
        elif len(value) > limit:
            errors.append(f"{key}: longer than {limit} characters ({len(value)})")
    puid = d.get("puid")
    if isinstance(puid, str) and puid and not PUID_RE.match(puid):
        errors.append("puid: may hold only letters, digits, '-' and '_'")
    url = d.get("decision_ground_reference_url")
    if isinstance(url, str) and url and not URL_RE.match(url):
        errors.append("decision_ground_reference_url: not a URL")
    language = d.get("content_language")
    if language is not None and language not in LANGUAGES:
        errors.append(f"content_language: {language!r} is not an ISO 639-1 code in capitals")
    for key, (earliest, latest) in DATES.items():
        value = d.get(key)
        if not _present(value):
            continue
        day = _day_value(value)
        if day is None:
            errors.append(f"{key}: not a date in the format YYYY-MM-DD ({value!r})")
            continue
        if earliest is not None and day < earliest:
            errors.append(f"{key}: before {earliest.isoformat()}")
        if day > latest:
            errors.append(f"{key}: after {latest.isoformat()}")
    return errors


# --- export ---------------------------------------------------------------------------


def export_jsonl(statements: Iterable[Mapping[str, Any]], fh: IO[str]) -> int:
    """Write valid statements one JSON object a line; refuses (``ValueError``) any broken
    one before writing it, naming its ``puid`` and rules. Returns how many were written."""
    n = 0
    for s in statements:
        errors = validate_statement(s)
        if errors:
            raise ValueError(f"statement {s.get('puid')!r}: " + "; ".join(errors))
        fh.write(json.dumps(s, ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
    return n


def batches(
    statements: Iterable[Mapping[str, Any]], size: int = BULK_LIMIT
) -> Iterator[list[Mapping[str, Any]]]:
    """Statements in lists of at most ``size`` (<= 100, the bulk API's limit)."""
    if not 1 <= size <= BULK_LIMIT:
        raise ValueError(f"batch size must be between 1 and {BULK_LIMIT}, not {size}")
    batch: list[Mapping[str, Any]] = []
    for s in statements:
        batch.append(s)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk_payloads(
    statements: Iterable[Mapping[str, Any]], size: int = BULK_LIMIT
) -> Iterator[dict[str, list[Mapping[str, Any]]]]:
    """Request bodies for the bulk endpoint: ``{"statements": [...]}``, <= 100 each."""
    for batch in batches(statements, size):
        yield {"statements": batch}
