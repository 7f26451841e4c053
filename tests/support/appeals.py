"""Cases to appeal and appeals to decide, for the tests of appeals and review: the test
directive enforced on a few people (``enforced``), appeals filed through the real
intake (:func:`file`) and queued by the real re-check (:func:`queue_for_a_person`),
console users made by ``add_user``; and what a person would notice afterwards
(:func:`actions`, :func:`lifts`, :func:`lift_notices`).

The fixtures ``enforced``, ``blobs``, ``world_cases`` and ``world_recheck`` are
registered for the whole suite by tests/conftest.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.filing import Upload, submit_appeal
from fairban.appeals.flows import recheck
from fairban.appeals.models import Appeal, AppealState
from fairban.appeals.recheck import DecisionCache
from fairban.audit import AuditEntry
from fairban.audit.actions import Action
from fairban.cases import enforce as enforcement
from fairban.cases.decisions import read_accounts, read_decisions
from fairban.cases.models import Case, NoticeRecord
from fairban.config import Settings
from fairban.contract import Directive
from fairban.platforms.models import OutboxMessage
from fairban.platforms.webhooks import MessageKind
from fairban.review.models import ConsoleUser, Role
from fairban.review.users import add_user
from tests.support.appeal_world import World
from tests.support.cases import NOW, D, Decide

SETTINGS = Settings(
    public_url="https://fb.example",
    answer_hours=48,
    upload_max_files=3,
    upload_max_bytes=1024,
)
PASSWORD = "correct horse battery"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _pdf() -> bytes:
    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=72, height=72)
    writer.write(out)
    return out.getvalue()


#: a real (tiny) photo and PDF: uploads are checked whole; Pillow's own PNG comes back
#: byte for byte from the re-encoding
PNG = _png()
PDF = _pdf()

#: F1 has three accounts (two suspended, one restricted); the mule one restricted
#: account; "low" a suspension of low risk (0.6: no four eyes to lift it) and a
#: restriction; an account of no known person; a monitored one (no case a person sees)
PEOPLE: list[D | dict[str, Any]] = [
    D("wechat:f1", "suspend", "p-f1"),
    D("qq:f1", "suspend", "p-f1"),
    D("alipay:f1", "restrict", "p-f1"),
    D("alipay:mule", "restrict", "p-mule"),
    {**D("wechat:low", "suspend", "p-low").record(), "risk": 0.6},
    D("qq:low", "restrict", "p-low"),
    D("wechat:solo", "suspend"),
    D("wechat:link", "monitor", "p-link"),
]


def enforce_people(
    session: Session,
    directive: Directive,
    decide: Decide,
    rows: Sequence[D | dict[str, Any]] = PEOPLE,
    now: datetime = NOW,
) -> dict[str, Case]:
    """Enforce ``rows`` under ``directive`` (every stage); the cases by account."""
    enforcement.enforce(
        session,
        directive,
        decide(directive, list(rows)),  # type: ignore[arg-type]
        stage=1.0,
        actor="operator:test",
        settings=SETTINGS,
        now=now,
    )
    session.flush()
    return {c.account_id: c for c in session.scalars(select(Case).order_by(Case.id))}


@pytest.fixture
def enforced(session: Session, directive: Directive, decide: Decide) -> dict[str, Case]:
    """:data:`PEOPLE` enforced under the test directive: the cases by account."""
    return enforce_people(session, directive, decide)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def file(
    session: Session,
    case: Case,
    blobs: BlobStore,
    *,
    grounds: Sequence[str] = ("never_been_there",),
    statement: str = "I have never been to Myanmar.",
    uploads: Sequence[Upload] = (),
    submit_key: str | None = None,
    settings: Settings = SETTINGS,
    now: datetime = NOW,
) -> tuple[Appeal, bool]:
    """Submit an appeal as the portal does (a fresh form key unless given)."""
    return submit_appeal(
        session,
        case,
        grounds=grounds,
        statement=statement,
        uploads=uploads,
        submit_key=uuid4().hex if submit_key is None else submit_key,
        lang="zh-CN",
        blobs=blobs,
        settings=settings,
        now=now,
    )


def queue_for_a_person(
    session: Session,
    case: Case,
    blobs: BlobStore,
    *,
    grounds: Sequence[str] = ("never_been_there",),
    now: datetime = NOW,
) -> Appeal:
    """An appeal filed and re-checked without evidence: it waits for a person."""
    appeal, _ = file(session, case, blobs, grounds=grounds, now=now)
    recheck(session, appeal, None, SETTINGS, now=now)
    assert appeal.state == AppealState.QUEUED
    return appeal


def console_user(session: Session, name: str, role: Role) -> ConsoleUser:
    return add_user(session, name, role, PASSWORD, NOW - timedelta(days=30))


def actions(session: Session, subject: str | None = None) -> list[str]:
    """The audit log's actions, oldest first (of ``subject`` alone when given)."""
    query = select(AuditEntry.action).order_by(AuditEntry.id)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    return list(session.scalars(query))


def audited(session: Session, action: Action) -> list[dict[str, Any]]:
    """The payloads of every ``action`` entry, oldest first."""
    query = select(AuditEntry.payload).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return [json.loads(p) for p in session.scalars(query)]


def lifts(session: Session) -> dict[str, dict[str, Any]]:
    """The lift webhooks in the outbox: their bodies by account."""
    query = select(OutboxMessage).where(OutboxMessage.kind == MessageKind.LIFT)
    return {m.account_id: json.loads(m.payload) for m in session.scalars(query)}


def lift_notices(session: Session, case: Case) -> dict[str, str]:
    """The lift notices the person got for ``case``: long text by locale."""
    query = select(NoticeRecord).where(
        NoticeRecord.case_id == case.id, NoticeRecord.measure == "lift"
    )
    return {n.locale: n.long_text for n in session.scalars(query)}


# --- the appeal world, enforced in the test's own session ----------------------------------


@pytest.fixture(scope="session")
def world_recheck(appeal_world: World, tmp_path_factory: pytest.TempPathFactory) -> DecisionCache:
    """The re-check's decisions on the appeal world's evidence, shared by the session's
    tests (the engine runs once per directive version)."""
    return DecisionCache(appeal_world.evidence, tmp_path_factory.mktemp("recheck"))


@pytest.fixture
def world_cases(session: Session, appeal_world: World) -> dict[str, Case]:
    """The appeal world's 2019-style decisions enforced in the test's session: the
    cases by account (P3's two accounts and P4 suspended on presence alone, F1 by
    fairban's engine)."""
    rows = read_decisions(
        appeal_world.decisions,
        appeal_world.directive,
        accounts=read_accounts(appeal_world.evidence),
    )
    enforcement.enforce(
        session,
        appeal_world.directive,
        rows,
        stage=1.0,
        actor="operator:test",
        settings=SETTINGS,
        now=NOW,
    )
    session.flush()
    return {c.account_id: c for c in session.scalars(select(Case).order_by(Case.id))}
