"""Reading a platform: its accounts (for reconcile), one account's data export (for the
portal), and the reference platform's controls. Every request is signed like a webhook
(a GET signs its path and query, :mod:`fairban.platforms.signing`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from sqlalchemy.orm import Session

from fairban.errors import FairbanError
from fairban.platforms.registry import api_url, get_platform
from fairban.platforms.signing import SIGNATURE_HEADER, sign


class PlatformUnavailableError(FairbanError):
    """A platform did not answer, or not as its API says: one line naming it."""

    exit_code = 2


class PlatformClient:
    """Signed requests to one platform's API, addressed relative to its webhook URL."""

    def __init__(
        self, name: str, webhook_url: str, secret: str, *, timeout_s: float = 10.0
    ) -> None:
        self.name = name
        self.webhook_url = webhook_url
        self.secret = secret
        self._http = httpx.Client(timeout=timeout_s)

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _url(self, path: str, params: dict[str, str] | None = None) -> str:
        url = api_url(self.webhook_url, path)
        return f"{url}?{urlencode(params)}" if params else url

    def _request(self, method: str, url: str, body: bytes | None = None) -> httpx.Response:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        signed: bytes | str = target if body is None else body
        headers = {SIGNATURE_HEADER: sign(self.secret, signed)}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._http.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as e:
            why = str(e) or type(e).__name__
            raise PlatformUnavailableError(f"platform {self.name} at {url}: {why}") from e

    def _json(self, response: httpx.Response, *, missing_ok: bool = False) -> Any:
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PlatformUnavailableError(
                f"platform {self.name} answered {response.request.method} "
                f"{response.request.url.path} with HTTP {response.status_code}: "
                f"{_reason(response)}"
            )
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise PlatformUnavailableError(
                f"platform {self.name} answered {response.request.url.path} with "
                f"something that is not JSON: {response.text[:100]!r}"
            ) from e

    def accounts(self, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every account the platform holds a record of, by id (``GET accounts``,
        paged: ``{"accounts": [...], "next": cursor or null}``)."""
        after = ""
        while True:
            params = {"limit": str(page_size)}
            if after:
                params["after"] = after
            page = self._json(self._request("GET", self._url("accounts", params)))
            if not isinstance(page, dict) or not isinstance(page.get("accounts"), list):
                raise PlatformUnavailableError(
                    f"platform {self.name}: GET accounts did not answer {{'accounts': [...]}}"
                )
            yield from page["accounts"]
            cursor = page.get("next")
            if not cursor:
                return
            after = str(cursor)

    def account(self, account_id: str) -> dict[str, Any] | None:
        """One account's state and measures; ``None`` when the platform has no record."""
        url = self._url(f"accounts/{quote(account_id, safe='')}")
        found: dict[str, Any] | None = self._json(self._request("GET", url), missing_ok=True)
        return found

    def export(self, account_id: str) -> dict[str, Any] | None:
        """The account's own data as the platform holds it (what a person gets when
        they ask for it); ``None`` when the platform has no record of the account."""
        url = self._url(f"accounts/{quote(account_id, safe='')}/export")
        found: dict[str, Any] | None = self._json(self._request("GET", url), missing_ok=True)
        return found

    def control(self, **settings: Any) -> dict[str, Any]:
        """Change how the reference platform behaves (``fail``, ``fail_rate``,
        ``garbage``, ``lose_ack_rate``, ``delay_ms``); returns its settings."""
        body = json.dumps(settings).encode()
        result: dict[str, Any] = self._json(self._request("POST", self._url("control"), body))
        return result


def _reason(response: httpx.Response) -> str:
    """The ``error`` of a JSON error body, else the start of the body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])[:200]
    return repr(response.text[:200])


def client_for(session: Session, name: str, *, timeout_s: float = 10.0) -> PlatformClient:
    """A client for the registered platform ``name`` (a one-line error if there is
    none)."""
    platform = get_platform(session, name)
    return PlatformClient(platform.name, platform.webhook_url, platform.secret, timeout_s=timeout_s)


def export_account(
    session: Session, platform: str, account_id: str, *, timeout_s: float = 10.0
) -> dict[str, Any] | None:
    """The data export of ``account_id`` from ``platform`` (``None`` if the platform
    has no record of it); :class:`PlatformUnavailableError` when it cannot be had."""
    with client_for(session, platform, timeout_s=timeout_s) as client:
        return client.export(account_id)
