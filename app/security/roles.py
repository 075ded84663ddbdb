"""Roles defined as data: tiers of (permission, resource) pairs stacked on each other.

``flask --app wsgi roles sync`` creates and updates these roles idempotently: each role ends up
with exactly the pairs listed here (FAB's ``Admin`` keeps everything). Region scope is separate
(``core.scope``): it narrows the rows, these decide the actions.
"""
from flask_babel import lazy_gettext as _l

from app.security import permissions as p

HQ_ADMIN = "HQ Admin"
REGIONAL_MANAGER = "Regional Manager"
SERVICE_AGENT = "Service Agent"
AUDITOR = "Auditor"
ADMIN = "Admin"

BUSINESS_ROLES = (HQ_ADMIN, REGIONAL_MANAGER, SERVICE_AGENT, AUDITOR)
# Role names are identifiers (permissions and the API use them); people read these labels.
ROLE_LABELS = {
    ADMIN: _l("System administrator"),
    HQ_ADMIN: _l("HQ administrator"),
    REGIONAL_MANAGER: _l("Regional manager"),
    SERVICE_AGENT: _l("Service agent"),
    AUDITOR: _l("Auditor"),
}


def role_label(name):
    """The reader's name for a role (its identifier when it has none)."""
    return str(ROLE_LABELS.get(name, name))


def _read(*resources):
    return {(p.READ, r) for r in resources}


def _write(*resources):
    return {(p.WRITE, r) for r in resources}


def _delete(*resources):
    return {(p.DELETE, r) for r in resources}


def _menus(*names):
    return {(p.MENU, n) for n in names}


# Every signed-in user: own profile, password, language, the menu API, the API's OpenAPI spec
# and its Swagger page (both need a login: anonymous requests are refused by ``security.guard``).
BASE = {
    ("can_get", "OpenApi"),
    ("can_show", "SwaggerView"),
    ("can_this_form_get", "UserInfoEditView"),
    ("can_this_form_post", "UserInfoEditView"),
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
    ("can_get", "MenuApi"),
}

READ_ALL = (
    BASE
    | _read(*p.REFERENCE_RESOURCES, *p.NETWORK_RESOURCES, *p.COMPLAINT_RESOURCES)
    | _read(p.MY_JOBS) | _menus("My jobs")  # one's own imports and exports
    | _read(p.DASHBOARD)
    | _menus(p.MENU_NETWORK, p.MENU_ENGINEERS, p.MENU_PARTS, p.MENU_ORDERS, p.MENU_COMPLAINTS)
    | _menus("Regions", "Outlets", "Product categories", "Engineers list", "Certifications",
             "Certification types", "Training records", "Parts list", "Stock levels", "Service orders list",
             "SLA policies", "Complaints list", "Escalations", "Approval delegations", "Business calendars",
             "Calendar days")
)

# Deciding escalations: who may decide which one (region, level, delegation, not one's own
# request) is the complaint services' rule; this only opens the desk and the endpoints.
DECIDERS = {(p.DECIDE, p.ESCALATION)} | _menus("Escalation desk")

# Qualification audits: managers follow their outlets' audits; auditors and HQ admins run them
# (open, answer, upload evidence, submit); HQ admins approve or return them (not their own — a
# rule of the qualification services) and edit the checklist template.
AUDIT_READERS = _read(p.QUALIFICATION_AUDIT) | _menus(p.MENU_QUALIFICATION, "Qualification audits")
AUDIT_RUNNERS = (AUDIT_READERS | _write(p.QUALIFICATION_AUDIT) | _read(p.AUDIT_TEMPLATE)
                 | _menus("Audit workbench", "Audit checklist template"))
AUDIT_APPROVERS = ({(p.APPROVE, p.QUALIFICATION_AUDIT)} | _delete(p.QUALIFICATION_AUDIT)
                   | _write(p.AUDIT_TEMPLATE) | _delete(p.AUDIT_TEMPLATE) | _menus("Qualification approvals"))

# The audit trail (change history, security events, exports, chain verification): read-only.
AUDIT_TRAIL_READERS = _read(p.AUDIT_EVENT) | _menus(p.MENU_AUDIT, "Audit events")

# Customers' phone numbers (PIPL): those who call customers or run the network see them; those
# who supervise or audit see them masked and may reveal one (logged). Admin holds every
# permission (``sync``), so it sees them too.
PHONE_READERS = {(p.READ, p.CUSTOMER_PHONE)}
PHONE_REVEALERS = {(p.REVEAL, p.CUSTOMER_PHONE)}

# Excel imports: the pages; which entities a user may import follows their write permissions.
IMPORTERS = _read(p.IMPORT) | _menus(p.MENU_SYSTEM, "Import data")

ROLES = {
    HQ_ADMIN: (
        READ_ALL
        | DECIDERS
        | _read(p.SETTING)
        | _write(*(r for r in p.BUSINESS_RESOURCES if r != p.ESCALATION))  # escalations are decided
        | _delete(*p.REFERENCE_RESOURCES, *p.NETWORK_RESOURCES, p.ESCALATION_DELEGATION)
        | _menus(p.MENU_SYSTEM, "Settings")
        | AUDIT_RUNNERS
        | AUDIT_APPROVERS
        | AUDIT_TRAIL_READERS
        | PHONE_READERS
        | IMPORTERS
    ),
    REGIONAL_MANAGER: (READ_ALL | DECIDERS | _write(p.ESCALATION_DELEGATION) | _delete(p.ESCALATION_DELEGATION)
                       | AUDIT_READERS | PHONE_REVEALERS),
    SERVICE_AGENT: READ_ALL | _write(p.SERVICE_ORDER, p.COMPLAINT) | PHONE_READERS | IMPORTERS,
    AUDITOR: (READ_ALL | _read(p.SETTING) | _menus(p.MENU_SYSTEM, "Settings") | AUDIT_RUNNERS
              | AUDIT_TRAIL_READERS | PHONE_REVEALERS),
}


def sync_all(appbuilder, log=print):
    """The deploy step: register every view's permissions, then make the roles as declared."""
    sm = appbuilder.sm
    sm.find_role(sm.auth_role_public) or sm.add_role(sm.auth_role_public)
    sm.find_role(ADMIN) or sm.add_role(ADMIN)
    appbuilder.add_permissions(update_perms=True)
    return sync(sm, log=log)


def sync(sm, log=print):
    """Create missing permissions and roles; make each role's permissions exactly as declared."""
    from app.extensions import db

    changed = 0
    for role_name, pairs in ROLES.items():
        role = sm.find_role(role_name) or sm.add_role(role_name)
        wanted = []
        for action, resource in sorted(pairs):
            pv = sm.find_permission_view_menu(action, resource)
            if pv is None:
                pv = sm.add_permission_view_menu(action, resource)
            wanted.append(pv)
        current = {pv.id for pv in role.permissions}
        target = {pv.id for pv in wanted}
        if current != target:
            role.permissions = wanted
            changed += 1
            log(f"role {role_name}: {len(target - current)} added, {len(current - target)} removed")
    from flask_appbuilder.security.sqla.models import PermissionView

    sm.find_role(sm.auth_role_public) or sm.add_role(sm.auth_role_public)
    admin = sm.find_role(ADMIN) or sm.add_role(ADMIN)

    everything = db.session.query(PermissionView).all()
    if {pv.id for pv in admin.permissions} != {pv.id for pv in everything}:
        admin.permissions = everything
        changed += 1
        log(f"role {ADMIN}: all {len(everything)} permissions")
    db.session.commit()
    return changed
