"""Principle 4, the weakest measure that stops the harm: the measure follows what the
evidence shows the account does (``thresholds.measures``), then how sure it is, and
every decision says why it is not lighter (``MEASURE_BASIS``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairban.contract import load_directive
from fairban.errors import InputError
from fairban.measures import HARM_MEASURES, MONEY_HARMS, Measure
from fairban.targeting import Thresholds, target
from tests.unit.targeting.test_rules import DONGGUAN, LAUKKAI, Evidence, run, strangers


def mule_world(ev: Evidence, *, outreach: bool = False) -> str:
    collector = ev.account("alipay:collector")
    ev.nights(collector, LAUKKAI, range(1, 61))
    mule = ev.account("wechat:mule", region="441900")
    ev.nights(mule, DONGGUAN, range(1, 61))
    for i in range(8):
        victim = ev.account(f"wechat:victim{i}", region="310000")
        ev.interact(victim, mule, "transfer", 10 + i, "5000")
        ev.interact(mule, collector, "transfer", 10 + i - 0.01, "4800")
    if outreach:  # the same account also adds strangers all over China
        strangers(ev, mule, 120)
    return mule


def test_defaults_are_by_kind_of_harm() -> None:
    t = Thresholds()
    assert dict(t.measures) == {k: v.value for k, v in HARM_MEASURES.items()}
    assert {k for k, v in t.measures.items() if v == "restrict"} == MONEY_HARMS
    assert t.measures["outreach"] == t.measures["phone_farm"] == Measure.SUSPEND


def test_a_mule_is_restricted_an_operator_suspended(tmp_path: Path) -> None:
    ev = Evidence()
    mule = mule_world(ev)
    operator = ev.account("wechat:operator")
    ev.nights(operator, LAUKKAI, range(1, 41))
    strangers(ev, operator, 120)
    d = run(ev, tmp_path)
    assert (d[mule]["measure"], d[operator]["measure"]) == ("restrict", "suspend")
    basis = json.loads(d[operator]["reasons"])[-1]
    assert basis["code"] == "MEASURE_BASIS"
    assert basis["data"]["harms"] == ["outreach"]
    assert basis["text"].startswith("suspended, not restricted: the account adds strangers")


def test_money_with_operator_behaviour_is_suspended(tmp_path: Path) -> None:
    ev = Evidence()
    mule = mule_world(ev, outreach=True)
    ev.nights(mule, LAUKKAI, range(61, 101))  # and it stayed in Laukkai before
    d = run(ev, tmp_path)[mule]
    assert d["measure"] == "suspend"
    basis = json.loads(d["reasons"])[-1]["data"]
    assert basis["harms"] == ["outreach"]  # what the suspension rests on


def test_every_decision_says_why_not_lighter(tmp_path: Path) -> None:
    ev = Evidence()
    mule_world(ev)
    for r in run(ev, tmp_path).values():
        codes = r["codes"]
        if r["measure"] == "none":
            assert codes == []
        else:
            assert codes[-1] == "MEASURE_BASIS"
            assert codes.count("MEASURE_BASIS") == 1


def test_the_directive_sets_the_measure_of_each_kind(tmp_path: Path) -> None:
    ev = Evidence()
    mule = mule_world(ev)
    directive, data = ev.write(tmp_path)
    directive.write_text(directive.read_text() + "thresholds: {measures: {mule: suspend}}\n")
    loaded = load_directive(directive)
    t = Thresholds.for_directive(loaded)
    assert t.measures["mule"] == "suspend"
    assert t.measures["cashout"] == "restrict"  # the others keep their defaults
    rows = {r["account_id"]: r for r in target(loaded, data).decisions.to_pylist()}
    assert rows[mule]["measure"] == "suspend"

    directive.write_text(directive.read_text().replace("{mule: suspend}", "{mule: monitor}"))
    rows = {
        r["account_id"]: r for r in target(load_directive(directive), data).decisions.to_pylist()
    }
    assert rows[mule]["measure"] == "monitor"
    assert json.loads(rows[mule]["reasons"])[-1]["data"]["held_by"] == "harm"


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (
            "{measures: {mule: ban}}",
            "key 'thresholds.measures.mule': input should be 'monitor', 'restrict' or 'suspend'",
        ),
        (
            "{measures: {smuggler: restrict}}",
            "key 'thresholds.measures': unknown kind of harm 'smuggler' (known: outreach,",
        ),
        ("{measures: [mule, restrict]}", "key 'thresholds.measures': input should be a valid"),
    ],
)
def test_bad_measures_are_one_clear_line(tmp_path: Path, given: str, error: str) -> None:
    ev = Evidence()
    mule_world(ev)
    directive, _ = ev.write(tmp_path)
    directive.write_text(directive.read_text() + f"thresholds: {given}\n")
    with pytest.raises(InputError) as raised:
        load_directive(directive)
    assert str(raised.value).startswith(f"directive.yaml {error}"), str(raised.value)
    assert "\n" not in str(raised.value)
