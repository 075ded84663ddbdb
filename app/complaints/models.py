from sqlalchemy import Boolean, CheckConstraint, Column, Integer, String

from app.complaints.enums import SEVERITY
from app.core.db import Model, TimestampMixin


class SlaPolicy(TimestampMixin, Model):
    """Service time limits for one complaint severity."""

    __tablename__ = "sla_policy"
    __table_args__ = (
        SEVERITY.check("severity"),
        CheckConstraint("response_minutes > 0", name="response_minutes"),
        CheckConstraint("resolution_hours > 0", name="resolution_hours"),
    )
    id = Column(Integer, primary_key=True)
    severity = Column(String(20), nullable=False, unique=True, info={"enum": SEVERITY})
    response_minutes = Column(Integer, nullable=False, info={"min": 1, "max": 100000})
    resolution_hours = Column(Integer, nullable=False, info={"min": 1, "max": 100000})
    business_time = Column(Boolean, nullable=False, default=False)
    description = Column(String(300), nullable=False, default="")

    def __repr__(self):
        return self.severity
