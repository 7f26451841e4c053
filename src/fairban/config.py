"""Settings from FAIRBAN_* environment variables; nothing connects at import."""

from __future__ import annotations

from pathlib import Path

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


def get_settings() -> Settings:
    return Settings()
