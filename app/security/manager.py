"""The app's security manager: FAB's, recording every database login attempt in the audit trail,
with FAB's user, role and group pages speaking the reader's language."""
from flask import g
from flask_appbuilder.security import views as fab_views
from flask_appbuilder.security.sqla.manager import SecurityManager as FabSecurityManager
from flask_babel import gettext, lazy_gettext as _l

from app.security.roles import role_label


def _yes_no(value):
    return gettext("Yes") if value else gettext("No")


def _blank(value):
    return "" if value is None else value


def _roles(value):
    """A user's or group's roles by the names people read ("总部管理员, 审核员")."""
    return ", ".join(role_label(role.name) for role in value or ())


def _groups(value):
    """A user's groups by label (FAB prints the list: "[]")."""
    return ", ".join(group.label or group.name for group in value or ())


# The subclasses keep FAB's class names: permission names and endpoints derive from them.
class UserDBModelView(fab_views.UserDBModelView):
    """FAB shows the active flag as "True"/"False" and empty values as "None"."""

    formatters_columns = {"active": _yes_no, "roles": _roles, "groups": _groups, **{col: _blank for col in (
        "last_login", "login_count", "fail_login_count", "created_on", "changed_on", "created_by", "changed_by")}}


class RoleModelView(fab_views.RoleModelView):
    """FAB labels only the listed columns; the search filters offer users and groups too. Its list
    and page templates (app/templates/appbuilder/general/widgets/roles/) and the form's choices
    show roles and permissions by readable names."""

    label_columns = {**fab_views.RoleModelView.label_columns, "user": _l("User"), "groups": _l("Groups")}

    def _init_forms(self):
        from app.security.permission_labels import permission_text

        super()._init_forms()
        for form in (self.add_form, self.edit_form):
            field = getattr(form, "permissions", None)
            if field is not None:
                field.kwargs["get_label"] = permission_text


class UserGroupModelView(fab_views.UserGroupModelView):
    """FAB gives its group pages no labels at all (they read "Name", "Label", … in English)."""

    label_columns = {"name": _l("Name"), "label": _l("Label"), "description": _l("Description"),
                     "users": _l("User"), "roles": _l("Role")}
    formatters_columns = {"roles": _roles}


class PermissionViewModelView(fab_views.PermissionViewModelView):
    """FAB leaves the roles filter unlabelled ("Role", in English)."""

    label_columns = {**fab_views.PermissionViewModelView.label_columns, "role": _l("Role")}


class SecurityManager(FabSecurityManager):
    userdbmodelview = UserDBModelView
    rolemodelview = RoleModelView
    groupmodelview = UserGroupModelView
    permissionviewmodelview = PermissionViewModelView
    # FAB's "User's Statistics" chart loads Google Charts from Google's servers (unusable offline
    # and in mainland China) and labels its axes in English only: not offered.
    userstatschartview = None

    def auth_user_db(self, username, password):
        """FAB's check (page login and API login alike), then a ``login`` or ``login_failed`` event."""
        from app.audit_trail import web

        user = super().auth_user_db(username, password)
        name = (username or "")[:100]
        if user:
            g._audit_login_user = user
            web._commit_event("login", "ab_user", user.id, {"username": name, "channel": web.channel()}, as_user=user)
        else:
            web._commit_event("login_failed", "ab_user", None, {"username": name, "channel": web.channel()})
        return user
