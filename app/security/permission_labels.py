"""Permissions as people read them: "服务网点 · 读取" rather than FAB's "can read on Outlet".

FAB names a permission by an action (``can_read``, ``menu_access``…) on a resource (a view's
``class_permission_name``, a menu entry, or one of FAB's own views). The role pages and the role
form show each pair through ``permission_text``; the identifiers themselves are unchanged.
"""
from flask import current_app
from flask_babel import gettext, lazy_gettext as _l

from app.security import permissions as p

ACTIONS = {
    p.READ: _l("read"), p.WRITE: _l("write"), p.DELETE: _l("delete"), p.MENU: _l("menu entry"),
    p.APPROVE: _l("approve"), p.DECIDE: _l("decide"), p.REVEAL: _l("reveal"),
    "can_list": _l("list"), "can_show": _l("view"), "can_add": _l("add"), "can_edit": _l("edit"),
    "can_download": _l("download"), "can_get": _l("read (API)"), "can_post": _l("create (API)"),
    "can_put": _l("change (API)"), "can_info": _l("describe (API)"),
    "can_this_form_get": _l("open the form"), "can_this_form_post": _l("submit the form"),
    "can_userinfo": _l("own profile"), "userinfoedit": _l("edit own profile"),
    "resetmypassword": _l("change own password"), "resetpasswords": _l("reset passwords"),
    "unlock": _l("unlock sign-in"),
    "copyrole": _l("copy roles"), "can_add_role_permissions": _l("add permissions to roles"),
    "can_list_role_permissions": _l("list permissions of roles"),
    "can_update_role_groups": _l("change groups of roles"), "can_update_role_users": _l("change users of roles"),
}

# Resources that are not one of the product's lists: FAB's own views and APIs, and our pages.
RESOURCES = {
    p.CUSTOMER_PHONE: _l("Customer phone numbers"), p.MY_JOBS: _l("My jobs"), p.QUEUE_HEALTH: _l("Queue health"),
    p.IMPORT: _l("Import data"), p.DASHBOARD: _l("Dashboard"),
    "UserDBModelView": _l("List Users"), "RoleModelView": _l("List Roles"), "UserGroupModelView": _l("List Groups"),
    "PermissionModelView": _l("Base Permissions"), "ViewMenuModelView": _l("Views/Menus"),
    "PermissionViewModelView": _l("Permission on Views/Menus"), "ResetPasswordView": _l("Reset Password"),
    "ResetMyPasswordView": _l("Reset my password"), "UserInfoEditView": _l("Edit User"),
    "SwaggerView": _l("API documentation"), "OpenApi": _l("API specification"), "MenuApi": _l("Menu (API)"),
    "User": _l("Users (API)"), "Role": _l("Roles (API)"), "Group": _l("Groups (API)"),
    "Permission": _l("Permissions (API)"), "ViewMenu": _l("Views and menus (API)"),
    "PermissionViewMenu": _l("Permissions on views and menus (API)"),
}


def _titles():
    """``{resource: lazy label}``: the product's lists by the title they declare, and every menu
    entry by its label."""
    cache = current_app.extensions.setdefault("permission_labels", {})
    if "titles" not in cache:
        titles = {}
        appbuilder = current_app.appbuilder
        for view in appbuilder.baseviews:
            name = getattr(view, "class_permission_name", None)
            title = type(view).__dict__.get("list_title") or getattr(type(view), "list_title", None)
            if name and title and name not in titles:
                titles[name] = title
        stack = list(appbuilder.menu.get_list())
        while stack:
            item = stack.pop()
            stack.extend(item.childs or [])
            if item.name and item.label:
                titles.setdefault(item.name, item.label)
        cache["titles"] = titles
    return cache["titles"]


def known_resource_label(name):
    """The reader's name for a resource, ``None`` when the app has none."""
    if name in RESOURCES:
        return str(RESOURCES[name])
    title = _titles().get(name)
    return str(title) if title is not None else None


def resource_label(name):
    label = known_resource_label(name)
    return label if label is not None else gettext(name)


def _views_by_class():
    cache = current_app.extensions.setdefault("permission_labels", {})
    if "views" not in cache:
        cache["views"] = {type(view).__name__: view for view in current_app.appbuilder.baseviews}
    return cache["views"]


def view_label(name):
    """A page or API as people read it. Flask-AppBuilder names the one that refused a request by
    its class for pages ("OutletView") and by its resource for the API ("Outlet"): both read as
    the resource's label — the title of its list or its menu entry ("服务网点") — else the page's
    own name for one record."""
    view = _views_by_class().get(name)
    label = known_resource_label(getattr(view, "class_permission_name", None) or name)
    if label is None and getattr(view, "singular", None) is not None:
        label = str(view.singular)
    return label if label is not None else gettext("another page or API")


def action_label(name):
    return str(ACTIONS[name]) if name in ACTIONS else name


def permission_text(pv):
    """One permission on a resource: "服务网点 · 读取"."""
    return f"{resource_label(pv.view_menu.name)} · {action_label(pv.permission.name)}"


def permissions_text(pvs):
    return "; ".join(sorted(permission_text(pv) for pv in pvs or ()))
