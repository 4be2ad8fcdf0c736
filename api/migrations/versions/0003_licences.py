"""Electronic licences: issuing authorities, regional licence types, licence versions and their events.

Revision ID: 0003_licences
Revises: 0002_seals
Create Date: 2025-03-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_licences"
down_revision: str | None = "0002_seals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "licence_authorities",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("allowed_types", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("seal_id", sa.String(128), nullable=True),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("signature_format", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_index", _BIGINT, nullable=False),
        sa.Column("changes", _BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_licence_authorities"),
        sa.UniqueConstraint("uscc", name="uq_licence_authorities_uscc"),
    )
    op.create_table(
        "licence_types",
        sa.Column("code", sa.String(21), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_licence_types"),
    )
    op.create_table(
        "licences",
        sa.Column("licence_id", sa.String(128), nullable=False),
        sa.Column("authority_id", sa.String(64), nullable=False),
        sa.Column("type_code", sa.String(21), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_index", _BIGINT, nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("supersedes", sa.String(128), nullable=True),
        sa.Column("superseded_by", sa.String(128), nullable=True),
        sa.Column("signature_format", sa.String(8), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("signed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("licence_id", name="pk_licences"),
        sa.UniqueConstraint("authority_id", "status_index", name="uq_licences_authority_index"),
    )
    op.create_index("ix_licences_holder", "licences", ["holder_id"])
    op.create_index("ix_licences_authority_status", "licences", ["authority_id", "status"])
    op.create_index("ix_licences_serial", "licences", ["authority_id", "serial"])
    op.create_table(
        "licence_events",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("licence_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("related_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_licence_events"),
    )
    op.create_index("ix_licence_events_licence", "licence_events", ["licence_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_licence_events_licence", table_name="licence_events")
    op.drop_table("licence_events")
    op.drop_index("ix_licences_serial", table_name="licences")
    op.drop_index("ix_licences_authority_status", table_name="licences")
    op.drop_index("ix_licences_holder", table_name="licences")
    op.drop_table("licences")
    op.drop_table("licence_types")
    op.drop_table("licence_authorities")
