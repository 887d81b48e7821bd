"""the replaced words of each anonymisation event, encrypted

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 06:35:00

An undo in the anonymisation review could only feed the allow list: the event log kept no original
words, and the pseudonym map keeps one canonical form per entity ("John Smith" also for a mention
"Smith"), so the stored text could not be put back as it was said. Each new event now keeps its own
words as a Fernet token (only the key holder can open it). Existing events get none; their undo keeps
working as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("anonymisation_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("encrypted_original", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("anonymisation_events", schema=None) as batch_op:
        batch_op.drop_column("encrypted_original")
