"""How fast fairban validates evidence, and in how much memory, against a load-it-all baseline.

    uv run python benchmarks/bench_validate.py --data DIR
    uv run python benchmarks/bench_validate.py --make-rows 10000000 [--format csv]

Each run is a separate process, so its peak RSS (its own ``VmHWM``) is its own:
(a) ``validate_evidence``, streaming in batches; (b) a baseline that reads the whole
observations table with ``pyarrow.parquet.read_table`` / ``pyarrow.csv.read_csv`` and
checks it in one go (the same value rules, vectorised over the whole table). Prints a
markdown table with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

CHUNK = 1_000_000
SOURCES = np.array(["gps", "wifi", "cell"])
ACCURACY = {"gps": (5, 50), "wifi": (30, 500), "cell": (300, 10_000)}


# --------------------------------------------------------------------------- synthetic data


def make_evidence(root: Path, rows: int, fmt: str, seed: int = 2019) -> None:
    """A contract-valid evidence folder with ``rows`` observations, written chunk by chunk."""
    rng = np.random.default_rng(seed)
    n_accounts = max(1_000, min(rows // 100, 1_000_000))
    ids = pa.array([f"wechat:wxid_{i:08d}" for i in range(n_accounts)])
    pq.write_table(
        pa.table({"account_id": ids, "platform": pa.array(["wechat"] * n_accounts)}),
        root / "accounts.parquet",
    )
    n_calls = max(1, rows // 10)
    interactions = pa.table(
        {
            "src": ids.take(rng.integers(0, n_accounts, n_calls)),
            "dst": ids.take(rng.integers(0, n_accounts, n_calls)),
            "ts": _timestamps(rng, n_calls),
            "kind": pa.array(np.array(["call", "message"])[rng.integers(0, 2, n_calls)]),
        }
    )
    pq.write_table(interactions, root / "interactions.parquet")
    del interactions
    csv_writer: pa_csv.CSVWriter | None = None
    try:
        for part, start in enumerate(range(0, rows, CHUNK)):
            chunk = _observations(rng, ids, min(CHUNK, rows - start))
            if fmt == "parquet":
                folder = root / "observations"
                folder.mkdir(exist_ok=True)
                pq.write_table(chunk, folder / f"part-{part:05d}.parquet", row_group_size=250_000)
                continue
            if csv_writer is None:
                csv_writer = pa_csv.CSVWriter(root / "observations.csv", chunk.schema)
            csv_writer.write_table(chunk)
    finally:
        if csv_writer is not None:
            csv_writer.close()


def _timestamps(rng: np.random.Generator, n: int) -> pa.Array:
    start = 1_555_000_000_000_000  # April 2019, in microseconds
    return pa.array(start + rng.integers(0, 180 * 86_400 * 10**6, n), pa.timestamp("us", "UTC"))


def _observations(rng: np.random.Generator, ids: pa.Array, n: int) -> pa.Table:
    source = SOURCES[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    low = np.select([source == s for s in ACCURACY], [ACCURACY[s][0] for s in ACCURACY])
    high = np.select([source == s for s in ACCURACY], [ACCURACY[s][1] for s in ACCURACY])
    return pa.table(
        {
            "account_id": ids.take(rng.integers(0, len(ids), n)),
            "ts": _timestamps(rng, n),
            "lat": rng.uniform(20.0, 26.5, n),
            "lon": rng.uniform(96.0, 102.0, n),
            "accuracy_m": rng.uniform(low, high),
            "source": pa.array(source),
            "device_id": pa.array(np.char.add("dev", rng.integers(0, 10**6, n).astype(str))),
        }
    )


# --------------------------------------------------------------------------- the two runs


def run_streaming(data: Path, batch_rows: int) -> dict[str, object]:
    from fairban.contract import validate_evidence

    started = time.perf_counter()
    report = validate_evidence(data, batch_rows=batch_rows)
    seconds = time.perf_counter() - started
    return {
        "rows": sum(t.rows for t in report.tables.values()),
        "observations": report.tables["observations"].rows,
        "seconds": seconds,
        "ok": report.ok,
        "errors": report.errors.lines()[:3],
    }


def run_baseline(data: Path) -> dict[str, object]:
    """Read all of observations at once and check it with whole-table compute."""
    started = time.perf_counter()
    csv_path = data / "observations.csv"
    if csv_path.exists():
        table = pa_csv.read_csv(csv_path)
    else:
        parquet = data / "observations.parquet"
        table = pq.read_table(parquet if parquet.exists() else data / "observations")
    problems = 0
    for name in ["account_id", "ts", "lat", "lon", "accuracy_m", "source"]:
        problems += table[name].null_count
    for name, low, high in [("lat", -90, 90), ("lon", -180, 180)]:
        values = table[name]
        bad = pc.or_(pc.less(values, low), pc.greater(values, high))
        problems += pc.sum(pc.cast(bad, pa.int64())).as_py() or 0
    problems += pc.sum(pc.cast(pc.less_equal(table["accuracy_m"], 0), pa.int64())).as_py() or 0
    allowed = pa.array(["gps", "wifi", "cell", "ip"])
    outside = pc.invert(pc.is_in(table["source"], value_set=allowed))
    problems += pc.sum(pc.cast(outside, pa.int64())).as_py() or 0
    seconds = time.perf_counter() - started
    return {"rows": table.num_rows, "seconds": seconds, "ok": problems == 0, "errors": []}


def measure(kind: str, data: Path, batch_rows: int) -> dict[str, object]:
    """Run one kind in a child process; add its peak RSS."""
    command = [sys.executable, __file__, "--child", kind, "--data", str(data)]
    command += ["--batch-rows", str(batch_rows)]
    with tempfile.TemporaryFile(mode="w+") as out:
        child = subprocess.Popen(command, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"{kind} run failed with exit status {child.returncode}")
        out.seek(0)
        result: dict[str, object] = json.loads(out.read())
    # ru_maxrss of a child starts from the parent's RSS at fork: the child's own VmHWM
    # (its high-water mark since exec) is the clean figure where Linux gives it
    fallback = usage.ru_maxrss / 1024  # Linux reports KiB
    result["peak_rss_mib"] = result.pop("vm_hwm_mib", None) or fallback
    return result


def own_peak_rss_mib() -> float | None:
    """This process's peak resident memory since exec (Linux ``VmHWM``), in MiB."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


# --------------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        ram = f"{mem_kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        ram = "RAM unknown"
    return f"{cpu}, {os.cpu_count()} cores, {ram}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="an evidence folder")
    parser.add_argument("--make-rows", type=int, help="write a synthetic folder of N observations")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--keep", type=Path, help="write the synthetic folder here and keep it")
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["streaming", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "streaming":
            result = run_streaming(args.data, args.batch_rows)
        else:
            result = run_baseline(args.data)
        result["vm_hwm_mib"] = own_peak_rss_mib()
        print(json.dumps(result))
        return
    if (args.data is None) == (args.make_rows is None):
        parser.error("give exactly one of --data DIR or --make-rows N")

    with tempfile.TemporaryDirectory(prefix="fairban-bench-") as scratch:
        data = args.data
        if data is None:
            data = args.keep or Path(scratch) / "evidence"
            data.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            make_evidence(data, args.make_rows, args.format)
            made = time.perf_counter() - started
            print(
                f"wrote {args.make_rows:,} observations ({args.format}) in {made:.1f} s",
                file=sys.stderr,
            )
        results = {kind: measure(kind, data, args.batch_rows) for kind in ["streaming", "baseline"]}

    print(f"Command: `{shlex.join(['uv', 'run', 'python', *sys.argv])}`  ")
    print(f"Machine: {machine()}\n")
    print("| run | observation rows | seconds | rows/s | peak RSS MiB | valid |")
    print("|---|---:|---:|---:|---:|---|")
    labels = {
        "streaming": f"fairban validate_evidence (batch_rows={args.batch_rows:,}; all tables)",
        "baseline": "baseline: read all observations at once, check in one go",
    }
    for kind, result in results.items():
        rows = int(str(result.get("observations", result["rows"])))
        seconds = float(str(result["seconds"]))
        print(
            f"| {labels[kind]} | {rows:,} | {seconds:.1f} | {rows / seconds:,.0f} "
            f"| {float(str(result['peak_rss_mib'])):,.0f} | {'yes' if result['ok'] else 'no'} |"
        )
        for line in result.get("errors") or []:  # type: ignore[attr-defined]
            print(f"  {line}", file=sys.stderr)


if __name__ == "__main__":
    main()
