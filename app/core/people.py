"""How a person is shown, everywhere: one function.

A Chinese name reads family name then given name with no space (王芳); a Latin name reads given
name, space, family name (Anna Schmidt). FAB keeps the given name in ``first_name`` and the family
name in ``last_name``. The username is shown only when the account has no name at all.

``install`` makes FAB's own ``User.get_full_name`` and ``repr`` (the top bar, related fields on
generated pages, pickers) use the same rule, and adds the template filter ``person``.
"""
import re

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def full_name(given, family):
    given, family = (given or "").strip(), (family or "").strip()
    if _CJK.search(given + family):
        return f"{family}{given}"
    return " ".join(part for part in (given, family) if part)


def display_name(user, system=None):
    """The name to show for ``user`` (``system`` — or "" — when there is no user)."""
    if user is None:
        return system if system is not None else ""
    return full_name(user.first_name, user.last_name) or (user.username or "")


def install(app):
    from flask_appbuilder.security.sqla.models import User

    User.get_full_name = lambda self: display_name(self)
    User.__repr__ = lambda self: display_name(self)
    User.__str__ = lambda self: display_name(self)
    app.add_template_filter(display_name, "person")
