"""Portal sessions on a real database (SQLite and PostgreSQL): a session opens one case,
sees it only once verified and only until it expires; opening cases, appealing and
exporting are limited per case and per address; what can no longer be used is purged."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.appeals.codes import CodeResult, DevCodeSender, send_code, set_contact, verify_code
from fairban.appeals.models import OneTimeCode, PortalSession
from fairban.appeals.sessions import (
    SESSION_HOURS,
    VerifiedCase,
    allow_case,
    allow_start,
    portal_session,
    purge,
    start_session,
    verified_case,
)
from fairban.cases.models import Case
from fairban.ratelimits import RateBucket
from fairban.tokens import sha256_hex
from tests.support.appeals import SETTINGS
from tests.support.cases import NOW

SECRET = "test-secret-key-not-for-production"


def rows(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


def prove_phone(session: Session, browser: PortalSession, case: Case, log: Path) -> None:
    """Prove the phone as a person does: a code sent to it, typed in."""
    set_contact(session, case.account_id, "13800138000", NOW)
    sender = DevCodeSender(log)
    assert send_code(
        session, browser, case, sender=sender, secret=SECRET, settings=SETTINGS, now=NOW
    )
    code = json.loads(log.read_text().splitlines()[-1])["code"]
    result = verify_code(session, browser, code, secret=SECRET, settings=SETTINGS, now=NOW)
    assert result == CodeResult.OK


def test_a_session_opens_one_case_until_it_expires(
    session: Session, enforced: dict[str, Case]
) -> None:
    case = enforced["wechat:f1"]
    token = start_session(session, case, NOW)
    found = portal_session(session, token, NOW)
    assert found is not None
    assert found.case_id == case.id
    assert found.token_hash == sha256_hex(token)  # only the hash is stored
    assert session.get(PortalSession, token) is None
    assert found.expires_at == NOW + timedelta(hours=SESSION_HOURS)
    assert found.csrf
    last = NOW + timedelta(hours=SESSION_HOURS) - timedelta(seconds=1)
    assert portal_session(session, token, last) is found
    assert portal_session(session, token, NOW + timedelta(hours=SESSION_HOURS)) is None
    assert start_session(session, case, NOW) != token  # every session its own token


def test_unknown_or_odd_tokens_open_nothing(session: Session, enforced: dict[str, Case]) -> None:
    start_session(session, enforced["wechat:f1"], NOW)
    for token in (None, "", "not-a-session", "x" * 201):
        assert portal_session(session, token, NOW) is None
        assert verified_case(session, token, NOW) is None


def test_the_case_is_seen_only_through_a_verified_session(
    session: Session, enforced: dict[str, Case], tmp_path: Path
) -> None:
    case = enforced["wechat:f1"]
    token = start_session(session, case, NOW)
    assert verified_case(session, token, NOW) is None  # not yet verified
    browser = portal_session(session, token, NOW)
    assert browser is not None
    prove_phone(session, browser, case, tmp_path / "codes.log")
    session.flush()
    assert verified_case(session, token, NOW) == VerifiedCase(
        case.id, case.number, case.directive_id, case.state
    )
    expired = NOW + timedelta(hours=SESSION_HOURS)
    assert verified_case(session, token, expired) is None


def test_opening_cases_is_limited_per_address_and_per_case_number(
    session: Session, enforced: dict[str, Case]
) -> None:
    settings = SETTINGS.model_copy(update={"otp_requests_per_window": 2})
    number = enforced["wechat:f1"].number

    def start(case_number: str, address: str) -> bool:
        return allow_start(session, settings, case_number=case_number, address=address, now=NOW)

    assert start(number, "10.0.0.1")
    assert start(f" {number.lower()} ", "10.0.0.2")  # the same case, however it is typed
    assert not start(number, "10.0.0.3")
    # one address trying many case numbers: four times the per-case limit
    tries = [start(f"FB-2019-{n:06d}", "10.0.0.9") for n in range(900, 909)]
    assert tries == [True] * 8 + [False]
    later = NOW + timedelta(seconds=settings.rate_window_s)
    assert allow_start(session, settings, case_number=number, address="10.0.0.1", now=later)


def test_appeals_and_exports_are_limited_per_case_each_on_its_own(
    session: Session, enforced: dict[str, Case]
) -> None:
    settings = SETTINGS.model_copy(update={"appeals_per_window": 2})
    f1, mule = enforced["wechat:f1"].id, enforced["alipay:mule"].id

    def allowed(action: str, case_id: int) -> bool:
        return allow_case(session, settings, action=action, case_id=case_id, now=NOW)

    assert [allowed("appeal", f1) for _ in range(3)] == [True, True, False]
    assert allowed("export", f1)  # exports count apart
    assert allowed("appeal", mule)  # and so does every case


def test_purge_deletes_only_what_can_no_longer_be_used(
    session: Session, enforced: dict[str, Case], tmp_path: Path
) -> None:
    case = enforced["wechat:f1"]
    old = start_session(session, case, NOW - timedelta(hours=SESSION_HOURS + 1))
    live = start_session(session, case, NOW)
    browser = portal_session(session, live, NOW)
    assert browser is not None
    prove_phone(session, browser, case, tmp_path / "codes.log")  # its code is used up
    allow_case(session, SETTINGS, action="appeal", case_id=case.id, now=NOW - timedelta(days=1))
    allow_case(session, SETTINGS, action="export", case_id=case.id, now=NOW)
    assert (rows(session, PortalSession), rows(session, OneTimeCode)) == (2, 1)

    deleted = purge(session, NOW, rate_window_s=SETTINGS.rate_window_s)
    assert deleted == {"portal_sessions": 1, "one_time_codes": 1, "rate_buckets": 1}
    kept = session.scalars(select(PortalSession.token_hash)).all()
    assert kept == [sha256_hex(live)]
    assert sha256_hex(old) not in kept
    assert rows(session, RateBucket) == 1  # the export's window has not ended
    assert purge(session, NOW, rate_window_s=SETTINGS.rate_window_s) == {
        "portal_sessions": 0,
        "one_time_codes": 0,
        "rate_buckets": 0,
    }
