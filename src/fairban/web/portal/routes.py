"""The public appeal portal: server-rendered, works without JavaScript.

Way in: the notice link ``/c/{number}?t={token}`` or the case number and phone
(``/start``); then a one-time code to the account's phone (``/verify``). A verified
session is bound to one case: every page below ``/case`` shows that case and no other.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from fairban import ratelimits, tokens
from fairban.appeals import codes, service
from fairban.appeals import sessions as portal_sessions
from fairban.appeals.export import request_export
from fairban.appeals.filing import AppealError, Upload, photo_max_bytes, submit_appeal
from fairban.appeals.models import (
    AccountContact,
    Appeal,
    DataExport,
    ExportState,
    Ground,
    PortalSession,
)
from fairban.cases import links
from fairban.cases import service as case_service
from fairban.cases.models import Case
from fairban.cases.transitions import APPEALABLE
from fairban.directives.models import DirectiveRecord
from fairban.directives.service import translations as directive_translations
from fairban.notices import render_long
from fairban.web.deps import (
    PORTAL_COOKIE,
    AppState,
    IdPath,
    LangDep,
    SessionDep,
    StateDep,
    beijing,
    client_address,
    now,
    render,
)
from fairban.web.i18n import LANG_COOKIE, LANGS, gettext

router = APIRouter(include_in_schema=False)

#: what a case number in a link can look like (the characters a DSA puid allows)
CASE_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,64}")

GROUNDS = (
    (Ground.NEVER_BEEN_THERE, "I have never been to these areas"),
    (Ground.VISITED, "I visited, but I do not run fraud"),
    (Ground.LIVE_NEAR_BORDER, "I live near the border"),
    (Ground.VICTIM, "I was a victim of fraud"),
    (Ground.KNOW_THE_PERSON, "I know the person who was involved"),
    (Ground.OTHER, "Other"),
)
REFUSALS = {
    "no_grounds": "Choose at least one statement.",
    "bad_ground": "A statement was not recognised.",
    "statement_too_long": "The text is too long.",
    "too_many_files": "Too many files.",
    "file_too_large": "A file is too large: %(name)s",
    "file_type": "A file is not a photo or PDF: %(name)s",
    "empty_file": "A file is empty: %(name)s",
    "not_appealable": "This case cannot be appealed now.",
    "bad_key": "The form has expired. Please try again.",
}


#: refusals about a file: said beside the file field
FILE_REFUSALS = frozenset({"too_many_files", "file_too_large", "file_type", "empty_file"})


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _set_session_cookie(response: Response, token: str, state: AppState) -> None:
    # Secure whenever the portal is served over HTTPS (its public address says so)
    secure = state.settings.public_url.startswith("https://")
    response.set_cookie(
        PORTAL_COOKIE, token, httponly=True, samesite="lax", secure=secure, max_age=2 * 3600
    )


def _too_many(
    request: Request,
    session: SessionDep,
    state: AppState,
    lang: str,
    keys: Sequence[str],
    back: str,
) -> HTMLResponse:
    """The 429 page: how long to wait (the rate limit's window), and a language switch
    that leads back to ``back``, a page that can be loaded (this answers a POST)."""
    _ = gettext(lang)
    t = now()
    wait = ratelimits.wait_s(session, keys, window_s=state.settings.rate_window_s, now=t)
    session.commit()
    minutes = max(1, math.ceil(wait / 60))
    response = render(
        request,
        "error.html",
        lang,
        status_code=429,
        title=_("Too many requests. Wait a while and try again."),
        message=_("You can try again in %(minutes)s minutes, from %(when)s (Beijing time).")
        % {"minutes": minutes, "when": beijing(t + timedelta(seconds=wait))},
        path=back,
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _portal(request: Request, session: SessionDep) -> PortalSession | None:
    return portal_sessions.portal_session(session, request.cookies.get(PORTAL_COOKIE), now())


def _csrf_ok(portal: PortalSession, csrf: str) -> bool:
    return tokens.same(csrf, portal.csrf)


@router.get("/", response_class=HTMLResponse)
def start_page(request: Request, lang: LangDep) -> HTMLResponse:
    return render(request, "portal/start.html", lang, title="fairban")


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> RedirectResponse:
    lang = code if code in LANGS else "zh-CN"
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = _see_other(target)
    response.set_cookie(LANG_COOKIE, lang, samesite="lax", max_age=365 * 86400)
    return response


@router.post("/start")
def start(
    request: Request,
    session: SessionDep,
    state: StateDep,
    lang: LangDep,
    tasks: BackgroundTasks,
    case_number: Annotated[str, Form(max_length=64)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    s, t = state.settings, now()
    if not portal_sessions.allow_start(
        session, s, case_number=case_number, address=client_address(request), now=t
    ):
        keys = portal_sessions.start_keys(case_number, client_address(request))
        return _too_many(request, session, state, lang, keys, "/")
    case = case_service.case_by_number(session, case_number) if case_number else None
    # the same answer, cookie, work and next steps whether or not the number and phone
    # match (a decoy session otherwise); the SMS goes out after the answer
    token = codes.start_by_phone(
        session,
        case,
        phone,
        sender=codes.Deferred(state.sender, tasks.add_task),
        secret=state.secret,
        settings=s,
        now=t,
    )
    session.commit()
    response = _see_other("/verify?sent=1")
    _set_session_cookie(response, token, state)
    response.background = tasks
    return response


@router.get("/c/{number}")
def open_link(
    number: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    lang: LangDep,
    t: str = "",
) -> Response:
    """A notice's link. With its current token (``?t=``) the case opens at once; the
    SMS's bare link, an older notice's token or a stored notice's masked one open the
    case's sign-in by code instead (:func:`link_sign_in`): every link ever sent leads
    somewhere useful."""
    shaped = CASE_NUMBER.fullmatch(number.strip()) is not None
    case = case_service.case_by_number(session, number) if shaped else None
    if case is not None and t and links.check_token(case, t):
        token = portal_sessions.start_session(session, case, now())
        session.commit()
        response = _see_other("/verify")  # the token leaves the address bar and history
        _set_session_cookie(response, token, state)
        return response
    if not shaped:  # text no case number can be: says nothing about which exist
        _ = gettext(lang)
        return render(
            request,
            "portal/link_invalid.html",
            lang,
            status_code=404,
            title=_("This link is not valid"),
        )
    return link_sign_in(request, session, state, lang, number, case)


def link_sign_in(
    request: Request,
    session: SessionDep,
    state: AppState,
    lang: str,
    number: str,
    case: Case | None,
) -> HTMLResponse:
    """The bare link's page: the case number filled in, the masked phone the code goes
    to, one button. A number with no case shows a decoy's phone (no oracle)."""
    _target, phone = codes.link_target(session, case, number, secret=state.secret)
    return render(
        request,
        "portal/link_signin.html",
        lang,
        title=gettext(lang)("Sign in to your case"),
        number=number.strip().upper(),
        phone=phone,
    )


@router.post("/c/{number}")
def link_send_code(
    number: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    lang: LangDep,
    tasks: BackgroundTasks,
) -> Response:
    """The bare link's button: one code to the account's phone, then the code page.
    The same answer, cookie and timing whether or not the case exists (a decoy)."""
    if CASE_NUMBER.fullmatch(number.strip()) is None:
        return _see_other("/")
    s, t = state.settings, now()
    address = client_address(request)
    if not portal_sessions.allow_start(session, s, case_number=number, address=address, now=t):
        keys = portal_sessions.start_keys(number, address)
        return _too_many(request, session, state, lang, keys, f"/c/{quote(number.strip())}")
    case = case_service.case_by_number(session, number)
    token = codes.start_by_link(
        session,
        case,
        number,
        sender=codes.Deferred(state.sender, tasks.add_task),
        secret=state.secret,
        settings=s,
        now=t,
    )
    session.commit()
    response = _see_other("/verify?sent=link")
    _set_session_cookie(response, token, state)
    response.background = tasks
    return response


@router.get("/verify", response_class=HTMLResponse)
def verify_page(
    request: Request, session: SessionDep, lang: LangDep, sent: str = "", error: str = ""
) -> Response:
    portal = _portal(request, session)
    if portal is not None and portal.verified_at is not None:
        return _see_other("/case")
    phone = None
    if portal is not None and portal.phone_hint is not None:
        phone = portal.phone_hint  # opened by number and phone: the one typed
    elif portal is not None and portal.case_id is not None:
        case = session.get(Case, portal.case_id)
        contact = session.get(AccountContact, case.account_id) if case else None
        phone = codes.mask_phone(contact.phone) if contact else ""
    return render(
        request,
        "portal/verify.html",
        lang,
        title=gettext(lang)("Prove it is your phone"),
        portal=portal,
        phone=phone,
        sent=sent if sent in ("1", "link") else "",
        error=error,
        status_code=400 if error else 200,
    )


@router.post("/verify/send")
def send_code(
    request: Request,
    session: SessionDep,
    state: StateDep,
    lang: LangDep,
    tasks: BackgroundTasks,
    csrf: Annotated[str, Form(max_length=100)] = "",
    sent: Annotated[str, Form(max_length=8)] = "1",
) -> Response:
    portal = _portal(request, session)
    if portal is None or not _csrf_ok(portal, csrf):
        return _see_other("/?expired=1")
    s, t = state.settings, now()
    if not codes.allow_code(
        session, s, case_id=codes.limit_subject(portal), address=client_address(request), now=t
    ):
        keys = codes.code_keys(codes.limit_subject(portal), client_address(request))
        return _too_many(request, session, state, lang, keys, "/verify")
    case = session.get(Case, portal.case_id) if portal.case_id is not None else None
    sender = codes.Deferred(state.sender, tasks.add_task)  # a decoy's answer: as fast
    codes.send_code(session, portal, case, sender=sender, secret=state.secret, settings=s, now=t)
    session.commit()
    response = _see_other("/verify?sent=" + ("link" if sent == "link" else "1"))
    response.background = tasks
    return response


@router.post("/verify")
def check_code(
    request: Request,
    session: SessionDep,
    state: StateDep,
    lang: LangDep,
    code: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    portal = _portal(request, session)
    if portal is None or not _csrf_ok(portal, csrf):
        return verify_page(request, session, lang, error="expired")
    result = codes.verify_code(
        session, portal, code, secret=state.secret, settings=state.settings, now=now()
    )
    session.commit()
    if result == codes.CodeResult.OK:
        return _see_other("/case")
    return verify_page(request, session, lang, error=result)


def _verified(request: Request, session: SessionDep) -> tuple[PortalSession, Case]:
    portal = _portal(request, session)
    if portal is None or portal.verified_at is None or portal.case_id is None:
        raise HTTPException(status_code=303, headers={"Location": "/verify"})
    case = session.get(Case, portal.case_id)
    if case is None:
        raise HTTPException(status_code=404)
    return portal, case


def _case_page(
    request: Request,
    session: SessionDep,
    state: StateDep,
    lang: str,
    portal: PortalSession,
    case: Case,
    *,
    error: str = "",
    file_error: str = "",
    kept_statement: str = "",
    kept_grounds: Sequence[str] = (),
    status_code: int = 200,
) -> HTMLResponse:
    appeal = service.latest_appeal(session, case)
    open_one = service.open_appeal(session, case)
    can_appeal = case.state in APPEALABLE and open_one is None
    facts = service.notice_facts(
        session,
        case,
        appeal_url=links.short_url(state.settings, case),  # the SMS's link: it always works
        # the promise of a filed appeal; before filing, the deadline counts from filing
        answer_by=open_one.answer_by if open_one else None,
        answer_hours=state.settings.answer_hours,
        appeal_button="#appeal-form" if can_appeal else "/case/status",
        # a reviewer's written reason is part of the notice the person reads
        review_reason=appeal.decision_reason
        if appeal and (appeal.decided_by or "").startswith("user:")
        else None,
    )
    notice = render_long(facts, lang) if facts else ""
    return render(
        request,
        "portal/case.html",
        lang,
        status_code=status_code,
        title=gettext(lang)("Your case"),
        case=case,
        notice=notice,
        events=service.events(session, case),
        appeal=appeal,
        can_appeal=can_appeal,
        grounds=GROUNDS,
        csrf=portal.csrf,
        submit_key=secrets.token_urlsafe(24),
        error=error,
        exports=service.exports(session, case)[:3],
        **_decision(session, case, appeal, lang),
        file_error=file_error,
        kept_statement=kept_statement,
        kept_grounds=set(kept_grounds),
        max_files=state.settings.upload_max_files,
        max_mb=state.settings.upload_max_bytes // (1024 * 1024),
        photo_mb=photo_max_bytes(state.settings) // (1024 * 1024),
    )


@router.get("/case", response_class=HTMLResponse)
def case_page(request: Request, session: SessionDep, state: StateDep, lang: LangDep) -> Response:
    portal, case = _verified(request, session)
    return _case_page(request, session, state, lang, portal, case)


@router.post("/case/appeal")
def file_appeal(
    request: Request,
    session: SessionDep,
    state: StateDep,
    lang: LangDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
    submit_key: Annotated[str, Form(max_length=64)] = "",
    grounds: Annotated[list[str] | None, Form()] = None,
    statement: Annotated[str, Form(max_length=20_000)] = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    portal, case = _verified(request, session)
    _ = gettext(lang)
    if not _csrf_ok(portal, csrf):
        return _case_page(
            request,
            session,
            state,
            lang,
            portal,
            case,
            error=_("The form has expired. Please try again."),
            status_code=400,
        )
    s = state.settings
    if not portal_sessions.allow_case(session, s, action="appeal", case_id=case.id, now=now()):
        keys = [portal_sessions.case_limit_key("appeal", case.id)]
        return _too_many(request, session, state, lang, keys, "/case")
    uploads = []
    for f in files or []:
        data = f.file.read(photo_max_bytes(s) + 1)
        uploads.append(Upload(filename=f.filename or "", data=data))
    try:
        submit_appeal(
            session,
            case,
            grounds=grounds or [],
            statement=statement,
            uploads=uploads,
            submit_key=submit_key,
            lang=lang,
            blobs=state.blobs,
            settings=s,
        )
        session.commit()
    except AppealError as e:
        session.rollback()
        message = _(REFUSALS.get(e.code, "The form has expired. Please try again."))
        if "%(name)s" in message:
            message = message % {"name": e.detail}
        # the page comes back as it was sent: what was typed and ticked kept, a file's
        # error beside the file field (files are never kept: choose them again)
        about_files = e.code in FILE_REFUSALS
        return _case_page(
            request,
            session,
            state,
            lang,
            portal,
            case,
            error="" if about_files else message,
            file_error=message if about_files else "",
            kept_statement=statement,
            kept_grounds=grounds or [],
            status_code=400,
        )
    except IntegrityError:
        session.rollback()  # the same form submitted twice at once: the first one stands
    if state.recheck is not None:
        state.recheck.wake()
    return _see_other("/case/status")


@router.get("/case/status", response_class=HTMLResponse)
def status_page(request: Request, session: SessionDep, lang: LangDep) -> Response:
    _portal_row, case = _verified(request, session)
    appeal = service.latest_appeal(session, case)
    if appeal is None:
        return _see_other("/case")
    t = now()
    return render(
        request,
        "portal/status.html",
        lang,
        title=gettext(lang)("Your appeal"),
        case=case,
        appeal=appeal,
        expected=service.expected_decision(appeal, t),
        standing=service.standing(session, appeal, t),
        events=service.events(session, case),
        **_decision(session, case, appeal, lang),
    )


def _decision(session: SessionDep, case: Case, appeal: Appeal | None, lang: str) -> dict[str, Any]:
    """What ``portal/_decision.html`` shows of a decided appeal: who decided, every
    account of the person as it is now, whether a further appeal is open, and the
    directive's issuer (in ``lang`` where the directive gives it) for a complaint."""
    if appeal is None or appeal.decided_at is None:
        return {}
    record = session.get(DirectiveRecord, case.directive_id)
    issuer = record.issuer if record else ""
    words = directive_translations(session, case.directive_id, case.directive_version)
    issuer = (words.get(lang) or words.get(lang.split("-")[0]) or {}).get("issuer", issuer)
    return {
        "by_person": (appeal.decided_by or "").startswith("user:"),
        "accounts": service.linked_cases_all(session, case),
        "appeal_again": case.state in APPEALABLE and service.open_appeal(session, case) is None,
        "issuer": issuer,
    }


@router.post("/case/export")
def ask_export(
    request: Request,
    session: SessionDep,
    state: StateDep,
    lang: LangDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    portal, case = _verified(request, session)
    if not _csrf_ok(portal, csrf):
        return _see_other("/case")
    s = state.settings
    if not portal_sessions.allow_case(session, s, action="export", case_id=case.id, now=now()):
        keys = [portal_sessions.case_limit_key("export", case.id)]
        return _too_many(request, session, state, lang, keys, "/case")
    export = request_export(session, case, state.blobs, now())
    session.commit()
    return _see_other(f"/case/export/{export.id}")


def _own_export(session: SessionDep, case: Case, export_id: int) -> DataExport:
    export = session.get(DataExport, export_id)
    if export is None or export.case_id != case.id:
        raise HTTPException(status_code=404)
    return export


@router.get("/case/export/{export_id}", response_class=HTMLResponse)
def export_page(
    export_id: IdPath, request: Request, session: SessionDep, lang: LangDep
) -> Response:
    _portal_row, case = _verified(request, session)
    export = _own_export(session, case, export_id)
    return render(
        request,
        "portal/export.html",
        lang,
        title=gettext(lang)("Your data"),
        export=export,
        ready=export.state == ExportState.READY,
    )


@router.get("/case/export/{export_id}/download")
def export_download(
    export_id: IdPath, request: Request, session: SessionDep, state: StateDep
) -> Response:
    _portal_row, case = _verified(request, session)
    export = _own_export(session, case, export_id)
    if export.state != ExportState.READY or export.sha256 is None:
        raise HTTPException(status_code=404)
    data = state.blobs.read(export.sha256)
    return Response(
        data,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{case.number}-data.json"'},
    )


@router.post("/signout")
def sign_out(request: Request, session: SessionDep) -> RedirectResponse:
    # ended on the server: a copied or stolen cookie is refused from now on
    portal_sessions.end_session(session, request.cookies.get(PORTAL_COOKIE))
    session.commit()
    response = _see_other("/")
    response.delete_cookie(PORTAL_COOKIE)
    return response
