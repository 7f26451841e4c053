"""Settings from FAIRBAN_* environment variables; nothing connects at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAIRBAN_")

    #: where commands put their working files unless told otherwise
    home: Path = Path(".fairban")
    #: rows per batch when streaming evidence (bounds memory)
    batch_rows: int = 1_000_000
    #: the case store; unset means the embedded SQLite file HOME/fairban.db. A plain
    #: postgresql:// URL is taken to mean psycopg 3
    database_url: str | None = None
    #: memory DuckDB may use for targeting before it spills to disk (bounded by design:
    #: 10^8 observations fit in it)
    duckdb_memory_limit: str = "3GB"
    #: memory of the Spark driver that ``fairban target --engine spark`` starts on a
    #: local[N] master (a cluster's own configuration decides its own)
    spark_driver_memory: str = "3g"
    # --- cases (fairban enforce) ---
    #: where the appeal portal is reached: notices link to PUBLIC_URL/c/CASE?t=TOKEN
    #: (the SMS to PUBLIC_URL/c/CASE, short enough for 70 Chinese characters)
    public_url: str = "http://127.0.0.1:8000"
    # --- appeals and the console (fairban serve) ---
    #: the evidence store (``fairban daily --store``) the console's "next stage" judges
    #: from; unset, the dashboard says the step needs it
    store_dir: str | None = None
    #: signs one-time codes and sessions; unset means a random key written once to
    #: HOME/secret_key (development). Production sets it in the environment
    secret_key: str | None = None
    #: who sends one-time codes: "dev" (HOME/codes.log and the server's console) or
    #: "http" (POST to sms_gateway_url)
    otp_sender: str = "dev"
    sms_gateway_url: str | None = None
    otp_ttl_s: int = 600
    otp_max_tries: int = 5
    #: code requests per case (and per client address) per window
    otp_requests_per_window: int = 5
    appeals_per_window: int = 5
    rate_window_s: int = 3600
    upload_max_bytes: int = 5 * 1024 * 1024
    upload_max_files: int = 5
    #: refused requests (a bad form, a bad CSRF token, a body too large) per client
    #: address per window; past it, the address's writes are answered 429
    refusals_per_window: int = 20
    #: the proxies whose X-Forwarded-For names the client (addresses or networks,
    #: comma-separated, "*" for any); empty: the connection's own address, whatever
    #: the headers say
    trusted_proxies: str = ""
    #: the bearer token ``/metrics`` asks for; empty: ``/metrics`` answers 404
    metrics_token: str = ""
    #: ``text`` (one readable line) or ``json`` (one JSON object a line) for server logs
    log_format: Literal["text", "json"] = "text"
    #: hours a person has to decide an appeal the re-check did not grant
    answer_hours: int = 48
    #: the evidence folder the automatic re-check runs targeting on
    evidence_dir: Path | None = None
    #: whether each `fairban serve` worker runs the re-check loop (off: run
    #: `fairban appeals recheck --watch` as its own process)
    recheck_in_server: bool = True
    #: threads per `fairban serve` worker that run database work, and as many pooled
    #: database connections (plus a few for the re-check loop): a request never waits
    #: for a connection, and none is opened and closed per request
    web_threads: int = 16
    #: on PostgreSQL, the usual appeal (POST /api/v1/case/appeals) is answered by the
    #: intake's own path (asyncpg, two statements) before FastAPI's routing; off, by the
    #: route like every other request (the intake benchmark's baseline)
    fast_intake: bool = True
    #: the circuit breaker: a directive pauses when more than this share of its appeals
    #: decided within the window were granted (and at least breaker_min_decided were)
    breaker_threshold: float = 0.5
    breaker_window_s: int = 86_400
    breaker_min_decided: int = 20
    # --- the audit log's signed checkpoints (docs/audit.md) ---
    #: the Ed25519 key file that signs them; unset means HOME/audit/key, made (mode
    #: 0600) on first use. The checkpoints fairban signed are kept beside it in HOME/audit
    audit_key: Path | None = None
    #: the log's name in its checkpoints, given to a key when one is made (a made key
    #: keeps its name); unset means PUBLIC_URL's host and port, then "/audit"
    audit_origin: str | None = None
    #: the age at which the checkpoint `fairban serve` publishes is signed anew
    audit_checkpoint_interval_s: int = 300


def get_settings() -> Settings:
    return Settings()
