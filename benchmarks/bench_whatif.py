"""A what-if cold: ``engine.rescore`` of a kept judgement in a fresh process, as
``fairban preview --thresholds`` and ``bench_daily.py``'s "whatif" kind run it.

    uv run python benchmarks/bench_whatif.py --directive D.yaml --kept KEPT
        [--old-src OLD/src --old-kept OLD_KEPT] [--runs 5]

KEPT is a folder ``keep_scored`` wrote (``FAIRBAN_HOME/preview/<key>/scored`` after a
first ``fairban preview``). With ``--old-src`` (the ``src`` of another checkout, e.g. a
``git worktree`` of an older commit) and its own kept folder ``--old-kept``, the two run
in turns, each ``--runs`` times; with ``--upgrade``, KEPT is first written from
``--old-kept`` (an older fairban's tables, re-kept as this one keeps them) so that both
score the same features, and their decisions are compared column for column.

Each run is a child process: ``imports`` is the time to import the engine; ``pandas``
then importing pandas, which pyarrow does on its first conversion to numpy (the older
engine did so at its import, this one in ``rescore``: timed apart so that ``rescore``,
the call itself, with restrict 0.5 and suspend 0.95 as bench_daily, is comparable);
``process`` the child's whole wall time. Prints a markdown table (medians) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from fairban.contract import load_directive
from fairban.contract.directive import RiskThresholds
from fairban.targeting.engine import rescore
t1 = time.perf_counter()
import pandas  # pyarrow imports it on its first conversion to numpy: timed apart
t_pandas = time.perf_counter() - t1
directive = load_directive(Path(sys.argv[1]))
tried = directive.model_copy(update={"thresholds": RiskThresholds(restrict=0.5, suspend=0.95)})
t2 = time.perf_counter()
result = rescore(tried, Path(sys.argv[2]))
t3 = time.perf_counter()
if len(sys.argv) > 3:
    import pyarrow.parquet as pq
    pq.write_table(result.decisions, sys.argv[3])
print(json.dumps({"imports": t1 - t0, "pandas": t_pandas, "rescore": t3 - t2,
                  "rows": result.decisions.num_rows,
                  "counts": result.counts()}))
"""


def upgrade(old: Path, new: Path) -> None:
    """``old`` (kept by fairban 94da51a: version 2) as this fairban keeps it."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fairban.targeting.engine import _home_gb

    new.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()

    def q(sql: str) -> pa.Table:
        return con.sql(sql).to_arrow_table()

    feats = q(f"SELECT * FROM '{old}/features.parquet' ORDER BY account_id")
    homes = pa.array(_home_gb(feats), pa.string())
    pq.write_table(feats.append_column("home_gb", homes), new / "features.parquet")
    linked = f"(SELECT account_id FROM '{old}/linked.parquet')"
    money = f"SELECT src, dst, n, amount FROM '{old}/money_edges.parquet' WHERE dst IN {linked}"
    pq.write_table(q(money), new / "money_edges.parquet")
    pq.write_table(q(f"SELECT * FROM '{old}/device_pairs.parquet'"), new / "device_pairs.parquet")
    pq.write_table(q(f"SELECT account_id FROM {linked}"), new / "linked.parquet")


def run(directive: Path, kept: Path, src: Path | None, out: Path | None) -> dict[str, float]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)  # ahead of the editable install's own src
    args = [sys.executable, "-c", CHILD, str(directive), str(kept)]
    if out is not None:
        args.append(str(out))
    import time

    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directive", type=Path, required=True)
    parser.add_argument("--kept", type=Path, required=True)
    parser.add_argument("--old-src", type=Path)
    parser.add_argument("--old-kept", type=Path)
    parser.add_argument("--upgrade", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    a = parser.parse_args()
    if a.upgrade:
        upgrade(a.old_kept, a.kept)
    sides = {"this": (a.kept, None)}
    if a.old_src is not None:
        sides = {"old": (a.old_kept, a.old_src), **sides}
    times: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as scratch:
        outs = {name: Path(scratch) / f"{name}.parquet" for name in sides}
        for i in range(a.runs):
            for name, (kept, src) in sides.items():
                times[name].append(run(a.directive, kept, src, outs[name] if i == 0 else None))
        same = None
        if a.upgrade and a.old_src is not None:
            import pyarrow.parquet as pq

            same = pq.read_table(outs["old"]).equals(pq.read_table(outs["this"]))
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} after the runs")
    print("| code | runs | imports s | pandas s | rescore() s | process s | decisions |")
    print("|---|---:|---:|---:|---:|---:|---|")
    keys = ("imports", "pandas", "rescore", "process")
    for name, rows in times.items():
        med = {k: statistics.median(r[k] for r in rows) for k in keys}
        counts = rows[0]["counts"]
        print(
            f"| {name} | {len(rows)} | {med['imports']:.2f} | {med['pandas']:.2f} "
            f"| {med['rescore']:.2f} | {med['process']:.2f} | {rows[0]['rows']:,} rows, {counts} |"
        )
    if same is not None:
        print(f"decisions of old and this, column for column: {'equal' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
