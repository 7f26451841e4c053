"""Where the store's time goes: every write of the first ingest, the first judgement's
version rollups, the kept pairs window, each feature step and the scoring, timed from outside (the functions wrapped).

    uv run python benchmarks/bench_store_steps.py WORLD SCRATCH first [daily]

WORLD is a simulated world; SCRATCH a folder for the stores (replaced). ``first``: a new
store, the whole evidence ingested, then the first judgement; ``daily``: the daily step
as ``bench_daily.py`` runs it (after its untimed preparation). Prints one line a step.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import fairban.store.ingest as ingest_module
import fairban.store.judge as judge_module
import fairban.targeting.engine as engine_module
from fairban.contract import load_directive
from fairban.store.ingest import ingest
from fairban.store.judge import judge
from fairban.store.layout import Store
from fairban.targeting.backends.duckdb import DuckDBBackend

sys.path.insert(0, str(Path(__file__).parent))
import bench_daily  # its preparation and daily run


def wrap(owner: Any, name: str) -> None:
    inner = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = inner(*args, **kwargs)
        label = name
        if name == "create":
            label = f"create {args[1]}"
        elif name == "write_by_day":
            label = f"write_by_day {Path(args[2]).parent.name}/{Path(args[2]).name}"
        print(f"  {label:44s} {time.perf_counter() - started:7.2f}", flush=True)
        return result

    setattr(owner, name, timed)


def main() -> None:
    world, scratch, kinds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    for owner, name in (
        (DuckDBBackend, "create"),
        (DuckDBBackend, "map_batches"),
        (ingest_module, "write_by_day"),
        (ingest_module, "check_evidence"),
        (judge_module, "write_by_day"),
        (judge_module, "_ensure_rollups"),
        (judge_module.windows, "pairs_window"),
        (judge_module, "_open"),
        (engine_module, "score_features"),
    ):
        wrap(owner, name)
    directive = load_directive(world / "directive.yaml")
    limit = bench_daily._limit()
    if "first" in kinds:
        root = scratch / "first-store"
        shutil.rmtree(root, ignore_errors=True)
        started = time.perf_counter()
        store = Store(root, create=True)
        ingest(store, world / "evidence", memory_limit=limit)
        ingested = time.perf_counter()
        print(f"INGEST {ingested - started:.1f}", flush=True)
        judge(store, directive, as_of=directive.issued_at, memory_limit=limit)
        done = time.perf_counter()
        print(f"FIRST JUDGEMENT {done - ingested:.1f} TOTAL {done - started:.1f}", flush=True)
    if "daily" in kinds:
        spec_file = scratch / "spec.json"
        if not spec_file.exists():
            spec_file.write_text(json.dumps(bench_daily.prepare(world, scratch)))
        spec = json.loads(spec_file.read_text())
        run = scratch / "daily-run"
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(spec["history_store"], run)
        spec["history_store"] = str(run)
        started = time.perf_counter()
        bench_daily.run_daily(spec)
        print(f"DAILY {time.perf_counter() - started:.1f}", flush=True)
    print(f"peak RSS MiB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}")


if __name__ == "__main__":
    main()
