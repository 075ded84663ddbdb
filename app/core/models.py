from sqlalchemy import (
    Boolean, CheckConstraint, Column, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, false,
)
from sqlalchemy.orm import relationship

from app.core import clock, numbering  # noqa: F401  (the number_sequence table)
from app.core.db import Model, TimestampMixin
from app.core.enums import Enumeration, _l

DAY_KIND = Enumeration("day_kind", [("holiday", _l("Public holiday")), ("workday", _l("Make-up working day"))])


class Setting(TimestampMixin, Model):
    """One editable policy value; the definitions (type, default, label) live in ``settings.py``."""

    __tablename__ = "setting"
    id = Column(Integer, primary_key=True)
    key = Column(String(100), nullable=False, unique=True)
    value = Column(Text, nullable=False)

    @property
    def description(self):
        from app.core.settings import DEFINITIONS

        definition = DEFINITIONS.get(self.key)
        return str(definition.label) if definition else self.key

    def __repr__(self):
        return self.key


class BusinessCalendar(TimestampMixin, Model):
    """Working hours per weekday and the days that differ (public holidays, make-up working days).

    The calendar with no region is the default (mainland China); a region may have its own,
    whose day rows override the default's on the same date.
    """

    __tablename__ = "business_calendar"
    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False, unique=True)
    region_id = Column(Integer, ForeignKey("region.id", ondelete="CASCADE"), nullable=True, unique=True)
    region = relationship("Region", lazy="joined")
    # "HH:MM-HH:MM", or empty for a day off
    monday_hours = Column(String(11), nullable=False, default="09:00-18:00")
    tuesday_hours = Column(String(11), nullable=False, default="09:00-18:00")
    wednesday_hours = Column(String(11), nullable=False, default="09:00-18:00")
    thursday_hours = Column(String(11), nullable=False, default="09:00-18:00")
    friday_hours = Column(String(11), nullable=False, default="09:00-18:00")
    saturday_hours = Column(String(11), nullable=False, default="")
    sunday_hours = Column(String(11), nullable=False, default="")
    # hours of a make-up working day (调休), usually a Saturday or Sunday
    makeup_hours = Column(String(11), nullable=False, default="09:00-18:00")
    days = relationship("CalendarDay", back_populates="calendar", cascade="all, delete-orphan",
                        order_by="CalendarDay.day")

    @classmethod
    def region_scope_clause(cls, region_ids):
        from sqlalchemy import or_

        return or_(cls.region_id.is_(None), cls.region_id.in_(region_ids))

    def __repr__(self):
        return self.name


class CalendarDay(TimestampMixin, Model):
    __tablename__ = "calendar_day"
    __table_args__ = (
        UniqueConstraint("calendar_id", "day"),
        DAY_KIND.check("kind"),
    )
    id = Column(Integer, primary_key=True)
    calendar_id = Column(Integer, ForeignKey("business_calendar.id", ondelete="CASCADE"), nullable=False)
    calendar = relationship(BusinessCalendar, back_populates="days")
    day = Column(Date, nullable=False, index=True)
    kind = Column(String(10), nullable=False, info={"enum": DAY_KIND})
    name = Column(String(100), nullable=False, default="")
    # A forecast (a year the State Council has not published yet), shown as such until an HQ admin
    # confirms the year or edits the day (``core.calendar_services``).
    provisional = Column(Boolean, nullable=False, default=False, server_default=false())

    def __repr__(self):
        return f"{self.day} {self.name}"


class Notification(Model):
    """Outbox (``core.outbox``): an email recorded with the change that causes it, sent by a job after commit.

    Any domain writes here through ``outbox.queue_email``; ``complaint_id`` is an optional link kept
    from the complaints domain (by table name only: the kernel imports no domain).

    ``claimed_at``/``claim_token``: the sender that claimed the row (committed before it talks to
    the SMTP server, ``outbox.send``); a claim older than ``OUTBOX_CLAIM_LEASE`` seconds without
    ``sent_at`` belonged to a sender that died and may be taken again.
    """

    __tablename__ = "notification"
    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime, nullable=False, default=clock.now, index=True)
    recipients = Column(Text, nullable=False)  # comma-separated addresses
    subject = Column(String(300), nullable=False)
    body = Column(Text, nullable=False)
    topic = Column(String(50), nullable=False, default="")
    # a message that must go out once only (e.g. a certificate reminder) carries a unique key
    dedupe_key = Column(String(150), nullable=True, unique=True)
    complaint_id = Column(Integer, ForeignKey("complaint.id", ondelete="SET NULL"), nullable=True, index=True)
    sent_at = Column(DateTime, nullable=True, index=True)
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text, nullable=True)
    claimed_at = Column(DateTime, nullable=True)
    claim_token = Column(String(32), nullable=True)
