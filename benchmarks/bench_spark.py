"""DuckDB against Spark on the same evidence: throughput, peak memory (JVM included), and
whether they agree.

    uv run python benchmarks/bench_spark.py --world DIR [--world DIR ...]
        [--masters local[2] local[1]] [--skew] [--driver-memory 4g]
    uv run python benchmarks/bench_spark.py --simulate 3000   # a 10^6-observation world

DIR is a simulated world (``fairban simulate --out DIR``). For each world, each run is
its own process, watched from here: its peak memory is the highest sum of the resident
memory of the process and all its children (Spark's JVM, its Python workers), sampled
every 0.2 s with psutil.

1. duckdb: ``fairban.targeting.target(directive, evidence, backend=...)`` on a DuckDB
   backend with the settings' memory limit, as ``fairban target`` runs it.
2. spark MASTER: ``SparkBackend(MASTER)`` started (timed apart: the JVM's start does not
   grow with the evidence) and the same ``target(..., backend=...)``.

Both write their decisions; the parent checks that measures are equal and risks within
1e-9. Obs/s is over the observations in the directive's window, the same count for
every run. The load average is printed beside each run: this is a shared machine.

``--skew`` also runs both engines on a copy of the first world with a few accounts
that have millions of rows (``make_skewed``), with Spark's event log on, and reports
for the stage whose largest task read the most rows: that task's share of its stage's
rows and its time against the stage's median task.

Only the standard library is imported at module level (the children import fairban).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

Result = dict[str, Any]
TOLERANCE = 1e-9


# --------------------------------------------------------------------------- children


def child_duckdb(world: Path, out: Path, _: Result) -> Result:
    from fairban.config import get_settings
    from fairban.contract import load_directive
    from fairban.targeting import target
    from fairban.targeting.backends.duckdb import DuckDBBackend

    directive = load_directive(world / "directive.yaml")
    started = time.perf_counter()
    backend = DuckDBBackend(memory_limit=get_settings().duckdb_memory_limit)
    result = target(directive, world / "evidence", backend=backend)
    backend.close()
    seconds = time.perf_counter() - started
    _write(result, out)
    return {"seconds": seconds, "counts": result.counts(), "near": result.observations_near}


def child_spark(world: Path, out: Path, options: Result) -> Result:
    from fairban.contract import load_directive
    from fairban.targeting import target
    from fairban.targeting.backends.spark import SparkBackend

    directive = load_directive(world / "directive.yaml")
    conf = {"spark.driver.memory": options["driver_memory"]}
    if options.get("event_log"):
        conf |= {
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": options["event_log"],
            "spark.eventLog.compress": "false",  # Spark 4 writes zstd by default
        }
    started = time.perf_counter()
    backend = SparkBackend(options["master"], conf=conf)
    start_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = target(directive, world / "evidence", backend=backend)
    seconds = time.perf_counter() - started
    to_python = backend.rows_to_python.get("near", 0)
    backend.close()
    _write(result, out)
    return {
        "seconds": seconds,
        "start_seconds": start_seconds,
        "counts": result.counts(),
        "near": result.observations_near,
        "rows_to_python": to_python,
    }


def _write(result: Any, out: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(result.decisions.select(["account_id", "measure", "risk", "reasons"]), out)


# --------------------------------------------------------------------------- the parent


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (JVM and workers), in MiB."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def measure(kind: str, world: Path, scratch: Path, options: Result) -> Result:
    """Run one child and watch its process tree's memory until it ends."""
    spec = scratch / f"{kind.replace('[', '_').replace(']', '')}.json"
    out = spec.with_suffix(".parquet")
    spec.write_text(json.dumps({"kind": kind, "world": str(world), "out": str(out), **options}))
    print(f"running {kind} on {world} ...", file=sys.stderr, flush=True)
    load_before = os.getloadavg()[0]
    child = subprocess.Popen([sys.executable, __file__, "--child", str(spec)])
    peak = 0.0
    loads: list[float] = []

    def watch() -> None:
        nonlocal peak
        while child.poll() is None:
            peak = max(peak, tree_rss_mib(child.pid))
            loads.append(os.getloadavg()[0])
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    code = child.wait()
    watcher.join()
    if code:
        raise SystemExit(f"the {kind} run failed with exit status {code}")
    result: Result = json.loads(spec.with_suffix(".result").read_text())
    result |= {
        "peak_tree_mib": peak,
        "load": max([load_before, *loads]) if loads else load_before,
        "decisions": str(out),
    }
    print(f"  {kind}: {result['seconds']:.1f} s, {peak:,.0f} MiB", file=sys.stderr, flush=True)
    return result


def agree(a: Result, b: Result) -> str:
    """'yes' when both runs decided the same for every account, risks within 1e-9."""
    import pyarrow.parquet as pq

    x = pq.read_table(a["decisions"]).sort_by("account_id").to_pylist()
    y = pq.read_table(b["decisions"]).sort_by("account_id").to_pylist()
    if [r["account_id"] for r in x] != [r["account_id"] for r in y]:
        return "no: other accounts"
    measures = sum(r["measure"] != s["measure"] for r, s in zip(x, y, strict=True))
    risk = max((abs(r["risk"] - s["risk"]) for r, s in zip(x, y, strict=True)), default=0.0)
    texts = [
        (r["account_id"], json.loads(r["reasons"]), json.loads(s["reasons"]))
        for r, s in zip(x, y, strict=True)
        if r["reasons"] != s["reasons"]
    ]
    differ = [
        (account, a_, b_)
        for account, a_, b_ in texts
        if [(c["code"], c["text"]) for c in a_] != [(c["code"], c["text"]) for c in b_]
    ]
    reasons = len(differ)
    for account, a_, b_ in differ[:5]:  # what differs, to see why
        for c, d in zip(a_, b_, strict=False):
            if (c["code"], c["text"]) != (d["code"], d["text"]):
                print(f"  {account}: {c} | {d}", file=sys.stderr, flush=True)
    if measures or reasons or risk > TOLERANCE:
        return f"no: {measures} measures, {reasons} reasons, risk up to {risk:.1e}"
    return f"yes (risk within {max(risk, 1e-16):.0e})"


def in_window(world: Path) -> tuple[int, int]:
    """Observations in the files, and in the directive's window."""
    from fairban.config import get_settings
    from fairban.contract import load_directive
    from fairban.targeting.backends.duckdb import DuckDBBackend
    from fairban.targeting.features import Window

    directive = load_directive(world / "directive.yaml")
    window = Window(directive.window_start, directive.window_end)
    db = DuckDBBackend(memory_limit=get_settings().duckdb_memory_limit)
    db.open_evidence(world / "evidence")
    total = db.query("SELECT count(*) AS n FROM observations").column("n")[0].as_py()
    inside = db.query(f"SELECT count(*) AS n FROM observations WHERE {window.where()}")
    db.close()
    return int(total), int(inside.column("n")[0].as_py())


def cores_of(kind: str) -> int:
    if kind == "duckdb":
        return os.cpu_count() or 1
    found = kind.split("[", 1)[-1].rstrip("]")
    return (os.cpu_count() or 1) if found == "*" else int(found)


def machine() -> str:
    import duckdb
    import pyspark

    cpu = platform.processor() or platform.machine()
    ram = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            ram = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    jvm = java.stderr.splitlines()[0] if java.stderr else "java ?"
    return (
        f"{cpu}, {os.cpu_count()} cores{ram}, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, PySpark {pyspark.__version__}, {jvm}"
    )


def report(world: Path, totals: tuple[int, int], results: dict[str, Result]) -> None:
    total, window = totals
    print(f"\nWorld: `{world}`: {total:,} observations, {window:,} in the window  ")
    print(
        "| run | seconds | start s | obs/s | obs/s per core | peak RSS MiB (tree) "
        "| load avg | same decisions as DuckDB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    duck = results.get("duckdb")
    for kind, r in results.items():
        seconds = float(r["seconds"])
        rate = window / seconds
        start = f"{float(r['start_seconds']):.1f}" if "start_seconds" in r else "-"
        same = "-" if kind == "duckdb" or duck is None else agree(duck, r)
        print(
            f"| {kind} | {seconds:.1f} | {start} | {rate:,.0f} | {rate / cores_of(kind):,.0f} "
            f"| {float(r['peak_tree_mib']):,.0f} | {float(r['load']):.1f} | {same} |"
        )
    for kind, r in results.items():
        if "rows_to_python" in r:
            print(
                f"\n{kind}: {int(r['rows_to_python']):,} of {window:,} observations reached "
                f"Python (the pre-filter's candidates); {int(r['near']):,} kept with p > 0"
            )


# --------------------------------------------------------------------------- skew


def make_skewed(world: Path, out: Path, heavy_rows: int) -> Path:
    """A copy of ``world`` with three heavy accounts added to its day partitions: one
    that stays in Laukkai (``heavy_rows`` GPS fixes at night, one phone), one that
    stays in Kunming (as many), and a collector with 20,000 transfers each way."""
    import shutil

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fairban.contract import load_directive

    shutil.copytree(world, out)
    evidence = out / "evidence"
    directive = load_directive(out / "directive.yaml")
    start = directive.window_start.timestamp()
    days = int((directive.window_end.timestamp() - start) // 86400)
    rng = np.random.default_rng(6)
    accounts = pq.read_table(evidence / "accounts.parquet")
    heavy = {
        "wechat:heavy_laukkai": (23.6950, 98.7600),
        "wechat:heavy_kunming": (25.0389, 102.7183),
        "alipay:heavy_collector": (23.0207, 113.7518),
    }
    extra = pa.table(
        {
            name: pa.array(
                [
                    {"account_id": a, "platform": a.split(":")[0], "kind": "personal"}.get(name)
                    for a in heavy
                ],
                field.type,
            )
            for name, field in zip(accounts.schema.names, accounts.schema, strict=True)
        }
    )
    pq.write_table(pa.concat_tables([accounts, extra]), evidence / "accounts.parquet")
    per_day = heavy_rows // days
    obs_schema = pq.read_schema(next((evidence / "observations").rglob("*.parquet")))
    int_schema = pq.read_schema(next((evidence / "interactions").rglob("*.parquet")))
    for d in range(days):
        day0 = start + d * 86400  # 00:00 Beijing time
        folder = time.strftime("day=%Y-%m-%d", time.gmtime(day0 + 26 * 3600))
        rows: dict[str, list[Any]] = {n: [] for n in obs_schema.names}
        for account, (lat, lon) in list(heavy.items())[:2]:
            # 23:00-05:00 Beijing time, the night that starts on this window day
            ts = day0 + 23 * 3600 + rng.uniform(0, 6 * 3600, per_day)
            rows["account_id"] += [account] * per_day
            rows["ts"] += (ts * 1e6).astype("int64").tolist()
            rows["lat"] += (lat + rng.normal(0, 0.0003, per_day)).tolist()
            rows["lon"] += (lon + rng.normal(0, 0.0003, per_day)).tolist()
            rows["accuracy_m"] += [15.0] * per_day
            rows["source"] += ["gps"] * per_day
            rows["ip"] += [None] * per_day
            rows["cell_id"] += [None] * per_day
            rows["device_id"] += [f"dev-{account}"] * per_day
        columns = {
            n: pa.array(v, obs_schema.field(n).type) if n != "ts" else pa.array(v, pa.int64())
            for n, v in rows.items()
        }
        columns["ts"] = columns["ts"].cast(obs_schema.field("ts").type)
        target_dir = evidence / "observations" / folder
        target_dir.mkdir(exist_ok=True)
        pq.write_table(pa.table(columns), target_dir / "part-skew.parquet")
        # the collector: transfers in from many, forwarded on within the hour
        n = 20_000 // days
        ts_in = day0 + rng.uniform(0, 86400, n)
        ts_out = ts_in + rng.uniform(60, 3000, n)
        amount = rng.uniform(500, 5000, n)
        senders = [f"wechat:payer_{d}_{i}" for i in range(n)]
        transfers = {
            "src": senders + ["alipay:heavy_collector"] * n,
            "dst": ["alipay:heavy_collector"] * n + ["wechat:heavy_laukkai"] * n,
            "ts": pa.array(
                (np.concatenate([ts_in, ts_out]) * 1e6).astype("int64"), pa.int64()
            ).cast(int_schema.field("ts").type),
            "kind": ["transfer"] * (2 * n),
            "amount": np.concatenate([amount, amount * 0.98]),
        }
        target_dir = evidence / "interactions" / folder
        target_dir.mkdir(exist_ok=True)
        table = pa.table({k: transfers[k] for k in int_schema.names})
        pq.write_table(table.cast(int_schema), target_dir / "part-skew.parquet")
    return out


def skew_report(event_log: Path) -> None:
    """Per fairban step (Spark job description): the task that read the most rows and
    its share of its stage, and the longest task against its stage's median."""
    tasks: dict[int, list[tuple[int, int]]] = {}
    step_of: dict[int, str] = {}
    # Spark 4 rolls the log into eventlog_v2_APP/events_N_APP (and an empty appstatus file)
    for log in sorted(p for p in event_log.rglob("events_*") if p.is_file()):
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if event.get("Event") == "SparkListenerJobStart":
                step = (event.get("Properties") or {}).get("spark.job.description", "?")
                for stage in event.get("Stage IDs", []):
                    step_of[int(stage)] = str(step).removeprefix("fairban ")
            if event.get("Event") != "SparkListenerTaskEnd":
                continue
            metrics = event.get("Task Metrics") or {}
            read = int((metrics.get("Input Metrics") or {}).get("Records Read", 0)) + int(
                (metrics.get("Shuffle Read Metrics") or {}).get("Total Records Read", 0)
            )
            run_ms = int(metrics.get("Executor Run Time", 0))
            tasks.setdefault(int(event["Stage ID"]), []).append((read, run_ms))
    print(
        "\n| step | stages | most rows in one task | share of its stage | longest task s "
        "| median task s in that stage |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    steps = sorted({step_of.get(s, "?") for s in tasks})
    for step in steps:
        stages = [s for s in tasks if step_of.get(s, "?") == step]
        heavy = max(stages, key=lambda s: max(r for r, _ in tasks[s]))
        rows = [r for r, _ in tasks[heavy]]
        slow = max(stages, key=lambda s: max(t for _, t in tasks[s]))
        times = [t for _, t in tasks[slow]]
        print(
            f"| {step} | {len(stages)} | {max(rows):,} | {max(rows) / max(sum(rows), 1):.0%} "
            f"of {len(rows)} tasks | {max(times) / 1000:.1f} | {statistics.median(times) / 1000:.1f} |"
        )


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--world", type=Path, action="append", default=[])
    parser.add_argument("--simulate", type=int, help="simulate a world of N accounts first")
    parser.add_argument("--masters", nargs="+", default=["local[2]"])
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--skew", action="store_true")
    parser.add_argument("--skew-only", action="store_true", help="only the --skew runs")
    parser.add_argument("--heavy-rows", type=int, default=2_000_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        spec = json.loads(args.child.read_text())
        run = child_duckdb if spec["kind"] == "duckdb" else child_spark
        result = run(Path(spec["world"]), Path(spec["out"]), spec)
        args.child.with_suffix(".result").write_text(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="fairban-bench-spark-") as tmp:
        scratch = Path(tmp)
        worlds = list(args.world)
        if args.simulate:
            world = scratch / "world"
            simulate = [sys.executable, "-m", "fairban.cli", "simulate", "-q"]
            subprocess.run(
                [
                    *simulate,
                    "--accounts",
                    str(args.simulate),
                    "--seed",
                    "2019",
                    "--out",
                    str(world),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            worlds.insert(0, world)
        if not worlds:
            raise SystemExit("give --world DIR or --simulate N")
        print(f"Command: `{shlex.join(['uv', 'run', 'python', *sys.argv])}`  ")
        print(f"Machine: {machine()}  ")
        for world in [] if args.skew_only else worlds:
            results: dict[str, Result] = {}
            results["duckdb"] = measure("duckdb", world, scratch, {})
            for master in args.masters:
                options = {"master": master, "driver_memory": args.driver_memory}
                results[f"spark {master}"] = measure(f"spark {master}", world, scratch, options)
            report(world, in_window(world), results)
        if args.skew or args.skew_only:
            skewed = make_skewed(worlds[0], scratch / "skewed", args.heavy_rows)
            events = scratch / "events"
            events.mkdir()
            results = {"duckdb": measure("duckdb", skewed, scratch, {})}
            options = {
                "master": args.masters[0],
                "driver_memory": args.driver_memory,
                "event_log": f"file:{events}",
            }
            results[f"spark {args.masters[0]}"] = measure(
                f"spark {args.masters[0]}", skewed, scratch, options
            )
            print(
                f"\nSkewed copy of `{worlds[0]}`: two accounts with {args.heavy_rows:,} "
                "observations each, a collector with 20,000 transfers each way"
            )
            report(skewed, in_window(skewed), results)
            skew_report(events)


if __name__ == "__main__":
    main()
