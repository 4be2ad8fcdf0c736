"""Disputes and consent: objections with evidence, consent grants, licence uses; a holder's subject on principals.

Revision ID: 0004_sharing
Revises: 0003_licences
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_sharing"
down_revision: str | None = "0003_licences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("principals") as batch:
        batch.add_column(sa.Column("subject", sa.String(32), nullable=True))
    op.create_table(
        "licence_objections",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("licence_id", sa.String(128), nullable=False),
        sa.Column("authority_id", sa.String(64), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("filer", sa.String(200), nullable=False),
        sa.Column("filer_role", sa.String(20), nullable=False),
        sa.Column("filer_region", sa.String(10), nullable=False),
        sa.Column("ground", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decision_reason", sa.String(500), nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("new_licence_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_licence_objections"),
    )
    op.create_index("ix_licence_objections_queue", "licence_objections", ["authority_id", "state", "filed_at"])
    op.create_index("ix_licence_objections_licence", "licence_objections", ["licence_id"])
    op.create_index("ix_licence_objections_filer", "licence_objections", ["filer"])
    op.create_table(
        "objection_evidence",
        sa.Column("objection_id", sa.String(40), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("objection_id", "idx", name="pk_objection_evidence"),
    )
    op.create_table(
        "licence_consents",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("holder_id", sa.String(32), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.Column("authority_id", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("licence_id", sa.String(128), nullable=False),
        sa.Column("type_code", sa.String(21), nullable=False),
        sa.Column("relying_party", sa.String(40), nullable=False),
        sa.Column("relying_party_name", sa.String(200), nullable=False),
        sa.Column("relying_party_region", sa.String(10), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_licence_consents"),
    )
    op.create_index("ix_licence_consents_holder", "licence_consents", ["holder_id"])
    op.create_index("ix_licence_consents_rp", "licence_consents", ["relying_party"])
    op.create_table(
        "licence_uses",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("relying_party", sa.String(200), nullable=False),
        sa.Column("licence_id", sa.String(128), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_licence_uses"),
    )
    op.create_index("ix_licence_uses_grant", "licence_uses", ["grant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_licence_uses_grant", table_name="licence_uses")
    op.drop_table("licence_uses")
    op.drop_index("ix_licence_consents_rp", table_name="licence_consents")
    op.drop_index("ix_licence_consents_holder", table_name="licence_consents")
    op.drop_table("licence_consents")
    op.drop_table("objection_evidence")
    op.drop_index("ix_licence_objections_filer", table_name="licence_objections")
    op.drop_index("ix_licence_objections_licence", table_name="licence_objections")
    op.drop_index("ix_licence_objections_queue", table_name="licence_objections")
    op.drop_table("licence_objections")
    with op.batch_alter_table("principals") as batch:
        batch.drop_column("subject")
