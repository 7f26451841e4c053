"""Malformed CSV files give one line with the row; well-formed variants are accepted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairban.contract import iter_batches

if TYPE_CHECKING:
    from conftest import Evidence

HEADER = "account_id,ts,lat,lon,accuracy_m,source,ip,cell_id,device_id\n"
ROW = "wechat:wxid_a,2019-09-28T21:14:00+08:00,23.72,98.58,12,gps,,,dev1\n"


def test_a_row_with_too_few_fields(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + ROW + "wechat:wxid_a,2019-09-28T21:14:00Z,1,2\n")
    assert evidence.first_error("observations") == (
        "observations.csv row 3: expected 9 fields, got 4 (check the quoting)"
    )


def test_a_row_with_too_many_fields(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + ROW * 3 + ROW.replace("dev1", "dev1,extra"))
    message = "observations.csv row 5: expected 9 fields, got 10 (check the quoting)"
    assert evidence.first_error("observations") == message
    assert evidence.errors() == [message]


def test_a_quote_left_open_before_the_end(evidence: Evidence) -> None:
    # the quote opened in row 2 closes in the next line, which makes one long record
    evidence.csv("observations", HEADER + ROW.replace("dev1", '"dev1') + 'x",more\n' + ROW)
    assert evidence.first_error("observations") == (
        "observations.csv row 2: expected 9 fields, got 10 (check the quoting)"
    )


def test_a_quote_left_open_at_the_end(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + ROW + ROW.replace("dev1", '"dev1'))
    assert evidence.first_error("observations") == (
        "observations.csv: unbalanced quotes: a quoted value is never closed, "
        "or a '\"' stands outside quotes"
    )


def test_bytes_that_are_not_utf8(evidence: Evidence) -> None:
    latin1 = ROW.replace("dev1", "caf\xe9").encode("latin-1")
    evidence.text("observations.csv", (HEADER + ROW + ROW).encode() + latin1)
    assert evidence.first_error("observations") == "observations.csv row 4: not valid UTF-8"


def test_a_header_that_is_not_utf8(evidence: Evidence) -> None:
    evidence.text("observations.csv", HEADER.replace("ip", "\xefp").encode("latin-1") + b"\n")
    assert evidence.first_error("observations") == "observations.csv row 1: not valid UTF-8"


def test_not_utf8_in_an_ignored_column_is_ignored(evidence: Evidence) -> None:
    header = HEADER.strip() + ",notes\n"
    evidence.text("observations.csv", header.encode() + ROW.strip().encode() + b",caf\xe9\n")
    assert [b.num_rows for b in iter_batches(evidence.root, "observations")] == [1]


def test_an_empty_file(evidence: Evidence) -> None:
    evidence.csv("observations", "")
    assert evidence.first_error("observations") == (
        "observations.csv: the file is empty (expected a header row)"
    )


def test_a_header_alone_is_an_empty_table(evidence: Evidence) -> None:
    evidence.csv("interactions", "src,dst,ts,kind,amount\n")
    assert list(iter_batches(evidence.root, "interactions")) == []
    report = evidence.errors()
    assert report == []


def test_a_missing_required_column(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER.replace(",accuracy_m", "") + ROW.replace(",12", ""))
    assert evidence.first_error("observations") == (
        "observations.csv: missing required column 'accuracy_m'"
    )


def test_a_missing_column_with_spaces_in_the_header_says_so(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER.replace(",ts,", ", ts,") + ROW)
    assert evidence.first_error("observations") == (
        "observations.csv: missing required column 'ts' (the header has ' ts')"
    )


def test_a_column_twice_in_the_header(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER.strip() + ",lat\n" + ROW.strip() + ",1\n")
    assert evidence.first_error("observations") == (
        "observations.csv: column 'lat' appears twice in the header"
    )


def test_bom_crlf_and_any_column_order_are_fine(evidence: Evidence) -> None:
    names = HEADER.strip().split(",")
    values = ROW.strip().split(",")
    order = [8, 7, 6, 5, 4, 3, 2, 1, 0]
    header = ",".join(names[i] for i in order)
    row = ",".join(values[i] for i in order)
    evidence.text("observations.csv", b"\xef\xbb\xbf" + f"{header}\r\n{row}\r\n".encode())
    (batch,) = iter_batches(evidence.root, "observations")
    assert batch.schema.names == names
    assert batch.column("device_id").to_pylist() == ["dev1"]
    assert batch.column("lat").to_pylist() == [23.72]


def test_optional_columns_may_be_left_out(evidence: Evidence) -> None:
    evidence.csv("accounts", "platform,account_id\nqq,qq:1\n")
    (batch,) = iter_batches(evidence.root, "accounts")
    assert batch.to_pylist() == [
        {
            "account_id": "qq:1",
            "platform": "qq",
            "person_id": None,
            "phone_region": None,
            "kind": "personal",
            "registered_at": None,
        }
    ]


def test_batches_hold_at_most_batch_rows(evidence: Evidence) -> None:
    evidence.csv("observations", HEADER + ROW * 1000)
    sizes = [b.num_rows for b in iter_batches(evidence.root, "observations", batch_rows=64)]
    assert sum(sizes) == 1000
    assert max(sizes) <= 64


def test_rows_are_counted_when_no_wanted_column_is_in_the_file(evidence: Evidence) -> None:
    evidence.csv("accounts", "account_id,platform\nqq:1,qq\nqq:2,qq\n")
    (batch,) = iter_batches(evidence.root, "accounts", columns=["person_id"])
    assert batch.to_pylist() == [{"person_id": None}, {"person_id": None}]
