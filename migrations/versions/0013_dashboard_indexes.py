"""dashboard and home panels: the received-time index carries what the period's figures read; indexes
on the first-response, resolution and due times; partial indexes on open complaints and on stock rows
below their safety level; the service orders' completion time

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OPEN = "status NOT IN ('resolved', 'closed')"
LOW = "quantity < safety_level"
RECEIVED_CARRIES = ['outlet_id', 'status', 'severity', 'response_breached', 'resolution_breached']


def upgrade():
    op.drop_index('ix_complaint_received', table_name='complaint')
    op.create_index('ix_complaint_received', 'complaint', ['received_at'], unique=False,
                    postgresql_include=RECEIVED_CARRIES)
    op.create_index('ix_complaint_first_response', 'complaint', ['first_response_at'], unique=False,
                    postgresql_include=['received_at', 'outlet_id'])
    op.create_index('ix_complaint_resolved', 'complaint', ['resolved_at'], unique=False,
                    postgresql_include=['received_at', 'outlet_id'])
    op.create_index('ix_complaint_response_due', 'complaint', ['response_due_at'], unique=False)
    op.create_index('ix_complaint_resolution_due', 'complaint', ['resolution_due_at'], unique=False)
    op.create_index('ix_complaint_open_outlet', 'complaint', ['outlet_id'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_index('ix_complaint_open_owner', 'complaint', ['owner_id'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_index('ix_service_order_completed', 'service_order', ['completed_at'], unique=False)
    op.create_index('ix_stock_low_outlet', 'stock', ['outlet_id'], unique=False,
                    postgresql_where=sa.text(LOW), sqlite_where=sa.text(LOW))


def downgrade():
    op.drop_index('ix_stock_low_outlet', table_name='stock')
    op.drop_index('ix_service_order_completed', table_name='service_order')
    op.drop_index('ix_complaint_open_owner', table_name='complaint')
    op.drop_index('ix_complaint_open_outlet', table_name='complaint')
    op.drop_index('ix_complaint_resolution_due', table_name='complaint')
    op.drop_index('ix_complaint_response_due', table_name='complaint')
    op.drop_index('ix_complaint_resolved', table_name='complaint')
    op.drop_index('ix_complaint_first_response', table_name='complaint')
    op.drop_index('ix_complaint_received', table_name='complaint')
    op.create_index('ix_complaint_received', 'complaint', ['received_at'], unique=False)
