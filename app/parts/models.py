from sqlalchemy import (
    Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint, or_, select,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import relationship

from app.core.db import Model, TimestampMixin
from app.network.models import Outlet, ProductCategory, Region


class Part(TimestampMixin, Model):
    __tablename__ = "part"
    __table_args__ = (
        CheckConstraint("unit_price >= 0", name="unit_price"),
        CheckConstraint("warranty_days >= 0", name="warranty_days"),
        Index("ix_part_category_common", "product_category_id", "is_common"),
    )
    id = Column(Integer, primary_key=True)
    sku = Column(String(50), nullable=False, unique=True)
    name = Column(String(200), nullable=False, index=True)
    product_category_id = Column(Integer, ForeignKey("product_category.id"), nullable=False)
    product_category = relationship(ProductCategory, lazy="joined")
    unit_price = Column(Numeric(12, 2), nullable=False, default=0, info={"min": 0, "max": 10_000_000})
    is_common = Column(Boolean, nullable=False, default=False)
    warranty_days = Column(Integer, nullable=False, default=90, info={"min": 0, "max": 3650})

    def __repr__(self):
        return f"{self.sku} {self.name}"


class Stock(TimestampMixin, Model):
    """Quantity of one part at one warehouse: an outlet's forward warehouse or a region's central one."""

    __tablename__ = "stock"
    __table_args__ = (
        CheckConstraint("(outlet_id IS NULL) <> (region_id IS NULL)", name="warehouse"),
        CheckConstraint("quantity >= 0", name="quantity"),
        CheckConstraint("safety_level >= 0", name="safety_level"),
        UniqueConstraint("outlet_id", "part_id"),
        UniqueConstraint("region_id", "part_id"),
        Index("ix_stock_part", "part_id"),
        # the dashboard's low-stock outlets (migration 0013): only the rows below their safety level
        Index("ix_stock_low_outlet", "outlet_id", postgresql_where=text("quantity < safety_level"),
              sqlite_where=text("quantity < safety_level")),
    )
    id = Column(Integer, primary_key=True)
    outlet_id = Column(Integer, ForeignKey("outlet.id", ondelete="CASCADE"), nullable=True)
    outlet = relationship(Outlet, lazy="joined")
    region_id = Column(Integer, ForeignKey("region.id"), nullable=True)
    region = relationship(Region, lazy="joined")
    part_id = Column(Integer, ForeignKey("part.id"), nullable=False)
    part = relationship(Part, lazy="joined")
    quantity = Column(Integer, nullable=False, default=0, info={"min": 0, "max": 100_000_000})
    safety_level = Column(Integer, nullable=False, default=0, info={"min": 0, "max": 100_000_000})

    @hybrid_property
    def low(self):
        """Below the safety level (the low-stock flag)."""
        return self.quantity < self.safety_level

    @classmethod
    def region_scope_clause(cls, region_ids):
        return or_(
            cls.region_id.in_(region_ids),
            cls.outlet_id.in_(select(Outlet.id).where(Outlet.region_id.in_(region_ids))),
        )

    @property
    def warehouse(self):
        return self.outlet if self.outlet_id else self.region

    def __repr__(self):
        return f"{self.part} @ {self.warehouse}"
