from sqlalchemy import (
    Boolean, CheckConstraint, Column, Date, ForeignKey, Index, Integer, Numeric, String, Table, select,
)
from sqlalchemy.orm import relationship

from app.core.db import Model, TimestampMixin
from app.engineers.enums import CERTIFICATION_STATUS, ENGINEER_STATUS, SUSPENSION_REASON, TRAINING_KIND
from app.network.models import Outlet, ProductCategory

certification_type_product_category = Table(
    "certification_type_product_category",
    Model.metadata,
    Column("certification_type_id", Integer, ForeignKey("certification_type.id", ondelete="CASCADE"),
           primary_key=True),
    Column("product_category_id", Integer, ForeignKey("product_category.id"), primary_key=True, index=True),
)


class Engineer(TimestampMixin, Model):
    __tablename__ = "engineer"
    __table_args__ = (
        ENGINEER_STATUS.check("status"),
        SUSPENSION_REASON.check("suspension_reason"),
        CheckConstraint("star_level BETWEEN 1 AND 5", name="star_level"),
        Index("ix_engineer_outlet_status", "outlet_id", "status"),
        Index("ix_engineer_outlet_employee_no", "outlet_id", "employee_no"),  # scoped list order (0011)
    )
    id = Column(Integer, primary_key=True)
    employee_no = Column(String(30), nullable=False, unique=True)
    name = Column(String(100), nullable=False, index=True)
    phone = Column(String(30), nullable=False, default="")
    email = Column(String(200), nullable=True)
    outlet_id = Column(Integer, ForeignKey("outlet.id"), nullable=False)
    outlet = relationship(Outlet, lazy="joined")
    hire_date = Column(Date, nullable=False)
    status = Column(String(20), nullable=False, default="trainee", index=True, info={"enum": ENGINEER_STATUS})
    star_level = Column(Integer, nullable=True, info={"min": 1, "max": 5})
    # why a suspended engineer is off duty: the refresher rule reinstates only its own suspensions
    suspension_reason = Column(String(30), nullable=True, info={"enum": SUSPENSION_REASON})
    # the inputs of the nightly star level (engineers.stars), shown beside it
    star_score = Column(Numeric(5, 1), nullable=True)
    star_orders = Column(Integer, nullable=True)
    star_on_time_rate = Column(Numeric(5, 1), nullable=True)
    star_first_time_fix_rate = Column(Numeric(5, 1), nullable=True)
    star_satisfaction = Column(Numeric(3, 2), nullable=True)
    star_computed_on = Column(Date, nullable=True)

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.outlet_id.in_(select(Outlet.id).where(Outlet.region_id.in_(region_ids)))

    def __repr__(self):
        return f"{self.employee_no} {self.name}"

    # how an engineer reads in a picker (core.search)
    picker_joins = ("outlet",)

    def picker_label(self):
        """Employee number, name and outlet: ``E101 张伟 · SH001 上海徐汇网点``."""
        return f"{self} · {self.outlet}" if self.outlet is not None else str(self)


class CertificationType(TimestampMixin, Model):
    __tablename__ = "certification_type"
    __table_args__ = (CheckConstraint("validity_months > 0", name="validity_months"),)
    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False, unique=True)
    validity_months = Column(Integer, nullable=False, info={"min": 1, "max": 600})
    product_categories = relationship(ProductCategory, secondary=certification_type_product_category,
                                      lazy="selectin")

    def __repr__(self):
        return self.name


class Certification(TimestampMixin, Model):
    __tablename__ = "certification"
    __table_args__ = (
        CheckConstraint("expires_on > issued_on", name="expires_on"),
        CERTIFICATION_STATUS.check("status"),
        Index("ix_certification_engineer_expires", "engineer_id", "expires_on"),
    )
    id = Column(Integer, primary_key=True)
    engineer_id = Column(Integer, ForeignKey("engineer.id", ondelete="CASCADE"), nullable=False)
    engineer = relationship(Engineer, lazy="joined", backref="certifications")
    certification_type_id = Column(Integer, ForeignKey("certification_type.id"), nullable=False, index=True)
    certification_type = relationship(CertificationType, lazy="joined")
    number = Column(String(50), nullable=False, unique=True)
    issuer = Column(String(200), nullable=False, default="")
    issued_on = Column(Date, nullable=False)
    expires_on = Column(Date, nullable=False, index=True)
    revoked = Column(Boolean, nullable=False, default=False)
    # Derived from expires_on/revoked and today (engineers.rules.certification_status);
    # written on every save and refreshed nightly so lists can filter and sort on it.
    status = Column(String(20), nullable=False, default="valid", index=True, info={"enum": CERTIFICATION_STATUS})
    scan = Column(String(300), nullable=True)

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.engineer_id.in_(select(Engineer.id).where(Engineer.region_scope_clause(region_ids)))

    def __repr__(self):
        return self.number


class TrainingRecord(TimestampMixin, Model):
    __tablename__ = "training_record"
    __table_args__ = (
        TRAINING_KIND.check("kind"),
        CheckConstraint("theory_hours >= 0", name="theory_hours"),
        CheckConstraint("practical_hours >= 0", name="practical_hours"),
        CheckConstraint("mentored_orders >= 0", name="mentored_orders"),
        CheckConstraint("theory_score BETWEEN 0 AND 100", name="theory_score"),
        CheckConstraint("practical_score BETWEEN 0 AND 100", name="practical_score"),
        Index("ix_training_record_engineer_taken", "engineer_id", "taken_on"),
    )
    id = Column(Integer, primary_key=True)
    engineer_id = Column(Integer, ForeignKey("engineer.id", ondelete="CASCADE"), nullable=False)
    engineer = relationship(Engineer, lazy="joined", backref="training_records")
    kind = Column(String(20), nullable=False, info={"enum": TRAINING_KIND})
    taken_on = Column(Date, nullable=False)
    theory_hours = Column(Numeric(6, 1), nullable=False, default=0, info={"min": 0, "max": 10000})
    practical_hours = Column(Numeric(6, 1), nullable=False, default=0, info={"min": 0, "max": 10000})
    mentored_orders = Column(Integer, nullable=False, default=0, info={"min": 0, "max": 100000})
    theory_score = Column(Numeric(5, 1), nullable=True, info={"min": 0, "max": 100})
    practical_score = Column(Numeric(5, 1), nullable=True, info={"min": 0, "max": 100})
    # Judged against the training policy in force when the record is saved (engineers.rules).
    passed = Column(Boolean, nullable=False, default=False)

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.engineer_id.in_(select(Engineer.id).where(Engineer.region_scope_clause(region_ids)))

    def __repr__(self):
        return f"{self.kind} {self.taken_on}"
