"""The quality gate: fresh simulated worlds the engine was never tuned on, at several
seeds, sizes and noise levels. And the seed personas of 2019, each as a test.

Gate (issue 14: worlds it was not tuned on): no innocent account restricted or
suspended; every fraud account restricted or suspended; mules and cash-out terminals
restricted, not suspended (principle 4: the weakest measure that stops the harm);
every operator and collector suspended; the seed personas as
shared/cases/seed-personas.md says (F1 suspended, F2 restricted). On worlds of 1,500
and 3,000 accounts as on 10,000 and, in the slow tests, 100,000: the thresholds must
not depend on the world's size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pytest

from fairban.contract import load_directive
from fairban.targeting import target
from fairban.world import WorldConfig, simulate_world

HIT = ("restrict", "suspend")


@dataclass
class Outcome:
    truth: dict[str, dict[str, Any]]
    decisions: dict[str, dict[str, Any]]

    def measure(self, account: str) -> str:
        return str(self.decisions.get(account, {}).get("measure", "none"))

    def accounts(self, **where: Any) -> list[str]:
        return [a for a, t in self.truth.items() if all(t[k] == v for k, v in where.items())]


def run_world(root: Path, **config: Any) -> Outcome:
    out = root / "world"
    simulate_world(WorldConfig(**config), out)
    result = target(load_directive(out / "directive.yaml"), out / "evidence")
    truth = {r["account_id"]: r for r in pacsv.read_csv(out / "truth.csv").to_pylist()}
    return Outcome(truth, {r["account_id"]: r for r in result.decisions.to_pylist()})


def check_gate(o: Outcome) -> None:
    innocent = o.accounts(expected="innocent")
    wrongly = [(a, o.truth[a]["role"]) for a in innocent if o.measure(a) in HIT]
    assert wrongly == []
    fraud = o.accounts(fraud=True)
    missed = [(a, o.truth[a]["role"], o.measure(a)) for a in fraud if o.measure(a) not in HIT]
    assert missed == []
    for role, measure in (
        ("mule", "restrict"),
        ("cashout_pos", "restrict"),
        ("operator", "suspend"),
        ("collector", "suspend"),
    ):
        wrong = [(a, o.measure(a)) for a in o.accounts(role=role) if o.measure(a) != measure]
        assert wrong == [], role
    check_personas(o)


def check_personas(o: Outcome) -> None:
    """shared/cases/seed-personas.md: P1-P6 innocent, F1 suspended, F2 restricted."""
    for a in o.accounts(expected="innocent"):
        if o.truth[a]["persona"]:
            assert o.measure(a) in ("none", "monitor"), a
    for a in persona(o, "F1"):
        assert o.measure(a) == "suspend", a
    for a in persona(o, "F2"):
        assert o.measure(a) == "restrict", a  # not missed, and not suspended


#: small worlds on several seeds: a rule that needs a count (three one-off senders)
#: must hold whatever the number of accounts
SMALL_WORLDS = [
    pytest.param({"accounts": 1_500, "seed": 7}, id="1500-seed7"),
    pytest.param({"accounts": 1_500, "seed": 23}, id="1500-seed23"),
    pytest.param({"accounts": 3_000, "seed": 11}, id="3000-seed11"),
]


@pytest.mark.parametrize("config", SMALL_WORLDS)
def test_gate_holds_on_small_worlds(tmp_path: Path, config: dict[str, Any]) -> None:
    check_gate(run_world(tmp_path, **config))


@pytest.fixture(scope="module")
def unseen(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return run_world(tmp_path_factory.mktemp("gate"), accounts=10_000, seed=101)


def test_gate_on_an_unseen_world(unseen: Outcome) -> None:
    check_gate(unseen)


def test_risk_is_calibrated_on_an_unseen_world(unseen: Outcome) -> None:
    """Among accounts of a risk band, the share that is fraud is about that risk."""
    rows = [
        (float(d["risk"]), bool(unseen.truth[a]["fraud"]))
        for a, d in unseen.decisions.items()
        if unseen.truth[a]["expected"] != "any"
    ]
    brier = sum((r - y) ** 2 for r, y in rows) / len(rows)
    assert brier < 0.01
    for lo, hi in ((0.0, 0.05), (0.05, 0.6), (0.6, 0.9), (0.9, 1.01)):
        band = [(r, y) for r, y in rows if lo <= r < hi]
        if len(band) >= 10:
            mean_risk = sum(r for r, _ in band) / len(band)
            fraud_rate = sum(y for _, y in band) / len(band)
            assert abs(mean_risk - fraud_rate) < 0.25, (lo, hi, mean_risk, fraud_rate)


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"accounts": 10_000, "seed": 202, "ip_error": 3.0}, id="more-ip-error"),
        pytest.param({"accounts": 10_000, "seed": 303, "border_spill": 3.0}, id="more-spill"),
        pytest.param({"accounts": 10_000, "seed": 404, "gps_rate": 0.3}, id="fewer-gps"),
        pytest.param({"accounts": 25_000, "seed": 505}, id="bigger"),
        pytest.param({"accounts": 100_000, "seed": 606}, id="100000"),
    ],
)
def test_gate_holds_across_seeds_scales_and_noise(tmp_path: Path, config: dict[str, Any]) -> None:
    check_gate(run_world(tmp_path, **config))


# -- the seed personas ------------------------------------------------------------------


def persona(o: Outcome, label: str) -> list[str]:
    accounts = o.accounts(persona=label)
    assert accounts, label
    return accounts


@pytest.mark.parametrize(
    "label", ["P1", "P2", "P3", "P4", "P5", "P6", "P6-friend", "P6-police-cadet"]
)
def test_innocent_personas(unseen: Outcome, label: str) -> None:
    for a in persona(unseen, label):
        assert unseen.measure(a) in ("none", "monitor"), a
        reasons = json.loads(unseen.decisions.get(a, {}).get("reasons", "[]"))
        # no notice calls them a fraud suspect: monitoring is invisible and says why not
        assert not {r["code"] for r in reasons} & {
            "OUTREACH_STRANGERS",
            "MULE_PATTERN",
            "DEVICE_FARM",
            "CONFIRMED_CASE",
        }


def test_f1_operator_in_laukkai_is_suspended(unseen: Outcome) -> None:
    for a in persona(unseen, "F1"):
        assert unseen.measure(a) == "suspend", a
    bought = "wechat:wxid_f1_laukkai_operator"
    codes = [r["code"] for r in json.loads(unseen.decisions[bought]["reasons"])]
    assert {"PRESENCE_SUSTAINED", "OUTREACH_STRANGERS"} <= set(codes)


def test_f2_mule_in_guangdong_is_restricted(unseen: Outcome) -> None:
    for a in persona(unseen, "F2"):
        assert unseen.measure(a) == "restrict", a
        reasons = json.loads(unseen.decisions[a]["reasons"])
        codes = [r["code"] for r in reasons]
        assert "MULE_PATTERN" in codes
        assert "PRESENCE_SUSTAINED" not in codes  # never near the border
        # a mule of 2019 handled dozens of victims' transfers, not two
        mule = next(r for r in reasons if r["code"] == "MULE_PATTERN")
        assert mule["data"]["oneoff_senders"] >= 12
        assert reasons[-1]["code"] == "MEASURE_BASIS"
        assert reasons[-1]["data"]["held_by"] == "harm"


def test_classmate_c_is_suspended_for_his_case(unseen: Outcome) -> None:
    (c,) = persona(unseen, "P6-classmate-C")
    assert unseen.measure(c) == "suspend"
    assert json.loads(unseen.decisions[c]["reasons"])[0]["code"] == "CONFIRMED_CASE"
