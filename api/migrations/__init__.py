"""Alembic migration scripts, shipped inside the package and run at start-up.

Run by hand from a checkout with ``alembic -c api/migrations/alembic.ini upgrade head``
(set ``ESIGN_DATABASE_URL``), or programmatically with ``api.storage.db.run_migrations``.
"""

__all__: list[str] = []
