"""Finding the tables of an evidence folder, and the folder-level errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from fairban.contract import TableFiles, discover, iter_batches, validate_evidence
from fairban.errors import InputError

if TYPE_CHECKING:
    from conftest import Evidence


def message_of(data_dir: Path) -> str:
    with pytest.raises(InputError) as caught:
        discover(data_dir)
    return str(caught.value)


def test_finds_each_table_in_contract_order(evidence: Evidence) -> None:
    found = discover(evidence.root)
    assert list(found) == ["accounts", "observations", "interactions", "confirmed"]
    assert found["observations"] == TableFiles(
        "observations", "csv", (evidence.root / "observations.csv",), evidence.root
    )


def test_confirmed_is_optional(evidence: Evidence) -> None:
    evidence.remove("confirmed.csv")
    assert "confirmed" not in discover(evidence.root)
    assert list(iter_batches(evidence.root, "confirmed")) == []
    assert validate_evidence(evidence.root).ok


def test_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert message_of(missing) == f"evidence folder {missing}: not found"


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "evidence.csv"
    file.write_text("x")
    assert message_of(file) == f"evidence folder {file}: is not a folder"


def test_an_empty_folder(tmp_path: Path) -> None:
    assert message_of(tmp_path) == f"evidence folder {tmp_path}: is empty"


def test_a_missing_required_table(evidence: Evidence) -> None:
    evidence.remove("accounts.csv")
    assert message_of(evidence.root) == (
        f"evidence folder {evidence.root}: missing required table 'accounts' "
        "(accounts.csv, accounts.parquet or accounts/)"
    )


def test_validation_lists_every_missing_table(evidence: Evidence) -> None:
    evidence.remove("accounts.csv")
    evidence.remove("interactions.csv")
    assert evidence.errors() == [
        f"evidence folder {evidence.root}: missing required table 'accounts' "
        "(accounts.csv, accounts.parquet or accounts/)",
        f"evidence folder {evidence.root}: missing required table 'interactions' "
        "(interactions.csv, interactions.parquet or interactions/)",
    ]


def test_a_table_given_twice(evidence: Evidence) -> None:
    evidence.parquet("observations.parquet", pa.table({"account_id": ["a"]}))
    assert message_of(evidence.root) == (
        f"evidence folder {evidence.root}: table 'observations' is given twice "
        "(observations.csv and observations.parquet); keep one"
    )


def test_a_table_folder_without_parquet_files(evidence: Evidence) -> None:
    evidence.remove("observations.csv")
    evidence.text("observations/readme.txt", "nothing here")
    evidence.text("observations/_SUCCESS", "")
    assert message_of(evidence.root) == (
        f"evidence folder {evidence.root}: observations/ holds no .parquet files"
    )


def test_a_parquet_folder_lists_files_recursively_and_skips_markers(evidence: Evidence) -> None:
    evidence.remove("observations.csv")
    table = pa.table({"account_id": ["a"]})
    for name in [
        "observations/day=2019-10-02/part-0.parquet",
        "observations/day=2019-10-01/part-1.parquet",
        "observations/day=2019-10-01/part-0.parquet",
        "observations/_temporary/part-9.parquet",
        "observations/.hidden.parquet",
    ]:
        evidence.parquet(name, table)
    evidence.text("observations/_SUCCESS", "")
    files = discover(evidence.root)["observations"]
    assert files.format == "parquet_dir"
    assert [files.display(p) for p in files.paths] == [
        "observations/day=2019-10-01/part-0.parquet",
        "observations/day=2019-10-01/part-1.parquet",
        "observations/day=2019-10-02/part-0.parquet",
    ]


def test_a_spark_style_parquet_folder_counts_as_a_folder(evidence: Evidence) -> None:
    evidence.remove("confirmed.csv")
    evidence.parquet("confirmed.parquet/part-0.parquet", pa.table({"account_id": ["a"]}))
    files = discover(evidence.root)["confirmed"]
    assert files.format == "parquet_dir"
    assert files.display(files.paths[0]) == "confirmed.parquet/part-0.parquet"


def test_streaming_a_table_the_contract_lacks_is_a_programming_error(evidence: Evidence) -> None:
    with pytest.raises(ValueError, match="no contract table 'people'"):
        list(iter_batches(evidence.root, "people"))
    with pytest.raises(ValueError, match="has no column 'height'"):
        list(iter_batches(evidence.root, "accounts", columns=["height"]))
