"""Every account the operation uses: an account on phones that several accounts judged
as operators pass around within days is the operation's (``DEVICE_OPERATION``), whoever
owns it on paper and however vaguely it is placed; a person's own accounts on one
phone, a phone resold months later and a relative's account are not."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.targeting.test_rules import KUNMING, LAUKKAI, Evidence, run, strangers

#: an IP placed about 40 km from Laukkai, 40 km wide: the spare account's only position
NEAR_LAUKKAI_IP = (23.95, 99.05)


def compound(ev: Evidence, nights: range = range(1, 41)) -> list[str]:
    """Three operators' bought accounts (three sellers) on the compound's phone."""
    crew = [ev.account(f"wechat:crew{i}", person=f"seller{i}") for i in range(3)]
    for c in crew:
        ev.nights(c, LAUKKAI, nights, device="dev-compound")
        strangers(ev, c, 80)
    return crew


def test_a_spare_account_on_the_compounds_phones_is_suspended(tmp_path: Path) -> None:
    ev = Evidence()
    crew = compound(ev)
    # the QQ of seller0's identity: IP only, no outreach, on the compound's phone
    spare = ev.account("qq:spare", person="seller0")
    ev.nights(spare, NEAR_LAUKKAI_IP, range(2, 40, 2), "ip", 40_000.0, "dev-compound")
    d = run(ev, tmp_path)
    assert all(d[c]["measure"] == "suspend" for c in crew)
    assert d[spare]["measure"] == "suspend"
    reasons = json.loads(d[spare]["reasons"])
    operation = next(r for r in reasons if r["code"] == "DEVICE_OPERATION")
    # the two other sellers' accounts: seller0's own is the same person, not counted
    assert operation["data"] == {"device_operators": 2}
    assert "judged as operators" in operation["text"]
    assert "PRESENCE_SUSTAINED" not in [r["code"] for r in reasons]
    assert reasons[-1]["data"]["harms"][0] in ("operation_phones", "shared_phone")


def test_ones_own_two_accounts_on_one_phone_stay_untouched(tmp_path: Path) -> None:
    ev = Evidence()
    compound(ev)
    # an area resident's WeChat and QQ on his own phone: the same person, no operators
    wechat = ev.account("wechat:resident", person="resident")
    qq = ev.account("qq:resident", person="resident")
    for a in (wechat, qq):
        ev.nights(a, LAUKKAI, range(1, 41), device="dev-resident")
    d = run(ev, tmp_path)
    for a in (wechat, qq):
        assert d[a]["measure"] in ("none", "monitor"), a
        assert not {"DEVICE_OPERATION", "DEVICE_FARM", "DEVICE_SHARED"} & set(d[a]["codes"])


def test_a_phone_resold_months_later_stays_untouched(tmp_path: Path) -> None:
    ev = Evidence()
    compound(ev, nights=range(120, 170))
    buyer = ev.account("wechat:buyer", person="buyer")
    ev.nights(buyer, NEAR_LAUKKAI_IP, range(1, 60, 2), "ip", 40_000.0, "dev-compound")
    ev.nights(buyer, KUNMING, range(1, 60), device="dev-compound")
    d = run(ev, tmp_path).get(buyer, {"measure": "none", "codes": []})
    assert d["measure"] in ("none", "monitor")
    assert "DEVICE_OPERATION" not in d["codes"]


def test_a_relatives_account_on_one_operators_phone_stays_untouched(tmp_path: Path) -> None:
    """A mother whose account was on her son's phone when he came home: one judged
    operator is not the operation's phones."""
    ev = Evidence()
    crew = compound(ev, nights=range(1, 100))
    mother = ev.account("wechat:mother", person="mother")
    ev.nights(mother, KUNMING, range(100, 140), device="dev-home")
    ev.nights(crew[0], KUNMING, range(100, 110), device="dev-home")
    ev.interact(crew[0], mother, "transfer", 105, "2000")
    d = run(ev, tmp_path).get(mother, {"measure": "none", "codes": []})
    assert d["measure"] in ("none", "monitor")
    assert "DEVICE_OPERATION" not in d["codes"]


def new_operators_accounts(ev: Evidence, *, one_phone: bool) -> list[str]:
    """A newcomer's two bought accounts (two sellers), nine days in Laukkai, each adding
    38 strangers: below the outreach rule's 60, on one phone or on two."""
    bought = [ev.account(f"wechat:bought{i}", person=f"seller-b{i}") for i in range(2)]
    for i, (account, nights) in enumerate(zip(bought, (range(1, 9), range(1, 7)), strict=True)):
        ev.nights(account, LAUKKAI, nights, device="dev-new" if one_phone else f"dev-own{i}")
        strangers(ev, account, 38, days=9)
    return bought


def test_accounts_reaching_strangers_from_one_phone_are_one_operation(tmp_path: Path) -> None:
    ev = Evidence()
    bought = new_operators_accounts(ev, one_phone=True)
    d = run(ev, tmp_path)
    for account in bought:
        assert d[account]["measure"] in ("restrict", "suspend"), account
        reasons = json.loads(d[account]["reasons"])
        outreach = next(r for r in reasons if r["code"] == "DEVICE_OUTREACH")
        assert outreach["data"] == {"device_reaching": 1}
        assert "add strangers too" in outreach["text"]


def test_the_same_outreach_from_phones_of_their_own_is_only_watched(tmp_path: Path) -> None:
    """What the phone adds: the same two accounts on phones of their own."""
    ev = Evidence()
    bought = new_operators_accounts(ev, one_phone=False)
    d = run(ev, tmp_path)
    for account in bought:
        assert d[account]["measure"] in ("none", "monitor"), account
        assert "DEVICE_OUTREACH" not in d[account]["codes"]


def test_a_spouse_on_the_phone_of_one_who_adds_strangers_stays_untouched(
    tmp_path: Path,
) -> None:
    """A saleswoman on a few days' trip to Laukkai adds strangers; her husband's account
    on her phone does not: one account that reaches out does not make a phone the
    operation's."""
    ev = Evidence()
    seller = ev.account("wechat:saleswoman", person="saleswoman")
    husband = ev.account("wechat:husband", person="husband")
    for account in (seller, husband):
        ev.nights(account, LAUKKAI, range(1, 6), device="dev-family")
    strangers(ev, seller, 38, days=20)
    d = run(ev, tmp_path)
    assert "DEVICE_OUTREACH" not in d[seller]["codes"]
    assert d[husband]["measure"] in ("none", "monitor")
    assert "DEVICE_OUTREACH" not in d[husband]["codes"]
