"""The JSON API (OpenAPI at ``/api/openapi.json``): the same appeal flow as the portal
for apps and clients. A session token (``Authorization: Bearer ...``) comes from the
notice link's token or the case number and phone, and is verified by the one-time code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairban import ratelimits
from fairban.appeals import codes, service
from fairban.appeals import sessions as portal_sessions
from fairban.appeals.filing import AppealError, submit_appeal
from fairban.appeals.models import AccountContact, Appeal, AppealState, PortalSession
from fairban.audit import heads
from fairban.audit.checkpoint import CheckpointError
from fairban.cases import links
from fairban.cases import service as case_service
from fairban.cases.models import Case
from fairban.web.deps import AppState, SessionDep, StateDep, client_address, now

router = APIRouter(prefix="/api/v1", tags=["appeals"])
bearer = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

GroundName = Literal[
    "never_been_there", "visited", "live_near_border", "victim", "know_the_person", "other"
]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class Health(BaseModel):
    status: Literal["ok"]


class LinkAccess(BaseModel):
    case_number: Text = Field(min_length=1, max_length=64)
    token: Text = Field(min_length=1, max_length=200)


class PhoneAccess(BaseModel):
    case_number: Text = Field(min_length=1, max_length=64)
    phone: Text = Field(min_length=1, max_length=40)


class SessionOut(BaseModel):
    session: str
    phone: str | None = Field(None, description="the phone codes go to, masked")


class CodeIn(BaseModel):
    code: Text = Field(min_length=1, max_length=20)


class Verified(BaseModel):
    verified: bool


class AppealIn(BaseModel):
    grounds: list[GroundName] = Field(min_length=1, max_length=6)
    statement: Text = Field("", max_length=5000)
    submit_key: Text = Field(
        min_length=8,
        max_length=64,
        description="one per appeal: a retry with the same key returns the first appeal",
    )


class AppealOut(BaseModel):
    id: int
    case_number: str
    state: str
    grounds: list[str]
    filed_at: datetime
    answer_by: datetime
    expected_decision: datetime | None
    decided_at: datetime | None
    #: while it waits for the automatic re-check: appeals ahead of it in the queue (the
    #: expected decision then comes from the measured drain rate)
    queue_ahead: int | None = None


class CaseOut(BaseModel):
    number: str
    account_id: str
    platform: str
    state: str
    measure: str
    reasons: list[dict[str, object]]
    decided_at: datetime
    appeal: AppealOut | None


class Problem(BaseModel):
    detail: str


class TooMany(Problem):
    """A refusal by the rate limit: the same wait as the ``Retry-After`` header."""

    retry_after_s: int = Field(description="seconds until the rate limit lets the caller in")


ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem},
    401: {"model": Problem},
    404: {"model": Problem},
    429: {"model": TooMany},
}

TOO_MANY = "too many requests"


@router.get("/health", response_model=Health)
def health() -> Health:
    return Health(status="ok")


@router.get(
    "/audit/checkpoint",
    response_class=PlainTextResponse,
    tags=["audit"],
    responses={503: {"model": Problem}},
)
def audit_checkpoint(state: StateDep) -> PlainTextResponse:
    """The audit log's latest signed checkpoint (a C2SP checkpoint note: origin, size,
    root, time, Ed25519 signature), for anyone to keep and verify the log against; no
    sign-in, no personal data. Signed anew once older than the set interval."""
    s = state.settings
    try:
        note = heads.latest(state.factory, s, now(), s.audit_checkpoint_interval_s)
    except CheckpointError:
        raise HTTPException(status_code=503, detail="no checkpoint of the audit log") from None
    return PlainTextResponse(note, headers={"Cache-Control": "no-cache"})


class RateLimited(HTTPException):
    """429 with ``Retry-After`` and, in the JSON body, ``retry_after_s`` (the app's
    handler adds it): how long until the limit's window ends."""

    def __init__(self, wait_s: int) -> None:
        super().__init__(status_code=429, detail=TOO_MANY, headers={"Retry-After": str(wait_s)})
        self.wait_s = wait_s


def too_many_body(wait_s: int) -> dict[str, object]:
    """The JSON of a 429 (the intake's own path answers the same)."""
    return {"detail": TOO_MANY, "retry_after_s": wait_s}


def _too_many(session: Session, state: AppState, keys: Sequence[str], t: datetime) -> RateLimited:
    """The refusal, with the wait read from the limiter's windows of ``keys``; commits
    the count that refused."""
    wait = ratelimits.wait_s(session, keys, window_s=state.settings.rate_window_s, now=t)
    session.commit()
    return RateLimited(max(1, wait))


def _session(session: SessionDep, credentials: BearerDep, *, verified: bool) -> PortalSession:
    token = credentials.credentials if credentials else None
    portal = portal_sessions.portal_session(session, token, now())
    if portal is None or (verified and portal.verified_at is None):
        raise HTTPException(
            status_code=401, detail="no valid session", headers={"WWW-Authenticate": "Bearer"}
        )
    return portal


@router.post("/access/link", response_model=SessionOut, responses=ERRORS)
def access_by_link(body: LinkAccess, session: SessionDep) -> SessionOut:
    """A session from the notice link's case number and token (not yet verified)."""
    case = case_service.case_by_number(session, body.case_number)
    if case is None or not links.check_token(case, body.token):
        raise HTTPException(status_code=404, detail="no such case and token")
    token = portal_sessions.start_session(session, case, now())
    contact = session.get(AccountContact, case.account_id)
    session.commit()
    return SessionOut(session=token, phone=codes.mask_phone(contact.phone) if contact else None)


@router.post("/access/phone", response_model=SessionOut, status_code=202, responses=ERRORS)
def access_by_phone(
    body: PhoneAccess,
    request: Request,
    session: SessionDep,
    state: StateDep,
    tasks: BackgroundTasks,
) -> SessionOut:
    """A session and a code sent, when the case number and phone match; the same
    answer, timing and next steps when they do not (a session that never verifies)."""
    s, t = state.settings, now()
    address = client_address(request)
    if not portal_sessions.allow_start(
        session, s, case_number=body.case_number, address=address, now=t
    ):
        raise _too_many(session, state, portal_sessions.start_keys(body.case_number, address), t)
    case = case_service.case_by_number(session, body.case_number)
    token = codes.start_by_phone(  # a decoy session when they do not match
        session,
        case,
        body.phone,
        sender=codes.Deferred(state.sender, tasks.add_task),
        secret=state.secret,
        settings=s,
        now=t,
    )
    session.commit()
    return SessionOut(session=token, phone=None)


@router.post("/access/code", status_code=202, responses=ERRORS)
def send_code(
    request: Request,
    session: SessionDep,
    state: StateDep,
    credentials: BearerDep,
    tasks: BackgroundTasks,
) -> Response:
    """Send a (new) one-time code to the phone bound to the session's account."""
    portal = _session(session, credentials, verified=False)
    s, t = state.settings, now()
    subject, address = codes.limit_subject(portal), client_address(request)
    if not codes.allow_code(session, s, case_id=subject, address=address, now=t):
        raise _too_many(session, state, codes.code_keys(subject, address), t)
    case = session.get(Case, portal.case_id) if portal.case_id is not None else None
    sender = codes.Deferred(state.sender, tasks.add_task)  # a decoy's answer: as fast
    sent = codes.send_code(
        session, portal, case, sender=sender, secret=state.secret, settings=s, now=t
    )
    session.commit()
    if not sent:
        raise HTTPException(status_code=404, detail="no phone on file for this account")
    return Response(status_code=202, background=tasks)


@router.post("/access/verify", response_model=Verified, responses=ERRORS)
def verify(body: CodeIn, session: SessionDep, state: StateDep, credentials: BearerDep) -> Verified:
    """Check the one-time code: ``wrong``, ``locked`` (ask for a new code) or
    ``expired`` are a 400 with that detail."""
    portal = _session(session, credentials, verified=False)
    result = codes.verify_code(
        session, portal, body.code, secret=state.secret, settings=state.settings, now=now()
    )
    session.commit()
    if result != codes.CodeResult.OK:
        raise HTTPException(status_code=400, detail=result)
    return Verified(verified=True)


def appeal_out(
    appeal: Appeal, case_number: str | None = None, drain: service.Drain | None = None
) -> AppealOut:
    """An appeal as the API says it. ``drain``: the re-check's queue as last measured,
    from which an appeal just filed is promised its re-check (as the status page does)."""
    import json

    t = now()
    expected = service.expected_decision(appeal, t)
    if drain is not None and appeal.state == AppealState.RECEIVED:
        expected = drain.expected(appeal.filed_at, t)
    return AppealOut(
        id=appeal.id,
        case_number=case_number or appeal.case.number,
        state=appeal.state.value,
        grounds=json.loads(appeal.grounds),
        filed_at=appeal.filed_at,
        answer_by=appeal.answer_by,
        expected_decision=expected,
        decided_at=appeal.decided_at,
    )


@router.get("/case", response_model=CaseOut, responses=ERRORS)
def my_case(session: SessionDep, credentials: BearerDep) -> CaseOut:
    """The session's case (and no other): measure, reasons, latest appeal."""
    import json

    portal = _session(session, credentials, verified=True)
    case = session.get(Case, portal.case_id)
    assert case is not None
    appeal = service.latest_appeal(session, case)
    return CaseOut(
        number=case.number,
        account_id=case.account_id,
        platform=case.platform,
        state=case.state.value,
        measure=case.measure.value,
        reasons=[r for r in json.loads(case.reasons or "[]") if isinstance(r, dict)],
        decided_at=case.decided_at,
        appeal=appeal_out(appeal) if appeal else None,
    )


@router.post(
    "/case/appeals",
    response_model=AppealOut,
    status_code=201,
    # 503: the database is restarting (web.api.intake); filing again with the same
    # submit_key is safe
    responses={**ERRORS, 503: {"model": Problem}},
)
async def file_appeal(
    body: AppealIn, response: Response, state: StateDep, credentials: BearerDep
) -> AppealOut:
    """File an appeal against the session's case. 201 when new; 200 with the first
    appeal when the same ``submit_key`` (or any open appeal) exists already."""
    token = credentials.credentials if credentials else None
    # on PostgreSQL the usual appeal is answered before this route (web.api.intake)
    appeal, created = await run_in_threadpool(_file_appeal_in_thread, state, token, body)
    if state.recheck is not None:
        state.recheck.wake()
    if not created:
        response.status_code = 200
    return appeal


def _file_appeal_in_thread(
    state: AppState, token: str | None, body: AppealIn
) -> tuple[AppealOut, bool]:
    with state.factory() as session:
        return _file_appeal(session, state, token, body)


def _file_appeal(
    session: Session, state: AppState, token: str | None, body: AppealIn
) -> tuple[AppealOut, bool]:
    """Session and case in one query, the rate limit, the appeal; one commit."""
    s, t = state.settings, now()
    case = portal_sessions.verified_case(session, token, t)
    if case is None:
        raise HTTPException(
            status_code=401, detail="no valid session", headers={"WWW-Authenticate": "Bearer"}
        )
    if not portal_sessions.allow_case(session, s, action="appeal", case_id=case.id, now=t):
        keys = [portal_sessions.case_limit_key("appeal", case.id)]
        raise _too_many(session, state, keys, t)
    drain = _drain(state, t)  # measured at most once a second, by whichever thread
    try:
        appeal, created = submit_appeal(
            session,
            case,
            grounds=list(body.grounds),
            statement=body.statement,
            uploads=[],
            submit_key=body.submit_key,
            lang="zh-CN",
            blobs=state.blobs,
            settings=s,
            now=t,
        )
        out = appeal_out(appeal, case.number, drain)
        session.commit()
    except AppealError as e:
        session.rollback()
        raise HTTPException(status_code=400, detail=e.code) from None
    except IntegrityError:
        session.rollback()
        again = service.open_appeal(session, case)
        if again is None:
            raise HTTPException(status_code=400, detail="bad_key") from None
        out, created = appeal_out(again, case.number, drain), False
    return out, created


def _drain(state: AppState, t: datetime) -> service.Drain | None:
    """The queue as measured within the last second (both intake paths promise from it)."""
    return state.drain.read(t) if state.drain is not None else None


@router.get("/case/appeal", response_model=AppealOut, responses=ERRORS)
def my_appeal(session: SessionDep, credentials: BearerDep) -> AppealOut:
    """The latest appeal of the session's case."""
    portal = _session(session, credentials, verified=True)
    case = session.get(Case, portal.case_id)
    assert case is not None
    appeal = service.latest_appeal(session, case)
    if appeal is None:
        raise HTTPException(status_code=404, detail="no appeal yet")
    out = appeal_out(appeal)
    standing = service.standing(session, appeal, now())
    if standing is not None:
        out.queue_ahead, out.expected_decision = standing.ahead, standing.expected
    return out
