"""``/metrics`` and the JSON logs, against the running server: the token guards the
metrics, the intake counters move with an appeal, the gauges read the case store, and
each log line is one JSON object carrying the request's id, never its path or token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.security.conftest import Live, start_live
from tests.support.appeal_world import P4, World, csrf_of, field_of
from tests.support.db import DATABASES, new_database

TOKEN = "metrics-test-token-0123456789"


@pytest.fixture(scope="module", params=DATABASES)
def watched(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, appeal_world: World
) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("metrics")
    env = {"FAIRBAN_METRICS_TOKEN": TOKEN, "FAIRBAN_LOG_FORMAT": "json"}
    with new_database(request.param, root) as url:
        server = start_live(root, url, appeal_world, env=env)
        try:
            yield server
        finally:
            server.stop()


def scrape(live: Live) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = live.client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def intake(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], outcome: str) -> float:
    key = ("fairban_appeals_intake_total", (("channel", "portal"), ("outcome", outcome)))
    return samples.get(key, 0.0)


def test_metrics_need_the_bearer_token(watched: Live) -> None:
    c = watched.client()
    assert c.get("/metrics").status_code == 401
    r = c.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "fairban" not in r.text
    samples = scrape(watched)
    names = {name for name, _ in samples}
    for gauge in (
        "fairban_appeals_waiting",
        "fairban_outbox_messages",
        "fairban_outbox_lag_seconds",
    ):
        assert gauge in names


def test_an_appeal_moves_the_intake_counters_and_the_queue(watched: Live) -> None:
    before = scrape(watched)
    c = watched.client()
    watched.sign_in(c, P4)
    page = c.get("/case").text
    refused = c.post("/case/appeal", data={"csrf": "forged", "grounds": ["never_been_there"]})
    assert refused.status_code >= 400
    r = c.post(
        "/case/appeal",
        data={
            "csrf": csrf_of(page),
            "submit_key": field_of(page, "submit_key"),
            "grounds": ["never_been_there"],
            "statement": "I was never there",
        },
    )
    assert r.status_code < 400, r.status_code
    after = scrape(watched)
    assert intake(after, "taken") == intake(before, "taken") + 1
    assert intake(after, "refused") == intake(before, "refused") + 1
    # no evidence folder: the re-check passes every appeal to a person
    waiting = sum(v for (name, _), v in after.items() if name == "fairban_appeals_waiting")
    assert waiting >= 1


def test_json_log_lines_carry_the_request_id(watched: Live) -> None:
    c = watched.client()
    r = c.get("/api/v1/health", headers={"X-Request-ID": 'probe-42 {"level":"x"}'})
    long = c.get("/api/v1/health", headers={"X-Request-ID": "a" * 500})
    assert long.headers["x-request-id"] == "a" * 64
    assert r.headers["x-request-id"] == "probe-42level:x"  # cut to safe characters
    generated = c.get("/api/v1/health").headers["x-request-id"]
    assert len(generated) == 32
    number, token = watched.seeded.numbers[P4], watched.seeded.tokens[P4]
    c.get(f"/c/{number}", params={"t": token})
    lines = [line for line in watched.server_log().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records
    for record in records:
        assert set(record) >= {"time", "level", "logger", "message", "request_id"}
    ids = {rec["request_id"] for rec in records if rec["logger"] == "fairban.web"}
    assert {"probe-42level:x", generated} <= ids
    access = "\n".join(rec["message"] for rec in records if rec["logger"] == "fairban.web")
    assert "GET /c/{number} " in access  # the route template only, never the path
    assert token not in watched.server_log()
    assert number not in access


def test_without_a_token_there_is_no_metrics_endpoint(live: Live) -> None:
    assert live.client().get("/metrics").status_code == 404
    assert httpx.get(f"{live.base}/api/v1/health").headers["x-request-id"]
