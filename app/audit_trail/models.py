"""The append-only change history: one row per change or security event, hash-chained.

The database refuses UPDATE and DELETE on ``audit_event`` (triggers, migration 0004). Each row
carries the previous row's hash and its own hash over a canonical JSON form of its fields
(``audit_trail.chain``); ``audit_chain`` holds the head of the chain and serialises writers.
"""
from sqlalchemy import Column, DateTime, Index, Integer, String, Text

from app.core.db import Model


class AuditEvent(Model):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_entity_record", "entity", "record_id"),)
    id = Column(Integer, primary_key=True, autoincrement=False)
    at = Column(DateTime, nullable=False, index=True)
    actor_kind = Column(String(20), nullable=False)  # user, job, cli, system, anonymous
    actor_id = Column(Integer, nullable=True, index=True)  # ab_user.id, kept even if the user goes
    actor_name = Column(String(150), nullable=False)
    request_id = Column(String(64), nullable=False, default="")
    client_addr = Column(String(64), nullable=False, default="")
    entity = Column(String(64), nullable=False, index=True)
    record_id = Column(String(64), nullable=True)
    action = Column(String(30), nullable=False, index=True)
    # canonical JSON: {field: [before, after]} for changes, details for other events
    changes = Column(Text, nullable=False, default="{}")
    prev_hash = Column(String(64), nullable=False)
    hash = Column(String(64), nullable=False, unique=True)

    def __repr__(self):
        return f"#{self.id} {self.action} {self.entity} {self.record_id or ''}".strip()


class AuditChain(Model):
    """The one row holding the chain's head; locking it serialises writers of the trail."""

    __tablename__ = "audit_chain"
    id = Column(Integer, primary_key=True, autoincrement=False)
    last_id = Column(Integer, nullable=False, default=0)
    last_hash = Column(String(64), nullable=False)
    touched_at = Column(DateTime, nullable=True)
