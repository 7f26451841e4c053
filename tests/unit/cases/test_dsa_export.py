"""The DSA export on a real case store (SQLite and PostgreSQL): one file per platform,
every decision of the period whatever became of it (in force, changed, lifted,
expired), its end date and how it ended, ``content_date`` from the evidence,
``territorial_scope`` from the directive or the command line, and a statement that
breaks the database's rules reported and skipped while the others are written."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from fairban.cases import enforce as enforcement
from fairban.cases.flows import downgrade_measure, expire_due, lift_measure
from fairban.cases.transitions import DeciderKind
from fairban.cases.transparency import decisions_of, dsa_export
from fairban.config import Settings
from fairban.contract import Directive
from fairban.measures import Measure
from fairban.notices import validate_statement
from tests.support.cases import D, Decide, case_of, make_directive

SETTINGS = Settings(public_url="https://fb.example", answer_hours=48)
# the database takes application dates from 2020 on: these decisions are made later
MADE = datetime(2024, 3, 5, 2, 30, tzinfo=UTC)
ROWS = [
    D("wechat:op", "suspend", "p-op"),
    D("qq:op", "suspend", "p-op"),
    D("alipay:mule", "restrict", "p-mule"),
    D("wechat:link", "monitor", "p-link"),
    D("wechat:gone", "suspend", "p-gone"),
    D("wechat:lighter", "suspend", "p-lighter"),
]


def _enforce(session: Session, directive: Directive, decide: Decide, now: datetime) -> None:
    enforcement.enforce(
        session,
        directive,
        decide(directive, ROWS),
        stage=1.0,
        actor="operator:test",
        settings=SETTINGS,
        now=now,
    )


def _history(session: Session, directive: Directive, decide: Decide) -> None:
    """Decisions made on 2024-03-05; on 03-07 one is lifted and one made lighter."""
    _enforce(session, directive, decide, MADE)
    later = MADE + timedelta(days=2)
    lift_measure(
        session,
        case_of(session, "wechat:gone"),
        actor="reviewer:wang",
        actor_kind=DeciderKind.PERSON,
        reason="the phone was stolen in August",
        settings=SETTINGS,
        now=later,
    )
    downgrade_measure(
        session,
        case_of(session, "wechat:lighter"),
        to=Measure.RESTRICT,
        actor="reviewer:wang",
        reason="money only",
        settings=SETTINGS,
        now=later,
    )


def _by_puid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["puid"].split("-", 1)[1]: s for s in statements}


def test_each_platform_gets_every_decision_of_the_period(
    session: Session, tmp_path: Path, decide: Decide
) -> None:
    directive = make_directive(tmp_path / "d")
    _history(session, directive, decide)
    export = dsa_export(session, SETTINGS)
    assert export.rejected == []
    assert sorted(export.statements) == ["alipay", "qq", "wechat"]  # no file mixes platforms
    assert all(s["puid"].startswith("qq-") for s in export.statements["qq"])
    wechat = export.statements["wechat"]
    assert all(validate_statement(s) == [] for rows in export.statements.values() for s in rows)
    # op, gone (lifted since), lighter twice (suspend, then restrict); link is only watched
    numbers = {
        "op": case_of(session, "wechat:op").number,
        "gone": case_of(session, "wechat:gone").number,
        "lighter": case_of(session, "wechat:lighter").number,
    }
    assert len(wechat) == 4
    by_case: dict[str, list[dict[str, Any]]] = {}
    for s in wechat:
        number = next(n for n in numbers.values() if n in s["puid"])
        by_case.setdefault(number, []).append(s)
    (op,) = by_case[numbers["op"]]
    assert "end_date_account_restriction" not in op  # in force, no term
    (gone,) = by_case[numbers["gone"]]
    assert gone["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert gone["end_date_account_restriction"] == "2024-03-07"
    assert (
        "The measure ended on 2024-03-07: lifted, on a person's decision."
        in (gone["decision_facts"])
    )
    assert "stolen" not in json.dumps(gone)  # the reviewer's words are not published
    suspended, restricted = sorted(by_case[numbers["lighter"]], key=lambda s: s["puid"][-16:])
    assert suspended["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert suspended["end_date_account_restriction"] == "2024-03-07"
    assert "replaced by restrict, on a person's decision" in suspended["decision_facts"]
    assert restricted["decision_monetary"] == "DECISION_MONETARY_SUSPENSION"
    assert restricted["application_date"] == "2024-03-07"
    assert restricted["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert suspended["puid"] != restricted["puid"]
    # the mule's reasons carry no day: content_date is the evidence window's first day
    (mule,) = export.statements["alipay"]
    assert mule["content_date"] == "2019-04-17"  # 2019-10-14 (+08:00) less 180 days
    assert op["content_date"] == "2019-08-25"  # the presence reason's first night
    # the period: only what was applied on 2024-03-07
    later = dsa_export(session, SETTINGS, start=date(2024, 3, 6), platforms=["wechat", "pos"])
    assert later.statements == {"wechat": [restricted], "pos": []}


def test_an_expired_decision_keeps_its_statement(
    session: Session, tmp_path: Path, decide: Decide
) -> None:
    expiring = make_directive(tmp_path / "x", measure_days=30)
    _enforce(session, expiring, decide, MADE)
    assert expire_due(session, now=MADE + timedelta(days=31), settings=SETTINGS) > 0
    (mule,) = dsa_export(session, SETTINGS, platforms=["alipay"]).statements["alipay"]
    # its term ended on 04-04; the expiry run that ended it at the platforms, on 04-05
    assert mule["end_date_monetary_restriction"] == "2024-04-05"
    assert "it reached the end of its term" in mule["decision_facts"]
    case = case_of(session, "alipay:mule", expiring.id)
    assert [(d.measure, d.ended is not None) for d in decisions_of(case)] == [
        (Measure.RESTRICT, True)
    ]


def test_territorial_scope_from_the_directive_or_the_command(
    session: Session, tmp_path: Path, decide: Decide
) -> None:
    scoped = make_directive(tmp_path / "s", territorial_scope=["nl", "DE"])
    assert scoped.territorial_scope == ("DE", "NL")
    _enforce(session, scoped, decide, MADE)
    export = dsa_export(session, SETTINGS)
    assert {tuple(s["territorial_scope"]) for s in export.statements["wechat"]} == {("DE", "NL")}
    given = dsa_export(session, SETTINGS, territorial_scope=["FR"])
    assert {tuple(s["territorial_scope"]) for s in given.statements["qq"]} == {("FR",)}


def test_a_broken_statement_is_reported_and_the_others_written(
    session: Session, tmp_path: Path, decide: Decide
) -> None:
    directive = make_directive(tmp_path / "d")
    # decided in 2019, before the database existed: it refuses such application dates
    _enforce(session, directive, decide, datetime(2019, 10, 15, 4, 0, tzinfo=UTC))
    newer = [D("wechat:late", "suspend", "p-late")]
    enforcement.enforce(
        session,
        directive,
        decide(directive, [*ROWS, *newer]),
        stage=1.0,
        actor="operator:test",
        settings=SETTINGS,
        now=MADE,
    )
    export = dsa_export(session, SETTINGS)
    assert [len(rows) for rows in export.statements.values()] == [1]
    assert len(export.rejected) == 5  # monitor makes no statement
    assert all(r["errors"] == ["application_date: before 2020-01-01"] for r in export.rejected), (
        export.rejected
    )
    written = export.write(tmp_path / "dsa")
    assert sorted(p.name for p in written.values()) == ["rejected.jsonl", "wechat.jsonl"]
    rejected = [json.loads(line) for line in written["rejected"].read_text().splitlines()]
    assert {r["platform"] for r in rejected} == {"wechat", "qq", "alipay"}
