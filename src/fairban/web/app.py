"""The web application: the public portal (``/``), the reviewer console
(``/console``) and the JSON API (``/api/v1``, OpenAPI at ``/api/docs``).

:func:`create_app` builds it from settings; ``fairban serve`` runs it under Uvicorn
(with ``--workers N``, each worker calls :func:`app_from_environment`). Each worker
also runs the automatic re-check loop: appeals wait in the database, so a restart
loses none.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import swagger_ui_bundle
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from fairban import metrics
from fairban.appeals.blobs import BlobStore
from fairban.appeals.codes import code_sender, secret_key
from fairban.appeals.recheck import DecisionCache
from fairban.appeals.service import DrainGauge
from fairban.appeals.worker import RecheckLoop
from fairban.config import Settings
from fairban.db import database_lost, database_url, db_error_line, open_database, session_factory
from fairban.web.api import intake
from fairban.web.api.routes import RateLimited, too_many_body
from fairban.web.deps import TEMPLATES, AppState, expired_purges, get_lang, render
from fairban.web.limits import RequestLimits
from fairban.web.metrics import CONTENT_TYPE, authorized, exposition

log = logging.getLogger("fairban.web")

#: the request being answered, for every log line written while it is (``-``: none)
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
#: what an incoming X-Request-ID may keep: a proxy's id, never a log injection
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")
MAX_REQUEST_ID = 64
#: the routes an appeal is filed through, by (method, path): the intake counters
INTAKE_PATHS = {("POST", "/api/v1/case/appeals"): "api", ("POST", "/case/appeal"): "portal"}


def request_id(raw: bytes | None) -> str:
    """The id of a request: the client's ``X-Request-ID`` cut to 64 safe characters, or
    a new one when it has none left."""
    given = _UNSAFE.sub("", (raw or b"").decode("latin-1"))[:MAX_REQUEST_ID]
    return given or uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Gives every record the request id of the request it was written during."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request id (and the
    exception's text when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """The server's logging (``FAIRBAN_LOG_FORMAT``): readable lines or JSON lines on
    stderr, each with its request id; Uvicorn's own loggers write through the same."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


#: the same for every page: nothing from elsewhere, no inline script or style, no
#: framing, no referrer (notice links carry a token in their query)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Guard:
    """Every answer, 500s and 413s included: the security headers, ``no-store`` on
    pages, one log line with the route's template (never the path or query: no case
    number, token or phone).

    It wraps the whole stack, Starlette's error middleware included (:class:`App`),
    so that a 500 gets the headers too. A plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs a task group and a stream per request, which the
    intake benchmark can see."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        status = [0]
        raw = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = request_id(raw)
        token = REQUEST_ID.set(rid)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not path.startswith("/static"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            code = status[0] or 500
            channel = INTAKE_PATHS.get((scope["method"], path))
            if channel is not None:
                outcome = "taken" if code < 400 else "refused" if code < 500 else "error"
                metrics.INTAKE.labels(channel, outcome).inc()
            template = getattr(scope.get("route"), "path", "-")
            log.info(
                "%s %s %s %.1f ms",
                scope["method"],
                template,
                code,
                (time.perf_counter() - started) * 1000,
            )
            REQUEST_ID.reset(token)


class App(FastAPI):
    """FastAPI with :class:`Guard` around the whole stack and, when
    ``FAIRBAN_TRUSTED_PROXIES`` names any, the client's address taken from
    ``X-Forwarded-For`` where (and only where) the connection comes from one of them.

    This is the one place that decides a client's address: ``fairban serve`` turns
    Uvicorn's own proxy headers off, and everything after reads ``scope["client"]``
    (:func:`fairban.web.deps.client_address`, the limits)."""

    trusted_proxies: tuple[str, ...] = ()

    def build_middleware_stack(self) -> ASGIApp:
        stack: ASGIApp = Guard(super().build_middleware_stack())
        if self.trusted_proxies:
            # Uvicorn types its middleware with its own ASGI types, Starlette with others
            proxied = ProxyHeadersMiddleware(cast(Any, stack), list(self.trusted_proxies))
            stack = cast(ASGIApp, proxied)
        return stack


def trusted_proxies(settings: Settings) -> tuple[str, ...]:
    """``FAIRBAN_TRUSTED_PROXIES``: addresses or networks, comma-separated."""
    return tuple(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())


def create_app(
    settings: Settings | None = None,
    *,
    data_dir: Path | None = None,
    run_recheck: bool = True,
    migrate: bool = True,
) -> FastAPI:
    """The app over ``settings``' database. ``data_dir`` (or ``FAIRBAN_EVIDENCE_DIR``)
    is the evidence the re-check runs on; without one, every appeal goes to a person."""
    settings = settings or Settings()
    home = settings.home.expanduser()
    # the re-check loop and a request's second session take a few more
    engine = open_database(
        database_url(settings), migrate=migrate, pool_size=settings.web_threads + 4
    )
    evidence = data_dir or settings.evidence_dir
    cache = (
        DecisionCache(evidence, home / "recheck", duckdb_memory_limit=settings.duckdb_memory_limit)
        if evidence
        else None
    )
    state = AppState(
        settings=settings,
        engine=engine,
        factory=session_factory(engine),
        blobs=BlobStore(home / "blobs"),
        sender=code_sender(settings),
        secret=secret_key(settings),
        cache=cache,
    )
    state.drain = DrainGauge(session_factory(engine, read_only=True))
    if run_recheck and settings.recheck_in_server:
        state.recheck = RecheckLoop(
            state.factory, lambda: state.cache, settings, purges=expired_purges(settings)
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # sync views and database work run in AnyIO's threads: as many as connections
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.web_threads
        if engine.dialect.name == "postgresql" and settings.fast_intake:
            state.intake_pool = await intake.open_pool(engine.url, settings.web_threads)
        if state.recheck is not None:
            state.recheck.start()
        yield
        if state.recheck is not None:
            state.recheck.stop()
        if state.intake_pool is not None:
            await state.intake_pool.close()
            state.intake_pool = None
        engine.dispose()

    app = App(
        title="fairban",
        summary="Appeals against measures on accounts: portal, reviewer console, JSON API.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served from the package's own copy of Swagger UI (api_docs)
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.fairban = state

    from fairban.web.api.routes import router as api_router
    from fairban.web.console.routes import router as console_router
    from fairban.web.portal.routes import router as portal_router

    # the API first: routes are matched in order, and its intake is the busiest path
    app.include_router(api_router)
    app.include_router(portal_router)
    app.include_router(console_router)
    # Swagger UI as the package swagger-ui-bundle-v2 ships it: no CDN, no relaxed CSP
    app.mount(
        "/static/swagger-ui",
        StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)),
        name="swagger-ui",
    )
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )

    # the intake's own path runs inside Guard: the same headers and log line
    intake_route = next(
        r
        for r in api_router.routes
        if getattr(r, "path", None) == intake.PATH and "POST" in getattr(r, "methods", ())
    )
    app.add_middleware(intake.FastIntake, state=state, route=intake_route)
    # outside the intake: its bodies are bounded and its refusals counted too
    app.add_middleware(RequestLimits, state=state)
    app.trusted_proxies = trusted_proxies(settings)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(
            request, "api_docs.html", {"openapi_url": app.openapi_url}
        )

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        # never public on the portal's origin: no token set, no endpoint
        token = settings.metrics_token
        if not token:
            raise StarletteHTTPException(404)
        if not authorized(request.headers.get("authorization"), token):
            return Response(
                "a bearer token is needed\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(exposition(state.factory), media_type=CONTENT_TYPE)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        # a path parameter that cannot be valid (an id past any integer key, a word
        # where a number goes) names nothing that exists
        if any(tuple(e.get("loc", ()))[:1] == ("path",) for e in errors):
            return await http_error(request, StarletteHTTPException(404))
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": unechoed(errors)}, status_code=422)
        # a broken form is the person's to fix: a page in their language, not JSON
        lang = get_lang(request)
        return render(
            request,
            "error.html",
            lang,
            status_code=400,
            title="The form has expired. Please try again.",
            message="",
        )

    @app.exception_handler(DBAPIError)
    async def database_unavailable(request: Request, exc: DBAPIError) -> Response:
        # the database restarting, unreachable or refusing for now: a 503 to try again,
        # as the intake's own path answers; any other database error stays a 500
        if not database_lost(exc):
            raise exc
        log.warning("database unavailable (%s); answered 503", db_error_line(exc))
        api = request.url.path.startswith("/api/")
        detail = intake.UNAVAILABLE if api else "The service is busy. Please try again in a moment."
        answer = await http_error(request, StarletteHTTPException(503, detail=detail))
        answer.headers["Retry-After"] = "1"
        return answer

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path.startswith("/static"):
            body = too_many_body(exc.wait_s) if isinstance(exc, RateLimited) else None
            return JSONResponse(
                body or {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        if 300 <= exc.status_code < 400 and exc.headers and "Location" in exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=exc.status_code)
        lang = get_lang(request)
        title = "Not found" if exc.status_code == 404 else str(exc.detail)
        return render(
            request,
            "error.html",
            lang,
            status_code=exc.status_code,
            title=title,
            message=str(exc.detail),
        )

    return app


def unechoed(errors: Sequence[Any]) -> list[dict[str, object]]:
    """Validation errors as the API answers them: where and what, never the input
    (FastAPI's own handler echoes it: a 100 MiB body came back whole) nor its context;
    the names in a location are cut short, since a stray key of the input is one."""
    return [
        {
            "loc": [p if isinstance(p, int) else str(p)[:64] for p in e.get("loc", ())],
            "msg": str(e.get("msg", ""))[:200],
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def app_from_environment() -> FastAPI:
    """For Uvicorn's worker processes: settings from FAIRBAN_* (``fairban serve`` has
    already migrated the database)."""
    settings = Settings()
    configure_logging(settings)
    return create_app(settings, migrate=False)
