"""The platforms fairban delivers to: register, list, disable, remove (each audited).

A platform is a name (as in the evidence: ``wechat``, ``alipay``, ...), an http(s)
webhook URL and the secret both sides sign with. The platform's read endpoints
(``accounts``, ``accounts/{id}``, ``accounts/{id}/export``) are addressed relative to
the webhook URL (:func:`api_url`). A disabled platform keeps its messages pending,
unsent, until it is enabled again.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.audit import append
from fairban.audit.actions import Action
from fairban.errors import FairbanError
from fairban.platforms.models import OutboxMessage, OutboxState, Platform

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MIN_SECRET_LENGTH = 16


class PlatformError(FairbanError):
    """A registry request that cannot be done: one line for the operator."""

    exit_code = 2


def check_name(name: str) -> str:
    """``name`` if it is a valid platform name (lowercase letters, digits, ``_.-``)."""
    if not NAME.fullmatch(name):
        raise PlatformError(
            f"platform name {name!r} must be 1-64 lowercase letters, digits, '_', '.' or '-'"
        )
    return name


def check_url(url: str) -> str:
    """``url`` if it is an absolute http or https URL with a host; else a
    :class:`PlatformError` that says what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        shown = f"'{parts.scheme}'" if parts.scheme else "no scheme"
        raise PlatformError(f"webhook URL {url!r} must be http:// or https:// (it has {shown})")
    if not parts.hostname:
        raise PlatformError(f"webhook URL {url!r} has no host")
    try:
        _ = parts.port  # a port that is not a number raises here
    except ValueError as e:
        raise PlatformError(f"webhook URL {url!r}: {e}") from e
    return url.strip()


def generate_secret() -> str:
    """A new random secret (256 bits, URL-safe)."""
    return "fbsec_" + secrets.token_urlsafe(32)


def api_url(webhook_url: str, path: str) -> str:
    """The URL of one of the platform's read endpoints: ``path`` (``accounts``,
    ``accounts/ID/export``) relative to the webhook URL, as a browser resolves a link."""
    return urljoin(webhook_url, path)


def get_platform(session: Session, name: str) -> Platform:
    """The platform called ``name``; a :class:`PlatformError` when there is none."""
    platform = session.get(Platform, name)
    if platform is None:
        raise PlatformError(f"no platform named {name!r}: see `fairban platform list`")
    return platform


def add_platform(
    session: Session, *, name: str, url: str, secret: str | None = None, actor: str
) -> tuple[Platform, bool]:
    """Register a platform in the caller's transaction; returns it and whether its
    secret was generated here (then the caller shows it once: it is not shown again).

    Refuses a bad name, a non-http(s) URL, a secret under 16 characters and a name that
    is already registered.
    """
    check_name(name)
    url = check_url(url)
    generated = secret is None
    if secret is None:
        secret = generate_secret()
    elif len(secret) < MIN_SECRET_LENGTH:
        raise PlatformError(f"secret is too short: give at least {MIN_SECRET_LENGTH} characters")
    if session.get(Platform, name) is not None:
        raise PlatformError(f"platform {name!r} is already registered: remove it first")
    now = datetime.now(UTC)
    platform = Platform(
        name=name, webhook_url=url, secret=secret, enabled=True, created_at=now, updated_at=now
    )
    session.add(platform)
    session.flush()
    # the secret stays out of the log: the log is exported to anyone
    append(
        session,
        actor=actor,
        action=Action.PLATFORM_ADD,
        subject=f"platform:{name}",
        payload={"url": url, "secret_generated": generated},
    )
    return platform, generated


def set_enabled(session: Session, name: str, enabled: bool, *, actor: str) -> Platform:
    """Enable or disable delivery to a platform (a disabled one's messages wait)."""
    platform = get_platform(session, name)
    if platform.enabled != enabled:
        platform.enabled = enabled
        platform.updated_at = datetime.now(UTC)
        append(
            session,
            actor=actor,
            action=Action.PLATFORM_ENABLE if enabled else Action.PLATFORM_DISABLE,
            subject=f"platform:{name}",
        )
    return platform


def remove_platform(session: Session, name: str, *, actor: str, force: bool = False) -> int:
    """Remove a platform; returns how many of its messages were still undelivered.

    Without ``force`` a platform with pending or dead messages is kept (disable it, or
    retry its dead letters, first); with it those messages stay in the outbox and fail
    as addressed to an unknown platform until one of that name is registered again.
    """
    platform = get_platform(session, name)
    undelivered = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.platform == name, OutboxMessage.state != OutboxState.DELIVERED)
    )
    count = int(undelivered or 0)
    if count and not force:
        raise PlatformError(
            f"platform {name!r} has {count} undelivered messages: disable it instead, "
            "or remove it with --force"
        )
    session.delete(platform)
    session.flush()
    append(
        session,
        actor=actor,
        action=Action.PLATFORM_REMOVE,
        subject=f"platform:{name}",
        payload={"undelivered": count},
    )
    return count


@dataclass(frozen=True)
class PlatformSummary:
    """A platform as ``fairban platform list`` shows it (no secret)."""

    name: str
    webhook_url: str
    enabled: bool
    pending: int
    delivered: int
    dead: int
    last_delivered_at: datetime | None


def list_platforms(session: Session) -> list[PlatformSummary]:
    """Every registered platform with its outbox counts, by name."""
    counts: dict[tuple[str, OutboxState], int] = {}
    last: dict[str, datetime | None] = {}
    query = select(
        OutboxMessage.platform,
        OutboxMessage.state,
        func.count(),
        func.max(OutboxMessage.delivered_at),
    ).group_by(OutboxMessage.platform, OutboxMessage.state)
    for name, state, count, delivered_at in session.execute(query):
        counts[(name, OutboxState(state))] = int(count)
        if delivered_at is not None:
            last[name] = delivered_at
    platforms = session.scalars(select(Platform).order_by(Platform.name))
    return [
        PlatformSummary(
            name=p.name,
            webhook_url=p.webhook_url,
            enabled=p.enabled,
            pending=counts.get((p.name, OutboxState.PENDING), 0),
            delivered=counts.get((p.name, OutboxState.DELIVERED), 0),
            dead=counts.get((p.name, OutboxState.DEAD), 0),
            last_delivered_at=last.get(p.name),
        )
        for p in platforms
    ]
