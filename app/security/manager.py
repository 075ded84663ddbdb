"""The app's security manager: FAB's, recording every database login attempt in the audit trail,
with FAB's user, role and group pages speaking the reader's language, and the sign-in rules:

* rate limits on both logins (``limits``), account lockout after repeated failures, unlocking by
  an admin (the ``unlock`` action on the user pages, ``POST /api/v1/security/users/<pk>/unlock``);
* sessions and JWTs end when the user's password changes, the user is deactivated or logs out
  (``credentials``: the session and every token carry the credential version);
* the password policy on every path that sets a password (``passwords``).
"""
from flask import flash, g, has_request_context, redirect, request, session
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
from flask_appbuilder.security import views as fab_views
from flask_appbuilder.security.decorators import has_access, no_cache
from flask_appbuilder.security.forms import DynamicForm, LoginForm_db
from flask_appbuilder.security.sqla.manager import SecurityManager as FabSecurityManager
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.views import expose
from flask_babel import gettext, lazy_gettext as _l
from flask_login import login_user
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo

from app.security import api as api_module, api_errors, credentials, limits, passwords
from app.core.views import SafeModelViewMixin
from app.core.widgets import PageListWidget, PageShowWidget
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


PASSWORD_HELP = _l("At least the shortest length the settings allow (10 characters by default); "
                   "must not contain the username or be a common password.")


def _reset_target_username(form):
    """Whose password a reset-password page sets: one's own, or the user ``?pk=`` names."""
    from flask import current_app

    sm = current_app.appbuilder.sm
    if (request.endpoint or "").startswith("ResetMyPasswordView"):
        return getattr(g.user, "username", None)
    pk = request.args.get("pk")
    user = sm.get_user_by_id(int(pk)) if pk and str(pk).isdigit() else None
    return user.username if user is not None else None


class ResetPasswordForm(DynamicForm):
    password = PasswordField(_l("Password"), description=PASSWORD_HELP,
                             validators=[DataRequired(), passwords.PolicyValidator(_reset_target_username)],
                             widget=BS3PasswordFieldWidget())
    conf_password = PasswordField(_l("Confirm Password"), description=_l("Please rewrite the password to confirm"),
                                  validators=[EqualTo("password", message=_l("Passwords must match"))],
                                  widget=BS3PasswordFieldWidget())


class ResetPasswordView(fab_views.ResetPasswordView):
    """An admin sets a user's password: the policy applies."""

    form = ResetPasswordForm


class ResetMyPasswordView(fab_views.ResetMyPasswordView):
    """A user sets their own password: the policy applies; this session goes on (the others end)."""

    form = ResetPasswordForm

    def form_post(self, form):
        super().form_post(form)
        session[credentials.SESSION_KEY] = credentials.current_version(g.user.id)


class AuthDBView(fab_views.AuthDBView):
    """FAB's login page, saying so when the account is locked."""

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            if not user:
                until = g.get("_login_locked_until")
                message = api_module.locked_message(until) if until else as_unicode(self.invalid_login_message)
                flash(message, "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            login_user(user, remember=False)
            return redirect(next_url)
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder)


class NamedButtonsMixin:
    """FAB's security pages with the buttons of the app's own pages (``pages/record_buttons.html``):
    an add button named after the record, and 编辑/删除 on a record's page for those who may."""

    singular = None

    def _get_list_widget(self, filters, **kwargs):
        if self.singular is not None:
            kwargs.setdefault("add_label", gettext("Add %(name)s", name=self.singular))
        return super()._get_list_widget(filters, **kwargs)

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        from flask import url_for

        widgets = super()._get_show_widget(pk, item, widgets=widgets, actions=actions, show_fieldsets=show_fieldsets)
        for method in ("edit", "delete"):
            allowed = self.appbuilder.sm.has_access("can_" + self.get_method_permission(method),
                                                    self.class_permission_name)
            widgets["show"].template_args[f"{method}_url"] = (
                url_for(f"{self.endpoint}.{method}", pk=pk) if allowed else None)
        return widgets


# The subclasses keep FAB's class names: permission names and endpoints derive from them.
class UserDBModelView(NamedButtonsMixin, SafeModelViewMixin, fab_views.UserDBModelView):
    """FAB shows the active flag as "True"/"False" and empty values as "None"."""

    singular = _l("user")
    list_widget = PageListWidget
    show_widget = PageShowWidget

    formatters_columns = {"active": _yes_no, "roles": _roles, "groups": _groups, **{col: _blank for col in (
        "last_login", "login_count", "fail_login_count", "created_on", "changed_on", "created_by", "changed_by")}}

    add_form_extra_fields = {
        "password": PasswordField(
            _l("Password"), description=PASSWORD_HELP,
            validators=[DataRequired(), passwords.PolicyValidator(lambda form: form.username.data)],
            widget=BS3PasswordFieldWidget()),
        "conf_password": fab_views.UserDBModelView.add_form_extra_fields["conf_password"],
    }

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """FAB's user page, offering the unlock action beside the password reset."""
        from flask import abort

        actions = {name: self.actions.get(name) for name in ("resetpasswords", "unlock") if self.actions.get(name)}
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        widgets = self._get_show_widget(pk, item, actions=actions)
        self.update_redirect()
        return self.render_template(self.show_template, pk=pk, title=self.show_title, widgets=widgets,
                                    appbuilder=self.appbuilder, related_views=self._related_views)

    @action("unlock", _l("Unlock sign-in"), _l("Unlock sign-in for the selected users?"), "fa-unlock")
    def unlock(self, items):
        from app.extensions import db

        items = items if isinstance(items, list) else [items]
        unlocked = [item.username for item in items if item is not None and credentials.unlock(item)]
        db.session.commit()
        if unlocked:
            flash(gettext("Unlocked: %(names)s.", names=", ".join(unlocked)), "success")
        else:
            flash(gettext("None of the selected users was locked."), "info")
        self.update_redirect()
        return redirect(self.get_redirect())


class RoleModelView(NamedButtonsMixin, SafeModelViewMixin, fab_views.RoleModelView):
    """FAB labels only the listed columns; the search filters offer users and groups too. Its list
    and page templates (app/templates/appbuilder/general/widgets/roles/) and the form's choices
    show roles and permissions by readable names."""

    label_columns = {**fab_views.RoleModelView.label_columns, "user": _l("User"), "groups": _l("Groups")}
    singular = _l("role")

    def _init_forms(self):
        from app.security.permission_labels import permission_text

        super()._init_forms()
        for form in (self.add_form, self.edit_form):
            field = getattr(form, "permissions", None)
            if field is not None:
                field.kwargs["get_label"] = permission_text

    @action("copyrole", _l("Copy Role"), _l("Copy the selected roles?"), icon="fa-copy", single=False)
    def copy_role(self, items):
        """A new role with the same permissions, named "<name> copy" ("<name> copy 2", … when taken).

        FAB's own loops over its argument, which is one role when the action comes from a role's
        page (a 500), and silently copies nothing when the name is taken."""
        from app.extensions import db

        items = [item for item in (items if isinstance(items, list) else [items]) if item is not None]
        taken = {name for (name,) in db.session.query(self.datamodel.obj.name)}
        copied = []
        for item in items:
            name, n = f"{item.name} copy", 1
            while name in taken:
                n += 1
                name = f"{item.name} copy {n}"
            role = self.datamodel.obj(name=name, permissions=list(item.permissions))
            if not self.datamodel.add(role):
                db.session.rollback()
                flash(gettext("The role %(name)s could not be copied.", name=role_label(item.name)), "danger")
                continue
            taken.add(name)
            copied.append(name)
        if copied:
            flash(gettext("Copied: %(names)s.", names=", ".join(copied)), "success")
        self.update_redirect()
        return redirect(self.get_redirect())


class UserGroupModelView(NamedButtonsMixin, SafeModelViewMixin, fab_views.UserGroupModelView):
    """FAB gives its group pages no labels at all (they read "Name", "Label", … in English)."""

    label_columns = {"name": _l("Name"), "label": _l("Label"), "description": _l("Description"),
                     "users": _l("User"), "roles": _l("Role")}
    singular = _l("group")
    list_widget = PageListWidget
    show_widget = PageShowWidget
    formatters_columns = {"roles": _roles}


class PermissionViewModelView(SafeModelViewMixin, fab_views.PermissionViewModelView):
    """FAB leaves the roles filter unlabelled ("Role", in English)."""

    label_columns = {**fab_views.PermissionViewModelView.label_columns, "role": _l("Role")}


class PermissionModelView(SafeModelViewMixin, fab_views.PermissionModelView):
    """FAB's page, with the app's safe download, forms and actions."""


class ViewMenuModelView(SafeModelViewMixin, fab_views.ViewMenuModelView):
    """FAB's page, with the app's safe download, forms and actions."""


class SecurityManager(FabSecurityManager):
    userdbmodelview = UserDBModelView
    rolemodelview = RoleModelView
    groupmodelview = UserGroupModelView
    permissionviewmodelview = PermissionViewModelView
    permissionmodelview = PermissionModelView
    viewmenumodelview = ViewMenuModelView
    authdbview = AuthDBView
    resetpasswordview = ResetPasswordView
    resetmypasswordview = ResetMyPasswordView
    security_api = api_module.SecurityApi
    user_api = api_module.UserApi
    permission_api, role_api, user_api, view_menu_api, permission_view_menu_api, group_api = api_errors.apis(user_api)
    # FAB's "User's Statistics" chart loads Google Charts from Google's servers (unusable offline
    # and in mainland China) and labels its axes in English only: not offered.
    userstatschartview = None

    # --- rate limits ---------------------------------------------------------------------------
    def create_limiter(self, app):
        return limits.create(app)

    def register_views(self):
        super().register_views()
        limits.attach(self)

    # --- sessions and tokens carry the credential version -------------------------------------
    def create_login_manager(self, app):
        from flask_login import user_logged_in

        lm = super().create_login_manager(app)
        user_logged_in.connect(_remember_version, weak=False)  # any app: FAB passes a proxy here
        return lm

    def create_jwt_manager(self, app):
        jwt = super().create_jwt_manager(app)

        @jwt.additional_claims_loader
        def _version_claim(identity):
            try:
                return {credentials.CLAIM: credentials.current_version(int(identity))}
            except (TypeError, ValueError):
                return {}

        @jwt.token_in_blocklist_loader
        def _revoked(header, payload):
            try:
                user_id = int(payload["sub"])
            except (KeyError, TypeError, ValueError):
                return True
            return payload.get(credentials.CLAIM) != credentials.current_version(user_id)

        return jwt

    def load_user(self, pk):
        """The session's user, unless the session predates the user's last credential change."""
        user = super().load_user(pk)
        if user is None or not has_request_context():
            return user
        if session.get(credentials.SESSION_KEY) != credentials.current_version(user.id):
            return None
        return user

    def load_user_jwt(self, _jwt_header, jwt_data):
        """A token's user (the token itself was checked against the credential version)."""
        user = self.get_user_by_id(int(jwt_data["sub"]))
        if user and user.is_active:
            g.user = user
            return user
        return None

    def on_user_logout(self, user):
        super().on_user_logout(user)
        credentials.logged_out(user.id)

    # --- the password policy on users made in code (seeds, CLI) ---------------------------------
    def add_user(self, username, first_name, last_name, email, role=None, password="", hashed_password="",
                 groups=None, commit=True):
        if password and not hashed_password:
            passwords.check(password, username)
        return super().add_user(username, first_name, last_name, email, role=role, password=password,
                                hashed_password=hashed_password, groups=groups, commit=commit)

    # --- logins --------------------------------------------------------------------------------
    def _login_target(self, username):
        user = self.find_user(username=username)
        if user is None:
            user = self.find_user(email=username)
        return user

    def auth_user_db(self, username, password):
        """FAB's check (page login and API login alike) behind the lockout, then a ``login`` or
        ``login_failed`` event; a failure that reaches the limit locks the account
        (``account_locked``)."""
        from app.audit_trail import web

        name = (username or "")[:100]
        target = self._login_target(username) if username else None
        if target is not None and target.is_active:
            until = credentials.locked_until(target.id)
            if until is not None:
                g._login_failed = True
                g._login_locked_until = until
                web._commit_event("login_failed", "ab_user", None,
                                  {"username": name, "channel": web.channel(), "reason": "locked"})
                return None
        user = super().auth_user_db(username, password)
        if user:
            g._audit_login_user = user
            credentials.login_succeeded(user.id)
            web._commit_event("login", "ab_user", user.id, {"username": name, "channel": web.channel()}, as_user=user)
        else:
            if username:
                g._login_failed = True
            web._commit_event("login_failed", "ab_user", None, {"username": name, "channel": web.channel()})
            if target is not None and target.is_active:
                until = credentials.login_failed(target)
                if until is not None:
                    g._login_locked_until = until
        return user


def _remember_version(sender, user=None, **extra):
    """At a page login: the session carries the user's credential version."""
    if user is not None:
        session[credentials.SESSION_KEY] = credentials.current_version(user.id)
