"""counters of readable record numbers (complaints, audits, service orders)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('number_sequence',
    sa.Column('prefix', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', name=op.f('pk_number_sequence'))
    )


def downgrade():
    op.drop_table('number_sequence')
