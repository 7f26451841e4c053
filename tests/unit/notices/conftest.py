"""A real `fairban target` run on a small simulated world, once per session, and facts
for notices made from its decisions.

Every reason code gets a real example: from the run's decisions where the run produced
that code, else from the run's feature table (the same numbers the engine would have
put in ``data``) for codes this world does not produce (they need rarer people).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from fairban.contract import Directive, load_directive
from fairban.notices import NoticeFacts, Reason, reasons_from_json
from fairban.targeting import target
from fairban.targeting.reasons import CODES, DATA_FIELDS, SOURCE_NAMES
from fairban.world import WorldConfig, simulate_world

BEIJING = timezone(timedelta(hours=8))
#: after 2020-01-01: the DSA database refuses earlier application dates
DECIDED = datetime(2024, 3, 5, 10, 30, tzinfo=BEIJING)

#: codes whose example may come from the feature table, and the columns to maximise
FROM_FEATURES: dict[str, tuple[str, ...]] = {
    "PRESENCE_SOME": ("nights_w",),
    "OUTREACH_SOME": ("first_contacts",),
    "OUTREACH_STRANGERS": ("first_contacts",),
    "DEVICE_SHARED": ("device_peers",),
    "DEVICE_FARM": ("device_peers",),
    "MULE_PATTERN": ("forwarded",),
    "MONEY_TO_AREA": ("to_area_n",),
    "COPRESENCE_CONFIRMED": ("copresent_nights",),
    "CONTACT_CONFIRMED": ("confirmed_messages",),
    "AGAINST_RECIPROCAL": ("reciprocal",),
    "AGAINST_MERCHANT": ("repeat_payers",),
    "AGAINST_ELSEWHERE": ("nights_elsewhere",),
}


def _device_outreach(root: Path) -> Reason:
    """A later pass's reason the world may not show: from the engine's run over the
    inline evidence of a newcomer's two accounts adding strangers from one phone."""
    from tests.unit.targeting.test_operation_phones import new_operators_accounts
    from tests.unit.targeting.test_rules import Evidence, run

    ev = Evidence()
    account = new_operators_accounts(ev, one_phone=True)[0]
    reasons = reasons_from_json(run(ev, root)[account]["reasons"])
    return next(r for r in reasons if r.code == "DEVICE_OUTREACH")


#: codes whose example may come from a run over inline evidence (a later pass's, which
#: the feature table does not hold)
FROM_EVIDENCE: dict[str, Callable[[Path], Reason]] = {"DEVICE_OUTREACH": _device_outreach}


@dataclass(frozen=True)
class RealRun:
    world: Path
    directive: Directive
    decisions: list[dict[str, Any]]
    #: one real reason per code
    examples: dict[str, Reason]
    #: codes whose example came from the feature table, not from a decision
    from_features: frozenset[str]

    def rows(self, measure: str) -> list[dict[str, Any]]:
        return [r for r in self.decisions if r["measure"] == measure]


def _plain(x: Any) -> Any:
    if isinstance(x, float):
        return int(x) if x.is_integer() else round(x, 2)
    return x


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(BEIJING).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return "?"


def _from_features(code: str, features: list[dict[str, Any]], areas: list[str]) -> Reason:
    key = FROM_FEATURES[code]
    rows = [r for r in features if all((r.get(k) or 0) > 0 for k in key)]
    if code == "PRESENCE_SOME":  # seen, but not sustained
        rows = [r for r in rows if r.get("area") is not None and (r["nights_w"] or 0) < 7]
    if not rows:
        raise AssertionError(f"the world has no account with {key} for {code}: pick another")
    row = max(rows, key=lambda r: tuple(r[k] for k in key))
    data: dict[str, Any] = {k: _plain(float(row.get(k) or 0)) for k in DATA_FIELDS[code]}
    if code in ("PRESENCE_SOME", "PRESENCE_SUSTAINED"):
        data.update(
            area=areas[int(row["area"])],
            sources=[label for col, label in SOURCE_NAMES if (row.get(col) or 0) >= 1],
            first=_day(row.get("present_first")),
            last=_day(row.get("present_last")),
        )
    return Reason(code=code, text=CODES[code], weight=0.0, data=data)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    world = tmp_path_factory.mktemp("notices") / "world"
    # 1,500 accounts over 90 days: mules, collectors and cash-out terminals included
    simulate_world(WorldConfig(accounts=1500, seed=7, days=90), world)
    directive = load_directive(world / "directive.yaml")
    result = target(directive, world / "evidence")
    decisions = result.decisions.select(
        ["account_id", "platform", "person_id", "measure", "risk", "reasons"]
    ).to_pylist()
    features = result.features.to_pylist()
    kinds = {r["account_id"]: r["kind"] for r in features}
    for row in decisions:
        row["kind"] = kinds.get(row["account_id"], "personal")
    examples: dict[str, Reason] = {}
    for row in decisions:
        for reason in reasons_from_json(row["reasons"]):
            examples.setdefault(reason.code, reason)
    missing = set(CODES) - set(examples)
    areas = [a.name for a in directive.areas]
    for code in sorted(missing - set(FROM_EVIDENCE)):
        examples[code] = _from_features(code, features, areas)
    for code in sorted(missing & set(FROM_EVIDENCE)):
        examples[code] = FROM_EVIDENCE[code](tmp_path_factory.mktemp(code))
    return RealRun(world, directive, decisions, examples, frozenset(missing))


FactsMaker = Callable[..., NoticeFacts]


@pytest.fixture(scope="session")
def make_facts(real_run: RealRun) -> FactsMaker:
    """Facts for one notice: the run's directive, the given reasons, overrides on top."""
    d = real_run.directive

    def make(
        reasons: tuple[Reason, ...] | list[Reason] | str = (),
        measure: str = "suspend",
        **overrides: Any,
    ) -> NoticeFacts:
        rs = reasons_from_json(reasons) if isinstance(reasons, str) else tuple(reasons)
        facts = NoticeFacts(
            case_number="FB-2024-000123",
            account_id="wechat:wxid_f1_laukkai_operator",
            platform="wechat",
            measure=measure,  # type: ignore[arg-type]
            reasons=rs,
            directive_id=d.id,
            directive_title=d.title,
            issuer=d.issuer,
            legal_basis=d.legal_basis,
            decided_at=DECIDED,
            automated=True,
            appeal_url="https://fairban.example/a/FB-2024-000123?t=Zx8kQ2mV9rT4wYp1",
            short_url="https://fb.cn/a/7Kx2p",
            answer_by=DECIDED + timedelta(days=3),
            expires_at=None,
            lift_reason="appeal_granted" if measure == "lift" else None,
        )
        return replace(facts, **overrides)

    return make


@pytest.fixture(scope="session")
def busiest(real_run: RealRun) -> Mapping[str, dict[str, Any]]:
    """Per measure, the decision with the most reasons (suspend and monitor exist)."""
    out: dict[str, dict[str, Any]] = {}
    for row in real_run.decisions:
        n = len(json.loads(row["reasons"]))
        best = out.get(row["measure"])
        if best is None or n > len(json.loads(best["reasons"])):
            out[row["measure"]] = row
    return out
