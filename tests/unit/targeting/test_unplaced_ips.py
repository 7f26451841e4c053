"""IP-only observations whose address cannot be placed (IPv6, private ranges) are kept
without a position and counted: never a reason to refuse the rest of the evidence, and
no reason for any other account's decision to change (issue 18, bad input)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fairban.contract import OBSERVATIONS, load_directive, validate_evidence
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.targeting.run import check_evidence
from fairban.world import WorldConfig, simulate_world

#: address -> why it cannot be placed; 116.52.1.1 (Kunming) is placed
ADDRESSES = {
    "2001:db8::1": "private or reserved",  # the issue's own example: IPv6 documentation
    "240e:1::1": "IPv6",  # China Telecom: public, and no shipped database places IPv6
    "2408:8000::1": "IPv6",  # China Unicom
    "10.1.2.3": "private or reserved",
    "192.168.1.1": "private or reserved",
    "::1": "private or reserved",
    "116.52.1.1": None,
}
DECISION_KEYS = ("measure", "risk", "reasons")
PART = "day=2019-10-13/ip-only.parquet"


def fairban(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "fairban.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("unplaced") / "w"
    simulate_world(WorldConfig(accounts=300, seed=9), out)
    return out


def decisions(out: Path) -> dict[str, dict[str, object]]:
    rows = pacsv.read_csv(out / "decisions.csv").to_pylist()
    return {str(r["account_id"]): {k: r[k] for k in DECISION_KEYS} for r in rows}


@pytest.fixture(scope="module")
def baseline(world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    out = tmp_path_factory.mktemp("baseline")
    done = fairban("target", str(world / "directive.yaml"), "--data", str(world / "evidence"),
                   "--out", str(out), "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return decisions(out)


def with_ip_only_rows(world: Path, tmp_path: Path, addresses: list[str]) -> tuple[Path, set[str]]:
    """The world's evidence plus one Parquet part of IP-only rows (no lat, lon or
    accuracy_m) for three accounts, one row per address, in the last day's folder
    (``PART``); returns it and those accounts."""
    evidence = tmp_path / "evidence"
    shutil.copytree(world / "evidence", evidence)
    directive = load_directive(world / "directive.yaml")
    accounts = pq.read_table(evidence / "accounts.parquet").column("account_id").to_pylist()
    touched = [str(a) for a in accounts[:3]]
    n = len(addresses)
    ts = [directive.window_end - timedelta(days=1 + i) for i in range(n)]
    rows = pa.table(
        {
            "account_id": [touched[i % 3] for i in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "lat": pa.nulls(n, pa.float64()),
            "lon": pa.nulls(n, pa.float64()),
            "accuracy_m": pa.nulls(n, pa.float64()),
            "source": ["ip"] * n,
            "ip": addresses,
        }
    )
    pq.write_table(rows, evidence / "observations" / PART)
    return evidence, set(touched)


def test_unplaced_addresses_are_kept_and_counted_and_change_no_other_decision(
    world: Path, baseline: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    addresses = [*ADDRESSES] * 2
    evidence, touched = with_ip_only_rows(world, tmp_path, addresses)
    directive = str(world / "directive.yaml")
    expected = {"private or reserved": 8, "IPv6": 4}

    report = validate_evidence(evidence)
    assert report.ok, report.errors.lines()
    assert report.ip_unplaced == expected
    assert report.ip_placed == 2
    line = (
        "IP-only observations whose address cannot be placed, kept without a position: "
        "12 (private or reserved 8, IPv6 4)"
    )
    validated = fairban("validate", directive, "--data", str(evidence), "-q")
    assert validated.returncode == 0, validated.stderr
    assert line in validated.stdout
    assert "IP-only observations placed with ip2region: 2" in validated.stdout

    # the aggregate scan proves the folder as it is and counts the same rows
    backend = DuckDBBackend()
    try:
        check = check_evidence(evidence, backend=backend)
    finally:
        backend.close()
    assert set(check.checked_by.values()) == {"aggregate"}
    assert check.ip_unplaced == expected

    out = tmp_path / "out"
    targeted = fairban("target", directive, "--data", str(evidence), "--out", str(out), "-q")
    assert targeted.returncode == 0, targeted.stderr
    assert line in targeted.stdout
    got = decisions(out)
    others = (set(baseline) | set(got)) - touched
    assert {a: got.get(a) for a in others} == {a: baseline.get(a) for a in others}


def test_the_iter_batches_schema_lets_an_unplaced_row_have_no_position() -> None:
    schema = OBSERVATIONS.arrow_schema()
    assert [f.name for f in schema if not f.nullable] == ["account_id", "ts", "source"]


@pytest.mark.parametrize("ip", ["banana", "1.2.3", "2001:db8::g"])
def test_a_value_that_is_no_address_is_still_refused_with_its_row(
    world: Path, tmp_path: Path, ip: str
) -> None:
    evidence, _ = with_ip_only_rows(world, tmp_path, ["240e:1::1", "10.0.0.1", ip])
    out = tmp_path / "out"
    done = fairban("target", str(world / "directive.yaml"), "--data", str(evidence),
                   "--out", str(out), "-q")  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.strip() == (f"observations/{PART} row 3: ip {ip!r} is not an IP address")
    assert not out.exists()
