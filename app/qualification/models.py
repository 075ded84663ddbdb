"""Qualification audits: a checklist built from the template, frozen evidence, the decision."""
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Column, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text,
    UniqueConstraint, select,
)
from sqlalchemy.orm import relationship

from app.core import clock
from app.core.db import Model, TimestampMixin
from app.network.models import Outlet
from app.qualification.enums import ANSWER, AUDIT_KIND, AUDIT_ORIGIN, AUDIT_OUTCOME, AUDIT_STATUS, ITEM_KIND


class AuditTemplateItem(TimestampMixin, Model):
    """One line of the checklist every new audit starts from (HQ admins edit the template).

    ``metric`` names what a computed item or KPI measures (``qualification.checklist.METRICS``);
    an on-site item may name the outlet fact its answer confirms (``has_fixed_premises``).
    """

    __tablename__ = "audit_template_item"
    __table_args__ = (ITEM_KIND.check("kind"),)
    id = Column(Integer, primary_key=True)
    code = Column(String(50), nullable=False, unique=True)
    label = Column(String(200), nullable=False)
    kind = Column(String(20), nullable=False, info={"enum": ITEM_KIND})
    metric = Column(String(50), nullable=True)
    required = Column(Boolean, nullable=False, default=True)
    evidence_required = Column(Boolean, nullable=False, default=False)
    position = Column(Integer, nullable=False, default=100, info={"min": 0, "max": 10000})
    active = Column(Boolean, nullable=False, default=True)
    guidance = Column(Text, nullable=False, default="")

    def __repr__(self):
        return self.label


class QualificationAudit(TimestampMixin, Model):
    __tablename__ = "qualification_audit"
    __table_args__ = (
        AUDIT_KIND.check("kind"),
        AUDIT_STATUS.check("status"),
        AUDIT_OUTCOME.check("outcome"),
        AUDIT_ORIGIN.check("origin"),
        CheckConstraint("rectification_days IS NULL OR rectification_days > 0", name="rectification_days"),
        # at most one open (not yet approved) audit per outlet: ``is_open`` is true or NULL
        UniqueConstraint("outlet_id", "is_open"),
        Index("ix_qualification_audit_status_due", "status", "due_on"),
        Index("ix_qualification_audit_due", "due_on"),  # the list's default order (migration 0011)
    )
    id = Column(Integer, primary_key=True)
    number = Column(String(30), nullable=False, unique=True)
    outlet_id = Column(Integer, ForeignKey("outlet.id"), nullable=False, index=True)
    outlet = relationship(Outlet, lazy="joined")
    kind = Column(String(20), nullable=False, info={"enum": AUDIT_KIND})
    status = Column(String(20), nullable=False, default="draft", index=True, info={"enum": AUDIT_STATUS})
    origin = Column(String(20), nullable=False, default="manual", info={"enum": AUDIT_ORIGIN})
    due_on = Column(Date, nullable=False)
    is_open = Column(Boolean, nullable=True, default=True)
    trigger_note = Column(String(300), nullable=False, default="")
    parent_id = Column(Integer, ForeignKey("qualification_audit.id"), nullable=True, index=True)
    parent = relationship("QualificationAudit", remote_side=[id], lazy="select")
    opened_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    opened_by = relationship(User, foreign_keys=[opened_by_id], lazy="joined")
    # the auditor who ran and submitted it (cannot approve it)
    auditor_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True, index=True)
    auditor = relationship(User, foreign_keys=[auditor_id], lazy="joined")
    outcome = Column(String(20), nullable=True, info={"enum": AUDIT_OUTCOME})
    rectification_days = Column(Integer, nullable=True, info={"min": 1, "max": 365})
    rectification_deadline = Column(Date, nullable=True)
    submit_comment = Column(Text, nullable=False, default="")
    submitted_at = Column(DateTime, nullable=True)
    # the computed evidence as it stood at submission (later data changes do not alter it)
    evidence_snapshot = Column(JSON, nullable=True)
    decided_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    decided_by = relationship(User, foreign_keys=[decided_by_id], lazy="joined")
    decided_at = Column(DateTime, nullable=True)
    decision_comment = Column(Text, nullable=False, default="")
    items = relationship("QualificationAuditItem", back_populates="audit", cascade="all, delete-orphan",
                         order_by="QualificationAuditItem.position", lazy="selectin")

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.outlet_id.in_(select(Outlet.id).where(Outlet.region_id.in_(region_ids)))

    def item(self, code):
        return next((i for i in self.items if i.code == code), None)

    def __repr__(self):
        return self.number


class QualificationAuditItem(Model):
    """One checklist line of one audit. Computed items and KPIs carry their frozen values once
    the audit is submitted (``actual``, ``target``, ``met``, ``details``)."""

    __tablename__ = "qualification_audit_item"
    __table_args__ = (
        ITEM_KIND.check("kind"),
        ANSWER.check("answer"),
        UniqueConstraint("audit_id", "code"),
    )
    id = Column(Integer, primary_key=True)
    audit_id = Column(Integer, ForeignKey("qualification_audit.id", ondelete="CASCADE"), nullable=False)
    audit = relationship(QualificationAudit, back_populates="items")
    position = Column(Integer, nullable=False, default=100)
    code = Column(String(50), nullable=False)
    label = Column(String(200), nullable=False)
    kind = Column(String(20), nullable=False, info={"enum": ITEM_KIND})
    metric = Column(String(50), nullable=True)
    required = Column(Boolean, nullable=False, default=True)
    evidence_required = Column(Boolean, nullable=False, default=False)
    guidance = Column(Text, nullable=False, default="")
    answer = Column(String(3), nullable=True, info={"enum": ANSWER})
    note = Column(Text, nullable=False, default="")
    actual = Column(Numeric(12, 2), nullable=True)
    target = Column(Numeric(12, 2), nullable=True)
    met = Column(Boolean, nullable=True)
    details = Column(JSON, nullable=True)
    files = relationship("QualificationEvidenceFile", back_populates="item", cascade="all, delete-orphan",
                         order_by="QualificationEvidenceFile.id", lazy="selectin")

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.audit_id.in_(select(QualificationAudit.id).where(
            QualificationAudit.region_scope_clause(region_ids)))

    def __repr__(self):
        return self.label


class QualificationEvidenceFile(Model):
    """A photo or PDF backing an on-site item; stored under ``UPLOAD_FOLDER`` by a random name."""

    __tablename__ = "qualification_evidence_file"
    __table_args__ = (CheckConstraint("size >= 0", name="size"),)
    id = Column(Integer, primary_key=True)
    item_id = Column(Integer, ForeignKey("qualification_audit_item.id", ondelete="CASCADE"), nullable=False,
                     index=True)
    item = relationship(QualificationAuditItem, back_populates="files")
    filename = Column(String(200), nullable=False)
    stored_name = Column(String(100), nullable=False, unique=True)
    content_type = Column(String(100), nullable=False)
    size = Column(Integer, nullable=False)
    uploaded_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    uploaded_by = relationship(User, lazy="joined")
    uploaded_at = Column(DateTime, nullable=False, default=clock.now)

    def __repr__(self):
        return self.filename
