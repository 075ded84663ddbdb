"""Region scope: one mechanism for every read and write path.

A scoped model defines ``region_scope_clause(cls, region_ids)`` returning a SQL condition that
holds for its rows in those regions. ``clause_for(model)`` applies the acting user's scope:

* ``None`` — no restriction (HQ Admin, Auditor, Admin, jobs and CLI commands acting as the system);
* otherwise the condition for the user's assigned regions (no regions → no rows).

The scoped datamodel (``core.datamodel``) adds it to every list, show, edit, delete, action and
related-field query, and ``ensure_in_scope`` refuses a write that lands a row outside the scope.
"""
from contextlib import contextmanager

from flask import g, has_app_context, has_request_context
from sqlalchemy import exists, select

from app.core.errors import Forbidden

UNRESTRICTED_ROLES = frozenset({"HQ Admin", "Auditor", "Admin"})

_SYSTEM = object()


def _acting_user():
    override = g.get("_scope_user", None) if has_app_context() else None
    if override is not None:
        return override
    if not has_request_context():
        return _SYSTEM
    from flask import current_app

    try:
        user = current_app.appbuilder.sm.current_user
    except Exception:  # no JWT in this request and nobody logged in
        user = None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def acting_user():
    """The signed-in user acting now, or ``None`` for the system (jobs, CLI, seeds)."""
    user = _acting_user()
    return None if user is _SYSTEM else user


@contextmanager
def acting_as(user):
    """Run a block with ``user``'s scope (jobs acting for a user); ``None`` means the system."""
    previous = g.get("_scope_user", None)
    g._scope_user = _SYSTEM if user is None else user
    g.pop("_region_scope", None)
    try:
        yield
    finally:
        g._scope_user = previous
        g.pop("_region_scope", None)


def _principal(user):
    from app.security.manager import principal_of

    return principal_of(user)


def user_region_ids(user):
    from app.extensions import db
    from app.network.models import region_user

    principal = _principal(user)
    if principal is not None:  # read with the user at the start of the request
        return principal.region_ids

    rows = db.session.execute(select(region_user.c.region_id).where(region_user.c.user_id == user.id))
    return frozenset(r[0] for r in rows)


def region_members(region_ids, role_name):
    """Active users holding ``role_name`` assigned to any of ``region_ids``, in one query.

    Returns ``(region_id, user_id, email)`` tuples: who an outlet's region "belongs to" (its
    regional managers, for escalations and certificate reminders).
    """
    from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role

    from app.extensions import db
    from app.network.models import region_user

    region_ids = list(region_ids)
    if not region_ids:
        return []
    rows = db.session.execute(
        select(region_user.c.region_id, User.id, User.email)
        .join(User, User.id == region_user.c.user_id)
        .join(assoc_user_role, assoc_user_role.c.user_id == User.id)
        .join(Role, Role.id == assoc_user_role.c.role_id)
        .where(region_user.c.region_id.in_(region_ids), Role.name == role_name, User.active.is_(True))
    )
    return [tuple(r) for r in rows]


def is_unrestricted(user):
    if user is _SYSTEM:
        return True
    if user is None:
        return False
    principal = _principal(user)
    if principal is not None:
        return bool(principal.role_names & UNRESTRICTED_ROLES)
    return any(role.name in UNRESTRICTED_ROLES for role in user.roles)


def current_region_ids():
    """``None`` when unrestricted, else the frozenset of region ids the actor may touch."""
    user = _acting_user()
    key = "system" if user is _SYSTEM else (None if user is None else user.id)
    cached = g.get("_region_scope") if has_app_context() else None
    if cached is not None and cached[0] == key:
        return cached[1]
    scope = None if is_unrestricted(user) else (frozenset() if user is None else user_region_ids(user))
    if has_app_context():
        g._region_scope = (key, scope)
    return scope


def clause_for(model, region_ids=None):
    """The scope condition for ``model`` (``None`` when nothing restricts it)."""
    builder = getattr(model, "region_scope_clause", None)
    if builder is None:
        return None
    ids = current_region_ids() if region_ids is None else region_ids
    if ids is None:
        return None
    return builder(list(ids))


def is_scoped(model):
    return getattr(model, "region_scope_clause", None) is not None


def in_scope(item):
    """Whether the acting user may touch ``item`` (always true for unscoped models)."""
    from app.extensions import db

    model = type(item)
    clause = clause_for(model)
    if clause is None:
        return True
    pk = model.__mapper__.primary_key[0]
    value = getattr(item, pk.key)
    if value is None:
        return False
    return bool(db.session.query(exists().where(pk == value).where(clause)).scalar())


def ensure_in_scope(item):
    """After a flush: refuse when ``item`` now sits outside the actor's regions."""
    if not in_scope(item):
        raise Forbidden(errors={"region": [outside_message()]})


def outside_message():
    from flask_babel import gettext

    return gettext("This record belongs to a region outside your scope.")


# --- who may be listed: the users and rows a related field offers -----------------------------
# Users carry no region of their own: they belong to the regions assigned to them. A related
# field (a page's ``/related/<column>`` search, the value a form accepts, an API's ``_info``
# choices) offers a restricted user only the users sharing one of their regions; a column may
# declare a narrower rule (a delegation's delegate: only those who may decide).

_RELATED_RULES = {}


def related_rule(model, column):
    """Register ``fn(actor) -> condition or None`` as what the related field ``model.column``
    offers ``actor`` (``None`` for the system). The rule replaces the default scope, so it must
    keep within it."""

    def decorator(fn):
        _RELATED_RULES[(model.__tablename__, column)] = fn
        return fn

    return decorator


def visible_users_clause(user=None):
    """The users the acting user (or ``user``) may see listed: ``None`` (everyone) when
    unrestricted, else the users assigned to one of their regions, themselves included."""
    from flask_appbuilder.security.sqla.models import User

    from app.network.models import region_user

    actor = _acting_user() if user is None else user
    if is_unrestricted(actor):
        return None
    if actor is None:
        return User.id.is_(None)  # nobody
    regions = current_region_ids() if user is None else user_region_ids(actor)
    members = select(region_user.c.user_id).where(region_user.c.region_id.in_(list(regions or ())))
    return User.id.in_(members) | (User.id == actor.id)


def related_clause(model, column, related_model):
    """The condition on ``related_model`` rows the related field ``model.column`` offers the
    acting user (``None``: no restriction): the column's own rule, else users as
    ``visible_users_clause`` and other rows by the region scope."""
    from flask_appbuilder.security.sqla.models import User

    rule = _RELATED_RULES.get((getattr(model, "__tablename__", None), column))
    if rule is not None:
        return rule(acting_user())
    if isinstance(related_model, type) and issubclass(related_model, User):
        return visible_users_clause()
    return clause_for(related_model)
