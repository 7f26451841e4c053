"""A small simulated world of 2019 with a "2019-style" decision list, and a case
store seeded from it: what the appeal tests start from.

The decisions are those of 2019's naive presence rule for the innocent personas: P4
(``qq:p4_chongqing_photos``, whose IP is sometimes placed in Yunnan or Myanmar) and
both accounts of P3 (Mr Duan of Ruili, on the border) are suspended on presence
alone, beside fairban's own measures (F1, the Laukkai operator, and the rest). On
appeal, the re-check with fairban's engine frees the innocent and keeps F1.

Functional, e2e and unit tests share it; the fixtures ``appeal_world`` (the world, once
per session), ``portal`` and ``console`` (the HTTP app on a case store of the test's
own, SQLite and, with FAIRBAN_TEST_POSTGRES_URL, PostgreSQL) are registered for the
whole suite by tests/conftest.py.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fairban.appeals.codes import set_contact
from fairban.cases import enforce as enforcement
from fairban.cases import links
from fairban.cases.decisions import read_accounts, read_decisions
from fairban.cases.models import Case
from fairban.config import Settings
from fairban.contract import Directive, load_directive
from fairban.db import make_engine, session_factory, upgrade
from fairban.platforms.models import Platform
from fairban.targeting import target
from fairban.world import WorldConfig, simulate_world

if TYPE_CHECKING:  # the web app is imported when a portal is made, not with the plugin
    from fastapi.testclient import TestClient

P4 = "qq:p4_chongqing_photos"
P3 = ("wechat:wxid_p3_duan_ruili", "wechat:wxid_p3_duan_shop")
F1 = "wechat:wxid_f1_laukkai_operator"
NAIVE = {
    P4: {"nights_w": 3, "area": "Tachileik", "sources": ["ip"]},
    P3[0]: {"nights_w": 12, "area": "Laukkai", "sources": ["cell"]},
    P3[1]: {"nights_w": 9, "area": "Laukkai", "sources": ["cell"]},
}


@dataclass(frozen=True)
class World:
    root: Path
    directive_path: Path
    evidence: Path
    decisions: Path
    directive: Directive


def build_world(root: Path) -> World:
    """Simulate (300 accounts, 30 days) and write the 2019-style decisions."""
    world = root / "world"
    simulate_world(WorldConfig(accounts=300, seed=7, days=30), world)
    directive = load_directive(world / "directive.yaml")
    result = target(directive, world / "evidence").decisions.to_pylist()
    rows = [
        r for r in result if r["measure"] in ("restrict", "suspend") or r["account_id"] in NAIVE
    ]
    persons = {r["account_id"]: r["person_id"] for r in result}
    accounts = {a.account_id: a for a in _accounts(world / "evidence")}
    for account, data in NAIVE.items():
        rows = [r for r in rows if r["account_id"] != account]
        reason = {"code": "PRESENCE_SOME", "text": "seen near an area", "weight": 1.0, "data": data}
        rows.append(
            {
                "account_id": account,
                "platform": account.split(":")[0],
                "person_id": persons.get(account) or accounts[account].person_id or "",
                "measure": "suspend",
                "risk": 0.9,
                "reasons": json.dumps([reason]),
            }
        )
    out = root / "decisions"
    out.mkdir()
    with (out / "decisions.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(
            fh, ["account_id", "platform", "person_id", "measure", "risk", "reasons"]
        )
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r[k] for k in writer.fieldnames})
    return World(world, world / "directive.yaml", world / "evidence", out, directive)


@dataclass(frozen=True)
class _Acc:
    account_id: str
    person_id: str | None


def _accounts(evidence: Path) -> list[_Acc]:
    return [_Acc(a, acc.person_id) for a, acc in read_accounts(evidence).items()]


def settings_for(home: Path, url: str, world: World, **extra: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "database_url": url,
        "evidence_dir": world.evidence,
        "otp_sender": "dev",
        "secret_key": "test-secret-key-not-for-production",
        "public_url": "http://testserver",
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Seeded:
    tokens: dict[str, str]  # account id -> notice-link token
    numbers: dict[str, str]  # account id -> case number
    phones: dict[str, str]  # account id -> phone


def seed(
    url: str, world: World, settings: Settings, platforms: dict[str, str] | None = None
) -> Seeded:
    """Migrate ``url``, enforce the decisions (every stage), register ``platforms``
    (name -> webhook URL), give each case a notice token and each account a phone."""
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    tokens, numbers, phones = {}, {}, {}
    try:
        with session_factory(engine)() as session, session.begin():
            for name, hook in (platforms or {}).items():
                session.add(
                    Platform(
                        name=name,
                        webhook_url=hook,
                        secret="platform-secret",
                        enabled=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
            rows = read_decisions(
                world.decisions, world.directive, accounts=read_accounts(world.evidence)
            )
            enforcement.enforce(
                session, world.directive, rows, stage=1.0, actor="test", settings=settings, now=now
            )
            session.flush()
            for i, case in enumerate(session.query(Case).order_by(Case.id)):
                tokens[case.account_id] = links.issue_token(case)
                numbers[case.account_id] = case.number
                phone = f"+86138{i:08d}"
                phones[case.account_id] = phone
                set_contact(session, case.account_id, phone, now)
    finally:
        engine.dispose()
    return Seeded(tokens, numbers, phones)


def last_code(home: Path, number: str) -> str:
    """The latest one-time code the development sender wrote for case ``number``.

    The portal sends the code in a background task after its answer, so the first
    code of a case may land a moment after the client has the answer: wait for it."""
    deadline = time.monotonic() + 15.0
    while True:
        path = home / "codes.log"
        lines = path.read_text().splitlines() if path.exists() else []
        for line in reversed(lines):
            entry = json.loads(line)
            if entry["case"] == number:
                return str(entry["code"])
        if time.monotonic() > deadline:
            raise AssertionError(f"no code sent for {number}")
        time.sleep(0.05)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return field_of(html, "csrf")


def field_of(html: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@dataclass
class Portal:
    client: TestClient
    settings: Settings
    seeded: Any
    url: str
    home: Path

    def session(self) -> Any:
        """A database session of the test's own (committed data, as the app sees it)."""
        engine = make_engine(self.url)
        return session_factory(engine)()

    def code(self, account: str) -> str:
        return str(last_code(self.home, self.seeded.numbers[account]))

    def sign_in(self, account: str) -> None:
        """Open the notice link and prove the phone: the client's session is verified."""
        c = self.client
        r = c.get(
            f"/c/{self.seeded.numbers[account]}",
            params={"t": self.seeded.tokens[account]},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        page = c.get("/verify")
        csrf = csrf_of(page.text)
        assert (
            c.post("/verify/send", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        )
        r = c.post(
            "/verify", data={"csrf": csrf, "code": self.code(account)}, follow_redirects=False
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/case"


def api_sign_in(portal: Any, account: str) -> dict[str, str]:
    """The JSON API's way in: a session from the notice link, a code, verified; returns
    the Authorization header."""
    c, seeded = portal.client, portal.seeded
    token = c.post(
        "/api/v1/access/link",
        json={"case_number": seeded.numbers[account], "token": seeded.tokens[account]},
    ).json()["session"]
    auth = {"Authorization": f"Bearer {token}"}
    assert c.post("/api/v1/access/code", headers=auth).status_code == 202
    code = portal.code(account)
    assert c.post("/api/v1/access/verify", headers=auth, json={"code": code}).is_success
    return auth


def make_portal(
    new_db_url: str, tmp_path: Path, appeal_world: Any, **extra: Any
) -> Iterator[Portal]:
    from fastapi.testclient import TestClient

    from fairban.web.app import create_app

    home = tmp_path / "home"
    settings = settings_for(home, new_db_url, appeal_world, **extra)
    seeded = seed(new_db_url, appeal_world, settings)
    app = create_app(settings, run_recheck=False)
    with TestClient(app) as client:
        yield Portal(client, settings, seeded, new_db_url, home)


def file_appeal_form(portal: Any, grounds: list[str], **extra: Any) -> tuple[Any, dict[str, Any]]:
    """Post the case page's appeal form (the client must be signed in)."""
    c = portal.client
    page = c.get("/case")
    assert page.status_code == 200
    data = {
        "csrf": csrf_of(page.text),
        "submit_key": field_of(page.text, "submit_key"),
        "grounds": grounds,
        "statement": extra.pop("statement", ""),
    }
    return c.post("/case/appeal", data=data, follow_redirects=False, **extra), data


def run_rechecks(portal: Any) -> int:
    """Run the waiting re-checks as the server's loop would; returns how many."""
    from fairban.appeals.recheck import DecisionCache
    from fairban.appeals.worker import run_pending

    engine = make_engine(portal.url)
    try:
        cache = DecisionCache(portal.settings.evidence_dir, portal.home / "recheck")
        return run_pending(session_factory(engine), cache, portal.settings)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def appeal_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("appeal-world"))


@pytest.fixture
def portal(new_db_url: str, tmp_path: Path, appeal_world: World) -> Iterator[Portal]:
    yield from make_portal(new_db_url, tmp_path, appeal_world)


@pytest.fixture
def console(new_db_url: str, tmp_path: Path, appeal_world: World) -> Iterator[Portal]:
    """A portal whose circuit breaker trips after 3 decided appeals."""
    yield from make_portal(new_db_url, tmp_path, appeal_world, breaker_min_decided=3)
