"""Declarative base for every table: Flask-AppBuilder's ``Model`` with named constraints.

Constraint names let the services turn a database refusal into an error on the right field:
``uq_<table>_<column>`` and ``ck_<table>_<field>``.
"""
from flask_appbuilder import Model
from sqlalchemy import Column, DateTime

from app.core import clock

Model.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class TimestampMixin:
    created_at = Column(DateTime, nullable=False, default=clock.now)
    updated_at = Column(DateTime, nullable=False, default=clock.now, onupdate=clock.now)


__all__ = ["Model", "TimestampMixin"]
