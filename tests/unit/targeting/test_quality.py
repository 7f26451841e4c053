"""The quality gate: fresh simulated worlds the engine was never tuned on, at several
seeds, sizes and noise levels. And the seed personas of 2019, each as a test.

Gate (issue: targeting): no seed persona restricted or suspended; at most 0.1% of
innocent accounts restricted or suspended; at least 90% of fraud accounts restricted
or suspended and 80% suspended; every mule restricted at least.
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
    wrongly = [a for a in innocent if o.measure(a) in HIT]
    personas = [a for a in innocent if o.truth[a]["persona"]]
    assert [a for a in personas if o.measure(a) in HIT] == []
    assert len(wrongly) <= 0.001 * len(innocent), [(a, o.truth[a]["role"]) for a in wrongly]
    ordinary = o.accounts(role="ordinary")
    assert sum(o.measure(a) in HIT for a in ordinary) <= 0.001 * len(ordinary)
    fraud = o.accounts(fraud=True)
    hit = sum(o.measure(a) in HIT for a in fraud) / len(fraud)
    suspended = sum(o.measure(a) == "suspend" for a in fraud) / len(fraud)
    assert hit >= 0.90, hit
    assert suspended >= 0.80, suspended
    mules = o.accounts(role="mule")
    assert [a for a in mules if o.measure(a) not in HIT] == []


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


def test_f2_mule_in_guangdong_is_restricted_at_least(unseen: Outcome) -> None:
    for a in persona(unseen, "F2"):
        assert unseen.measure(a) in HIT, a
        codes = [r["code"] for r in json.loads(unseen.decisions[a]["reasons"])]
        assert "MULE_PATTERN" in codes
        assert "PRESENCE_SUSTAINED" not in codes  # never near the border


def test_classmate_c_is_suspended_for_his_case(unseen: Outcome) -> None:
    (c,) = persona(unseen, "P6-classmate-C")
    assert unseen.measure(c) == "suspend"
    assert json.loads(unseen.decisions[c]["reasons"])[0]["code"] == "CONFIRMED_CASE"
