"""Storage adapters: one set of SQLAlchemy models for SQLite (embedded) and PostgreSQL, and caches.

The backend is chosen purely by settings: ``ESIGN_DATABASE_URL`` (SQLite by default) and
``ESIGN_REDIS_URL`` (in-process cache when unset).
"""

__all__: list[str] = []
