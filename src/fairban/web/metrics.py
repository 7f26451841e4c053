"""``GET /metrics``: Prometheus text for ``fairban serve``, behind a bearer token.

The counters and histograms are ``fairban.metrics``' (this process's, or every
worker's in multiprocess mode); the gauges are read from the database when Prometheus
scrapes, each by one bounded aggregate query: appeals waiting for the re-check and for
a person, and the outbox's pending and dead messages and the age of the oldest pending
one (its lag)."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fairban.appeals.models import Appeal, AppealState
from fairban.platforms.models import OutboxMessage, OutboxState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DatabaseGauges(Collector):
    """The gauges a scrape reads from the case store (module docstring)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[Metric]:
        with self.factory() as session:
            waiting = dict(
                session.execute(
                    select(Appeal.state, func.count())
                    .where(Appeal.state.in_([AppealState.RECEIVED, AppealState.QUEUED]))
                    .group_by(Appeal.state)
                ).all()
            )
            outbox = dict(
                session.execute(
                    select(OutboxMessage.state, func.count())
                    .where(OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.DEAD]))
                    .group_by(OutboxMessage.state)
                ).all()
            )
            oldest = session.scalar(
                select(func.min(OutboxMessage.created_at)).where(
                    OutboxMessage.state == OutboxState.PENDING
                )
            )
        queue = GaugeMetricFamily(
            "fairban_appeals_waiting",
            "Open appeals by what they wait for (recheck: the automatic re-check; "
            "person: a reviewer).",
            labels=["for"],
        )
        queue.add_metric(["recheck"], waiting.get(AppealState.RECEIVED, 0))
        queue.add_metric(["person"], waiting.get(AppealState.QUEUED, 0))
        yield queue
        messages = GaugeMetricFamily(
            "fairban_outbox_messages", "Outbox messages by state.", labels=["state"]
        )
        messages.add_metric(["pending"], outbox.get(OutboxState.PENDING, 0))
        messages.add_metric(["dead"], outbox.get(OutboxState.DEAD, 0))
        yield messages
        lag = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        yield GaugeMetricFamily(
            "fairban_outbox_lag_seconds",
            "Age of the oldest pending outbox message (0: none pending).",
            value=max(0.0, lag),
        )


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries the metrics token (compared in
    constant time). No token set: never."""
    if not token or not header:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def exposition(factory: sessionmaker[Session]) -> bytes:
    """The Prometheus text of this process (or of every worker), and the gauges."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    text = generate_latest(registry)
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(DatabaseGauges(factory))
    return text + generate_latest(gauges)
