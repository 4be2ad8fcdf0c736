"""One open objection per filer and licence version, enforced by the database.

The service checks before filing; this partial unique index makes the rule hold when two
filings by the same filer race (the second gets 409). SQLite and PostgreSQL both support
partial indexes.

Revision ID: 0005_objection_once
Revises: 0004_sharing
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_objection_once"
down_revision: str | None = "0004_sharing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("state = 'filed'")


def upgrade() -> None:
    op.create_index("uq_licence_objections_open", "licence_objections", ["licence_id", "filer"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    op.drop_index("uq_licence_objections_open", table_name="licence_objections")
