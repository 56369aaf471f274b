"""the operator loop: who wrote an operator's message, and which unanswered questions are answered

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 13:15:00

Adds ``messages.author`` (the operator who wrote a message of kind ``operator``; null for the
user's and the bot's) and ``unanswered.answered_at`` (when an operator answer that teaches the
bot covered the question: it leaves the dashboard's unanswered list, and stays counted in the
history). Downgrading drops both columns: operator messages stay, without their author, and
every answered question is listed as unanswered again.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('messages', sa.Column('author', sa.String(length=128), nullable=True))
    op.add_column('unanswered', sa.Column('answered_at', sa.DateTime(timezone=True),
                                          nullable=True))


def downgrade() -> None:
    # a plain DROP COLUMN on both backends (SQLite >= 3.35): no batch table copy, which with
    # foreign keys on would cascade-delete rows that point at the copied table (see 0003)
    op.drop_column('unanswered', 'answered_at')
    op.drop_column('messages', 'author')
