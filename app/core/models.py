from sqlalchemy import Column, Integer, String, Text

from app.core.db import Model, TimestampMixin


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
