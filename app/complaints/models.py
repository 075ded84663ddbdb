from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    Boolean, CheckConstraint, Column, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text,
    UniqueConstraint, select, text,
)
from sqlalchemy.orm import relationship

from app.complaints.enums import (
    CHANNEL, COMPLAINT_STATUS, ESCALATION_REASON, ESCALATION_STATUS, EVENT_KIND, REMEDY, SEVERITY,
)
from app.core import clock
from app.core.db import Model, TimestampMixin
from app.engineers.models import Engineer
from app.network.models import Outlet
from app.orders.models import ServiceOrder


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


OPEN_PREDICATE = "status NOT IN ('resolved', 'closed')"
"""Open complaints (neither resolved nor closed), as the partial indexes' condition."""


PENDING_CHECK = "next_check_at IS NOT NULL"
"""Complaints the SLA sweep will look at again, as its partial index's condition."""


class Complaint(TimestampMixin, Model):
    __tablename__ = "complaint"
    __table_args__ = (
        SEVERITY.check("severity"),
        CHANNEL.check("channel"),
        COMPLAINT_STATUS.check("status"),
        Index("ix_complaint_outlet_status", "outlet_id", "status"),
        # received_at carries what the dashboard's period figures read (migration 0013): by status, by
        # severity, the breach rate, the weekly trend and the per-region counts read the index alone
        Index("ix_complaint_received", "received_at",
              postgresql_include=["outlet_id", "status", "severity", "response_breached", "resolution_breached"]),
        # region-scoped lists in their default order, newest first (migration 0011)
        Index("ix_complaint_outlet_received", "outlet_id", "received_at"),
        # dashboard and home panels (migration 0013): the period's figures read these times, the
        # "breaches today" panel the due times, the per-region/per-outlet open counts and an agent's
        # open complaints only the open ones (partial indexes: their size follows the open complaints)
        Index("ix_complaint_first_response", "first_response_at", postgresql_include=["received_at", "outlet_id"]),
        Index("ix_complaint_resolved", "resolved_at", postgresql_include=["received_at", "outlet_id"]),
        Index("ix_complaint_response_due", "response_due_at"),
        Index("ix_complaint_resolution_due", "resolution_due_at"),
        Index("ix_complaint_open_outlet", "outlet_id", postgresql_where=text(OPEN_PREDICATE),
              sqlite_where=text(OPEN_PREDICATE)),
        Index("ix_complaint_open_owner", "owner_id", postgresql_where=text(OPEN_PREDICATE),
              sqlite_where=text(OPEN_PREDICATE)),
        # the SLA sweep's range of due checks (migration 0012): only complaints with a pending check,
        # so its size follows the open complaints, not all ever recorded
        Index("ix_complaint_next_check", "next_check_at", postgresql_where=text(PENDING_CHECK),
              sqlite_where=text(PENDING_CHECK)),
    )
    id = Column(Integer, primary_key=True)
    number = Column(String(40), nullable=False, unique=True)
    customer_name = Column(String(100), nullable=False)
    customer_phone = Column(String(30), nullable=False)
    channel = Column(String(20), nullable=False, default="phone", info={"enum": CHANNEL})
    outlet_id = Column(Integer, ForeignKey("outlet.id"), nullable=False)
    outlet = relationship(Outlet, lazy="joined")
    service_order_id = Column(Integer, ForeignKey("service_order.id"), nullable=True, index=True)
    service_order = relationship(ServiceOrder, lazy="joined")
    engineer_id = Column(Integer, ForeignKey("engineer.id"), nullable=True, index=True)
    engineer = relationship(Engineer, lazy="joined")
    severity = Column(String(20), nullable=False, default="general", info={"enum": SEVERITY})
    description = Column(Text, nullable=False)
    # 首接负责人: the agent who recorded it, until it is closed
    owner_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True, index=True)
    owner = relationship(User, foreign_keys=[owner_id], lazy="joined")
    status = Column(String(20), nullable=False, default="new", index=True, info={"enum": COMPLAINT_STATUS})
    received_at = Column(DateTime, nullable=False, default=clock.now)
    first_response_at = Column(DateTime, nullable=True)
    resolved_at = Column(DateTime, nullable=True)
    closed_at = Column(DateTime, nullable=True)
    resolution = Column(Text, nullable=True)
    customer_notified = Column(Boolean, nullable=False, default=False)
    customer_satisfied = Column(Boolean, nullable=True)
    # SLA clock (complaints.sla): due times from the policy and the region's calendar
    response_due_at = Column(DateTime, nullable=True)
    resolution_due_at = Column(DateTime, nullable=True)
    verification_due_at = Column(DateTime, nullable=True)
    response_breached = Column(Boolean, nullable=False, default=False)
    resolution_breached = Column(Boolean, nullable=False, default=False)
    response_warned = Column(Boolean, nullable=False, default=False)
    resolution_warned = Column(Boolean, nullable=False, default=False)
    paused = Column(Boolean, nullable=False, default=False)
    paused_at = Column(DateTime, nullable=True)
    # earliest pending warning or due time; the sweep looks only at rows with next_check_at <= now
    next_check_at = Column(DateTime, nullable=True)

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.outlet_id.in_(select(Outlet.id).where(Outlet.region_id.in_(region_ids)))

    def __repr__(self):
        return self.number

    # how a complaint reads in a picker (core.search)
    picker_joins = ()
    picker_search = ("number", "customer_name")

    def picker_label(self):
        """Number and customer: ``TS20260817NJ0001 · 赵先生``."""
        return " · ".join(part for part in (self.number, self.customer_name) if part)


class ComplaintPause(Model):
    __tablename__ = "complaint_pause"
    __table_args__ = (CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_at"),)
    id = Column(Integer, primary_key=True)
    complaint_id = Column(Integer, ForeignKey("complaint.id", ondelete="CASCADE"), nullable=False, index=True)
    complaint = relationship(Complaint, backref="pauses")
    started_at = Column(DateTime, nullable=False)
    ended_at = Column(DateTime, nullable=True)
    reason = Column(String(300), nullable=False, default="")


class ComplaintEvent(Model):
    """The complaint's timeline: received, responses, pauses, breaches, escalations, decisions."""

    __tablename__ = "complaint_event"
    __table_args__ = (EVENT_KIND.check("kind"), Index("ix_complaint_event_complaint_at", "complaint_id", "at"))
    id = Column(Integer, primary_key=True)
    complaint_id = Column(Integer, ForeignKey("complaint.id", ondelete="CASCADE"), nullable=False)
    complaint = relationship(Complaint, backref="events")
    at = Column(DateTime, nullable=False, default=clock.now)
    kind = Column(String(30), nullable=False, info={"enum": EVENT_KIND})
    actor_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    actor = relationship(User, lazy="joined")
    actor_name = Column(String(100), nullable=False, default="")
    note = Column(Text, nullable=False, default="")

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.complaint_id.in_(select(Complaint.id).where(Complaint.region_scope_clause(region_ids)))


class Escalation(TimestampMixin, Model):
    __tablename__ = "escalation"
    __table_args__ = (
        ESCALATION_REASON.check("reason"),
        REMEDY.check("remedy"),
        ESCALATION_STATUS.check("status"),
        CheckConstraint("level IN (1, 2)", name="level"),
        CheckConstraint("compensation_amount IS NULL OR compensation_amount >= 0", name="compensation_amount"),
        # the automatic SLA escalation exists at most once per complaint and level
        UniqueConstraint("complaint_id", "level", "auto_key"),
        Index("ix_escalation_status_level", "status", "level"),
        Index("ix_escalation_requested", "requested_at"),  # the list's default order (migration 0011)
    )
    id = Column(Integer, primary_key=True)
    complaint_id = Column(Integer, ForeignKey("complaint.id", ondelete="CASCADE"), nullable=False, index=True)
    complaint = relationship(Complaint, lazy="joined", backref="escalations")
    parent_id = Column(Integer, ForeignKey("escalation.id"), nullable=True)
    level = Column(Integer, nullable=False, default=1)
    reason = Column(String(30), nullable=False, info={"enum": ESCALATION_REASON})
    remedy = Column(String(20), nullable=True, info={"enum": REMEDY})
    compensation_amount = Column(Numeric(12, 2), nullable=True, info={"min": 0, "max": 100_000_000})
    request_comment = Column(Text, nullable=False, default="")
    auto_key = Column(String(30), nullable=True)
    requested_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    requested_by = relationship(User, foreign_keys=[requested_by_id], lazy="joined")
    requested_at = Column(DateTime, nullable=False, default=clock.now)
    status = Column(String(20), nullable=False, default="pending", index=True, info={"enum": ESCALATION_STATUS})
    decided_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    decided_by = relationship(User, foreign_keys=[decided_by_id], lazy="joined")
    decided_at = Column(DateTime, nullable=True)
    comment = Column(Text, nullable=True)  # the decision's comment

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.complaint_id.in_(select(Complaint.id).where(Complaint.region_scope_clause(region_ids)))

    def __repr__(self):
        return f"{self.complaint} L{self.level}"


class EscalationDelegation(TimestampMixin, Model):
    """A regional manager names a delegate for a date range (inclusive, local dates)."""

    __tablename__ = "escalation_delegation"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ends_on"),
        CheckConstraint("delegate_id <> manager_id", name="delegate"),
        Index("ix_escalation_delegation_delegate_window", "delegate_id", "starts_on", "ends_on"),
    )
    id = Column(Integer, primary_key=True)
    manager_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False, index=True)
    manager = relationship(User, foreign_keys=[manager_id], lazy="joined")
    delegate_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    delegate = relationship(User, foreign_keys=[delegate_id], lazy="joined")
    starts_on = Column(Date, nullable=False)
    ends_on = Column(Date, nullable=False)
    note = Column(String(300), nullable=False, default="")

    @classmethod
    def region_scope_clause(cls, region_ids):
        """Delegations made by managers of these regions."""
        from app.network.models import region_user

        return cls.manager_id.in_(select(region_user.c.user_id).where(region_user.c.region_id.in_(region_ids)))

