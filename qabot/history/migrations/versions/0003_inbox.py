"""the inbox: channel updates recorded before they are acknowledged and answered

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:20:00

Adds the ``inbox`` table (one row per Telegram update: pending, done or failed, and which
worker holds it) and ``messages.update_key``, the update an incoming message came with, so
that an update answered again after a crash finds its stored message and reply.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'inbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('update_id', sa.BigInteger(), nullable=False),
        sa.Column('chat', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox')),
        sa.UniqueConstraint('channel', 'update_id', name=op.f('uq_inbox_channel')),
    )
    op.create_index('ix_inbox_state_chat', 'inbox', ['state', 'chat', 'update_id'])
    op.create_index(op.f('ix_inbox_finished_at'), 'inbox', ['finished_at'])
    # a plain ADD COLUMN and a unique index: no table copy, which on SQLite (foreign keys on)
    # would cascade-delete the feedback of every message
    op.add_column('messages', sa.Column('update_key', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_messages_update_key'), 'messages', ['update_key'], unique=True)


def downgrade() -> None:
    op.drop_index(op.f('ix_messages_update_key'), table_name='messages')
    # a plain DROP COLUMN (SQLite 3.35+), not a batch table copy: dropping the old messages
    # table with foreign keys on cascade-deletes every reply, vote and unanswered question
    op.drop_column('messages', 'update_key')
    op.drop_index(op.f('ix_inbox_finished_at'), table_name='inbox')
    op.drop_index('ix_inbox_state_chat', table_name='inbox')
    op.drop_table('inbox')
