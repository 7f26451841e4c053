"""``fairban report transparency`` as a person runs it: a real process on a store of the
test's own, the files it writes, and one line for each bad input, with nothing written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fairban.appeals.blobs import BlobStore
from fairban.contract import Directive
from fairban.db import session_factory
from tests.support.cases import Decide
from tests.support.transparency import build
from tests.unit.cli.test_audit import fairban

FILES = {
    "index.html",
    "index.en.html",
    "report.json",
    "summary.csv",
    "measures.csv",
    "grounds.csv",
    "endings.csv",
    "appeals.csv",
    "appeal_grounds.csv",
    "directives.csv",
    "breaker.csv",
    "pauses.csv",
    "statements.csv",
    "audit-log.checkpoint",
}


@pytest.fixture
def store_url(
    new_engine: Engine,
    new_db_url: str,
    directive: Directive,
    decide: Decide,
    blobs: BlobStore,
    tmp_path: Path,
) -> str:
    with session_factory(new_engine)() as session:
        build(session, directive, decide, blobs, tmp_path)
        session.commit()
    return new_db_url


def _run(url: str, home: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    args = ["report", "transparency", "--from", "2019-10-15", "--to", "2019-10-16"]
    done = fairban(*args, "--out", str(out), "--db", url, *extra, home=home)
    return done.returncode, done.stdout, done.stderr


def test_writes_the_report_whole(store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, stdout, stderr = _run(store_url, tmp_path / "home", out)
    assert (code, stderr) == (0, ""), stderr
    assert "8 measures, 5 appeals received, 4 decided, 1 breaker trips" in stdout
    assert {p.name for p in out.iterdir()} == FILES
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["format"] == "fairban-transparency-report/1"
    assert data["measures"]["total"] == 8
    assert data["appeals"]["median_hours"] == 6.5
    with (out / "measures.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(int(r["measures"]) for r in rows) == 8
    summary = dict(csv.reader((out / "summary.csv").open(encoding="utf-8")))
    assert summary["appeals_p90_hours"] == "28.0"
    zh = (out / "index.html").read_text(encoding="utf-8")
    en = (out / "index.en.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in zh
    assert "透明度报告" in zh
    assert '<html lang="en">' in en
    assert "Transparency report" in en
    for page in (zh, en):
        assert "<script" not in page
        assert "http://" not in page
        assert "https://" not in page
        assert page.count("<svg") == 4  # platform, measure, ground, outcome
    checkpoint = (out / "audit-log.checkpoint").read_text(encoding="utf-8")
    assert checkpoint == data["audit"]["checkpoint"]
    assert checkpoint in zh.replace("&#43;", "+")
    # an existing report is kept without --force, replaced with it
    code, _, stderr = _run(store_url, tmp_path / "home", out)
    assert code == 2
    assert stderr == f"--out: {out} exists and is not empty (give --force to replace it)\n"
    code, _, stderr = _run(store_url, tmp_path / "home", out, "--force")
    assert (code, stderr) == (0, "")
    assert {p.name for p in out.iterdir()} == FILES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "2019-10-16", "--to", "2019-10-15"],
            "--to: 2019-10-15 is before --from 2019-10-16",
        ),
        (
            ["--from", "15/10/2019", "--to", "2019-10-15"],
            "--from: expected a day such as 2019-10-14, got '15/10/2019'",
        ),
    ],
)
def test_bad_periods(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = fairban("report", "transparency", *args, "--out", str(out), home=tmp_path / "home")
    assert (done.returncode, done.stderr) == (2, message + "\n")
    assert not out.exists()
    assert not (tmp_path / "home" / "fairban.db").exists()


def test_a_missing_store_is_not_made(tmp_path: Path) -> None:
    out = tmp_path / "report"
    missing = tmp_path / "nowhere.db"
    done = fairban(
        "report",
        "transparency",
        "--from",
        "2019-10-15",
        "--to",
        "2019-10-16",
        "--out",
        str(out),
        "--db",
        f"sqlite:///{missing}",
        home=tmp_path / "home",
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1
    assert str(missing) in done.stderr
    assert not missing.exists()
    assert not out.exists()


def test_out_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("mine", encoding="utf-8")
    done = fairban(
        "report",
        "transparency",
        "--from",
        "2019-10-15",
        "--to",
        "2019-10-16",
        "--out",
        str(out),
        "--force",
        home=tmp_path / "home",
    )
    assert (done.returncode, done.stderr) == (2, f"--out: {out} is a file, not a folder\n")
    assert out.read_text(encoding="utf-8") == "mine"
