"""Seal register (GB/T 38540 seals per region), their status history, and the seal usage log (用印记录).

Revision ID: 0002_seals
Revises: 0001_initial
Create Date: 2025-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_seals"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "seals",
        sa.Column("seal_id", sa.String(128), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("enterprise", sa.String(64), nullable=False),
        sa.Column("seal_type", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("maker_cert_sha256", sa.String(64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("seal_id", name="pk_seals"),
    )
    op.create_index("ix_seals_region_enterprise", "seals", ["region", "enterprise"])
    op.create_table(
        "seal_status_history",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("seal_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.seal_id"], name="fk_seal_status_history_seal_id_seals"),
        sa.PrimaryKeyConstraint("id", name="pk_seal_status_history"),
    )
    op.create_index("ix_seal_status_history_seal", "seal_status_history", ["seal_id", "at"])
    op.create_table(
        "seal_usage",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("seal_id", sa.String(128), nullable=False),
        sa.Column("enterprise", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("data_hash", sa.String(64), nullable=False),
        sa.Column("signature_sha256", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("property_info", sa.String(500), nullable=False),
        sa.Column("key_id", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_seal_usage"),
    )
    op.create_index("ix_seal_usage_seal", "seal_usage", ["seal_id", "at"])
    op.create_index("ix_seal_usage_enterprise", "seal_usage", ["enterprise", "at"])


def downgrade() -> None:
    op.drop_index("ix_seal_usage_enterprise", table_name="seal_usage")
    op.drop_index("ix_seal_usage_seal", table_name="seal_usage")
    op.drop_table("seal_usage")
    op.drop_index("ix_seal_status_history_seal", table_name="seal_status_history")
    op.drop_table("seal_status_history")
    op.drop_index("ix_seals_region_enterprise", table_name="seals")
    op.drop_table("seals")
