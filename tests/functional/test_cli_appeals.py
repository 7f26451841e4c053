"""The command line of appeals: console users, phones, the re-check from its own
process, and the demo's links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fairban.appeals.models import AccountContact, Appeal, AppealState
from fairban.cli import app
from fairban.review.models import ConsoleUser, Role
from fairban.review.users import authenticate
from tests.support.appeal_world import P4, file_appeal_form


@pytest.fixture
def env(portal: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FAIRBAN_HOME", str(portal.home))
    monkeypatch.setenv("FAIRBAN_DATABASE_URL", portal.url)
    monkeypatch.setenv("FAIRBAN_PUBLIC_URL", "https://appeal.example")
    return portal


def test_users_add_hashes_the_password(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRBAN_NEW_PASSWORD", "a long enough password")
    result = CliRunner().invoke(app, ["users", "add", "rita", "--role", "senior"])
    assert result.exit_code == 0, result.output
    with env.session() as s:
        user = s.get(ConsoleUser, "rita")
        assert user.role == Role.SENIOR
        assert user.password_hash.startswith("$argon2id$")
        assert authenticate(s, "rita", "a long enough password") is not None
    monkeypatch.setenv("FAIRBAN_NEW_PASSWORD", "short")
    result = CliRunner().invoke(app, ["users", "add", "bob", "--role", "reviewer"])
    assert result.exit_code == 2
    assert "at least 10 characters" in result.output
    result = CliRunner().invoke(app, ["users", "add", "bob", "--role", "boss"])
    assert result.exit_code == 2


def test_contacts_load_and_recheck_from_the_command_line(env: Any, tmp_path: Path) -> None:
    csv = tmp_path / "phones.csv"
    csv.write_text("account_id,phone\nqq:p4_chongqing_photos,138 0000 1111\n")
    result = CliRunner().invoke(app, ["contacts", "load", str(csv)])
    assert result.exit_code == 0, result.output
    with env.session() as s:
        assert s.get(AccountContact, P4).phone == "+8613800001111"
    env.sign_in(P4)
    file_appeal_form(env, ["never_been_there"])
    result = CliRunner().invoke(
        app, ["appeals", "recheck", "--data", str(env.settings.evidence_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "1 appeals re-checked" in result.output
    with env.session() as s:
        assert s.scalars(select(Appeal)).one().state == AppealState.GRANTED


def test_demo_access_prints_links_and_logins(env: Any, appeal_world: Any) -> None:
    truth = appeal_world.root / "truth.csv"
    result = CliRunner().invoke(app, ["appeals", "demo-access", "--truth", str(truth)])
    assert result.exit_code == 0, result.output
    assert "https://appeal.example/c/FB-" in result.output
    assert "P4" in result.output
    assert "demo-senior" in result.output
