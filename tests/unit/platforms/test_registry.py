"""The platform registry: what is accepted, what is refused with a clear line, and that
every change is in the audit log without the secret."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry
from fairban.db import make_engine, upgrade
from fairban.platforms.outbox import enqueue
from fairban.platforms.registry import (
    PlatformError,
    add_platform,
    api_url,
    check_url,
    list_platforms,
    remove_platform,
    set_enabled,
)
from fairban.platforms.webhooks import MessageKind
from tests.support.platforms import fairban


def entries(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_add_list_disable_remove(session: Session) -> None:
    platform, generated = add_platform(
        session, name="wechat", url="https://hooks.example.cn/fairban/webhook", actor="operator:li"
    )
    assert generated
    assert platform.secret.startswith("fbsec_")
    assert len(platform.secret) > 40
    add_platform(
        session, name="qq", url="http://10.0.0.7:8080/w", secret="s" * 16, actor="operator:li"
    )
    enqueue(
        session,
        platform="qq",
        account_id="a1",
        kind=MessageKind.APPLY,
        body={},
        now=datetime.now(UTC),
    )

    listed = {p.name: p for p in list_platforms(session)}
    assert list(listed) == ["qq", "wechat"]
    assert listed["qq"].pending == 1
    assert listed["wechat"].pending == listed["wechat"].delivered == 0

    set_enabled(session, "qq", False, actor="operator:li")
    set_enabled(session, "qq", False, actor="operator:li")  # no change: no second entry
    assert not {p.name: p for p in list_platforms(session)}["qq"].enabled

    with pytest.raises(PlatformError, match="has 1 undelivered messages: disable it instead"):
        remove_platform(session, "qq", actor="operator:li")
    assert remove_platform(session, "qq", actor="operator:li", force=True) == 1
    assert [p.name for p in list_platforms(session)] == ["wechat"]

    log = entries(session)
    assert [(e.action, e.subject) for e in log] == [
        ("platform:add", "platform:wechat"),
        ("platform:add", "platform:qq"),
        ("platform:disable", "platform:qq"),
        ("platform:remove", "platform:qq"),
    ]
    assert all(platform.secret not in e.payload and "s" * 16 not in e.payload for e in log)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.cn/hook", "must be http:// or https:// (it has 'ftp')"),
        ("example.cn/hook", "must be http:// or https:// (it has no scheme)"),
        ("javascript:alert(1)", "must be http:// or https://"),
        ("http:///hook", "has no host"),
        ("http://example.cn:port/hook", "Port could not be cast"),
    ],
)
def test_a_webhook_url_that_is_not_http_is_refused(url: str, message: str) -> None:
    with pytest.raises(PlatformError, match="webhook URL") as caught:
        check_url(url)
    assert message in str(caught.value)


def test_other_refusals(session: Session) -> None:
    add_platform(session, name="alipay", url="http://127.0.0.1:1/w", actor="operator:li")
    with pytest.raises(PlatformError, match="already registered"):
        add_platform(session, name="alipay", url="http://127.0.0.1:1/w", actor="operator:li")
    with pytest.raises(PlatformError, match="must be 1-64 lowercase letters"):
        add_platform(session, name="We Chat", url="http://127.0.0.1:1/w", actor="operator:li")
    with pytest.raises(PlatformError, match="secret is too short"):
        add_platform(
            session, name="pos", url="http://127.0.0.1:1/w", secret="short", actor="operator:li"
        )
    with pytest.raises(PlatformError, match="no platform named 'nope'"):
        set_enabled(session, "nope", True, actor="operator:li")


def test_read_endpoints_are_relative_to_the_webhook() -> None:
    assert api_url("http://h:1/webhook", "accounts") == "http://h:1/accounts"
    assert api_url("https://h/fairban/webhook", "accounts/a%2Fb/export") == (
        "https://h/fairban/accounts/a%2Fb/export"
    )


@pytest.mark.slow
def test_the_commands(tmp_path: Path) -> None:
    # the embedded database (the commands are the same on PostgreSQL: the functions
    # above run on both)
    run = fairban
    new_db_url = None
    upgrade(make_engine(f"sqlite:///{tmp_path / 'fairban.db'}"))
    done = run(
        "platform",
        "add",
        "wechat",
        "--url",
        "http://127.0.0.1:9/webhook",
        home=tmp_path,
        url=new_db_url,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "platform wechat registered: webhook http://127.0.0.1:9/webhook"
    assert lines[1].startswith("secret: fbsec_")
    secret = lines[1].removeprefix("secret: ")

    done = run(
        "platform", "add", "qq", "--url", "ftp://127.0.0.1/webhook", home=tmp_path, url=new_db_url
    )
    assert done.returncode == 2
    assert done.stderr == (
        "webhook URL 'ftp://127.0.0.1/webhook' must be http:// or https:// (it has 'ftp')\n"
    )

    done = run("platform", "disable", "wechat", home=tmp_path, url=new_db_url)
    assert done.returncode == 0, done.stderr
    done = run("platform", "list", home=tmp_path, url=new_db_url)
    assert done.returncode == 0, done.stderr
    assert "wechat" in done.stdout
    assert "http://127.0.0.1:9/webhook" in done.stdout
    assert secret not in done.stdout
    row = next(line for line in done.stdout.splitlines() if "wechat" in line)
    assert row.split("│")[3].strip() == "no"

    done = run("platform", "remove", "wechat", home=tmp_path, url=new_db_url)
    assert (done.returncode, done.stdout) == (0, "platform wechat removed\n")
