"""The simulated world: determinism, the seed personas' evidence, realistic shares.

One small world is generated per test session (module fixture) and read back with
pyarrow; every assertion is about what a targeting engine will see.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from shapely import contains_xy, distance, points

from fairban.contract import load_directive, validate_evidence
from fairban.geo.china import ChinaAdmin
from fairban.world import WorldConfig, simulate_world

ACCOUNTS = 3000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    simulate_world(WorldConfig(accounts=ACCOUNTS, seed=7), out)
    return out


@pytest.fixture(scope="module")
def obs(world: Path) -> pa.Table:
    return ds.dataset(world / "evidence" / "observations", format="parquet").to_table()


@pytest.fixture(scope="module")
def inter(world: Path) -> pa.Table:
    return ds.dataset(world / "evidence" / "interactions", format="parquet").to_table()


@pytest.fixture(scope="module")
def truth(world: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    return pacsv.read_csv(world / "truth.csv")


@pytest.fixture(scope="module")
def accounts(world: Path) -> pa.Table:
    return pq.read_table(world / "evidence" / "accounts.parquet")


@pytest.fixture(scope="module")
def areas(world: Path) -> Iterator[object]:
    directive = load_directive(world / "directive.yaml")
    from shapely import union_all

    return union_all([a.geometry for a in directive.areas])


def persona_accounts(truth: pa.Table, label: str) -> list[str]:
    mask = pc.equal(truth["persona"], label)
    return truth.filter(mask)["account_id"].to_pylist()


def rows_of(table: pa.Table, column: str, ids: list[str]) -> pa.Table:
    return table.filter(pc.is_in(table[column], pa.array(ids)))


def where(table: pa.Table, column: str, value: str) -> pa.Table:
    return table.filter(pc.equal(table[column], value))


def metres_to_areas(areas: object, t: pa.Table) -> np.ndarray:
    pts = points(t["lon"].to_numpy(), t["lat"].to_numpy())
    return np.asarray(distance(areas, pts)) * 111_000  # degrees to metres, roughly


# -- the output is what the contract says ---------------------------------------------


def test_output_passes_validation(world: Path) -> None:
    directive = load_directive(world / "directive.yaml")
    assert [a.name for a in directive.areas] == ["Laukkai", "Pangkham", "Mong La", "Tachileik"]
    report = validate_evidence(world / "evidence")
    assert report.ok, report.errors.lines()
    assert report.tables["accounts"].rows >= ACCOUNTS * 0.8
    assert set(report.sources) == {"gps", "wifi", "cell", "ip"}


def test_same_seed_same_world_other_seed_other_world(world: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    simulate_world(WorldConfig(accounts=ACCOUNTS, seed=7), again)
    for table in ("accounts.parquet", "confirmed.parquet"):
        assert pq.read_table(world / "evidence" / table).equals(
            pq.read_table(again / "evidence" / table)
        )
    for folder in ("observations", "interactions"):
        a = ds.dataset(world / "evidence" / folder, format="parquet").to_table()
        b = ds.dataset(again / "evidence" / folder, format="parquet").to_table()
        # the same rows; files written by threads may hold them in another order
        keys = [(name, "ascending") for name in a.column_names]
        assert a.sort_by(keys).equals(b.sort_by(keys))
    assert (world / "truth.csv").read_bytes() == (again / "truth.csv").read_bytes()

    other = tmp_path / "other"
    simulate_world(WorldConfig(accounts=ACCOUNTS, seed=8), other)
    assert not pq.read_table(world / "evidence" / "accounts.parquet").equals(
        pq.read_table(other / "evidence" / "accounts.parquet")
    )


def test_refuses_to_overwrite_and_leaves_nothing_on_failure(world: Path, tmp_path: Path) -> None:
    from fairban.errors import FairbanError

    before = sorted(p.name for p in world.iterdir())
    with pytest.raises(FairbanError, match="already exists"):
        simulate_world(WorldConfig(accounts=200, seed=1), world)
    assert sorted(p.name for p in world.iterdir()) == before
    assert not any(p.name.startswith(".") for p in world.parent.iterdir())


# -- the seed personas leave the evidence the table describes --------------------------


def test_p1_ms_li_qujing_gps_and_wifi_only_no_recent_transfers(
    obs: pa.Table, inter: pa.Table, truth: pa.Table
) -> None:
    ids = persona_accounts(truth, "P1")
    assert len(ids) == 2
    mine = rows_of(obs, "account_id", ids)
    assert mine.num_rows > 100
    assert set(mine["source"].to_pylist()) <= {"gps", "wifi"}
    cities = ChinaAdmin.default().locate(mine["lon"].to_numpy(), mine["lat"].to_numpy())
    assert (cities == "530300").mean() > 0.99  # Qujing
    transfers = inter.filter(pc.equal(inter["kind"], "transfer"))
    hers = pa.concat_tables([rows_of(transfers, "src", ids), rows_of(transfers, "dst", ids)])
    late = datetime(2019, 9, 1, tzinfo=UTC)
    assert all(ts < late for ts in hers["ts"].to_pylist())
    family = rows_of(inter.filter(pc.equal(inter["kind"], "message")), "src", ids)
    assert family.num_rows > 5


def test_p2_week_in_kunming_far_from_areas(obs: pa.Table, truth: pa.Table, areas: object) -> None:
    mine = rows_of(obs, "account_id", persona_accounts(truth, "P2"))
    cities = ChinaAdmin.default().locate(mine["lon"].to_numpy(), mine["lat"].to_numpy())
    precise = np.isin(mine["source"].to_numpy(zero_copy_only=False), ["gps", "wifi"])
    assert (cities[precise] == "520100").mean() > 0.8  # Guiyang
    ts = mine["ts"].to_pylist()
    in_kunming = [t for t, c, p in zip(ts, cities, precise, strict=True) if c == "530100" and p]
    assert in_kunming
    assert all(datetime(2019, 9, 22, tzinfo=UTC) <= t for t in in_kunming)
    assert metres_to_areas(areas, mine.filter(pa.array(precise))).min() > 300_000


def test_p3_ruili_border_cells_and_shop_payments(
    obs: pa.Table, inter: pa.Table, truth: pa.Table, accounts: pa.Table
) -> None:
    ids = persona_accounts(truth, "P3")
    mine = rows_of(obs, "account_id", ids)
    cells = [c for c in mine["cell_id"].to_pylist() if c]
    assert any(c.startswith("414-") for c in cells)
    assert any(c.startswith("460-") for c in cells)
    mine_accounts = rows_of(accounts, "account_id", ids)
    shop = mine_accounts.filter(pc.equal(mine_accounts["kind"], "merchant"))
    assert shop.num_rows == 1
    paid = rows_of(inter, "dst", shop["account_id"].to_pylist())
    assert paid.num_rows > 20
    assert len(set(paid["src"].to_pylist())) > 3


def test_p4_chongqing_ip_only_sometimes_placed_in_yunnan_or_myanmar(
    obs: pa.Table, truth: pa.Table, areas: object
) -> None:
    mine = rows_of(obs, "account_id", persona_accounts(truth, "P4"))
    assert set(mine["source"].to_pylist()) == {"ip"}
    cities = ChinaAdmin.default().locate(mine["lon"].to_numpy(), mine["lat"].to_numpy())
    assert (cities == "500100").mean() > 0.5 or (
        np.char.startswith(cities.astype(str), "50").mean() > 0.5
    )
    far = (cities == "") | np.char.startswith(cities.astype(str), "53")
    assert far.sum() >= 2  # carrier gateways place her in Yunnan or Myanmar
    assert mine.filter(pa.array(far))["accuracy_m"].to_numpy().min() >= 10_000


def test_p5_xia_sichuan_number_gps_in_zhaotong_calls_home(
    obs: pa.Table, inter: pa.Table, truth: pa.Table, accounts: pa.Table
) -> None:
    ids = persona_accounts(truth, "P5")
    row = rows_of(accounts, "account_id", ids)
    assert row["phone_region"].to_pylist() == ["510100"]
    mine = where(rows_of(obs, "account_id", ids), "source", "gps")
    cities = ChinaAdmin.default().locate(mine["lon"].to_numpy(), mine["lat"].to_numpy())
    assert (cities == "530600").mean() > 0.8
    calls = rows_of(inter.filter(pc.equal(inter["kind"], "call")), "src", ids)
    home = rows_of(accounts, "account_id", calls["dst"].to_pylist())
    assert home.num_rows
    assert all(r.startswith("5101") for r in home["phone_region"].to_pylist())


def test_p6_student_and_friends_message_the_classmate_before_and_after_he_left(
    obs: pa.Table, inter: pa.Table, truth: pa.Table, world: Path, areas: object
) -> None:
    student = persona_accounts(truth, "P6")
    friends = persona_accounts(truth, "P6-friend") + persona_accounts(truth, "P6-police-cadet")
    classmate = persona_accounts(truth, "P6-classmate-C")
    assert len(friends) == 12
    assert len(classmate) == 1
    confirmed = pq.read_table(world / "evidence" / "confirmed.parquet")
    assert classmate[0] in confirmed["account_id"].to_pylist()
    his = where(rows_of(obs, "account_id", classmate), "source", "gps")
    inside = contains_xy(areas, his["lon"].to_numpy(), his["lat"].to_numpy())
    arrived = min(t for t, i in zip(his["ts"].to_pylist(), inside, strict=True) if i)
    talk = rows_of(inter.filter(pc.equal(inter["kind"], "message")), "dst", classmate)
    talk = rows_of(talk, "src", student + friends)
    times = talk["ts"].to_pylist()
    assert any(t < arrived for t in times)
    assert any(t > arrived for t in times)


def test_f1_operator_nights_in_laukkai_shared_devices_strangers_confirmed_contacts(
    obs: pa.Table, inter: pa.Table, truth: pa.Table, world: Path
) -> None:
    ids = persona_accounts(truth, "F1")
    assert len(ids) == 3  # his own WeChat and two bought accounts
    laukkai = next(a for a in load_directive(world / "directive.yaml").areas if a.name == "Laukkai")
    mine = rows_of(obs, "account_id", ids)
    inside = contains_xy(laukkai.geometry, mine["lon"].to_numpy(), mine["lat"].to_numpy())
    local = [(t.hour + 8) % 24 for t in mine["ts"].to_pylist()]
    nights = {
        t.date()
        for t, i, h in zip(mine["ts"].to_pylist(), inside, local, strict=True)
        if i and (h >= 22 or h < 6)
    }
    assert len(nights) >= 28
    cells = {c[:3] for c in mine["cell_id"].to_pylist() if c}
    assert cells == {"414", "460"}
    devices = set(mine["device_id"].drop_null().to_pylist())
    sharers = rows_of(obs, "device_id", list(devices))["account_id"].unique().to_pylist()
    assert len(set(sharers) - set(ids)) >= 1
    adds = rows_of(inter.filter(pc.equal(inter["kind"], "friend_add")), "src", ids)
    assert adds.num_rows > 100
    confirmed = pq.read_table(world / "evidence" / "confirmed.parquet")["account_id"].to_pylist()
    assert not set(ids) & set(confirmed)
    msgs = rows_of(inter.filter(pc.equal(inter["kind"], "message")), "src", ids)
    assert set(msgs["dst"].to_pylist()) & set(confirmed)


def test_f2_mule_in_guangdong_forwards_within_minutes(
    obs: pa.Table, inter: pa.Table, truth: pa.Table, accounts: pa.Table, areas: object
) -> None:
    ids = persona_accounts(truth, "F2")
    row = rows_of(accounts, "account_id", ids)
    assert all(r.startswith("44") for r in row["phone_region"].to_pylist())
    mine = where(rows_of(obs, "account_id", ids), "source", "gps")
    assert metres_to_areas(areas, mine).min() > 500_000
    transfers = inter.filter(pc.equal(inter["kind"], "transfer"))
    incoming = rows_of(transfers, "dst", ids)
    outgoing = rows_of(transfers, "src", ids)
    assert len(set(incoming["src"].to_pylist())) >= 3
    gaps = []
    out_ts = sorted(outgoing["ts"].to_pylist())
    for t in incoming["ts"].to_pylist():
        later = [o for o in out_ts if o >= t]
        if later:
            gaps.append((later[0] - t).total_seconds())
    assert gaps
    assert np.median(gaps) < 1800


# -- realistic shares -----------------------------------------------------------------


def test_ordinary_accounts_rarely_touch_an_area_and_fraud_accounts_do(
    obs: pa.Table, truth: pa.Table, areas: object
) -> None:
    """What the 2019 naive rule hits: accuracy circles that touch an area."""
    touching = metres_to_areas(areas, obs) <= obs["accuracy_m"].to_numpy()
    hit = set(obs.filter(pa.array(touching))["account_id"].unique().to_pylist())
    ordinary = truth.filter(pc.equal(truth["role"], "ordinary"))["account_id"].to_pylist()
    share = len(hit & set(ordinary)) / len(ordinary)
    # Myanmar-placed IP ranges and carrier gateways: some, not many
    assert 0.001 < share < 0.15
    operators = truth.filter(pc.equal(truth["role"], "operator"))["account_id"].to_pylist()
    assert len(hit & set(operators)) / len(operators) > 0.9


def test_people_live_where_the_census_says(accounts: pa.Table, truth: pa.Table) -> None:
    regions = accounts.filter(pc.equal(accounts["kind"], "personal"))["phone_region"]
    prefixes = pc.utf8_slice_codeunits(regions, 0, 2).value_counts().to_pylist()
    counts = {p["values"]: p["counts"] for p in prefixes}
    # Guangdong (126 M) and Shandong outnumber Tibet (3.6 M) and Qinghai (5.9 M)
    assert counts.get("44", 0) > 5 * counts.get("54", 0)
    assert counts.get("37", 0) > counts.get("63", 0)
    assert len(counts) >= 25


def test_every_role_is_present(truth: pa.Table) -> None:
    roles = set(truth["role"].to_pylist())
    for role in (
        "ordinary",
        "student",
        "merchant",
        "border_resident",
        "trader",
        "tourist",
        "area_resident",
        "police",
        "sales",
        "victim",
        "relative",
        "classmate",
        "resold_device",
        "seller",
        "operator",
        "collector",
        "mule",
        "cashout_pos",
    ):
        assert role in roles, role
