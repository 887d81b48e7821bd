"""login attempts shared by every worker

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 06:40:00

The per-address log-in rate limit was counted in each server process's memory, so behind several workers
an address got that many times the attempts. Attempts are now rows (a hash of the address and a time),
counted and pruned in the database every worker shares.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempts_address_hash"), ["address_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_attempted_at"), ["attempted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_attempted_at"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_address_hash"))
    op.drop_table("login_attempts")
