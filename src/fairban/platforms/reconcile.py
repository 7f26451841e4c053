"""Where a platform's state differs from what fairban delivered to it.

fairban's side, per (account, case): the last *delivered* message decides (an apply
puts its measure in force, a lift removes it; a lift naming no case removes all of the
account's). Messages still pending or dead are not counted as delivered; they are
shown beside a difference, since they often explain it. The platform's side is its
``GET accounts`` (every account it holds a record of, with its measures by case).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.platforms.client import PlatformClient, PlatformUnavailableError
from fairban.platforms.models import OutboxMessage, OutboxState, Platform
from fairban.platforms.webhooks import MessageKind

#: (account id, case number or "")
Key = tuple[str, str]


class DifferenceKind(StrEnum):
    MISSING = "missing"  # in force in fairban, absent at the platform
    STILL_ON = "still_on"  # lifted in fairban, still on at the platform
    DIFFERS = "differs"  # in force on both sides, not the same measure
    UNKNOWN = "unknown"  # on at the platform, never delivered by fairban

    @property
    def text(self) -> str:
        return {
            DifferenceKind.MISSING: "measure missing at the platform",
            DifferenceKind.STILL_ON: "lifted in fairban, still on at the platform",
            DifferenceKind.DIFFERS: "different measure",
            DifferenceKind.UNKNOWN: "unknown to fairban",
        }[self]


@dataclass(frozen=True)
class Difference:
    platform: str
    account_id: str
    case_number: str  # "" when the measure names no case
    fairban: str  # the measure fairban delivered, or "none"
    at_platform: str  # the platform's measure, or "none"
    kind: DifferenceKind
    #: the account's undelivered messages to this platform: "2 pending, 1 dead" or ""
    outbox: str


@dataclass
class Report:
    """One platform compared: every difference, and how much was compared."""

    platform: str
    accounts_fairban: int = 0
    accounts_platform: int = 0
    measures_in_force: int = 0
    pending: int = 0
    dead: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def expected_state(session: Session, platform: str) -> tuple[dict[Key, str | None], set[str]]:
    """fairban's side: per (account, case) the measure in force after the last
    delivered message (``None`` when lifted); and every account ever delivered to."""
    by_account: dict[str, dict[str, str | None]] = {}
    query = (
        select(OutboxMessage.account_id, OutboxMessage.kind, OutboxMessage.payload)
        .where(OutboxMessage.platform == platform, OutboxMessage.state == OutboxState.DELIVERED)
        .order_by(OutboxMessage.id)
        .execution_options(yield_per=5000)
    )
    for account, kind, payload in session.execute(query):
        cases = by_account.setdefault(account, {})
        body = json.loads(payload)
        case = str(body.get("case_number") or "")
        if kind == MessageKind.APPLY:
            cases[case] = str(body.get("measure"))
        elif case:
            cases[case] = None
        else:
            for known in cases:
                cases[known] = None
    expected = {(a, c): m for a, cases in by_account.items() for c, m in cases.items()}
    return expected, set(by_account)


def platform_state(accounts: Iterable[Mapping[str, Any]]) -> dict[Key, str]:
    """The platform's side from its ``GET accounts`` records: per (account, case) the
    measure in force."""
    state: dict[Key, str] = {}
    for record in accounts:
        account = str(record.get("account_id"))
        for measure in record.get("measures") or []:
            state[(account, str(measure.get("case_number") or ""))] = str(measure.get("measure"))
    return state


def compare(
    platform: str,
    expected: Mapping[Key, str | None],
    actual: Mapping[Key, str],
    undelivered: Mapping[str, Counter[str]] | None = None,
) -> list[Difference]:
    """Every (account, case) where the two sides differ, by account and case."""
    undelivered = undelivered or {}
    differences = []
    for key in sorted(set(expected) | set(actual)):
        want, have = expected.get(key), actual.get(key)
        if want == have:
            continue
        if want is not None and have is None:
            kind = DifferenceKind.MISSING
        elif want is None and key in expected:
            kind = DifferenceKind.STILL_ON
        elif want is None:
            kind = DifferenceKind.UNKNOWN
        else:
            kind = DifferenceKind.DIFFERS
        counts = undelivered.get(key[0], Counter())
        note = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()) if n)
        differences.append(
            Difference(platform, key[0], key[1], want or "none", have or "none", kind, note)
        )
    return differences


def _undelivered(session: Session, platform: str) -> dict[str, Counter[str]]:
    query = (
        select(OutboxMessage.account_id, OutboxMessage.state, func.count())
        .where(OutboxMessage.platform == platform, OutboxMessage.state != OutboxState.DELIVERED)
        .group_by(OutboxMessage.account_id, OutboxMessage.state)
    )
    counts: dict[str, Counter[str]] = {}
    for account, state, n in session.execute(query):
        counts.setdefault(account, Counter())[OutboxState(state).value] += int(n)
    return counts


def reconcile(session: Session, platform: Platform, *, timeout_s: float = 10.0) -> Report:
    """Compare ``platform`` with what fairban delivered to it. Raises
    :class:`PlatformUnavailableError` when the platform cannot be read."""
    expected, _ = expected_state(session, platform.name)
    undelivered = _undelivered(session, platform.name)
    with PlatformClient(
        platform.name, platform.webhook_url, platform.secret, timeout_s=timeout_s
    ) as client:
        records = list(client.accounts())
    actual = platform_state(records)
    report = Report(platform.name)
    report.accounts_fairban = len({k[0] for k, v in expected.items() if v is not None})
    report.measures_in_force = sum(1 for v in expected.values() if v is not None)
    report.accounts_platform = len({k[0] for k in actual})
    report.pending = sum(c.get(OutboxState.PENDING.value, 0) for c in undelivered.values())
    report.dead = sum(c.get(OutboxState.DEAD.value, 0) for c in undelivered.values())
    report.differences = compare(platform.name, expected, actual, undelivered)
    return report


__all__ = [
    "Difference",
    "DifferenceKind",
    "PlatformUnavailableError",
    "Report",
    "compare",
    "expected_state",
    "platform_state",
    "reconcile",
]
