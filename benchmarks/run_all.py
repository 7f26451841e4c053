"""`make bench`: every benchmark at a size that fits a 2-core machine in a few minutes.

Bigger runs (10^8 observations) are in docs/benchmarks.md with their commands.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

RUNS = [
    [sys.executable, str(HERE / "bench_simulate.py"), "--accounts", "10000"],
    [sys.executable, str(HERE / "bench_validate.py"), "--make-rows", "10000000"],
]


def main() -> None:
    for cmd in RUNS:
        print(f"\n$ {' '.join(Path(c).name if c.endswith('.py') else c for c in cmd)}")
        sys.stdout.flush()
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
