"""`make bench`: every benchmark at a size that fits a 2-core machine in a few minutes.

Bigger runs (10^8 observations) are in docs/benchmarks.md with their commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent

RUNS = [
    [sys.executable, str(HERE / "bench_simulate.py"), "--accounts", "10000"],
    [sys.executable, str(HERE / "bench_validate.py"), "--make-rows", "10000000"],
    # outbox delivery to the reference platform; PostgreSQL too when
    # FAIRBAN_TEST_POSTGRES_URL is set
    [sys.executable, str(HERE / "bench_delivery.py"), "--messages", "10000"],
]


def run(cmd: list[str]) -> None:
    print(f"\n$ {' '.join(Path(c).name if c.endswith('.py') else c for c in cmd)}")
    sys.stdout.flush()
    subprocess.run(cmd, check=True)


def main() -> None:
    for cmd in RUNS:
        run(cmd)
    # targeting: a 10,000-account world (3.3 million observations), simulated for the run
    with tempfile.TemporaryDirectory(prefix="fairban-bench-world-") as scratch:
        world = Path(scratch) / "world"
        simulate = [sys.executable, "-m", "fairban.cli", "simulate", "--accounts", "10000"]
        subprocess.run([*simulate, "--seed", "2019", "--out", str(world), "-q"], check=True)
        run([sys.executable, str(HERE / "bench_target.py"), "--world", str(world)])
    # DuckDB against Spark local[2] (the 'spark' extra and Java 17): a 3,000-account world
    # (10^6 observations), simulated by the script itself
    run([sys.executable, str(HERE / "bench_spark.py"), "--simulate", "3000"])
    # appeal intake (FastAPI's route and the own path, side by side) and appeal -> lift:
    # PostgreSQL only, when FAIRBAN_TEST_POSTGRES_URL names one
    if os.environ.get("FAIRBAN_TEST_POSTGRES_URL"):
        appeals = [sys.executable, str(HERE / "bench_appeals.py"), "--cases", "8000"]
        run([*appeals, "--intake-seconds", "4", "--lift", "100"])
        # the person's pages (bare link, case page, the first status page after filing)
        # with the re-check beside the server
        run([sys.executable, str(HERE / "bench_portal.py"), "--persons", "600"])


if __name__ == "__main__":
    main()
