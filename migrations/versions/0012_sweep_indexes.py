"""the SLA sweep's index: due checks of the complaints with a pending check only

The sweep reads the complaints whose ``next_check_at`` has passed, in that order, a batch at a
time. The full index on ``next_check_at`` also held every resolved and closed complaint (no pending
check: NULL); the partial index holds only those the sweep will look at again, so its size follows
the open complaints.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

PENDING_CHECK = "next_check_at IS NOT NULL"


def upgrade():
    op.create_index("ix_complaint_next_check", "complaint", ["next_check_at"], unique=False,
                    postgresql_where=sa.text(PENDING_CHECK), sqlite_where=sa.text(PENDING_CHECK))
    op.drop_index("ix_complaint_next_check_at", table_name="complaint")


def downgrade():
    op.create_index("ix_complaint_next_check_at", "complaint", ["next_check_at"], unique=False)
    op.drop_index("ix_complaint_next_check", table_name="complaint")
