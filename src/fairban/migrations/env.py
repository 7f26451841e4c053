"""Alembic's environment: migrates the connection that :func:`fairban.db.upgrade`
hands over, or (for a developer's ``alembic`` commands) the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

# imported for their side effect: they register their tables on Base.metadata
from fairban import ratelimits as _ratelimits  # noqa: F401
from fairban.appeals import models as _appeals  # noqa: F401
from fairban.config import get_settings
from fairban.db import Base, database_url, make_engine
from fairban.review import models as _review  # noqa: F401

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite's ALTER is limited
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or database_url(get_settings())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _configure(given)
else:
    engine = make_engine(_url())
    try:
        with engine.begin() as connection:
            _configure(connection)
    finally:
        engine.dispose()
