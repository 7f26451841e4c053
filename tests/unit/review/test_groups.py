"""Groups of queued appeals where one decision fits many: one person's accounts, one
compound's phones; the same directive version and grounds; deterministic keys, the
oldest deadline first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.grouping import compound_key, person_key
from fairban.appeals.models import Appeal, AppealState
from fairban.cases.models import Case
from fairban.contract import Directive
from fairban.measures import Measure
from fairban.review.groups import GroupKind, compound_of, find, groups, listed, members, near
from fairban.review.queue import QueueItem, queue
from tests.support.appeals import enforce_people, file, queue_for_a_person
from tests.support.cases import NOW as FILED
from tests.support.cases import D, Decide, suspend_reasons

NOW = datetime(2019, 10, 15, 9, tzinfo=UTC)


def _phones(area: str = "Laukkai", code: str = "DEVICE_FARM", peers: int = 4) -> str:
    field = {"DEVICE_OPERATION": "device_operators", "DEVICE_OUTREACH": "device_reaching"}.get(
        code, "device_peers"
    )
    reasons: list[dict[str, Any]] = [
        {"code": code, "text": "phones", "weight": 3.0, "data": {field: peers}},
        {"code": "PRESENCE_SUSTAINED", "text": "nights", "weight": 2.0, "data": {"area": area}},
    ]
    return json.dumps(reasons)


def _item(
    appeal_id: int,
    *,
    person: str | None = None,
    grounds: tuple[str, ...] = ("never_been_there",),
    version: int = 1,
    hours_left: float = 24,
    reasons: str = "[]",
    measure: Measure = Measure.SUSPEND,
) -> QueueItem:
    case = Case(
        id=appeal_id,
        number=f"C{appeal_id}",
        directive_id="mm-2019",
        directive_version=version,
        account_id=f"wechat:a{appeal_id}",
        person_id=person,
        measure=measure,
        reasons=reasons,
    )
    appeal = Appeal(
        id=appeal_id,
        grounds=json.dumps(list(grounds)),
        answer_by=NOW + timedelta(hours=hours_left),
        state=AppealState.QUEUED,
    )
    return QueueItem(appeal, case, 0.0, hours_left, 1)


def test_a_persons_two_accounts_group() -> None:
    items = [_item(1, person="p-duan"), _item(2, person="p-duan"), _item(3, person="p-other")]
    found = groups(items)
    assert [(g.key.kind, [i.appeal.id for i in g.items]) for g in found] == [
        (GroupKind.PERSON, [1, 2])
    ]


def test_grounds_in_any_order_are_the_same_grounds() -> None:
    a = _item(1, person="p", grounds=("victim", "never_been_there"))
    b = _item(2, person="p", grounds=("never_been_there", "victim"))
    assert [g.size for g in groups([a, b])] == [2]


def test_other_grounds_or_another_directive_version_split_a_person() -> None:
    assert groups([_item(1, person="p"), _item(2, person="p", grounds=("victim",))]) == []
    assert groups([_item(1, person="p"), _item(2, person="p", version=2)]) == []


def test_two_strangers_with_the_same_grounds_do_not_group() -> None:
    assert groups([_item(1), _item(2)]) == []  # no person, no phones: nothing shared
    assert groups([_item(1, person="p1"), _item(2, person="p2")]) == []


def test_strangers_on_one_compounds_phones_group() -> None:
    items = [_item(1, reasons=_phones()), _item(2, person="p2", reasons=_phones())]
    [group] = groups(items)
    assert group.key.kind == GroupKind.COMPOUND
    assert group.compound is not None
    assert group.compound.area == "Laukkai"
    assert group.size == 2


def test_strangers_on_one_operations_outreach_phones_group() -> None:
    # DEVICE_OUTREACH: the phones on which several people's accounts add strangers
    outreach = _phones(code="DEVICE_OUTREACH", peers=3)
    [group] = groups([_item(1, reasons=outreach), _item(2, reasons=outreach)])
    assert group.compound == compound_of(outreach)
    assert (group.compound.code, group.compound.peers) == ("DEVICE_OUTREACH", 3)
    # phones that reach strangers are not the farm's phones, however many peers
    assert groups([_item(1, reasons=outreach), _item(2, reasons=_phones(peers=3))]) == []


def test_strangers_of_different_compounds_do_not_group() -> None:
    assert groups([_item(1, reasons=_phones("Laukkai")), _item(2, reasons=_phones("Muse"))]) == []
    other_phones = _phones(code="DEVICE_OPERATION")
    assert groups([_item(1, reasons=_phones()), _item(2, reasons=other_phones)]) == []
    assert groups([_item(1, reasons=_phones(peers=4)), _item(2, reasons=_phones(peers=9))]) == []


def test_a_person_group_comes_before_the_compound() -> None:
    # 1 and 2 are one person on the compound's phones; 3 a stranger on them too
    items = [
        _item(1, person="p", reasons=_phones()),
        _item(2, person="p", reasons=_phones()),
        _item(3, reasons=_phones()),
    ]
    assert [(g.key.kind, g.size) for g in groups(items)] == [(GroupKind.PERSON, 2)]


def test_oldest_deadline_first_and_ids_are_stable() -> None:
    items = [
        _item(1, person="late", hours_left=40),
        _item(2, person="late", hours_left=30),
        _item(3, person="soon", hours_left=20),
        _item(4, person="soon", hours_left=-2),
    ]
    found = groups(items)
    assert [[i.appeal.id for i in g.items] for g in found] == [[4, 3], [2, 1]]
    assert found[0].overdue == 1
    assert [g.id for g in groups(list(reversed(items)))] == [g.id for g in found]
    assert all(len(g.id) == 16 and "soon" not in g.id for g in found)


def test_a_group_is_found_while_its_last_case_waits() -> None:
    pair = [_item(1, person="p"), _item(2, person="p")]
    [group] = groups(pair)
    found = find(pair[1:], group.id)  # the first one decided
    assert found is not None
    assert [i.appeal.id for i in found.items] == [2]
    assert find([], group.id) is None


def test_compound_of_reads_the_reasons() -> None:
    assert compound_of(_phones("Muse", "DEVICE_SHARED", 2)) is not None
    assert compound_of("[]") is None
    assert compound_of("not json") is None
    no_area = json.dumps([{"code": "DEVICE_FARM", "data": {"device_peers": 3}}])
    assert compound_of(no_area) is None  # phones alone do not say which compound


# --- near: the group read around one of its appeals, on a real database ---------------


def _farm_row(account: str, person: str = "", area: str = "Laukkai") -> dict[str, Any]:
    row = D(account, "suspend", person).record()
    row["reasons"] = json.dumps([*json.loads(_phones(area)), *suspend_reasons()[:1]])
    return row


def test_near_finds_what_the_whole_queue_finds(
    session: Session, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    rows = [
        _farm_row("wechat:farm1"),
        _farm_row("qq:farm2", "p-two"),
        _farm_row("wechat:farm2", "p-two"),  # p-two: a person group before the compound
        _farm_row("wechat:farm3", "p-three"),
        _farm_row("wechat:muse", area="Muse"),
        _farm_row("qq:muse2", area="Muse"),
        D("wechat:alone", "suspend").record(),
    ]
    cases = enforce_people(session, directive, decide, rows)
    appeals = {a: queue_for_a_person(session, c, blobs) for a, c in cases.items()}
    whole = groups(queue(session, FILED))
    assert sorted(sorted(i.case.account_id for i in g.items) for g in whole) == [
        ["qq:farm2", "wechat:farm2"],
        ["qq:muse2", "wechat:muse"],
        ["wechat:farm1", "wechat:farm3"],
    ]
    for g in whole:
        for item in g.items:
            found = near(session, item.appeal, g.id, FILED)
            assert found is not None
            assert [i.appeal.id for i in found.items] == [i.appeal.id for i in g.items]
    # an appeal of no group, or another group's, finds nothing
    assert near(session, appeals["wechat:alone"], whole[0].id, FILED) is None
    other = next(
        g for g in whole if appeals["wechat:muse"].id not in {i.appeal.id for i in g.items}
    )
    assert near(session, appeals["wechat:muse"], other.id, FILED) is None


# --- the stored keys: the same groups from SQL, on SQLite and PostgreSQL --------------


def _mixed_queue(
    session: Session, directive: Directive, decide: Decide, blobs: BlobStore
) -> dict[str, Appeal]:
    """Persons, a compound that a person group takes members from, another area's
    compound, other grounds and a stranger: every case of the rule at once."""
    rows = [
        _farm_row("wechat:farm1"),
        _farm_row("qq:farm2", "p-two"),
        _farm_row("wechat:farm2", "p-two"),
        _farm_row("wechat:farm3", "p-three"),
        _farm_row("qq:farm4"),
        _farm_row("wechat:muse", area="Muse"),
        _farm_row("qq:muse2", area="Muse"),
        D("wechat:p4a", "suspend", "p-four").record(),
        D("qq:p4b", "restrict", "p-four").record(),
        D("alipay:p4c", "suspend", "p-four").record(),
        D("wechat:alone", "suspend").record(),
    ]
    cases = enforce_people(session, directive, decide, rows)
    other = {"qq:p4b": ("victim",)}
    return {
        a: queue_for_a_person(
            session,
            c,
            blobs,
            grounds=other.get(a, ("never_been_there",)),
            now=FILED + timedelta(minutes=i),
        )
        for i, (a, c) in enumerate(cases.items())
    }


def test_the_stored_keys_are_the_python_keys(
    session: Session, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    appeals = _mixed_queue(session, directive, decide, blobs)
    session.expire_all()  # the keys as the database holds them
    items = queue(session, FILED)
    assert len(items) == len(appeals)
    for item in items:
        person = person_key(item.appeal, item.case)
        compound = compound_key(item.appeal, item.case)
        assert item.appeal.person_group == (person.id if person else None)
        assert item.appeal.compound_group == (compound[0].id if compound else None)
    assert sum(1 for i in items if i.appeal.compound_group) == 7
    whole = groups(items)
    found, total = listed(session, FILED)
    assert total == len(whole) == 4
    assert [(s.id, s.size, s.oldest, s.overdue, s.first) for s in found] == [
        (g.id, g.size, g.oldest, g.overdue, g.items[0].appeal.id) for g in whole
    ]
    assert [(s.key, s.compound, s.measures) for s in found] == [
        (g.key, g.compound, g.measures) for g in whole
    ]
    assert len(listed(session, FILED, limit=2)[0]) == 2
    for g in whole:
        walked = members(session, g.id, FILED)
        assert walked is not None
        assert [i.appeal.id for i in walked.items] == [i.appeal.id for i in g.items]


def test_a_case_re_decided_while_its_appeal_waits_moves_its_keys(
    session: Session, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    appeals = _mixed_queue(session, directive, decide, blobs)
    moved = appeals["wechat:farm1"]
    before = moved.compound_group
    moved.case.reasons = _phones("Muse")  # the engine's new reasons: another area
    session.flush()
    session.expire_all()
    compound = compound_key(moved, moved.case)
    assert compound is not None
    assert moved.compound_group == compound[0].id != before
    assert {g.id for g in groups(queue(session, FILED))} == {
        s.id for s in listed(session, FILED)[0]
    }


def test_an_appeal_queued_without_the_recheck_is_stamped_at_flush(
    session: Session, directive: Directive, decide: Decide, blobs: BlobStore
) -> None:
    cases = enforce_people(session, directive, decide, [_farm_row("wechat:farm1", "p-one")])
    appeal, _ = file(session, cases["wechat:farm1"], blobs, grounds=("victim",), now=FILED)
    session.flush()
    assert (appeal.person_group, appeal.compound_group) == (None, None)
    appeal.state = AppealState.QUEUED  # another path to the person queue
    session.flush()
    person, compound = person_key(appeal, appeal.case), compound_key(appeal, appeal.case)
    assert person is not None
    assert compound is not None
    assert (appeal.person_group, appeal.compound_group) == (person.id, compound[0].id)
