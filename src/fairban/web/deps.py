"""What every view needs, as FastAPI dependencies: the app's state, a database
session, the language, the templates, the signed-in appellant or console user."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fairban.appeals import sessions as portal_sessions
from fairban.appeals.blobs import BlobStore
from fairban.appeals.codes import CodeSender
from fairban.appeals.recheck import DecisionCache
from fairban.appeals.service import DrainGauge
from fairban.appeals.worker import Purge, RecheckLoop
from fairban.clock import BEIJING
from fairban.config import Settings
from fairban.review import users as console_users
from fairban.web.i18n import LANG_COOKIE, gettext, normalize

log = logging.getLogger("fairban.web")


def expired_purges(settings: Settings) -> tuple[Purge, ...]:
    """What the re-check loops purge: the portal's sessions, codes and rate-limit
    windows, and the console's sessions."""

    def portal(session: Session, now: datetime) -> dict[str, int]:
        return portal_sessions.purge(session, now, rate_window_s=settings.rate_window_s)

    return (portal, console_users.purge_sessions)


TEMPLATES = Jinja2Templates(directory=str(FilePath(__file__).parent / "templates"))
PORTAL_COOKIE = "fb_portal"
CONSOLE_COOKIE = "fb_console"


@dataclass
class AppState:
    """One per app (per worker process)."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    blobs: BlobStore
    sender: CodeSender
    secret: str
    cache: DecisionCache | None
    recheck: RecheckLoop | None = None
    #: PostgreSQL only: the appeal intake's own connections (``web.api.intake``), open
    #: while the app runs
    intake_pool: asyncpg.Pool | None = None
    #: the re-check's queue and drain rate, measured once a second for filings' answers
    drain: DrainGauge | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a sync dependency in a thread, a hop for a dictionary look-up
    state: AppState = request.app.state.fairban
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session for the request; the view commits what it changes."""
    with state.factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


#: the largest id a row can have (the tables' keys are 32-bit integers on PostgreSQL)
MAX_ID = 2**31 - 1
#: an id in a path: one past these bounds names nothing, so the app answers 404 (its
#: handler for validation errors), never a database error
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


def get_lang(request: Request) -> str:
    return normalize(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


LangDep = Annotated[str, Depends(get_lang)]


def now() -> datetime:
    return datetime.now(UTC)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def beijing(at: datetime | None) -> str:
    """``at`` as a person in China reads it: Beijing time, to the minute."""
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if at else ""


def render(
    request: Request, name: str, lang: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page in ``lang``: ``_`` translates, ``html_lang`` sets the page's language."""
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "_": gettext(lang),
            "lang": lang,
            "html_lang": "zh-Hans" if lang == "zh-CN" else "en",
            "path": request.url.path,
            "bj": beijing,
            **context,
        },
        status_code=status_code,
    )


class PageError(HTTPException):
    """An error the person sees as a page in their language."""
