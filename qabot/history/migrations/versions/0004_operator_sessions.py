"""operator sessions: the web dashboard's sign-ins, kept server-side so that sign-out ends them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 12:00:00

Adds the ``operator_sessions`` table: one row per signed-in dashboard session (the SHA-256 of
the id its cookie carries, the operator, when it started and when it expires). Sign-out deletes
the row; a cookie whose row is gone opens nothing. Downgrading drops the table: every operator
signs in again.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'operator_sessions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('operator', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_sessions')),
    )
    op.create_index(op.f('ix_operator_sessions_operator'), 'operator_sessions', ['operator'])
    op.create_index(op.f('ix_operator_sessions_expires_at'), 'operator_sessions',
                    ['expires_at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_operator_sessions_expires_at'), table_name='operator_sessions')
    op.drop_index(op.f('ix_operator_sessions_operator'), table_name='operator_sessions')
    op.drop_table('operator_sessions')
