"""The reviewer console: sign-in, the queue, the case page, decisions with four eyes,
operators' statistics and alerts, the auditors' view of the audit log.

Server-side sessions (cookie ``fb_console``, HttpOnly, SameSite=Strict); every form
carries the session's CSRF token. Chinese and English (``console/i18n.py``, its own
catalogue), instants in Beijing time with the zone named.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from fairban import audit, tokens
from fairban.appeals import service
from fairban.appeals.models import Alert, Appeal, AppealUpload
from fairban.audit.actions import Action
from fairban.audit.models import AuditEntry
from fairban.cases.models import Case
from fairban.directives.models import DirectiveRecord
from fairban.errors import FairbanError
from fairban.measures import Measure, weaker_than
from fairban.ratelimits import allow, forget, used
from fairban.review import dashboard as board
from fairban.review import flows as review
from fairban.review import groups as review_groups
from fairban.review import queue as review_queue
from fairban.review import staffing, users
from fairban.review.models import (
    ConsoleSession,
    ConsoleUser,
    ProposalState,
    ReviewAction,
    ReviewProposal,
    Role,
)
from fairban.web.console.charts import bars
from fairban.web.console.evidence import evidence_view
from fairban.web.console.i18n import duration, when
from fairban.web.console.i18n import gettext as console_gettext
from fairban.web.deps import (
    CONSOLE_COOKIE,
    MAX_ID,
    IdPath,
    SessionDep,
    StateDep,
    client_address,
    get_lang,
    now,
    render,
)

router = APIRouter(prefix="/console", include_in_schema=False)
#: failed sign-ins a window allows from one address, and for one user from one address
LOGIN_FAILS_PER_ADDRESS = 20
LOGIN_FAILS_PER_USER_ADDRESS = 10
LOGIN_CSRF = "fb_login_csrf"
#: what the dashboard says after an operator's step (?done=STEP)
STEP_DONE = {
    "pause": "The directive is paused.",
    "resume": "The directive is resumed.",
    "stage": "The next stage is enforced.",
}
ROLE_HOME = {
    Role.REVIEWER: "/console/queue",
    Role.SENIOR: "/console/queue",
    Role.OPERATOR: "/console/dashboard",
    Role.AUDITOR: "/console/audit",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _page(
    request: Request, name: str, title: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A console page in the reader's language (the portal's cookie and switch); ``title``
    is an English message, translated here."""
    lang = get_lang(request)
    _ = console_gettext(lang)
    return render(
        request,
        name,
        lang,
        status_code=status_code,
        title=_(title),
        _=_,
        when=lambda at: when(at, lang),
        duration=lambda hours: duration(hours, lang),
        size=_size,
        loads=json.loads,
        now=now(),
        **context,
    )


def _attachment(filename: str) -> str:
    """A Content-Disposition that keeps the uploaded name: an ASCII fallback and the
    UTF-8 name (RFC 6266, RFC 5987), quotes and controls removed."""
    clean = "".join(c for c in filename if c.isprintable() and c not in '"\\/') or "upload"
    fallback = "".join(c if c.isascii() else "_" for c in clean)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


def _signed_in(
    request: Request, session: SessionDep, *roles: Role
) -> tuple[ConsoleSession, ConsoleUser]:
    found = users.current(session, request.cookies.get(CONSOLE_COOKIE), now())
    if found is None:
        raise HTTPException(status_code=303, headers={"Location": "/console/login"})
    if roles and found[1].role not in roles:
        raise HTTPException(status_code=403, detail="Your role cannot see this page")
    return found


def _check_csrf(console: ConsoleSession, csrf: str) -> None:
    if not tokens.same(csrf, console.csrf):
        raise HTTPException(status_code=403, detail="The form has expired. Please try again.")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = _page(
        request,
        "console/login.html",
        "Sign in",
        csrf=token,
        error=error,
        status_code=401 if error else 200,
    )
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    state: StateDep,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not tokens.same(csrf, cookie):
        return login_page(request, error="The form has expired. Please try again.")
    t = now()
    window = state.settings.rate_window_s
    address = client_address(request)
    # failures only, per address and per (user, address): an attacker elsewhere can
    # neither lock a user out nor stop a colleague behind the same office address
    # from signing in after their own typo; concurrent tries may each pass the check
    # before any is counted (a few more per window, as many as threads)
    limits = (
        (f"login:ip:{address}", LOGIN_FAILS_PER_ADDRESS),
        (f"login:user-ip:{name.strip()}:{address}", LOGIN_FAILS_PER_USER_ADDRESS),
    )
    if any(used(session, key, window_s=window, now=t) >= n for key, n in limits):
        return login_page(request, error="Too many tries. Wait a while.")
    user = users.authenticate(session, name, password)
    if user is None:
        for key, n in limits:
            allow(session, key, limit=n, window_s=window, now=t)
        audit.append(
            session,
            actor="console",
            action=Action.CONSOLE_LOGIN_FAIL,
            subject=f"user:{name.replace(chr(0), '').strip()[:64] or '-'}",
        )
        session.commit()
        return login_page(request, error="Wrong name or password.")
    forget(session, limits[1][0])  # the user's own typos are forgiven at their sign-in
    token = users.start_session(session, user, t)
    audit.append(
        session,
        actor=f"user:{user.name}",
        action=Action.CONSOLE_LOGIN,
        subject=f"user:{user.name}",
    )
    session.commit()
    response = _see_other(ROLE_HOME[user.role])
    response.set_cookie(
        CONSOLE_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=state.settings.public_url.startswith("https://"),
        max_age=8 * 3600,
    )
    response.delete_cookie(LOGIN_CSRF)
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, csrf: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    console, user = _signed_in(request, session)
    _check_csrf(console, csrf)
    users.end_session(session, request.cookies.get(CONSOLE_COOKIE, ""))
    audit.append(
        session,
        actor=f"user:{user.name}",
        action=Action.CONSOLE_LOGOUT,
        subject=f"user:{user.name}",
    )
    session.commit()
    response = _see_other("/console/login")
    response.delete_cookie(CONSOLE_COOKIE)
    return response


@router.get("")
@router.get("/")
def console_home(request: Request, session: SessionDep) -> Response:
    _console, user = _signed_in(request, session)
    return _see_other(ROLE_HOME[user.role])


#: what a bad page link gets, 400 (the queue page's own words, in the reader's language)
BAD_CURSOR = "The page link is not valid. Open the queue's first page."
BAD_FILTER = "The filter is not valid. Open the queue's first page."


def _cursor(text: str) -> int | None:
    """A page cursor from the link: an appeal id, or None when absent."""
    if not text:
        return None
    if len(text) > 12 or not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
        raise ValueError(BAD_CURSOR)
    return int(text)


def _page_size(text: str) -> int:
    """The page size asked for, clamped to 1..MAX_PAGE_SIZE; a word is an error."""
    if not text:
        return review_queue.PAGE_SIZE
    digits = text.removeprefix("-")
    if len(text) > 12 or not (digits.isascii() and digits.isdigit()):
        raise ValueError(BAD_FILTER)
    return min(max(int(text), 1), review_queue.MAX_PAGE_SIZE)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    # strings checked here, not by FastAPI: a bad link gets the queue's own 400
    size: str = "",
    after: str = "",
    before: str = "",
    directive: str = "",
    measure: str = "",
) -> Response:
    """One page of the queue, the highest priority first over the whole queue (ties:
    the earliest deadline; keyset pages: ``after`` or ``before`` an appeal id),
    filtered by directive and measure; the groups and the
    reviewers needed are the whole queue's, counted in SQL."""
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    t = now()
    error = ""
    where = []
    filters: dict[str, str] = {}
    page: review_queue.Page | None = None
    try:
        per_page = _page_size(size)
        if len(directive) > 200:
            raise ValueError(BAD_FILTER)
        if directive:
            where.append(Appeal.directive_id == directive.replace("\x00", ""))
            filters["directive"] = directive
        if measure:
            if measure not in {m.value for m in Measure}:
                raise ValueError(BAD_FILTER)
            where.append(Case.measure == Measure(measure))
            filters["measure"] = measure
        if size:
            filters["size"] = str(per_page)
        page = review_queue.page(
            session, t, size=per_page, after=_cursor(after), before=_cursor(before), where=where
        )
    except ValueError as e:  # CursorError too
        session.rollback()
        error = str(e) if str(e) in (BAD_CURSOR, BAD_FILTER) else BAD_CURSOR
    pending = session.scalar(
        select(func.count())
        .select_from(ReviewProposal)
        .where(ReviewProposal.state == ProposalState.PENDING)
    )
    listed, group_count = review_groups.listed(session, t)
    directives = list(
        session.scalars(select(DirectiveRecord.id).order_by(DirectiveRecord.id).limit(200))
    )

    def link(**cursor: int) -> str:
        return "/console/queue?" + urlencode({**filters, **cursor})

    return _page(
        request,
        "console/queue.html",
        "Queue",
        status_code=400 if error else 200,
        user=user,
        csrf=console.csrf,
        page=page,
        items=page.items if page else [],
        error=error,
        filters=filters,
        directives=directives,
        measures=[m.value for m in Measure],
        next_link=link(after=page.next_after) if page and page.next_after else "",
        prev_link=link(before=page.prev_before) if page and page.prev_before else "",
        pending=pending,
        groups=listed,
        group_count=group_count,
        staff=staffing.queue_staffing(session, t),
    )


@router.post("/queue/next")
def claim_next(
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Claim the first appeal of the queue's order (the highest priority) that no other
    reviewer holds and none waits on for a second reviewer, and open it; back to the
    queue when there is none."""
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    _check_csrf(console, csrf)
    t = now()
    appeal = review_queue.next_open(session, user, t)
    if appeal is None:
        return _see_other("/console/queue")
    review_queue.claim(session, appeal, user, t)
    session.commit()
    return _see_other(f"/console/appeals/{appeal.id}")


def _draft(session: SessionDep, user: ConsoleUser, after: int | None) -> str:
    """The walk's shared draft: the reason the reviewer gave the group's previous case
    (``after``), decided or waiting for a second reviewer; nobody else's."""
    if after is None:
        return ""
    appeal = session.get(Appeal, after)
    if appeal is None:
        return ""
    if appeal.decision_reason and staffing.first_decider(appeal.decided_by) == user.name:
        return appeal.decision_reason
    proposal = session.scalars(
        select(ReviewProposal)
        .where(ReviewProposal.appeal_id == after, ReviewProposal.proposed_by == user.name)
        .order_by(ReviewProposal.id.desc())
    ).first()
    return proposal.reason if proposal else ""


def _group(session: SessionDep, group_id: str, t: datetime) -> review_groups.Group | None:
    """The group as the queue stands, read by its stored key (an index), not from the
    whole queue, which at a surge is many thousands."""
    return review_groups.members(session, group_id, t)


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(
    group_id: Annotated[str, Path(pattern="^[0-9a-f]{16}$")],
    request: Request,
    session: SessionDep,
    at: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """A group walked case by case: the case ``at`` (else the first one this reviewer
    can decide), its own decision form with the shared draft as its reason."""
    return _group_view(group_id, request, session, at=at, after=after)


def _group_view(
    group_id: str,
    request: Request,
    session: SessionDep,
    *,
    at: int | None = None,
    after: int | None = None,
    error: str = "",
    draft: str | None = None,
) -> Response:
    """The group page; ``error`` and ``draft`` (the reason typed) only after a refused
    decision, never from a link, so that no link writes a reviewer's reason for them."""
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    t = now()
    group = _group(session, group_id, t)
    waiting: set[int] = set()
    current: review_queue.QueueItem | None = None
    if group is not None:
        ids = [i.appeal.id for i in group.items]
        waiting = set(
            session.scalars(
                select(ReviewProposal.appeal_id).where(
                    ReviewProposal.appeal_id.in_(ids),
                    ReviewProposal.state == ProposalState.PENDING,
                )
            )
        )
        open_items = [
            i
            for i in group.items
            if i.appeal.id not in waiting and not review_queue.claimed_by_other(i.appeal, user, t)
        ]
        chosen = [i for i in open_items if i.appeal.id == at]
        current = next(iter(chosen or open_items), None)
    appeal = current.appeal if current else None
    return _page(
        request,
        "console/group.html",
        "Group of appeals",
        status_code=400 if error else 200,
        user=user,
        csrf=console.csrf,
        group=group,
        group_id=group_id,
        waiting=waiting,
        current=current,
        error=error,
        draft=_draft(session, user, after) if draft is None else draft,
        grounds=json.loads(appeal.grounds) if appeal else [],
        recheck=service.recheck_summary(appeal) if appeal else None,
        reasons=json.loads(appeal.case.reasons or "[]") if appeal else [],
        needs_second_lift=appeal is not None
        and review.second_needed(session, appeal, ReviewAction.LIFT),
        needs_second_uphold=appeal is not None
        and review.second_needed(session, appeal, ReviewAction.UPHOLD),
        weaker=[
            (m.value, review.second_needed(session, appeal, ReviewAction.DOWNGRADE, m))
            for m in reversed(weaker_than(appeal.case.measure))
        ]
        if appeal
        else [],
    )


@router.post("/groups/{group_id}/decide")
def group_decide(
    group_id: Annotated[str, Path(pattern="^[0-9a-f]{16}$")],
    request: Request,
    session: SessionDep,
    state: StateDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
    appeal_id: Annotated[int, Form(ge=1, le=MAX_ID)] = 0,
    action: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=5000)] = "",
    to_measure: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """One case of the group decided, with its own reason: claimed for the reviewer
    (audited) if it is not yet, then decided as on the case page, four eyes and all."""
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    _check_csrf(console, csrf)
    t = now()
    group = _group(session, group_id, t)
    item = next((i for i in group.items if i.appeal.id == appeal_id), None) if group else None
    if item is None:
        return _group_view(
            group_id, request, session, error="The appeal is no longer in this group.", draft=reason
        )
    appeal = item.appeal
    try:
        chosen = ReviewAction(action)
        to = Measure(to_measure) if to_measure and chosen == ReviewAction.DOWNGRADE else None
        if appeal.claimed_by != user.name:
            review_queue.claim(session, appeal, user, t)
        review.decide(session, appeal, user, chosen, reason, state.settings, to_measure=to, now=t)
    except ValueError as e:
        session.rollback()
        return _group_view(group_id, request, session, at=appeal_id, error=str(e), draft=reason)
    session.commit()
    return _see_other(f"/console/groups/{group_id}?after={appeal_id}")


@router.get("/appeals/{appeal_id}", response_class=HTMLResponse)
def appeal_page(
    appeal_id: IdPath, request: Request, session: SessionDep, state: StateDep, error: str = ""
) -> Response:
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise HTTPException(status_code=404)
    case = appeal.case
    proposal = review.pending_proposal(session, appeal)
    linked = [c for c in service.linked_cases_all(session, case) if c.id != case.id]
    return _page(
        request,
        "console/appeal.html",
        "Appeal",
        user=user,
        csrf=console.csrf,
        appeal=appeal,
        case=case,
        proposal=proposal,
        error=error,
        grounds=json.loads(appeal.grounds),
        recheck=service.recheck_summary(appeal),
        reasons=json.loads(case.reasons or "[]"),
        events=service.events(session, case),
        linked=linked,
        evidence=evidence_view(session, case, state.cache, console_gettext(get_lang(request))),
        history=audit.history(session, f"case:{case.number}"),
        # said before the reviewer submits: which choices wait for a senior's approval
        needs_second_lift=review.second_needed(session, appeal, ReviewAction.LIFT),
        needs_second_uphold=review.second_needed(session, appeal, ReviewAction.UPHOLD),
        weaker=[
            (m.value, review.second_needed(session, appeal, ReviewAction.DOWNGRADE, m))
            for m in reversed(weaker_than(case.measure))
        ],
    )


@router.post("/appeals/{appeal_id}/claim")
def claim(
    appeal_id: IdPath,
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    _check_csrf(console, csrf)
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise HTTPException(status_code=404)
    try:
        review_queue.claim(session, appeal, user, now())
    except review_queue.ClaimError as e:
        session.rollback()
        return _see_other(f"/console/appeals/{appeal_id}?error={e}")
    session.commit()
    return _see_other(f"/console/appeals/{appeal_id}")


@router.post("/appeals/{appeal_id}/release")
def release(
    appeal_id: IdPath,
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    _check_csrf(console, csrf)
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise HTTPException(status_code=404)
    try:
        review_queue.release(session, appeal, user)
    except review_queue.ClaimError as e:
        session.rollback()
        return _see_other(f"/console/appeals/{appeal_id}?error={e}")
    session.commit()
    return _see_other("/console/queue")


@router.post("/appeals/{appeal_id}/decide")
def decide(
    appeal_id: IdPath,
    request: Request,
    session: SessionDep,
    state: StateDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
    action: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=5000)] = "",
    to_measure: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    _check_csrf(console, csrf)
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise HTTPException(status_code=404)
    try:
        chosen = ReviewAction(action)
        # the form always sends the downgrade's choice; only a downgrade reads it
        to = Measure(to_measure) if to_measure and chosen == ReviewAction.DOWNGRADE else None
        result = review.decide(session, appeal, user, chosen, reason, state.settings, to_measure=to)
    except ValueError as e:
        session.rollback()
        return appeal_page(appeal_id, request, session, state, error=str(e))
    session.commit()
    if result.proposal is not None:
        return _see_other(f"/console/appeals/{appeal_id}")
    return _see_other("/console/queue")


@router.get("/proposals", response_class=HTMLResponse)
def proposals_page(request: Request, session: SessionDep) -> Response:
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    pending = list(
        session.scalars(
            select(ReviewProposal)
            .where(ReviewProposal.state == ProposalState.PENDING)
            .order_by(ReviewProposal.id)
        )
    )
    appeals = {p.appeal_id: session.get(Appeal, p.appeal_id) for p in pending}
    return _page(
        request,
        "console/proposals.html",
        "Waiting for a second reviewer",
        user=user,
        csrf=console.csrf,
        proposals=pending,
        appeals=appeals,
    )


@router.post("/proposals/{proposal_id}/{answer}")
def answer_proposal(
    proposal_id: IdPath,
    answer: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    console, user = _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    _check_csrf(console, csrf)
    proposal = session.get(ReviewProposal, proposal_id)
    if proposal is None or answer not in ("approve", "reject"):
        raise HTTPException(status_code=404)
    try:
        if answer == "approve":
            review.approve(session, proposal, user, note, state.settings)
        else:
            review.reject(session, proposal, user, note)
    except ValueError as e:
        session.rollback()
        return appeal_page(proposal.appeal_id, request, session, state, error=str(e))
    session.commit()
    return _see_other("/console/proposals")


@router.get("/uploads/{upload_id}")
def upload_file(
    upload_id: IdPath, request: Request, session: SessionDep, state: StateDep
) -> Response:
    _signed_in(request, session, Role.REVIEWER, Role.SENIOR)
    upload = session.get(AppealUpload, upload_id)
    if upload is None:
        raise HTTPException(status_code=404)
    return Response(
        state.blobs.read(upload.sha256),
        media_type=upload.media_type,
        headers={
            "Content-Disposition": _attachment(upload.filename),
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, session: SessionDep) -> Response:
    console, user = _signed_in(request, session, Role.OPERATOR, Role.SENIOR)
    alerts = list(session.scalars(select(Alert).order_by(Alert.id.desc()).limit(50)))
    return _page(
        request,
        "console/stats.html",
        "Directives",
        user=user,
        csrf=console.csrf,
        stats=service.directive_stats(session),
        alerts=alerts,
    )


@router.post("/alerts/{alert_id}/ack")
def ack_alert(
    alert_id: IdPath,
    request: Request,
    session: SessionDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    console, user = _signed_in(request, session, Role.OPERATOR)
    _check_csrf(console, csrf)
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(status_code=404)
    if alert.acknowledged_at is None:
        alert.acknowledged_by, alert.acknowledged_at = user.name, now()
        audit.append(
            session,
            actor=f"user:{user.name}",
            action=Action.CONSOLE_ALERT_ACK,
            subject=f"directive:{alert.directive_id}"
            if alert.directive_id
            else f"alert:{alert.id}",
            payload={"alert": alert.id},
        )
        session.commit()
    return _see_other("/console/stats")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    subject: str = "",
) -> Response:
    console, user = _signed_in(request, session, Role.AUDITOR)
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(100)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    subject = subject.replace("\x00", "")
    if subject:
        query = query.where(AuditEntry.subject == subject[:255])
    entries = list(session.scalars(query))
    return _page(
        request,
        "console/audit.html",
        "Audit log",
        user=user,
        csrf=console.csrf,
        entries=entries,
        subject=subject,
    )


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    session: SessionDep,
    state: StateDep,
    done: Annotated[str, Query(max_length=16)] = "",
    error: str = "",
) -> Response:
    console, user = _signed_in(request, session, Role.OPERATOR, Role.SENIOR)
    t = now()
    data = board.dashboard(session, state.settings, t)
    _ = console_gettext(get_lang(request))
    labels = [d.day.strftime("%m-%d") for d in data.days]

    def series(*names: str) -> list[tuple[str, list[float]]]:
        return [(_(n), [float(d.counts[n]) for d in data.days]) for n in names]

    charts = [
        (
            _("Measures imposed and lifted"),
            bars(labels, series("imposed", "lifted"), _("Measures imposed and lifted")),
        ),
        (
            _("Appeals filed and decided"),
            bars(
                labels, series("appeals", "decided", "overturned"), _("Appeals filed and decided")
            ),
        ),
        (
            _("Overturn rate (%)"),
            bars(
                labels,
                [(_("Overturn rate"), [100 * (d.overturn_rate or 0.0) for d in data.days])],
                _("Overturn rate (%)"),
                fmt="{:.0f}%",
                top=100.0,
            ),
        ),
    ]
    return _page(
        request,
        "console/dashboard.html",
        "Dashboard",
        user=user,
        csrf=console.csrf,
        board=data,
        charts=charts,
        series=board.SERIES,
        settings=state.settings,
        operator=user.role == Role.OPERATOR,
        error=error,
        done=STEP_DONE.get(done, ""),
        staff=staffing.queue_staffing(session, t),
    )


@router.post("/dashboard/step")
def dashboard_step(
    request: Request,
    session: SessionDep,
    state: StateDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
    directive: Annotated[str, Form(max_length=200)] = "",
    step: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """An operator pauses, resumes or grows a directive's rollout, with a reason."""
    console, user = _signed_in(request, session, Role.OPERATOR)
    _check_csrf(console, csrf)
    actor, t = f"user:{user.name}", now()
    try:
        if step == "pause":
            board.pause(session, directive, actor=actor, reason=reason, now=t)
        elif step == "resume":
            board.resume(session, directive, actor=actor, reason=reason, now=t)
        elif step == "stage":
            board.next_stage(
                session,
                directive,
                store_dir=state.settings.store_dir,
                settings=state.settings,
                actor=actor,
                reason=reason,
                now=t,
            )
        else:
            raise HTTPException(status_code=404)
    except (board.StepError, FairbanError) as e:
        session.rollback()
        return dashboard_page(request, session, state, error=str(e))
    session.commit()
    return _see_other(f"/console/dashboard?done={step}")
