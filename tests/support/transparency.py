"""A case store with known decisions and appeals, for the transparency report's tests.

Through the real flows (enforce, the intake, the re-check, the console's decisions, the
breaker), with the clock given: the period is 2019-10-15 to 2019-10-16 (Beijing days),
:data:`NOW` is 12:00 on its first day.

Inside the period, directive ``test-2019-mm`` (:data:`tests.support.appeals.PEOPLE`):
- 7 visible measures imposed at NOW (4 suspend, 3 restrict; wechat:link monitored only);
- wechat:low's appeal (NOW+2h), its case lifted by a new engine run at NOW+4h, granted by
  the re-check at NOW+4h;
- alipay:mule's appeal (NOW+1h), lifted by a reviewer at NOW+5h;
- wechat:f1's appeal (NOW+1h), downgraded to restrict at NOW+10h with four eyes (a new
  restrict decision);
- qq:low's appeal (NOW+2h), upheld at NOW+30h (the second day);
- wechat:solo's appeal (NOW+3h), never decided;
- the breaker trips at NOW+31h (2 of 4 decided were granted).

After it (NOW+3 days), directive ``test-2019-late``: wechat:late suspended, qq:late
restricted, wechat:late appealed, the directive paused by an operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.breaker import check_breaker
from fairban.appeals.flows import recheck
from fairban.appeals.models import Appeal
from fairban.cases import enforce as enforcement
from fairban.cases.models import Case
from fairban.config import Settings
from fairban.contract import Directive
from fairban.directives.flows import pause_directive
from fairban.measures import Measure
from fairban.review import flows as review
from fairban.review.models import ReviewAction, Role
from tests.support.appeals import PEOPLE, SETTINGS, console_user, enforce_people, file
from tests.support.cases import NOW, D, Decide, make_directive

START, END = date(2019, 10, 15), date(2019, 10, 16)
LATE = NOW + timedelta(days=3)
BREAKER = Settings(
    public_url=SETTINGS.public_url,
    breaker_min_decided=1,
    breaker_threshold=0.2,
    breaker_window_s=3 * 86400,
)


@dataclass
class Store:
    cases: dict[str, Case]
    appeals: dict[str, Appeal]
    directive: Directive
    late: Directive


def _hours(h: float) -> datetime:
    return NOW + timedelta(hours=h)


def build(
    session: Session, directive: Directive, decide: Decide, blobs: BlobStore, tmp: Path
) -> Store:
    """The store described above, flushed (not committed)."""
    cases = enforce_people(session, directive, decide)
    alice = console_user(session, "alice", Role.REVIEWER)
    bob = console_user(session, "bob", Role.SENIOR)
    appeals: dict[str, Appeal] = {}
    for account, at in [
        ("alipay:mule", 1),
        ("wechat:f1", 1),
        ("wechat:low", 2),
        ("qq:low", 2),
        ("wechat:solo", 3),
    ]:
        appeal, _ = file(
            session, cases[account], blobs, grounds=("never_been_there", "visited"), now=_hours(at)
        )
        appeals[account] = appeal
        if account != "wechat:low":  # it waits for the re-check below
            recheck(session, appeal, None, SETTINGS, now=_hours(at))
    # a new engine run no longer holds wechat:low: lifted, and the re-check grants
    rows = [
        r for r in PEOPLE if (r.account_id if isinstance(r, D) else r["account_id"]) != "wechat:low"
    ]
    enforcement.enforce(
        session,
        directive,
        decide(directive, rows),  # type: ignore[arg-type]
        stage=1.0,
        actor="operator:test",
        settings=SETTINGS,
        now=_hours(4),
    )
    recheck(session, appeals["wechat:low"], None, SETTINGS, now=_hours(4))
    review.decide(
        session,
        appeals["alipay:mule"],
        alice,
        ReviewAction.LIFT,
        "lives in Tengchong, never crossed",
        SETTINGS,
        now=_hours(5),
    )
    proposed = review.decide(
        session,
        appeals["wechat:f1"],
        alice,
        ReviewAction.DOWNGRADE,
        "the outreach is real, the device farm is not",
        SETTINGS,
        to_measure=Measure.RESTRICT,
        now=_hours(9),
    )
    assert proposed.proposal is not None
    review.approve(session, proposed.proposal, bob, "agreed", SETTINGS, now=_hours(10))
    review.decide(
        session,
        appeals["qq:low"],
        alice,
        ReviewAction.UPHOLD,
        "the money flows stand as they are",
        SETTINGS,
        now=_hours(30),
    )
    assert check_breaker(session, directive.id, BREAKER, _hours(31)) is not None

    late = make_directive(tmp / "late", directive_id="test-2019-late")
    enforcement.enforce(
        session,
        late,
        decide(late, [D("wechat:late", "suspend", "p-late"), D("qq:late", "restrict", "p-q")]),
        stage=1.0,
        actor="operator:test",
        settings=SETTINGS,
        now=LATE,
    )
    session.flush()
    late_cases = {
        c.account_id: c
        for c in session.query(Case).filter(Case.directive_id == late.id).order_by(Case.id)
    }
    cases.update(late_cases)
    appeals["wechat:late"], _ = file(
        session, late_cases["wechat:late"], blobs, now=LATE + timedelta(hours=1)
    )
    pause_directive(session, late.id, actor="operator:li", reason="checking Tachileik", now=LATE)
    session.flush()
    return Store(cases, appeals, directive, late)
