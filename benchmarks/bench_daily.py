"""A standing directive's daily step against the whole `fairban target`, side by side.

    uv run --group bench python benchmarks/bench_daily.py --world DIR [--only KIND ...]
        [--spark]

DIR is a simulated world (``fairban simulate --out DIR``). Its last store day is the
"new day": the rest of the evidence is ingested into a store beforehand (not timed),
as the days before it would have been. Each run is a child process of its own, so its
peak RSS (``VmHWM``) is its own:

1. full: ``fairban target DIRECTIVE --data EVIDENCE --out TMP -q`` (validation and
   writing included), in-process through ``fairban.cli.main``;
2. spatial: DuckDB's spatial join of presence alone (``bench_target.py``'s run, in its
   isolated environment with DuckDB 1.5);
3. first: a new store, the whole evidence ingested, then the first judgement (which
   makes the directive version's rollups of every day);
4. daily: the new day ingested into the store of the days before, and the directive
   judged again (as of the end of that day, the directive's own ``issued_at``);
5. whatif: the daily judgement re-scored with other thresholds from its kept features;
6. spark (with ``--spark``): the daily judgement again, its features on Spark
   ``local[2]`` reading the same store.

Goals (issue 18): daily at least 20x faster than full (aim 50x); full at least half as
fast as the spatial join; first no slower than 1.5x full; what-if under 2 s; every peak
under 4 GiB. Prints markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench_target  # its spatial run and helpers

KINDS = ("full", "spatial", "first", "daily", "whatif", "spark")
Spec = dict[str, Any]
Result = dict[str, Any]


def _limit() -> str:
    """DuckDB's memory limit, as the commands set it (FAIRBAN_DUCKDB_MEMORY_LIMIT)."""
    from fairban.config import Settings

    return Settings().duckdb_memory_limit


def _directive(spec: Spec) -> Any:
    from fairban.contract import load_directive

    return load_directive(Path(spec["directive"]))


def run_full(spec: Spec) -> Result:
    from fairban.cli import main

    out = Path(spec["scratch"]) / "full-decisions"
    argv = sys.argv
    started = time.perf_counter()
    sys.argv = [
        "fairban",
        "target",
        spec["directive"],
        "--data",
        spec["evidence"],
        "--out",
        str(out),
        "-q",
    ]
    try:
        main()
    except SystemExit as done:
        if done.code:
            raise
    finally:
        sys.argv = argv
    return {"seconds": time.perf_counter() - started, "peak_rss_mib": bench_target.peak_rss_mib()}


def run_first(spec: Spec) -> Result:
    from fairban.store.ingest import ingest
    from fairban.store.judge import judge
    from fairban.store.layout import Store

    root = Path(spec["scratch"]) / "first-store"
    shutil.rmtree(root, ignore_errors=True)
    directive = _directive(spec)
    started = time.perf_counter()
    store = Store(root, create=True)
    report = ingest(store, Path(spec["evidence"]), memory_limit=_limit())
    ingested = time.perf_counter() - started
    judge(store, directive, as_of=directive.issued_at, memory_limit=_limit())
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "ingest_seconds": ingested,
        "judge_seconds": seconds - ingested,
        "peak_rss_mib": bench_target.peak_rss_mib(),
        "store_bytes": report.store_bytes,
        "observations": report.store_observations,
        "bytes_per_observation": report.bytes_per_observation,
    }


def run_daily(spec: Spec) -> Result:
    from fairban.store.ingest import ingest
    from fairban.store.judge import judge
    from fairban.store.layout import Store

    directive = _directive(spec)
    store = Store(Path(spec["history_store"]))
    started = time.perf_counter()
    report = ingest(store, Path(spec["new_day"]), memory_limit=_limit())
    ingested = time.perf_counter() - started
    judged = judge(
        store,
        directive,
        as_of=directive.issued_at,
        memory_limit=_limit(),
        keep=Path(spec["scratch"]) / "kept",
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "ingest_seconds": ingested,
        "judge_seconds": seconds - ingested,
        "rollups_made": judged.rollups_made,
        "new_rows": sum(report.rows_added.values()),
        "decisions": judged.result.decisions.num_rows,
        "counts": judged.result.counts(),
        "peak_rss_mib": bench_target.peak_rss_mib(),
    }


def run_whatif(spec: Spec) -> Result:
    from fairban.contract.directive import RiskThresholds
    from fairban.targeting.engine import rescore

    directive = _directive(spec)
    tried = directive.model_copy(update={"thresholds": RiskThresholds(restrict=0.5, suspend=0.95)})
    started = time.perf_counter()
    result = rescore(tried, Path(spec["scratch"]) / "kept", memory_limit=_limit())
    return {
        "seconds": time.perf_counter() - started,
        "counts": result.counts(),
        "peak_rss_mib": bench_target.peak_rss_mib(),
    }


def run_spark(spec: Spec) -> Result:
    from fairban.store.judge import judge
    from fairban.store.layout import Store
    from fairban.targeting.backends.spark import SparkBackend

    directive = _directive(spec)
    store = Store(Path(spec["history_store"]))
    from fairban.config import Settings

    # the driver's memory as the commands give it (Settings.spark_driver_memory); Spark's
    # own default of 1 GiB ran out broadcasting a join at 10^8
    backend = SparkBackend("local[2]", driver_memory=Settings().spark_driver_memory)
    try:
        started = time.perf_counter()
        judged = judge(store, directive, as_of=directive.issued_at, backend=backend)
        seconds = time.perf_counter() - started
    finally:
        backend.close()
    return {
        "seconds": seconds,
        "counts": judged.result.counts(),
        "peak_rss_mib": bench_target.peak_rss_mib(),
    }


CHILDREN = {
    "full": run_full,
    "first": run_first,
    "daily": run_daily,
    "whatif": run_whatif,
    "spark": run_spark,
}


def prepare(world: Path, scratch: Path) -> Spec:
    """Split the world's evidence into the days before its last store day and that day
    (hard links, no copies), and ingest the former into a store, untimed."""
    import duckdb

    from fairban.store.days import store_day
    from fairban.store.ingest import ingest
    from fairban.store.judge import judge
    from fairban.store.layout import Store

    spec = bench_target.make_spec(world, None)
    spec["scratch"] = str(scratch)
    directive = _directive(spec)
    last = store_day(directive.issued_at)
    evidence = world / "evidence"
    history, new_day = scratch / "history", scratch / "new-day"
    start_of_last = (directive.issued_at - timedelta(days=1)).timestamp()
    con = duckdb.connect()
    for table in ("observations", "interactions"):
        src = evidence / table
        for folder, where in (
            (history, f"epoch(ts) <= {start_of_last}"),
            (new_day, f"epoch(ts) > {start_of_last}"),
        ):
            (folder / table).mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{src}/**/*.parquet', hive_partitioning = false) "
                f"WHERE {where}) TO '{folder / table}/part.parquet' (FORMAT parquet)"
            )
    for name in ("accounts.parquet", "confirmed.parquet"):
        for folder in (history, new_day):
            if (evidence / name).exists():
                os.link(evidence / name, folder / name)
    store_root = scratch / "history-store"
    print(f"preparing the store of the days before {last} (untimed) ...", file=sys.stderr)
    store = Store(store_root, create=True)
    ingest(store, history, memory_limit=_limit())
    # the days before were judged then: their directive-version rollups exist
    judge(store, directive, as_of=directive.issued_at - timedelta(days=1), memory_limit=_limit())
    spec["history_store"] = str(store_root)
    spec["new_day"] = str(new_day)
    spec["last_day"] = last.isoformat()
    return spec


def measure(kind: str, spec: Spec, scratch: Path) -> Result:
    if kind == "spatial":
        return bench_target.measure("spatial", spec, scratch)
    spec_file = scratch / "daily-spec.json"
    spec_file.write_text(json.dumps(spec))
    result_file = scratch / f"daily-{kind}.json"
    print(f"running {kind} ...", file=sys.stderr, flush=True)
    own = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--spec",
        str(spec_file),
        "--result",
        str(result_file),
    ]
    done = subprocess.run(own, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout[-2000:])
        raise SystemExit(f"the {kind} run failed with exit status {done.returncode}")
    result: Result = json.loads(result_file.read_text())
    print(f"  {kind}: {result['seconds']:.2f} s", file=sys.stderr, flush=True)
    return result


def _goal(ok: bool, text: str) -> str:
    return f"met ({text})" if ok else f"**not met** ({text})"


def report(spec: Spec, results: dict[str, Result]) -> None:
    command = ["uv", "run", "--group", "bench", "python", *sys.argv]
    print(f"Command: `{shlex.join(command)}`  ")
    print(f"Machine: {bench_target.machine()}  ")
    print(f"The new day: store day {spec['last_day']} (the directive's window ends with it)\n")
    print("| run | seconds | of which | peak RSS MiB |")
    print("|---|---:|---|---:|")
    labels = {
        "full": "`fairban target --data` (validation included)",
        "spatial": "presence alone: DuckDB spatial join",
        "first": "first ingest of every day + first judgement",
        "daily": "daily step: the new day ingested + judged again",
        "whatif": "what-if: re-scored with other thresholds",
        "spark": "daily judgement on Spark local[2] (same store)",
    }
    for kind, label in labels.items():
        if kind not in results:
            continue
        r = results[kind]
        parts = ""
        if "ingest_seconds" in r:
            parts = f"ingest {r['ingest_seconds']:.1f} s, judge {r['judge_seconds']:.1f} s"
        print(f"| {label} | {r['seconds']:.2f} | {parts} | {float(r['peak_rss_mib']):,.0f} |")
    print("\nGoals:\n")
    full = results.get("full")
    if full and "daily" in results:
        ratio = full["seconds"] / results["daily"]["seconds"]
        print(
            f"- daily step vs full target, at least 20x (aim 50x): {_goal(ratio >= 20, f'{ratio:.1f}x')}"
        )
    if full and "spatial" in results:
        ratio = results["spatial"]["seconds"] / full["seconds"]
        print(
            f"- full target vs the spatial join, at least 0.5x: {_goal(ratio >= 0.5, f'{ratio:.2f}x')}"
        )
    if full and "first" in results:
        ratio = results["first"]["seconds"] / full["seconds"]
        print(
            f"- first ingest + judgement vs full target, at most 1.5x: {_goal(ratio <= 1.5, f'{ratio:.2f}x')}"
        )
    if "whatif" in results:
        s = results["whatif"]["seconds"]
        print(f"- what-if re-score under 2 s: {_goal(s < 2, f'{s:.2f} s')}")
    peaks = {k: float(r["peak_rss_mib"]) / 1024 for k, r in results.items() if "peak_rss_mib" in r}
    worst = max(peaks, key=peaks.__getitem__)
    print(
        f"- peak memory under 4 GiB in every step: {_goal(peaks[worst] < 4, f'highest {worst} {peaks[worst]:.2f} GiB')}"
    )
    if "first" in results:
        f = results["first"]
        print(
            f"\nThe store: {f['store_bytes'] / 2**30:.2f} GiB for {f['observations']:,} "
            f"observations, {f['bytes_per_observation']:.1f} bytes per observation "
            "(raw days, their rollups and the directive version's)."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, help="a simulated world (directive.yaml, evidence/)")
    parser.add_argument("--only", nargs="+", choices=KINDS, help="run only these")
    parser.add_argument("--spark", action="store_true", help="also the daily judgement on Spark")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.spec.read_text())
        args.result.write_text(json.dumps(CHILDREN[args.child](spec)))
        return
    if args.world is None:
        parser.error("--world DIR is required")
    kinds = [k for k in KINDS if k in (args.only or KINDS) and (k != "spark" or args.spark)]
    with tempfile.TemporaryDirectory(prefix="fairban-bench-daily-") as folder:
        scratch = Path(folder)
        spec = prepare(args.world, scratch)
        bench_target.warm_cache(Path(spec["evidence"]))
        results = {kind: measure(kind, spec, scratch) for kind in kinds}
    report(spec, results)


if __name__ == "__main__":
    main()
