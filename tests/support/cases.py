"""Directives and decisions for the tests that need cases: real YAML files read by
``load_directive`` and real decisions.csv files read by ``read_decisions``, with reasons
in the shape ``fairban target`` writes (code, text, weight, data).

The fixtures ``directive`` and ``decide`` are registered for the whole suite by
tests/conftest.py; the helpers are imported (``from tests.support.cases import D``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry
from fairban.cases.decisions import DecisionRows, read_decisions
from fairban.cases.models import Case, CaseEvent, NoticeRecord
from fairban.contract import Directive, load_directive
from fairban.directives.models import DirectiveVersion
from fairban.platforms.models import OutboxMessage

#: the directive's instant; flows run "now" a day later
NOW = datetime(2019, 10, 15, 4, 0, tzinfo=UTC)

AREAS = {
    "Laukkai": [98.8, 23.6, 99.0, 23.8],
    "Mong La": [99.5, 21.6, 99.7, 21.8],
}


def _feature(name: str, west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def write_directive(
    folder: Path,
    *,
    directive_id: str = "test-2019-mm",
    areas: tuple[str, ...] = ("Laukkai", "Mong La"),
    platforms: tuple[str, ...] = ("wechat", "qq", "alipay"),
    measure_days: int | None = None,
    until: str | None = None,
    title: str = "Test directive: northern Myanmar areas",
    territorial_scope: list[str] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "id": directive_id,
        "title": title,
        "issuer": "Test office against telecom fraud",
        "legal_basis": "Notice of 14 October 2019",
        "issued_at": "2019-10-14T00:00:00+08:00",
        "lookback_days": 180,
        "platforms": list(platforms),
        "areas": {
            "type": "FeatureCollection",
            "features": [_feature(n, *AREAS[n]) for n in areas],
        },
    }
    if measure_days is not None:
        doc["measure_days"] = measure_days
    if until is not None:
        doc["until"] = until
    if territorial_scope is not None:
        doc["territorial_scope"] = territorial_scope
    path = folder / f"{directive_id}-{'-'.join(a.replace(' ', '') for a in areas)}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def make_directive(folder: Path, **kw: Any) -> Directive:
    return load_directive(write_directive(folder, **kw))


# --- reasons as fairban target writes them ------------------------------------------------


def suspend_reasons(evidence: int = 1) -> list[dict[str, Any]]:
    contacts = 100 + evidence
    return [
        {
            "code": "OUTREACH_STRANGERS",
            "text": f"added {contacts} strangers in 9 provinces over 30 days; "
            "2% of them ever answered",
            "weight": 4.0,
            "data": {
                "first_contacts": contacts,
                "answered": 2,
                "provinces": 9,
                "outreach_days": 30,
            },
        },
        {
            "code": "PRESENCE_SUSTAINED",
            "text": "seen on 40 nights in Laukkai (GPS, Wi-Fi) between 2019-08-25 and 2019-10-13",
            "weight": 2.0,
            "data": {
                "area": "Laukkai",
                "nights_sure": 40,
                "nights_w": 40.0,
                "first": "2019-08-25",
                "last": "2019-10-13",
                "sources": ["gps", "wifi"],
            },
        },
        {
            "code": "CONTACT_CONFIRMED",
            "text": "exchanged 12 messages or calls with accounts confirmed by police",
            "weight": 0.0,
            "data": {"confirmed_messages": 12},
        },
    ]


def restrict_reasons(evidence: int = 1) -> list[dict[str, Any]]:
    senders = 4 + evidence
    return [
        {
            "code": "MULE_PATTERN",
            "text": f"received one-off transfers from {senders} unrelated people and forwarded 6",
            "weight": 4.0,
            "data": {
                "oneoff_senders": senders,
                "oneoff_amount": 52000.0,
                "forwarded": 6,
                "forwarded_amount": 50000.0,
            },
        }
    ]


def monitor_reasons(evidence: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "code": "PERSON_LINK",
            "text": "belongs to the same real-name person as 1 account(s) under measures",
            "weight": 0.0,
            "data": {"accounts": evidence},
        }
    ]


REASONS: dict[str, Callable[[int], list[dict[str, Any]]]] = {
    "suspend": suspend_reasons,
    "restrict": restrict_reasons,
    "monitor": monitor_reasons,
    "none": lambda evidence: [],
}
RISK = {"suspend": 0.98, "restrict": 0.8, "monitor": 0.2, "none": 0.01}


@dataclass(frozen=True)
class D:
    """One decision row to write: ``evidence`` varies the facts (and so the hash)."""

    account_id: str
    measure: str
    person_id: str = ""
    platform: str = ""
    evidence: int = 1

    def record(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "platform": self.platform or self.account_id.split(":", 1)[0],
            "person_id": self.person_id,
            "measure": self.measure,
            "risk": RISK[self.measure],
            "reasons": json.dumps(REASONS[self.measure](self.evidence), ensure_ascii=False),
        }


def write_decisions(folder: Path, rows: list[D] | list[dict[str, Any]]) -> Path:
    """decisions.csv as ``fairban target`` writes it (all columns quoted)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [r.record() if isinstance(r, D) else r for r in rows]
    columns = (
        list(records[0])
        if records
        else ["account_id", "platform", "person_id", "measure", "risk", "reasons"]
    )
    with (folder / "decisions.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        writer.writerows(records)
    return folder


class Decide:
    """``decide(directive, [D(...), ...])`` -> DecisionRows read from a real CSV file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0

    def __call__(self, directive: Directive, rows: list[D]) -> DecisionRows:
        self.n += 1
        return read_decisions(write_decisions(self.root / f"run{self.n}", rows), directive)


@pytest.fixture
def decide(tmp_path: Path) -> Decide:
    return Decide(tmp_path / "decisions")


@pytest.fixture
def directive(tmp_path: Path) -> Directive:
    return make_directive(tmp_path / "directive")


# --- what is in the database ----------------------------------------------------------------

TABLES = {
    "cases": Case,
    "case_events": CaseEvent,
    "audit_log": AuditEntry,
    "notices": NoticeRecord,
    "outbox": OutboxMessage,
    "directive_versions": DirectiveVersion,
}


def row_counts(session: Session) -> dict[str, int]:
    """Rows in every table a flow writes (the session's own, inside the test)."""
    session.flush()
    return {
        name: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for name, model in TABLES.items()
    }


def case_of(session: Session, account_id: str, directive_id: str = "test-2019-mm") -> Case:
    return session.scalars(
        select(Case).where(Case.account_id == account_id, Case.directive_id == directive_id)
    ).one()
