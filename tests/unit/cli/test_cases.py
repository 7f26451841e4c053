"""``fairban enforce``, ``pause``, ``resume``, ``expire`` and ``cases list|show`` as a
person runs them: real processes on a small simulated world of 2019 (its seed personas
included), on a database of the test's own (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry
from fairban.cases.models import Case, NoticeRecord
from fairban.db import make_engine, session_factory
from fairban.notices import validate_statement
from fairban.platforms.models import OutboxMessage
from fairban.targeting.run import run_target
from fairban.world import WorldConfig, simulate_world

HIT = ("restrict", "suspend")


@dataclass(frozen=True)
class World:
    root: Path
    truth: dict[str, dict[str, str]]

    @property
    def directive(self) -> Path:
        return self.root / "directive.yaml"

    @property
    def evidence(self) -> Path:
        return self.root / "evidence"

    @property
    def decisions(self) -> Path:
        return self.root / "decisions"

    def persona(self, prefix: str) -> list[str]:
        return [a for a, t in self.truth.items() if t["persona"].startswith(prefix)]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    # 2,000 accounts over 60 days: every seed persona, F2's victims included, in ~10 s
    root = tmp_path_factory.mktemp("cases-world") / "world"
    simulate_world(WorldConfig(accounts=2000, seed=5, days=60), root)
    run_target(root / "directive.yaml", root / "evidence", root / "decisions")
    with (root / "truth.csv").open(encoding="utf-8") as fh:
        truth = {r["account_id"]: r for r in csv.DictReader(fh)}
    return World(root, truth)


def fairban(
    *args: str, home: Path, url: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "FAIRBAN_HOME": str(home),
        **env,
    }
    environment.pop("FAIRBAN_DATABASE_URL", None)
    if url is not None:
        environment["FAIRBAN_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "fairban.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        timeout=300,
    )


@contextmanager
def database(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_enforce_in_stages_show_a_notice_and_change_nothing_the_second_time(
    world: World, new_db_url: str, tmp_path: Path
) -> None:
    args = (
        "enforce",
        str(world.directive),
        "--decisions",
        str(world.decisions),
        "--actor",
        "operator:li",
    )
    first = ok(
        fairban(
            *args, "--stage", "10%", "--data", str(world.evidence), home=tmp_path, url=new_db_url
        )
    )
    assert "version 1 (loaded now); stage 10%;" in first
    assert "new cases" in first
    assert "outside the stage (proposed)" in first
    assert "Cases of the directive" in first

    full = ok(fairban(*args, home=tmp_path, url=new_db_url))
    assert "stage all" in full
    assert "imposed suspend" in full
    again = ok(fairban(*args, home=tmp_path, url=new_db_url))
    assert "Nothing changed: the cases already follow these decisions." in again
    assert "no notices, no webhooks" in again

    with database(new_db_url) as session:
        cases = {c.account_id: c for c in session.scalars(select(Case))}
        noticed = set(session.scalars(select(NoticeRecord.case_id)))
        sent = set(session.scalars(select(OutboxMessage.account_id)))
        entries = session.scalar(select(func.count()).select_from(AuditEntry))
    # the innocent of 2019 get no measure they would see: P1-P6, P6's friends, the cadet
    innocent = world.persona("P")
    assert len(innocent) >= 20
    hit = [a for a in innocent if a in cases and cases[a].measure.value in HIT]
    assert hit == [a for a in innocent if world.truth[a]["expected"] != "innocent"]
    assert all(world.truth[a]["persona"] == "P6-classmate-C" for a in hit)  # the one who left
    assert not any(a in sent for a in innocent if world.truth[a]["expected"] == "innocent")
    # F1 and F2 are found, and told why
    for account in world.persona("F1") + world.persona("F2"):
        case = cases[account]
        assert (case.measure.value, case.state.value) in {(m, "active") for m in HIT}, account
        assert case.id in noticed
        assert account in sent
    assert entries
    assert entries > len(cases)

    f1 = cases["wechat:wxid_f1_laukkai_operator"]
    shown = ok(fairban("cases", "show", f1.number, home=tmp_path, url=new_db_url))
    assert shown.startswith(f"Case {f1.number}: suspend, active\n")
    assert "account   wechat:wxid_f1_laukkai_operator (wechat, personal)" in shown
    assert "Notice suspend, zh-CN" in shown
    assert "账号处置告知书" in shown
    assert "Notice suspend, en" in shown
    assert "Notice of a measure on your account" in shown
    assert f"/c/{f1.number}?t=…" in shown
    assert "measure.apply" in shown
    assert "OUTREACH_STRANGERS" in shown
    listed = ok(
        fairban(
            "cases",
            "list",
            "--state",
            "active",
            "--measure",
            "suspend",
            home=tmp_path,
            url=new_db_url,
        )
    )
    assert f1.number in listed
    assert "proposed" not in listed

    verified = ok(fairban("audit", "verify", home=tmp_path, url=new_db_url))
    assert verified.startswith(f"audit log intact: {entries} entries")

    # the same measures in the DSA Transparency Database's shape, a file per platform;
    # decided today, so each is valid (the database refuses application dates before 2020)
    dsa = tmp_path / "dsa"
    said = ok(fairban("cases", "export-dsa", "--out", str(dsa), home=tmp_path, url=new_db_url))
    in_force = [c for c in cases.values() if c.measure.value in HIT and c.state.value == "active"]
    platforms = sorted({c.platform for c in in_force})
    assert sorted(p.name for p in dsa.glob("*.jsonl")) == [f"{p}.jsonl" for p in platforms]
    statements = []
    for p in platforms:
        lines = (dsa / f"{p}.jsonl").read_text(encoding="utf-8").splitlines()
        assert f"{p}: {len(lines)} statements of reasons in {dsa / f'{p}.jsonl'}" in said
        statements += [json.loads(line) for line in lines]
        assert not any("?t=" in line and "?t=…" not in line for line in lines)
    # the audit log's head goes out with them, and the log extends it
    checkpoint = dsa / "audit-log.checkpoint"
    assert f"the audit log's signed checkpoint: {checkpoint}" in said
    checked = fairban(
        "audit", "verify", "--checkpoint", str(checkpoint), home=tmp_path, url=new_db_url
    )
    assert checked.returncode == 0, checked.stderr
    assert f"it extends the checkpoint of {entries} entries" in checked.stdout
    assert len(statements) == len(in_force) > 0
    assert all(validate_statement(s) == [] for s in statements)
    assert {s["category"] for s in statements} == {"STATEMENT_CATEGORY_SCAMS_AND_FRAUD"}
    for wrong, line in (
        (("--territorial-scope", "CN"), "--territorial-scope: expected EEA country codes"),
        (("--from", "14 Oct"), "--from: expected a day such as 2019-10-14, got '14 Oct'"),
        (("--from", "2024-03-05", "--to", "2024-03-01"), "--to: 2024-03-01 is before --from"),
    ):
        refused = fairban("cases", "export-dsa", "--out", str(dsa), *wrong, home=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert line in refused.stderr
        assert "Traceback" not in refused.stderr


def test_pause_holds_new_measures_and_resume_lets_them_go(world: World, tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = ("enforce", str(world.directive), "--decisions", str(world.decisions))
    dry = ok(fairban(*args, "--dry-run", home=home))
    assert dry.startswith("Dry run: nothing was written.\n")
    assert "would" in dry
    assert "imposed suspend" in dry
    ok(fairban(*args, "--stage", "1%", home=home))
    directive_id = "cn-mps-2019-10-14-mm-north"
    paused = ok(fairban("pause", directive_id, "--reason", "too many appeals", home=home))
    assert paused.startswith(f"Directive {directive_id} paused: no new measures;")
    assert "already paused" in ok(fairban("pause", directive_id, home=home))
    held = ok(fairban(*args, home=home))
    assert "paused: decisions are recorded, no new measure is imposed" in held
    assert "Nothing changed" in held
    resumed = ok(fairban("resume", directive_id, home=home))
    assert resumed.startswith(f"Directive {directive_id} resumed: ")
    assert "proposed cases wait for `fairban enforce`" in resumed
    assert "imposed suspend" in ok(fairban(*args, home=home))
    assert ok(fairban("expire", home=home)).strip() == "No measure is past its expiry"
    with database(f"sqlite:///{home / 'fairban.db'}") as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert actions.count("directive:pause") == 1
    assert actions.count("directive:resume") == 1


def _edited(world: World, tmp_path: Path, column: str, row: int, value: str) -> Path:
    folder = tmp_path / "edited"
    folder.mkdir()
    with (world.decisions / "decisions.csv").open(encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    if value == "<drop>":
        for r in records:
            del r[column]
    else:
        records[row - 2][column] = value
    with (folder / "decisions.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]), quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        writer.writerows(records)
    return folder


BAD = {
    "stage": (
        None,
        ("--stage", "5 percent"),
        "--stage: expected a share such as 1%, 10% or all, got '5 percent'",
    ),
    "platform": (
        ("platform", 7, "tiktok"),
        (),
        "decisions.csv row 7: platform 'tiktok' is not one of the directive's platforms "
        "(qq, wechat, alipay, pos)",
    ),
    "measure": (
        ("measure", 3, "ban"),
        (),
        "decisions.csv row 3: measure 'ban' is not one of none, monitor, restrict, suspend",
    ),
    "column": (
        ("risk", 0, "<drop>"),
        (),
        "decisions.csv: missing column 'risk' (decisions have the columns account_id, "
        "platform, person_id, measure, risk, reasons)",
    ),
    "account": (
        ("account_id", 4, "wechat:wxid_nobody_at_all"),
        ("--data", "<evidence>"),
        "decisions.csv row 4: account 'wechat:wxid_nobody_at_all' "
        "is not in the evidence's accounts",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_one_line_and_writes_nothing(world: World, tmp_path: Path, case: str) -> None:
    edit, extra, message = BAD[case]
    decisions = _edited(world, tmp_path, *edit) if edit else world.decisions
    options = [str(world.evidence) if x == "<evidence>" else x for x in extra]
    home = tmp_path / "home"
    done = fairban(
        "enforce", str(world.directive), "--decisions", str(decisions), *options, home=home
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [message]
    assert done.stdout == ""
    assert not home.exists()  # checked before the database is even opened


def test_a_missing_decisions_folder(world: World, tmp_path: Path) -> None:
    done = fairban(
        "enforce", str(world.directive), "--decisions", str(tmp_path / "none"), home=tmp_path
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"{tmp_path / 'none'}: not found: give the folder `fairban target --out` wrote"
    )


def test_a_failure_halfway_rolls_everything_back(world: World, tmp_path: Path) -> None:
    """All or nothing: cases are opened before the first notice is written; a notice
    that cannot be written (an SMS link that cannot fit) leaves no case behind."""
    home = tmp_path / "home"
    done = fairban(
        "enforce",
        str(world.directive),
        "--decisions",
        str(world.decisions),
        home=home,
        FAIRBAN_PUBLIC_URL="https://appeals.an-anti-fraud-centre-with-a-very-long-name.example.org",
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "makes the SMS link too long" in done.stderr
    with database(f"sqlite:///{home / 'fairban.db'}") as session:
        for model in (Case, AuditEntry, NoticeRecord, OutboxMessage):
            assert session.scalar(select(func.count()).select_from(model)) == 0


def test_unknown_cases_and_directives(tmp_path: Path) -> None:
    done = fairban("cases", "show", "FB-2019-999999", home=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (2, "no case 'FB-2019-999999'")
    done = fairban("pause", "no-such-directive", home=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("no directive 'no-such-directive' in the case store")
    done = fairban("cases", "list", "--state", "gone", home=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "--state: expected one of proposed, active, appealed, upheld, downgraded, lifted, "
        "expired, got 'gone'"
    )


@pytest.mark.parametrize("command", [["enforce"], ["cases", "show"]])
def test_the_commands_have_help(command: list[str], tmp_path: Path) -> None:
    done = fairban(*command, "--help", home=tmp_path)
    assert done.returncode == 0
    assert "Usage" in done.stdout
