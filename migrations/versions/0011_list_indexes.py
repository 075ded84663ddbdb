"""indexes for the lists: region-scoped lists in their default order, and default orders

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 00:55:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_complaint_outlet_received", "complaint", ["outlet_id", "received_at"]),
    ("ix_escalation_requested", "escalation", ["requested_at"]),
    ("ix_service_order_created", "service_order", ["created_at"]),
    ("ix_engineer_outlet_employee_no", "engineer", ["outlet_id", "employee_no"]),
    ("ix_outlet_region_code", "outlet", ["region_id", "code"]),
    ("ix_qualification_audit_due", "qualification_audit", ["due_on"]),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
