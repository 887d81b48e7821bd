"""the process that runs a batch, and why a batch failed

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 18:30:00

A batch that died (killed, or crashed at the agreement snapshot) kept its row at ``running`` forever. The
row now records its process ("host:pid:process start") so the next run can tell a dead batch from a live
one and mark it ``failed``, with a text-free reason in ``error``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("owner")
