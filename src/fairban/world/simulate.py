"""``fairban simulate``: write a world as an evidence folder, its directive and its truth.

Layout of OUT:
    directive.yaml, areas.geojson          the 2019 directive and its areas
    evidence/accounts.parquet              the contract's tables; observations and
    evidence/observations/day=YYYY-MM-DD/  interactions partitioned by UTC day
    evidence/interactions/day=YYYY-MM-DD/
    evidence/confirmed.parquet
    truth.csv                              every account's role and expected measure
    days/YYYY-MM-DD/                       with ``--after K``: each day after the
                                           directive as its own evidence folder, as
                                           platforms deliver it (Beijing days)
    truth/YYYY-MM-DD.csv                   truth as of the end of each of those days

Everything is written into a hidden sibling folder first and renamed into place at the
end, so a failed run leaves nothing behind (or the old OUT untouched).
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml

from fairban.errors import FairbanError
from fairban.geo.fraud_areas import areas_geojson
from fairban.progress import SILENT, Progress
from fairban.world.after import expected_on
from fairban.world.assemble import build_world
from fairban.world.config import WorldConfig
from fairban.world.movement import build_ip_pools, observation_blocks, observations
from fairban.world.population import PLATFORMS, World
from fairban.world.roles import ROLE_INFO, Role, role_name
from fairban.world.social import interaction_tables

DIRECTIVE_ID = "cn-mps-2019-10-14-mm-north"


@dataclass
class WorldSummary:
    out: Path
    persons: int
    accounts: dict[str, int]
    roles: dict[str, int]
    observations: int
    interactions: int
    confirmed: int
    areas: list[tuple[str, float]]
    personas: dict[str, list[str]] = field(default_factory=dict)
    #: rows written into each day folder after the directive (``--after``)
    days_after: dict[date, int] = field(default_factory=dict)
    #: (day, kind, accounts, what) of each event after the directive
    events: list[tuple[date, str, int, str]] = field(default_factory=list)
    seconds: float = 0.0

    def render(self) -> str:
        lines = [
            f"World written to {self.out} in {self.seconds:.1f} s",
            f"  people {self.persons:,}; accounts {sum(self.accounts.values()):,} ("
            + ", ".join(f"{k} {v:,}" for k, v in self.accounts.items())
            + ")",
            f"  observations {self.observations:,}; interactions {self.interactions:,}; "
            f"confirmed by police {self.confirmed:,}",
            "  areas: " + ", ".join(f"{n} {km2:,.0f} km²" for n, km2 in self.areas),
            "  roles: " + ", ".join(f"{k} {v:,}" for k, v in self.roles.items()),
            "  seed personas:",
        ]
        for label, ids in self.personas.items():
            lines.append(f"    {label:<16} {', '.join(ids)}")
        if self.days_after:
            first, last = min(self.days_after), max(self.days_after)
            lines.append(
                f"  days after the directive: {len(self.days_after)} ({first} to {last}), "
                f"{sum(self.days_after.values()):,} rows in {self.out / 'days'}; "
                f"truth day by day in {self.out / 'truth'}"
            )
            for on, kind, n, what in sorted(self.events, key=lambda e: e[0]):
                lines.append(f"    {on} {kind:<15} {n} account{'s' * (n != 1)}: {what}")
        directive, evidence = self.out / "directive.yaml", self.out / "evidence"
        lines.append(f"Check it: fairban validate {directive} --data {evidence}")
        return "\n".join(lines)


def simulate_world(
    config: WorldConfig, out: Path, *, force: bool = False, progress: Progress = SILENT
) -> WorldSummary:
    """Generate the world of ``config`` into ``out`` (see the module docstring)."""
    started = time.perf_counter()
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise FairbanError(f"{out}: already exists and is not empty (use --force to replace it)")
    if out.exists() and not out.is_dir():
        raise FairbanError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        summary = _write(config, tmp, progress)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary.out = out
    summary.seconds = time.perf_counter() - started
    return summary


def _write(config: WorldConfig, out: Path, progress: Progress) -> WorldSummary:
    with progress.stage("Building people, places and ties", total=None):
        world = build_world(config)
        pools = build_ip_pools(world)
    evidence = out / "evidence"
    evidence.mkdir()
    _write_directive(world, out)
    person_ids = _person_ids(world)
    pq.write_table(_accounts_table(world, person_ids), evidence / "accounts.parquet")
    pq.write_table(_confirmed_table(world), evidence / "confirmed.parquet")

    days_after = _DaysAfter(world, out)
    n_obs = 0
    total = float(config.horizon * world.accounts.rate.sum())
    with progress.stage("Observations", total=total) as advance:
        for k, block in enumerate(observation_blocks(world)):
            table = observations(world, block, pools, k)
            n_obs += days_after.write(table, "observations", k)
            advance(table.num_rows)
    n_int = 0
    with progress.stage("Interactions", total=None) as advance:
        for k, table in enumerate(interaction_tables(world)):
            n_int += days_after.write(table, "interactions", k)
            advance(table.num_rows)
    # truth last: a stopped mule's grounds are known once his payments are drawn
    _write_truth(world, person_ids, out / "truth.csv")
    if config.after:
        days_after.finish(_accounts_table(world, person_ids), person_ids)

    acc = world.accounts
    personas: dict[str, list[str]] = {}
    for i in np.flatnonzero(acc.persona != ""):
        personas.setdefault(str(acc.persona[i]), []).append(str(acc.account_id[i]))
    return WorldSummary(
        out=out,
        persons=len(world.persons),
        accounts=dict(Counter(PLATFORMS[p] for p in acc.platform)),
        roles=dict(Counter(role_name(r) for r in acc.role).most_common()),
        observations=n_obs,
        interactions=n_int,
        confirmed=len(world.fraud.confirmed),
        areas=[(a.name, a.km2) for a in world.areas],
        personas=dict(sorted(personas.items())),
        days_after=days_after.rows_by_day,
        events=[
            (config.first_day + timedelta(days=e.day), e.kind, len(e.accounts), e.what)
            for e in world.after.events
        ],
    )


class _DaysAfter:
    """Writes each table's rows where they belong: up to the directive's issue into
    ``evidence/``, each later Beijing day ``(D 00:00, D+1 00:00]`` (the store's day) into
    ``days/D/``; then each of those days' accounts and truth."""

    def __init__(self, world: World, out: Path) -> None:
        self.world, self.out = world, out
        cfg = world.config
        self.issued_s = cfg.day0_utc_s + cfg.days * 86_400
        self.rows_by_day: dict[date, int] = {
            cfg.first_day + timedelta(days=d): 0 for d in range(cfg.days, cfg.horizon)
        }

    def write(self, table: pa.Table, name: str, chunk: int) -> int:
        """Write ``table`` (observations or interactions); the rows up to the issue."""
        cfg = self.world.config
        ts_s = pc.divide(table.column("ts").cast(pa.int64()), 1_000_000).to_numpy()
        # the Beijing day each row belongs to, a row at midnight to the day before
        day = -((-(ts_s - cfg.day0_utc_s)) // 86_400) - 1
        in_window = ts_s <= self.issued_s
        _write_partitioned(table.filter(pa.array(in_window)), self.out / "evidence" / name, chunk)
        kept = int(in_window.sum())
        for d in np.unique(day[~in_window]):
            rows = table.filter(pa.array(~in_window & (day == d)))
            on = cfg.first_day + timedelta(days=int(d))
            _write_partitioned(rows, self.out / "days" / on.isoformat() / name, chunk)
            self.rows_by_day[on] += rows.num_rows
        return kept

    def finish(self, accounts: pa.Table, person_ids: np.ndarray) -> None:
        """Each day's folder gets the accounts (as platforms deliver them daily) and an
        empty ``interactions`` where the day had none; each day its truth."""
        cfg = self.world.config
        (self.out / "truth").mkdir()
        for d in range(cfg.days, cfg.horizon):
            on = cfg.first_day + timedelta(days=d)
            folder = self.out / "days" / on.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(accounts, folder / "accounts.parquet")
            if not (folder / "interactions").exists():
                pq.write_table(_EMPTY_INTERACTIONS, folder / "interactions.parquet")
            _write_truth(self.world, person_ids, self.out / "truth" / f"{on.isoformat()}.csv", d)


_EMPTY_INTERACTIONS = pa.table(
    {
        "src": pa.array([], pa.string()),
        "dst": pa.array([], pa.string()),
        "ts": pa.array([], pa.timestamp("us", tz="UTC")),
        "kind": pa.array([], pa.string()),
        "amount": pa.array([], pa.float64()),
    }
)


def _write_partitioned(table: pa.Table, folder: Path, chunk: int) -> None:
    ds.write_dataset(
        table,
        folder,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive"),
        basename_template=f"part-{chunk:05d}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_group=500_000,
    )


def _person_ids(world: World) -> np.ndarray:
    """Pseudonymous real-name identities: stable for a seed, meaningless outside it."""
    rng = np.random.default_rng([world.config.seed, 3])
    perm = rng.permutation(len(world.persons) * 7)[: len(world.persons)]
    return np.array([f"pid-{x:09d}" for x in perm], dtype=object)


def _accounts_table(world: World, person_ids: np.ndarray) -> pa.Table:
    acc = world.accounts
    per = world.persons
    registered = world.config.day0_utc_s + acc.registered_day * 86_400 + 36_000
    return pa.table(
        {
            "account_id": pa.array(acc.account_id, pa.string()),
            "platform": pa.array([PLATFORMS[p] for p in acc.platform], pa.string()),
            "person_id": pa.array(person_ids[acc.owner], pa.string()),
            "phone_region": pa.array(per.phone_region[acc.owner], pa.string()),
            "kind": pa.array(np.where(acc.merchant, "merchant", "personal"), pa.string()),
            "registered_at": pa.array(registered * 1_000_000, pa.timestamp("us", tz="UTC")),
        }
    )


def _confirmed_table(world: World) -> pa.Table:
    items = sorted(world.fraud.confirmed.items())
    day0 = world.config.day0_utc_s
    return pa.table(
        {
            "account_id": pa.array(
                [str(world.accounts.account_id[a]) for a, _ in items], pa.string()
            ),
            "case_id": pa.array([case for _, (case, _) in items], pa.string()),
            "confirmed_at": pa.array(
                [(day0 + d * 86_400 + 7 * 3600) * 1_000_000 for _, (_, d) in items],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def _write_truth(world: World, person_ids: np.ndarray, path: Path, day: int | None = None) -> None:
    """Every account's truth as of the directive's issue, or (``day``) as of the end of
    a simulated day after it, with the event (``world.after``) it is part of."""
    acc = world.accounts
    roles = [Role(r) for r in acc.role]
    on = world.config.days - 1 if day is None else day
    expected, event, event_day = expected_on(world, on)
    columns = {
        "account_id": pa.array(acc.account_id, pa.string()),
        "platform": pa.array([PLATFORMS[p] for p in acc.platform], pa.string()),
        "person_id": pa.array(person_ids[acc.owner], pa.string()),
        "role": pa.array([r.name.lower() for r in roles], pa.string()),
        "fraud": pa.array([ROLE_INFO[r].fraud for r in roles], pa.bool_()),
        "expected": pa.array(expected, pa.string()),
        "persona": pa.array(acc.persona, pa.string()),
        "confirmed": pa.array([i in world.fraud.confirmed for i in range(len(acc))], pa.bool_()),
    }
    if day is not None or world.config.after:
        columns["event"] = pa.array(event, pa.string())
        columns["event_day"] = pa.array(event_day, pa.string())
    pacsv.write_csv(pa.table(columns), path)


def _write_directive(world: World, out: Path) -> None:
    (out / "areas.geojson").write_text(
        json.dumps(areas_geojson(world.areas), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    directive = {
        "id": DIRECTIVE_ID,
        "title": "Northern Myanmar telecom-fraud areas",
        "issuer": "Inter-ministerial office against telecom and online fraud",
        "legal_basis": "Notice of 14 October 2019",
        "issued_at": "2019-10-14T00:00:00+08:00",
        "lookback_days": world.config.lookback,
        "platforms": ["qq", "wechat", "alipay", "pos"],
        "areas": "areas.geojson",
        # what the Chinese notices say (docs/notices.md: a notice never mixes languages)
        "translations": {
            "zh-CN": {
                "title": "缅北电信网络诈骗重点地区",
                "issuer": "打击治理电信网络新型违法犯罪工作部际联席会议办公室",
                "legal_basis": "2019年10月14日通告",
            }
        },
    }
    (out / "directive.yaml").write_text(
        "# The 2019 directive, as simulated by fairban (areas: see areas.geojson)\n"
        + yaml.safe_dump(directive, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
