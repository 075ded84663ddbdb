"""The importable entities, and who may import each: write permission on the entity's resource."""
from flask import current_app
from flask_babel import gettext as _

from app.core.errors import DomainError
from app.reports.imports import certifications, engineers, parts, service_orders, stock
from app.security import permissions as p

MODULES = (engineers, certifications, parts, stock, service_orders)


def _specs():
    return [module.spec() for module in MODULES]


def specs():
    return {s.name: s for s in _specs()}


def spec_for(name):
    spec = specs().get(name)
    if spec is None:
        raise DomainError(_("Unknown kind of import."))
    return spec


def can_import(user, spec):
    """Whether ``user`` holds write permission on the entity's resource."""
    sm = current_app.appbuilder.sm
    for role in user.roles:
        if role.name == sm.auth_role_admin:
            return True
        for pv in role.permissions:
            if pv.permission and pv.view_menu and pv.permission.name == p.WRITE and pv.view_menu.name == spec.resource:
                return True
    return False


def importable(user):
    return [s for s in _specs() if can_import(user, s)]
