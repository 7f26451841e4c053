"""Simulator throughput and peak memory, beside the floor of just writing Parquet.

    uv run python benchmarks/bench_simulate.py --accounts 10000 [--accounts 100000 ...]

Each run is a separate process, so its peak RSS is its own. The baseline writes the
same number of observation rows (random values, same schema, same day partitions)
with pyarrow alone: the I/O floor the simulator cannot beat.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD_SIMULATE = """
import json, sys, time, resource
from pathlib import Path
from fairban.world import WorldConfig, simulate_world
t = time.perf_counter()
s = simulate_world(WorldConfig(accounts=int(sys.argv[1]), seed=1), Path(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - t, "observations": s.observations,
                  "interactions": s.interactions,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_FLOOR = """
import json, sys, time, resource
import numpy as np, pyarrow as pa, pyarrow.dataset as ds
rows, out = int(sys.argv[1]), sys.argv[2]
t = time.perf_counter()
rng = np.random.default_rng(1)
chunk = 3_000_000
days = np.array([f"2019-{m:02d}-{d:02d}" for m in range(4, 11) for d in range(1, 29)], dtype=object)
for k, start in enumerate(range(0, rows, chunk)):
    n = min(chunk, rows - start)
    table = pa.table({
        "account_id": pa.array(np.char.add("wechat:wxid_", np.char.mod("%012x", rng.integers(0, 2**40, n))).astype(object)),
        "ts": pa.array(rng.integers(1555459200, 1570982400, n) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "lat": rng.uniform(20, 40, n), "lon": rng.uniform(95, 120, n),
        "accuracy_m": rng.uniform(5, 500, n),
        "source": pa.array(np.array(["gps", "wifi", "cell", "ip"], dtype=object)[rng.integers(0, 4, n)]),
        "day": pa.array(days[rng.integers(0, len(days), n)]),
    })
    ds.write_dataset(table, out, format="parquet", basename_template=f"part-{k}-{{i}}.parquet",
        partitioning=ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive"),
        existing_data_behavior="overwrite_or_ignore")
print(json.dumps({"seconds": time.perf_counter() - t, "observations": rows, "interactions": 0,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, action="append", help="world sizes")
    parser.add_argument(
        "--keep", type=Path, help="keep the (last) world here, e.g. for bench_validate"
    )
    args = parser.parse_args()
    sizes = args.accounts or [10_000]
    print(f"machine: {machine()}")
    print(f"command: {' '.join(sys.argv)}\n")
    print("| run | accounts | observations | interactions | seconds | obs rows/s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="fairban-bench-"))
        try:
            sim = run(CHILD_SIMULATE, str(n), str(tmp / "world"))
            floor = run(CHILD_FLOOR, str(int(sim["observations"])), str(tmp / "floor"))
            if args.keep:
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.move(tmp / "world", args.keep)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for name, r in (("fairban simulate", sim), ("baseline: pyarrow write only", floor)):
            rows = r["observations"]
            print(
                f"| {name} | {n:,} | {rows:,.0f} | {r['interactions']:,.0f} | "
                f"{r['seconds']:.1f} | {rows / r['seconds']:,.0f} | {r['rss_mib']:,.0f} |"
            )
    _ = resource, time


if __name__ == "__main__":
    main()
