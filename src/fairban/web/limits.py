"""Request bodies bounded while they stream, and refused requests counted per address.

:class:`RequestLimits` is a plain ASGI middleware that wraps ``receive``: each route has
a bound (:func:`body_limit`), a declared ``Content-Length`` above it is answered 413
before anything is read, and a body that streams past it (chunked, or a client that
lies) is answered 413 the moment it does: the rest is never read, and whatever the app
would still answer goes nowhere.

A refused request (:data:`REFUSED`: a bad form, a bad CSRF token, a body too large) is
an attacker's cheapest try, so each counts against its address
(``refused:ip:ADDRESS``, ``FAIRBAN_REFUSALS_PER_WINDOW``); past the limit the address's
writes are answered 429 unread until a window has passed since its last counted
refusal. The count is shared by every worker through the database; which addresses
are over it is remembered per worker (an address costs a worker one more refusal
before that worker refuses it too), so the usual request pays no look-up.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fairban.ratelimits import allow
from fairban.web.api import intake
from fairban.web.deps import PORTAL_COOKIE, AppState

#: the portal's only route that takes files
UPLOAD_PATH = "/case/appeal"
#: the JSON API's bodies (a case number, a token, a phone, a code) ...
JSON_MAX = 4 * 1024
#: ... every form, and the appeal's statement (5,000 characters, each up to 9 bytes
#: when percent-encoded); also the upload route's room for its fields and boundaries
FORM_MAX = 64 * 1024
#: the statuses that count as a refused request
REFUSED = frozenset({400, 403, 413, 422})
#: the methods a refused address may no longer use (reading pages stays open: many
#: people share an address behind a carrier's NAT)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: addresses remembered as over the limit, per worker (the oldest forgotten first)
MAX_REMEMBERED = 100_000


def body_limit(scope: Scope, state: AppState) -> int:
    """The most bytes ``scope``'s request body may have: the uploads' stated limit on
    the appeal form (when the request has a portal session cookie: without one it can
    only be refused), the intake's on the API's appeal, a few KiB on other JSON, and
    :data:`FORM_MAX` everywhere else."""
    path: str = scope["path"]
    s = state.settings
    if path == UPLOAD_PATH and PORTAL_COOKIE in Headers(scope=scope).get("cookie", ""):
        return s.upload_max_files * s.upload_max_bytes + FORM_MAX
    if path == intake.PATH:
        return intake.MAX_BODY
    if path.startswith("/api/"):
        return JSON_MAX
    return FORM_MAX


def _answer(scope: Scope, status: int, detail: str, *, close: bool = False) -> Response:
    """An answer given before the app reads the request: JSON as the API's errors are
    on ``/api/``, plain text elsewhere."""
    headers = {"Connection": "close"} if close else None
    if scope["path"].startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    return PlainTextResponse(detail, status_code=status, headers=headers)


class BodyTooLargeError(Exception):
    """Raised by the wrapped ``receive`` once the body passes its bound (the 413 has
    been sent): it stops whatever was reading."""


class RequestLimits:
    """The middleware (module docstring). ``scope["client"]`` is the client's address as
    the trusted proxies tell it (``fairban.web.app``), so it runs inside that."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state
        self.over: OrderedDict[str, float] = OrderedDict()  # address -> monotonic end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        writes = scope["method"] in WRITES
        if writes and self._is_over(address):
            await _answer(scope, 429, "too many requests")(scope, receive, send)
            return
        limit = body_limit(scope, self.state)
        status = 0
        answered = False  # the 413 went out: whatever the app still answers is dropped
        received = 0
        held: list[Message] = []  # a refusal's last message, until it is counted

        async def forward(message: Message) -> None:
            # a refusal is counted before the client has all of it (its next request
            # then finds the count), and after the app is done: the request's own
            # database session may hold SQLite's write lock until then
            last = message["type"] == "http.response.body" and not message.get("more_body")
            if writes and status in REFUSED and last:
                held.append(message)
            else:
                await send(message)

        async def refuse() -> None:
            nonlocal status, answered
            status, answered = 413, True
            # Connection: close: the unread rest of the body is not the next request
            await _answer(scope, 413, "request too large", close=True)(scope, receive, forward)

        async def bounded_receive() -> Message:
            nonlocal received
            if answered:
                raise BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if status == 0:
                        await refuse()
                    raise BodyTooLargeError
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal status
            if answered:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
            await forward(message)

        try:
            length = Headers(scope=scope).get("content-length", "")
            if length.isdigit() and int(length) > limit:
                await refuse()
            else:
                with contextlib.suppress(BodyTooLargeError):
                    await self.app(scope, bounded_receive, tracked_send)
        finally:
            if held:
                await run_in_threadpool(self._count_refusal, address)
                await send(held[0])

    def _is_over(self, address: str) -> bool:
        until = self.over.get(address)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self.over[address]
        return False

    def _count_refusal(self, address: str) -> None:
        s = self.state.settings
        with self.state.factory() as session:
            within = allow(
                session,
                f"refused:ip:{address}",
                limit=s.refusals_per_window,
                window_s=s.rate_window_s,
                now=datetime.now(UTC),
            )
            session.commit()
        if not within:
            self.over[address] = time.monotonic() + s.rate_window_s
            self.over.move_to_end(address)
            while len(self.over) > MAX_REMEMBERED:
                self.over.popitem(last=False)
