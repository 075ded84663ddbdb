from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import relationship

from app.core.db import Model, TimestampMixin
from app.network.enums import OUTLET_STATUS

region_user = Table(
    "region_user",
    Model.metadata,
    Column("region_id", Integer, ForeignKey("region.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True, index=True),
)

outlet_product_category = Table(
    "outlet_product_category",
    Model.metadata,
    Column("outlet_id", Integer, ForeignKey("outlet.id", ondelete="CASCADE"), primary_key=True),
    Column("product_category_id", Integer, ForeignKey("product_category.id"), primary_key=True, index=True),
)


class Region(TimestampMixin, Model):
    __tablename__ = "region"
    id = Column(Integer, primary_key=True)
    code = Column(String(20), nullable=False, unique=True)
    name = Column(String(100), nullable=False, unique=True)
    users = relationship(User, secondary=region_user, lazy="selectin", backref="regions")

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.id.in_(region_ids)

    def __repr__(self):
        return self.name


class ProductCategory(TimestampMixin, Model):
    __tablename__ = "product_category"
    id = Column(Integer, primary_key=True)
    code = Column(String(30), nullable=False, unique=True)
    name = Column(String(100), nullable=False, unique=True)

    def __repr__(self):
        return self.name


class Outlet(TimestampMixin, Model):
    __tablename__ = "outlet"
    __table_args__ = (
        OUTLET_STATUS.check("status"),
        Index("ix_outlet_region_status", "region_id", "status"),
        Index("ix_outlet_region_code", "region_id", "code"),  # scoped list order (migration 0011)
    )
    id = Column(Integer, primary_key=True)
    code = Column(String(30), nullable=False, unique=True)
    name = Column(String(200), nullable=False, index=True)
    region_id = Column(Integer, ForeignKey("region.id"), nullable=False)
    region = relationship(Region, lazy="joined")
    address = Column(String(300), nullable=False, default="")
    contact = Column(String(100), nullable=False, default="")
    phone = Column(String(30), nullable=False, default="")
    email = Column(String(200), nullable=True)
    licence_no = Column(String(50), nullable=True, unique=True)
    has_fixed_premises = Column(Boolean, nullable=False, default=False)
    product_categories = relationship(ProductCategory, secondary=outlet_product_category, lazy="selectin")
    status = Column(String(20), nullable=False, default="applying", index=True, info={"enum": OUTLET_STATUS})
    last_qualified_on = Column(Date, nullable=True)
    next_audit_due_on = Column(Date, nullable=True, index=True)
    # set by the nightly qualification check while the outlet misses a computed criterion
    flagged_on = Column(Date, nullable=True, index=True)
    flag_reasons = Column(String(100), nullable=False, default="")
    notes = Column(Text, nullable=True)

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.region_id.in_(region_ids)

    def __repr__(self):
        return f"{self.code} {self.name}"

    # how an outlet reads in a picker (core.search)
    picker_joins = ("region",)

    def picker_label(self):
        """Code, name and region: ``SH001 上海徐汇网点（华东区）``."""
        from flask_babel import gettext

        if self.region is None:
            return str(self)
        return gettext("%(outlet)s (%(region)s)", outlet=str(self), region=self.region.name)
