"""Alembic environment for esign: online migrations only, for SQLite and PostgreSQL.

The service passes its own open connection in ``config.attributes["connection"]``; when run by
hand (``alembic -c api/migrations/alembic.ini ...``) the URL comes from ``ESIGN_DATABASE_URL``
or the ``sqlalchemy.url`` option.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine, text

import api.storage.licence_sharing  # objection and consent tables on Base.metadata
import api.storage.licences  # licence tables on Base.metadata
import api.storage.seals  # noqa: F401  (seal tables on Base.metadata)
from api.storage.models import Base

#: Key of the PostgreSQL advisory lock held while migrating ("esignmig" as ASCII).
MIGRATION_LOCK_KEY = 0x657369676E6D6967

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    if connection.dialect.name == "postgresql":
        # Several workers may start at once: one migrates, the others wait, then find nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate over the connection given, or one opened from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("ESIGN_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set ESIGN_DATABASE_URL to migrate by hand")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
