"""Per-user sign-in state kept beside FAB's ``ab_user`` (which the app does not alter).

``version`` is the user's credential version: it is written into the session at a page login and
into every JWT (claim ``cv``); changing the password, deactivating the user or logging out bumps
it, and any session or token carrying an older version stops working at once.
``failed_logins`` counts consecutive failed logins; ``locked_until`` ends a lockout.
"""
from sqlalchemy import Column, DateTime, ForeignKey, Integer

from app.core.db import Model


class UserCredential(Model):
    __tablename__ = "user_credential"
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    version = Column(Integer, nullable=False, default=0)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime, nullable=True)

    def __repr__(self):
        return f"user_credential {self.user_id}"
