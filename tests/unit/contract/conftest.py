"""Evidence folders written into tmp_path: valid by default, broken one table at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from fairban.contract import TABLES, iter_batches, validate_evidence
from fairban.errors import InputError

ACCOUNTS_HEADER = "account_id,platform,person_id,phone_region,kind,registered_at\n"
OBSERVATIONS_HEADER = "account_id,ts,lat,lon,accuracy_m,source,ip,cell_id,device_id\n"
INTERACTIONS_HEADER = "src,dst,ts,kind,amount\n"
CONFIRMED_HEADER = "account_id,case_id,confirmed_at\n"

ACCOUNTS_CSV = ACCOUNTS_HEADER + (
    "wechat:wxid_a,wechat,p1,530300,,2018-01-02T03:04:05+08:00\n"
    "qq:1001,qq,p1,MM,personal,\n"
    "pos:shop9,pos,,,merchant,2017-05-05T00:00:00Z\n"
)
OBSERVATIONS_CSV = OBSERVATIONS_HEADER + (
    "wechat:wxid_a,2019-09-28T21:14:00+08:00,23.72,98.58,12,gps,,,dev1\n"
    "qq:1001,2019-09-29T10:00:00Z,23.7,98.6,800,cell,,414-01-1201-33071,\n"
    "qq:1001,2019-09-29T11:00:00.25-01:30,23.71,98.61,45.5,wifi,,,dev2\n"
)
INTERACTIONS_CSV = INTERACTIONS_HEADER + (
    "wechat:wxid_a,qq:1001,2019-09-28T22:00:00+08:00,message,\n"
    "qq:1001,pos:shop9,2019-09-29T12:00:00Z,payment,35.5\n"
)
CONFIRMED_CSV = CONFIRMED_HEADER + "wechat:wxid_a,case-1,2019-10-01T00:00:00+08:00\n"

VALID_CSV = {
    "accounts": ACCOUNTS_CSV,
    "observations": OBSERVATIONS_CSV,
    "interactions": INTERACTIONS_CSV,
    "confirmed": CONFIRMED_CSV,
}


@dataclass
class Evidence:
    """An evidence folder under construction; starts with the valid CSV tables."""

    root: Path

    def text(self, name: str, text: str | bytes) -> Path:
        """Write ``name`` (e.g. ``observations.csv``) byte for byte."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    def csv(self, table: str, text: str) -> Path:
        return self.text(f"{table}.csv", text)

    def parquet(self, name: str, table: pa.Table, **options: Any) -> Path:
        """Write ``name`` (``observations.parquet`` or ``observations/x/part.parquet``)."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, **options)
        return path

    def remove(self, name: str) -> None:
        (self.root / name).unlink()

    def csv_as_parquet(self, table: str) -> Path:
        """Replace ``table.csv`` by a Parquet file of the same text columns."""
        source = self.root / f"{table}.csv"
        data = pa_csv.read_csv(
            source,
            convert_options=pa_csv.ConvertOptions(
                column_types={}, strings_can_be_null=True, auto_dict_encode=False
            ),
        )
        source.unlink()
        return self.parquet(f"{table}.parquet", data)

    def first_error(self, table: str, **options: Any) -> str:
        """The one line that streaming ``table`` raises; fails if it raises nothing."""
        with pytest.raises(InputError) as caught:
            for _ in iter_batches(self.root, table, **options):
                pass
        return str(caught.value)

    def errors(self, **options: Any) -> list[str]:
        report = validate_evidence(self.root, **options)
        return report.errors.lines()


@pytest.fixture
def evidence(tmp_path: Path) -> Evidence:
    folder = Evidence(tmp_path / "evidence")
    for table, text in VALID_CSV.items():
        folder.csv(table, text)
    return folder


@pytest.fixture
def canonical() -> Callable[[Path, str], pa.Table]:
    """A table read through iter_batches, sorted so that file order does not matter."""

    def read(root: Path, table: str) -> pa.Table:
        batches = list(iter_batches(root, table, batch_rows=2))
        schema = TABLES[table].arrow_schema()
        data = pa.Table.from_batches(batches, schema=schema)
        return data.sort_by([(name, "ascending") for name in schema.names]).combine_chunks()

    return read
