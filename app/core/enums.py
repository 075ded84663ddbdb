"""Enumerations travel as lower-case English codes and are shown translated."""
from flask_babel import lazy_gettext as _l  # noqa: F401  (re-exported for domain modules)
from sqlalchemy import CheckConstraint


class Enumeration:
    def __init__(self, name, items):
        self.name = name
        self.items = list(items)
        self.codes = [code for code, _label in self.items]
        self._labels = dict(self.items)

    def __contains__(self, code):
        return code in self._labels

    def __iter__(self):
        return iter(self.codes)

    def label(self, code):
        if code is None:
            return ""
        return str(self._labels.get(code, code))

    def choices(self):
        """(code, label) pairs for select fields; labels evaluated in the current locale."""
        return [(code, str(label)) for code, label in self.items]

    def check(self, column):
        """A CHECK constraint keeping ``column`` within the codes."""
        values = ", ".join(f"'{c}'" for c in self.codes)
        return CheckConstraint(f"{column} IN ({values})", name=column)
