from sqlalchemy import Boolean, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import relationship

from app.core import clock
from app.core.db import Model, TimestampMixin
from app.engineers.models import Engineer
from app.network.models import Outlet, ProductCategory
from app.orders.enums import ORDER_KIND, ORDER_STATUS


class ServiceOrder(TimestampMixin, Model):
    __tablename__ = "service_order"
    __table_args__ = (
        ORDER_KIND.check("kind"),
        ORDER_STATUS.check("status"),
        CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction"),
        CheckConstraint("completed_at IS NULL OR completed_at >= created_at", name="completed_at"),
        Index("ix_service_order_outlet_created", "outlet_id", "created_at"),
        Index("ix_service_order_created", "created_at"),  # the list's default order (migration 0011)
        Index("ix_service_order_engineer_completed", "engineer_id", "completed_at"),
        Index("ix_service_order_completed", "completed_at"),  # the dashboard's period (migration 0013)
    )
    id = Column(Integer, primary_key=True)
    number = Column(String(40), nullable=False, unique=True, info={"generated": True})
    customer_name = Column(String(100), nullable=False)
    customer_phone = Column(String(30), nullable=False)
    customer_address = Column(String(300), nullable=False, default="")
    product_category_id = Column(Integer, ForeignKey("product_category.id"), nullable=False, index=True)
    product_category = relationship(ProductCategory, lazy="joined")
    outlet_id = Column(Integer, ForeignKey("outlet.id"), nullable=False)
    outlet = relationship(Outlet, lazy="joined")
    engineer_id = Column(Integer, ForeignKey("engineer.id"), nullable=True)
    engineer = relationship(Engineer, lazy="joined")
    kind = Column(String(20), nullable=False, info={"enum": ORDER_KIND})
    status = Column(String(20), nullable=False, default="created", index=True, info={"enum": ORDER_STATUS})
    # created_at comes from TimestampMixin (when the order was received)
    dispatched_at = Column(DateTime, nullable=True)
    appointment_at = Column(DateTime, nullable=True)
    arrived_at = Column(DateTime, nullable=True)
    completed_at = Column(DateTime, nullable=True)
    first_time_fix = Column(Boolean, nullable=True)
    satisfaction = Column(Integer, nullable=True, info={"min": 1, "max": 5})

    @classmethod
    def region_scope_clause(cls, region_ids):
        return cls.outlet_id.in_(select(Outlet.id).where(Outlet.region_id.in_(region_ids)))

    @property
    def on_time(self):
        """Arrived no later than the appointment (None until both are known)."""
        if self.arrived_at is None or self.appointment_at is None:
            return None
        return self.arrived_at <= self.appointment_at

    def __repr__(self):
        return self.number

    # how an order reads in a picker (core.search): whose order, for what, from when
    picker_joins = ("product_category",)
    picker_search = ("number", "customer_name")

    def picker_label(self):
        """Number, customer, product and the day received: ``SO20260817NJ00007014 · 赵先生 · 空调 · 2026年8月17日``."""
        from app.core import l10n

        product = self.product_category.name if self.product_category is not None else ""
        return " · ".join(part for part in (self.number, self.customer_name, product,
                                            l10n.date_text(self.created_at)) if part)


__all__ = ["ServiceOrder", "clock"]
