"""validate_evidence: statistics, collected errors, cross-table checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from fairban.contract import TableSummary, validate_evidence
from fairban.progress import Advance

if TYPE_CHECKING:
    from conftest import Evidence

ACCOUNTS_HEADER = "account_id,platform,person_id,phone_region,kind,registered_at\n"
OBSERVATIONS_HEADER = "account_id,ts,lat,lon,accuracy_m,source,ip,cell_id,device_id\n"
ROW = "wechat:wxid_a,2019-09-28T21:14:00+08:00,23.72,98.58,12,gps,,,dev1\n"


def test_a_valid_folder_reports_what_it_holds(evidence: Evidence) -> None:
    report = validate_evidence(evidence.root)
    assert report.ok
    assert report.errors.lines() == []
    assert report.tables == {
        "accounts": TableSummary("accounts", "csv", 1, 3),
        "observations": TableSummary("observations", "csv", 1, 3),
        "interactions": TableSummary("interactions", "csv", 1, 2),
        "confirmed": TableSummary("confirmed", "csv", 1, 1),
    }
    assert report.ts_min == datetime(2019, 9, 28, 13, 14, tzinfo=UTC)
    assert report.ts_max == datetime(2019, 9, 29, 12, 30, 0, 250000, tzinfo=UTC)
    assert report.platforms == {"wechat": 1, "qq": 1, "pos": 1}
    assert report.sources == {"gps": 1, "cell": 1, "wifi": 1}
    assert report.interaction_kinds == {"message": 1, "payment": 1}
    assert report.ip_placed == 0
    assert report.unknown_accounts == 0


def test_errors_are_collected_across_tables_in_order(evidence: Evidence) -> None:
    evidence.csv("accounts", ACCOUNTS_HEADER + "qq:1,QQ,,,,\nqq:2,qq,,,,\n")
    evidence.csv(
        "observations",
        OBSERVATIONS_HEADER + ROW.replace("gps", "gsm") + ROW + ROW.replace("23.72", "99"),
    )
    evidence.csv("interactions", "src,dst,ts,kind\n")
    report = validate_evidence(evidence.root)
    assert not report.ok
    assert report.errors.lines() == [
        "accounts.csv row 2: platform 'QQ' is not a lowercase name "
        "(letters a-z, digits, '_' or '-')",
        "observations.csv row 2: source 'gsm' is not one of gps, wifi, cell, ip",
        "observations.csv row 4: lat 99 is outside [-90, 90]",
    ]
    # interactions may be empty
    assert report.tables["interactions"].rows == 0


def test_a_file_level_error_ends_that_file_only(evidence: Evidence) -> None:
    evidence.csv("accounts", ACCOUNTS_HEADER.replace("platform,", ""))
    evidence.csv("observations", OBSERVATIONS_HEADER + ROW + ROW.replace("12,", "-1,"))
    assert evidence.errors() == [
        "accounts.csv: missing required column 'platform'",
        "observations.csv row 3: accuracy_m -1 must be > 0",
    ]


def test_errors_beyond_max_errors_are_counted(evidence: Evidence) -> None:
    bad = ROW.replace("gps", "gsm")
    evidence.csv("observations", OBSERVATIONS_HEADER + bad * 250 + ROW + bad * 250)
    report = validate_evidence(evidence.root, max_errors=3, batch_rows=100)
    assert report.errors.total == 500
    assert report.errors.lines() == [
        "observations.csv row 2: source 'gsm' is not one of gps, wifi, cell, ip",
        "observations.csv row 3: source 'gsm' is not one of gps, wifi, cell, ip",
        "observations.csv row 4: source 'gsm' is not one of gps, wifi, cell, ip",
        "... and 497 more errors",
    ]
    assert report.tables["observations"].rows == 501


def test_a_duplicate_account_id_names_both_rows(evidence: Evidence) -> None:
    evidence.csv(
        "accounts",
        ACCOUNTS_HEADER + "qq:1,qq,,,,\nqq:2,qq,,,,\nqq:1,qq,,,,\nqq:3,qq,,,,\nqq:2,qq,,,,\n",
    )
    assert evidence.errors(batch_rows=2) == [
        "accounts.csv row 4: account_id 'qq:1' repeats row 2",
        "accounts.csv row 6: account_id 'qq:2' repeats row 3",
    ]


def test_a_duplicate_account_id_across_parquet_files(evidence: Evidence) -> None:
    evidence.remove("accounts.csv")
    evidence.parquet(
        "accounts/part-0.parquet", pa.table({"account_id": ["a", "b"], "platform": ["qq"] * 2})
    )
    evidence.parquet("accounts/part-1.parquet", pa.table({"account_id": ["b"], "platform": ["qq"]}))
    assert evidence.errors() == [
        "accounts/part-1.parquet row 1: account_id 'b' repeats accounts/part-0.parquet row 2"
    ]


def test_accounts_outside_the_input_are_a_warning_not_an_error(evidence: Evidence) -> None:
    evidence.csv(
        "observations",
        OBSERVATIONS_HEADER
        + ROW
        + ROW.replace("wechat:wxid_a", "x:1") * 3
        + ROW.replace("wechat:wxid_a", "x:2"),
    )
    evidence.csv("confirmed", "account_id,case_id\nnobody:9,case-7\n")
    report = validate_evidence(evidence.root)
    assert report.ok
    assert report.unknown_accounts == 2


def test_validation_never_raises_on_bad_input(tmp_path: Path) -> None:
    report = validate_evidence(tmp_path / "missing")
    assert not report.ok
    assert report.errors.lines() == [f"evidence folder {tmp_path / 'missing'}: not found"]


class RecordedProgress:
    """A Progress that keeps every stage and what was advanced."""

    def __init__(self) -> None:
        self.stages: dict[str, tuple[float | None, float]] = {}

    def stage(
        self, description: str, total: float | None = None
    ) -> AbstractContextManager[Advance]:
        return self._stage(description, total)

    @contextmanager
    def _stage(self, description: str, total: float | None) -> Iterator[Advance]:
        done = [0.0]

        def advance(n: float) -> None:
            done[0] += n

        yield advance
        self.stages[description] = (total, done[0])


def test_progress_reaches_each_stage_total(evidence: Evidence) -> None:
    evidence.csv("observations", OBSERVATIONS_HEADER + ROW * 5000)
    evidence.csv_as_parquet("interactions")
    progress = RecordedProgress()
    validate_evidence(evidence.root, progress=progress, batch_rows=700)
    assert list(progress.stages) == [
        "Validating accounts",
        "Validating observations",
        "Validating interactions",
        "Validating confirmed",
    ]
    for total, done in progress.stages.values():
        assert total == done
    # CSV advances in bytes, Parquet in rows
    assert (
        progress.stages["Validating observations"][0]
        == (evidence.root / "observations.csv").stat().st_size
    )
    assert progress.stages["Validating interactions"][0] == 2
