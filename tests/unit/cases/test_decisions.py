"""What enforce reads, before any database: the stage, the decisions (every mistake a
person can make, as one line naming file and row) and the directive's ``measure_days``.
The directive's canonical content is tested in tests/unit/directives/test_content.py."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fairban.cases.decisions import (
    STAGE_BUCKETS,
    Account,
    decisions_file,
    parse_stage,
    read_decisions,
    stage_bucket,
    stage_label,
    stage_limit,
)
from fairban.contract import Directive, load_directive
from fairban.errors import InputError
from tests.support.cases import D, make_directive, write_decisions, write_directive

# --- stage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "share", "limit", "label"),
    [
        ("1%", 0.01, 100, "1%"),
        ("10%", 0.1, 1000, "10%"),
        (" 29 % ", 0.29, 2900, "29%"),
        ("0.5%", 0.005, 50, "0.5%"),
        ("0.01%", 0.0001, 1, "0.01%"),
        ("100%", 1.0, 10_000, "all"),
        ("all", 1.0, 10_000, "all"),
        ("ALL", 1.0, 10_000, "all"),
    ],
)
def test_stages(text: str, share: float, limit: int, label: str) -> None:
    assert parse_stage(text) == pytest.approx(share)
    assert stage_limit(parse_stage(text)) == limit
    assert stage_label(parse_stage(text)) == label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10", "--stage: expected a share such as 1%, 10% or all, got '10'"),
        ("ten%", "--stage: expected a share such as 1%, 10% or all, got 'ten%'"),
        ("-5%", "--stage: expected a share such as 1%, 10% or all, got '-5%'"),
        ("0%", "--stage: '0%' is not a share between 0% and 100%"),
        ("150%", "--stage: '150%' is not a share between 0% and 100%"),
        ("0.001%", "--stage: '0.001%' is smaller than the smallest stage, 0.01%"),
        ("", "--stage: expected a share such as 1%, 10% or all, got ''"),
    ],
)
def test_bad_stages(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_stage(text)
    assert str(caught.value) == message


def test_buckets_are_stable_spread_and_differ_between_directives() -> None:
    accounts = [f"wechat:wxid_{n:05d}" for n in range(20_000)]
    buckets = [stage_bucket("d1", a) for a in accounts]
    assert buckets == [stage_bucket("d1", a) for a in accounts]  # the same every run
    assert all(0 <= b < STAGE_BUCKETS for b in buckets)
    tenths = Counter(b * 10 // STAGE_BUCKETS for b in buckets)
    assert all(1_800 < tenths[t] < 2_200 for t in range(10)), tenths  # about uniform
    one_percent = sum(b < stage_limit(0.01) for b in buckets)
    assert 140 < one_percent < 260
    other = [stage_bucket("d2", a) for a in accounts]
    assert sum(a == b for a, b in zip(buckets, other, strict=True)) < 20


# --- decisions ----------------------------------------------------------------------------


@pytest.fixture
def spec(tmp_path: Path) -> Directive:
    return make_directive(tmp_path / "d")


GOOD = [
    D("wechat:a1", "suspend", "p1"),
    D("qq:a2", "restrict", "p2"),
    D("alipay:a3", "monitor", ""),
    D("wechat:a4", "none", "p4"),
]


def test_reads_the_decisions_by_account(tmp_path: Path, spec: Directive) -> None:
    rows = read_decisions(write_decisions(tmp_path / "out", list(reversed(GOOD))), spec)
    assert [r.account_id for r in rows] == ["alipay:a3", "qq:a2", "wechat:a1", "wechat:a4"]
    by = {r.account_id: r for r in rows}
    assert by["alipay:a3"].person_id is None  # empty: unknown person
    assert by["wechat:a1"].measure == "suspend"
    assert by["wechat:a1"].risk == 0.98
    assert by["wechat:a1"].row == 5  # the header is row 1; reversed, a1 is the 4th record
    assert rows.source.name == "decisions.csv"
    assert rows.kinds is None  # no evidence read: kinds unknown


def test_the_evidence_hash_covers_the_facts_not_the_wording(
    tmp_path: Path, spec: Directive
) -> None:
    first = read_decisions(write_decisions(tmp_path / "a", [D("wechat:a1", "suspend")]), spec)
    reworded = next(json.loads(r) for r in [D("wechat:a1", "suspend").record()["reasons"]])
    for r in reworded:
        r["text"] = "worded otherwise"
        r["weight"] = r["weight"] * 2
    record = {**D("wechat:a1", "suspend").record(), "reasons": json.dumps(reworded[::-1])}
    second = read_decisions(write_decisions(tmp_path / "b", [record]), spec)
    other = read_decisions(
        write_decisions(tmp_path / "c", [D("wechat:a1", "suspend", evidence=2)]), spec
    )
    assert first.rows[0].evidence_hash == second.rows[0].evidence_hash
    assert first.rows[0].reasons != second.rows[0].reasons
    assert first.rows[0].evidence_hash != other.rows[0].evidence_hash


def test_csv_is_read_before_parquet_and_parquet_alone_works(
    tmp_path: Path, spec: Directive
) -> None:
    folder = write_decisions(tmp_path / "out", GOOD)
    records = [d.record() for d in GOOD]
    pq.write_table(pa.Table.from_pylist(records[:2]), folder / "decisions.parquet")
    assert decisions_file(folder).name == "decisions.csv"
    assert len(read_decisions(folder, spec)) == 4
    (folder / "decisions.csv").unlink()
    rows = read_decisions(folder, spec)
    assert len(rows) == 2
    assert rows.source.name == "decisions.parquet"
    assert len(read_decisions(folder / "decisions.parquet", spec)) == 2  # the file itself


def bad(tmp_path: Path, spec: Directive, records: list[dict[str, object]]) -> str:
    with pytest.raises(InputError) as caught:
        read_decisions(write_decisions(tmp_path / "bad", records), spec)
    return str(caught.value)


def with_(n: int, **changes: object) -> list[dict[str, object]]:
    records: list[dict[str, object]] = [dict(d.record()) for d in GOOD]
    records[n].update(changes)
    return records


def test_a_platform_the_directive_does_not_name(tmp_path: Path, spec: Directive) -> None:
    assert bad(tmp_path, spec, with_(1, platform="tiktok")) == (
        "decisions.csv row 3: platform 'tiktok' is not one of the directive's platforms "
        "(wechat, qq, alipay)"
    )


def test_an_unknown_measure(tmp_path: Path, spec: Directive) -> None:
    assert bad(tmp_path, spec, with_(2, measure="ban")) == (
        "decisions.csv row 4: measure 'ban' is not one of none, monitor, restrict, suspend"
    )


@pytest.mark.parametrize("risk", ["1.5", "-0.1", "high", "nan", ""])
def test_a_risk_outside_zero_to_one(tmp_path: Path, spec: Directive, risk: str) -> None:
    assert bad(tmp_path, spec, with_(0, risk=risk)) == (
        f"decisions.csv row 2: risk {risk!r} is not a number in [0, 1]"
    )


@pytest.mark.parametrize("reasons", ["not json", "{}", '[{"text": "no code"}]', '[{"code": 3}]'])
def test_reasons_that_are_not_reasons(tmp_path: Path, spec: Directive, reasons: str) -> None:
    assert bad(tmp_path, spec, with_(0, reasons=reasons)) == (
        "decisions.csv row 2: reasons is not a JSON array of objects each with a 'code' "
        "and a 'text'"
    )


def test_a_measure_without_a_reason(tmp_path: Path, spec: Directive) -> None:
    """Principle 3 at the door: a measure that cannot explain itself is refused."""
    zero = json.dumps([{"code": "CONTACT_CONFIRMED", "text": "talked", "weight": 0.0}])
    assert bad(tmp_path, spec, with_(1, reasons="[]")) == (
        "decisions.csv row 3: a restrict decision without a reason (every measure explains itself)"
    )
    assert bad(tmp_path, spec, with_(0, reasons=zero)) == (
        "decisions.csv row 2: a suspend decision without a reason (every measure explains itself)"
    )
    assert bad(tmp_path, spec, with_(2, reasons="[]")) == (
        "decisions.csv row 4: a monitor decision without a reason (every measure explains itself)"
    )


def test_an_account_twice_or_empty(tmp_path: Path, spec: Directive) -> None:
    assert bad(tmp_path, spec, with_(3, account_id="wechat:a1")) == (
        "decisions.csv row 5: account 'wechat:a1' appears twice (first at row 2)"
    )
    assert (
        bad(tmp_path, spec, with_(1, account_id=" ")) == "decisions.csv row 3: account_id is empty"
    )


def test_a_missing_column(tmp_path: Path, spec: Directive) -> None:
    records = [{k: v for k, v in d.record().items() if k != "risk"} for d in GOOD]
    assert bad(tmp_path, spec, records) == (
        "decisions.csv: missing column 'risk' (decisions have the columns account_id, "
        "platform, person_id, measure, risk, reasons)"
    )


def test_a_missing_or_empty_folder(tmp_path: Path, spec: Directive) -> None:
    with pytest.raises(InputError) as caught:
        read_decisions(tmp_path / "nowhere", spec)
    assert str(caught.value) == (
        f"{tmp_path / 'nowhere'}: not found: give the folder `fairban target --out` wrote"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as caught:
        read_decisions(tmp_path / "empty", spec)
    assert str(caught.value) == (
        f"{tmp_path / 'empty'}: holds no decisions.csv or decisions.parquet "
        "(write them with `fairban target`)"
    )


def test_accounts_the_evidence_lacks_or_places_elsewhere(tmp_path: Path, spec: Directive) -> None:
    folder = write_decisions(tmp_path / "out", GOOD)
    accounts = {
        "wechat:a1": Account("wechat", "p1", "personal"),
        "qq:a2": Account("qq", "p2", "merchant"),
        "alipay:a3": Account("alipay", None, "personal"),
        "wechat:a4": Account("wechat", "p4", "personal"),
    }
    rows = read_decisions(folder, spec, accounts=accounts)
    assert rows.kind_of("qq:a2") == "merchant"
    assert rows.kind_of("wechat:a1") == "personal"
    del accounts["alipay:a3"]
    with pytest.raises(InputError) as caught:
        read_decisions(folder, spec, accounts=accounts)
    assert (
        str(caught.value)
        == "decisions.csv row 4: account 'alipay:a3' is not in the evidence's accounts"
    )
    accounts["alipay:a3"] = Account("wechat", None, "personal")
    with pytest.raises(InputError) as caught:
        read_decisions(folder, spec, accounts=accounts)
    assert str(caught.value) == (
        "decisions.csv row 4: account 'alipay:a3' is on platform 'wechat' in the evidence, "
        "not 'alipay'"
    )


# --- the directive -----------------------------------------------------------------------


def test_measure_days_is_a_directive_key(tmp_path: Path) -> None:
    assert make_directive(tmp_path / "a").measure_days is None
    assert make_directive(tmp_path / "b", measure_days=30).measure_days == 30
    for value, shown in ((0, "0"), ("30", "'30'"), (2.5, "2.5")):
        path = write_directive(tmp_path / "c", measure_days=30)
        path.write_text(
            path.read_text(encoding="utf-8").replace("measure_days: 30", f"measure_days: {shown}"),
            encoding="utf-8",
        )
        with pytest.raises(InputError) as caught:
            load_directive(path)
        assert str(caught.value) == (
            f"{path.name} key 'measure_days': expected a positive whole number of days after "
            f"which a measure ends by itself (none: until lifted), got {value!r}"
        )
