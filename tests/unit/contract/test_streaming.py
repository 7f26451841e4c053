"""Validation streams: Arrow memory follows the batch size, not the size of the table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROWS = 3_000_000
ACCOUNTS = 20_000

MEASURE = """
import json, sys, tracemalloc
from pathlib import Path
import pyarrow as pa
from fairban.contract import validate_evidence
tracemalloc.start()
report = validate_evidence(Path(sys.argv[1]), batch_rows=int(sys.argv[2]))
print(json.dumps({
    "ok": report.ok,
    "lines": report.errors.lines(),
    "rows": report.tables["observations"].rows,
    "arrow_peak": pa.default_memory_pool().max_memory(),
    "python_peak": tracemalloc.get_traced_memory()[1],
}))
"""


def write_big_evidence(root: Path) -> int:
    """A valid folder whose observations take ROWS rows; returns their decoded size."""
    root.mkdir()
    ids = pa.array([f"wechat:wxid_{i:08d}" for i in range(ACCOUNTS)])
    pq.write_table(
        pa.table({"account_id": ids, "platform": ["wechat"] * ACCOUNTS}), root / "accounts.parquet"
    )
    pq.write_table(
        pa.table(
            {"src": ["a"], "dst": ["b"], "ts": pa.array([0], pa.timestamp("s")), "kind": ["call"]}
        ),
        root / "interactions.parquet",
    )
    rng = np.random.default_rng(7)
    decoded = 0
    schema = None
    with pq.ParquetWriter(root / "observations.parquet", _schema()) as writer:
        for start in range(0, ROWS, 500_000):
            n = min(500_000, ROWS - start)
            table = pa.table(
                {
                    "account_id": ids.take(rng.integers(0, ACCOUNTS, n)),
                    "ts": pa.array(1_570_000_000 + rng.integers(0, 10**7, n), pa.timestamp("s")),
                    "lat": rng.uniform(16, 28, n),
                    "lon": rng.uniform(92, 101, n),
                    "accuracy_m": rng.uniform(5, 5000, n),
                    "source": pa.array(np.array(["gps", "wifi", "cell"])[rng.integers(0, 3, n)]),
                },
                schema=schema or _schema(),
            )
            decoded += table.nbytes
            writer.write_table(table, row_group_size=100_000)
    return decoded


def _schema() -> pa.Schema:
    return pa.schema(
        [
            ("account_id", pa.string()),
            ("ts", pa.timestamp("s")),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("accuracy_m", pa.float64()),
            ("source", pa.string()),
        ]
    )


def measure(root: Path, batch_rows: int) -> dict[str, object]:
    # a fresh process, so that the peaks are this validation's alone
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(root), str(batch_rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_memory_is_bounded_by_the_batch_not_the_table(tmp_path: Path) -> None:
    root = tmp_path / "big"
    decoded = write_big_evidence(root)
    result = measure(root, batch_rows=50_000)
    assert result["ok"], result["lines"]
    assert result["rows"] == ROWS
    arrow_peak = int(str(result["arrow_peak"]))
    python_peak = int(str(result["python_peak"]))
    # the whole observations table would take `decoded` bytes (about 190 MB)
    assert decoded > 150 * 2**20
    assert arrow_peak < decoded / 5, (arrow_peak, decoded)
    assert python_peak < decoded / 5, (python_peak, decoded)
