"""at most one active model version

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 22:30:00

Two retrains finishing at the same moment could both mark their model active. This keeps only the newest
active row (the one ``active_model_row`` already used) and adds a partial unique index so the database
refuses a second active model from now on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    model_versions = sa.table(
        "model_versions",
        sa.column("id", sa.Integer),
        sa.column("is_active", sa.Boolean),
        sa.column("created_at", sa.DateTime),
    )
    bind = op.get_bind()
    active = bind.execute(
        sa.select(model_versions.c.id)
        .where(model_versions.c.is_active.is_(True))
        .order_by(model_versions.c.created_at.desc(), model_versions.c.id.desc())
    ).scalars().all()
    if len(active) > 1:
        bind.execute(
            model_versions.update().where(model_versions.c.id.in_(active[1:])).values(is_active=False)
        )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_model_versions_one_active",
            ["is_active"],
            unique=True,
            sqlite_where=sa.text("is_active"),
            postgresql_where=sa.text("is_active"),
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_model_versions_one_active")
