"""one vote per bot message: a second tap changes the vote

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 19:20:00

Keeps the newest vote of each message (earlier double taps stored several) and makes
``feedback.message_id`` unique.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM feedback WHERE id NOT IN "
               "(SELECT newest FROM (SELECT max(id) AS newest FROM feedback "
               "GROUP BY message_id) AS kept)")
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_message_id'))
        batch_op.create_index(batch_op.f('ix_feedback_message_id'), ['message_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_message_id'))
        batch_op.create_index(batch_op.f('ix_feedback_message_id'), ['message_id'], unique=False)
