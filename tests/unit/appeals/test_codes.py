"""One-time codes and the phones they go to, on a real database (SQLite and
PostgreSQL): a code goes to the phone on file, verifies the session once, and dies
after its time, after use, or after too many wrong tries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.appeals.codes import (
    CodeResult,
    DevCodeSender,
    HttpSmsGateway,
    allow_code,
    code_sender,
    mask_phone,
    normalize_phone,
    phone_matches,
    secret_key,
    send_code,
    set_contact,
    start_by_phone,
    verify_code,
)
from fairban.appeals.models import AccountContact, OneTimeCode, PortalSession
from fairban.appeals.sessions import portal_session, start_session
from fairban.cases.models import Case
from tests.support.appeals import SETTINGS
from tests.support.cases import NOW


def test_phones_compare_whatever_the_spelling() -> None:
    assert (
        normalize_phone("138 0013 8000") == normalize_phone("+86 13800138000") == "+8613800138000"
    )
    assert mask_phone("+8613800138000") == "•••• 8000"
    assert normalize_phone("") == ""


def test_a_mask_shows_no_more_than_the_last_four_digits() -> None:
    assert mask_phone("+86 138-0013-8000") == "•••• 8000"
    assert mask_phone("123") == "••••"
    assert mask_phone("") == "••••"
    assert normalize_phone("13800138000") == "+8613800138000"  # an 11-digit mainland number
    assert normalize_phone("+95 9 123 456 789") == "+959123456789"  # others keep their code
    assert normalize_phone("phone: none") == ""


# --- codes on a real database ------------------------------------------------------------

SECRET = "test-secret-key-not-for-production"


@dataclass
class Inbox:
    """A development sender's log, read as a person reads the SMS."""

    path: Path

    @property
    def sender(self) -> DevCodeSender:
        return DevCodeSender(self.path)

    def last(self, number: str) -> str:
        for line in reversed(self.path.read_text().splitlines()):
            entry = json.loads(line)
            if entry["case"] == number:
                return str(entry["code"])
        raise AssertionError(f"no code for {number}")


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    return Inbox(tmp_path / "codes.log")


@pytest.fixture
def opened(session: Session, enforced: dict[str, Case]) -> tuple[PortalSession, Case]:
    """F1's WeChat case with its phone on file, and a portal session opened on it."""
    case = enforced["wechat:f1"]
    set_contact(session, case.account_id, "138 0013 8000", NOW)
    token = start_session(session, case, NOW)
    found = portal_session(session, token, NOW)
    assert found is not None
    return found, case


def send(session: Session, portal: PortalSession, case: Case, inbox: Inbox, **kw: object) -> bool:
    return send_code(
        session,
        portal,
        case,
        sender=inbox.sender,
        secret=SECRET,
        settings=kw.pop("settings", SETTINGS),  # type: ignore[arg-type]
        now=kw.pop("now", NOW),  # type: ignore[arg-type]
    )


def check(session: Session, portal: PortalSession, code: str, **kw: object) -> str:
    return verify_code(
        session,
        portal,
        code,
        secret=SECRET,
        settings=kw.pop("settings", SETTINGS),  # type: ignore[arg-type]
        now=kw.pop("now", NOW),  # type: ignore[arg-type]
    )


def test_the_code_goes_to_the_phone_on_file_and_verifies_the_session(
    session: Session, opened: tuple[PortalSession, Case], inbox: Inbox
) -> None:
    browser, case = opened
    assert send(session, browser, case, inbox)
    code = inbox.last(case.number)
    assert len(code) == 6
    assert code.isdigit()
    stored = session.scalars(select(OneTimeCode)).one()
    assert code not in stored.code_hash  # kept as an HMAC, never as the code
    assert stored.expires_at == NOW + timedelta(seconds=SETTINGS.otp_ttl_s)
    assert browser.verified_at is None
    assert check(session, browser, f" {code[:3]} {code[3:]} ") == CodeResult.OK  # spaces allowed
    assert browser.verified_at == NOW
    assert check(session, browser, code) == CodeResult.EXPIRED  # used up: a replay finds none


def test_no_phone_on_file_sends_nothing(
    session: Session, enforced: dict[str, Case], inbox: Inbox
) -> None:
    case = enforced["alipay:mule"]
    browser = portal_session(session, start_session(session, case, NOW), NOW)
    assert browser is not None
    assert not send(session, browser, case, inbox)
    assert not inbox.path.exists()
    assert session.scalars(select(OneTimeCode)).all() == []


def test_wrong_codes_are_counted_until_the_code_dies(
    session: Session, opened: tuple[PortalSession, Case], inbox: Inbox
) -> None:
    browser, case = opened
    send(session, browser, case, inbox)
    code = inbox.last(case.number)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert [check(session, browser, wrong) for _ in range(4)] == [CodeResult.WRONG] * 4
    assert session.scalars(select(OneTimeCode.attempts)).one() == 4
    assert check(session, browser, wrong) == CodeResult.LOCKED  # the fifth: max tries
    assert check(session, browser, code) == CodeResult.LOCKED  # now even the right one
    assert browser.verified_at is None
    # a new code starts again
    send(session, browser, case, inbox)
    assert check(session, browser, inbox.last(case.number)) == CodeResult.OK


def test_a_code_dies_when_it_expires(
    session: Session, opened: tuple[PortalSession, Case], inbox: Inbox
) -> None:
    browser, case = opened
    send(session, browser, case, inbox)
    code = inbox.last(case.number)
    late = NOW + timedelta(seconds=SETTINGS.otp_ttl_s)
    assert check(session, browser, code, now=late) == CodeResult.EXPIRED
    assert browser.verified_at is None


def test_a_new_code_replaces_the_one_before(
    session: Session, opened: tuple[PortalSession, Case], inbox: Inbox
) -> None:
    browser, case = opened
    send(session, browser, case, inbox)
    first = inbox.last(case.number)
    send(session, browser, case, inbox, now=NOW + timedelta(seconds=30))
    second = inbox.last(case.number)
    if first != second:  # one in a million they are the same digits
        assert check(session, browser, first) == CodeResult.WRONG
    assert check(session, browser, second) == CodeResult.OK


def test_a_code_is_for_its_own_session_only(
    session: Session, opened: tuple[PortalSession, Case], inbox: Inbox
) -> None:
    browser, case = opened
    other = portal_session(session, start_session(session, case, NOW), NOW)
    assert other is not None
    send(session, browser, case, inbox)
    code = inbox.last(case.number)
    assert check(session, other, code) == CodeResult.EXPIRED  # the other session has none
    assert other.verified_at is None


def test_the_phone_on_file_is_kept_normalized(session: Session, enforced: dict[str, Case]) -> None:
    case = enforced["wechat:f1"]
    set_contact(session, case.account_id, "138 0013 8000", NOW)
    assert phone_matches(session, case, "+86 13800138000")
    assert not phone_matches(session, case, "13800138001")
    assert not phone_matches(session, case, "")
    set_contact(session, case.account_id, "+86 139 0000 0000", NOW)  # the platform's update
    assert session.get(AccountContact, case.account_id).phone == "+8613900000000"  # type: ignore[union-attr]
    assert not phone_matches(session, enforced["qq:f1"], "13900000000")  # no phone on file
    with pytest.raises(ValueError, match="not a phone number"):
        set_contact(session, case.account_id, "12", NOW)


def test_code_requests_are_limited_per_case_and_per_address(
    session: Session, enforced: dict[str, Case]
) -> None:
    settings = SETTINGS.model_copy(update={"otp_requests_per_window": 2})

    def ask(account: str, address: str) -> bool:
        case_id = enforced[account].id
        return allow_code(session, settings, case_id=case_id, address=address, now=NOW)

    assert [ask("wechat:solo", "10.0.0.1") for _ in range(3)] == [True, True, False]
    assert not ask("wechat:solo", "10.0.0.2")  # the case's limit, from any address
    # an address may ask four times as often, over every case
    others = ("wechat:f1", "qq:f1", "alipay:f1", "alipay:mule")
    assert [ask(a, "10.0.0.9") for a in others for _ in range(2)] == [True] * 8
    assert not ask("wechat:low", "10.0.0.9")
    assert ask("wechat:low", "10.0.0.10")


def test_the_senders_settings_name(tmp_path: Path) -> None:
    dev = code_sender(SETTINGS.model_copy(update={"home": tmp_path}))
    assert dev == DevCodeSender(tmp_path / "codes.log")
    http = code_sender(
        SETTINGS.model_copy(update={"otp_sender": "http", "sms_gateway_url": "http://sms.example"})
    )
    assert http == HttpSmsGateway("http://sms.example")
    with pytest.raises(ValueError, match="needs FAIRBAN_SMS_GATEWAY_URL"):
        code_sender(SETTINGS.model_copy(update={"otp_sender": "http"}))
    with pytest.raises(ValueError, match="use dev or http"):
        code_sender(SETTINGS.model_copy(update={"otp_sender": "pigeon"}))


def test_the_development_secret_is_written_once_and_kept(tmp_path: Path) -> None:
    assert secret_key(SETTINGS.model_copy(update={"secret_key": "from-the-environment"})) == (
        "from-the-environment"
    )
    home = SETTINGS.model_copy(update={"home": tmp_path / "home", "secret_key": None})
    first = secret_key(home)
    assert len(first) == 64
    assert secret_key(home) == first  # a restart agrees
    assert (tmp_path / "home" / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("phone", ["138 0013 8001", ""])
def test_a_number_and_phone_that_do_not_match_open_a_decoy_that_never_verifies(
    session: Session, enforced: dict[str, Case], inbox: Inbox, phone: str
) -> None:
    case = enforced["wechat:f1"]
    set_contact(session, case.account_id, "138 0013 8000", NOW)
    for target in (case, None):  # the right number, and one that does not exist
        token = start_by_phone(
            session, target, phone, sender=inbox.sender, secret=SECRET, settings=SETTINGS, now=NOW
        )
        decoy = portal_session(session, token, NOW)
        assert decoy is not None
        assert (decoy.case_id, decoy.phone_hint) == (None, mask_phone(normalize_phone(phone)))
        assert send(session, decoy, None, inbox)  # asking again "works" too
        assert [check(session, decoy, f"{n:06d}") for n in range(5)] == ["wrong"] * 4 + ["locked"]
        assert decoy.verified_at is None
    assert not inbox.path.exists()  # no code went anywhere


def test_a_matching_number_and_phone_get_a_code(
    session: Session, enforced: dict[str, Case], inbox: Inbox
) -> None:
    case = enforced["wechat:f1"]
    set_contact(session, case.account_id, "138 0013 8000", NOW)
    token = start_by_phone(
        session,
        case,
        "+86 13800138000",
        sender=inbox.sender,
        secret=SECRET,
        settings=SETTINGS,
        now=NOW,
    )
    portal = portal_session(session, token, NOW)
    assert portal is not None
    assert (portal.case_id, portal.phone_hint) == (case.id, "•••• 8000")
    assert check(session, portal, inbox.last(case.number)) == "ok"
