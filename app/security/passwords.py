"""The password policy, one rule for every path that sets a password.

A password needs at least ``security.password_min_length`` characters (a setting, default 10),
must not be the username nor contain it (case-insensitively; for usernames of three or more
characters), and must not be one of the common passwords shipped in ``common_passwords.txt``.

Paths: the user pages' add form and the reset-password pages (``PolicyValidator`` on the form
field), the security API's user ``POST``/``PUT`` (``api.UserApi``), and ``add_user`` (seeds, CLI,
``SecurityManager.add_user``).
"""
import os
from functools import lru_cache

from flask_babel import lazy_gettext as _l

from app.core import settings
from app.core.errors import Invalid

_LIST = os.path.join(os.path.dirname(__file__), "common_passwords.txt")


@lru_cache(maxsize=1)
def common_passwords():
    with open(_LIST, encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip() and not line.startswith("#"))


def problems(password, username=None):
    """What is wrong with ``password`` for ``username``: a list of messages (empty when fine)."""
    password = password or ""
    found = []
    minimum = settings.get("security.password_min_length")
    if len(password) < minimum:
        found.append(_l("The password must have at least %(n)s characters.", n=minimum))
    lowered = password.lower()
    name = (username or "").strip().lower()
    if name and (lowered == name or (len(name) >= 3 and name in lowered)):
        found.append(_l("The password must not contain the username."))
    if lowered in common_passwords():
        found.append(_l("This password is too common; choose another."))
    return found


def check(password, username=None):
    """Raise ``Invalid`` (422, errors on ``password``) when the password breaks the policy."""
    found = problems(password, username)
    if found:
        raise Invalid({"password": found}, message=_l("The password does not meet the password policy."))


class PolicyValidator:
    """WTForms validator for a password field; ``username`` is a callable ``(form) -> username``."""

    def __init__(self, username):
        self.username = username

    def __call__(self, form, field):
        from wtforms import ValidationError

        found = problems(field.data, self.username(form))
        if found:
            raise ValidationError(" ".join(str(m) for m in found))
