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
            user, principal = load_principal(user_id)  # the token's user, read once per request
            if user is None:
                return True
            return payload.get(credentials.CLAIM) != principal.credential_version

        return jwt

    def load_user(self, pk):
        """The session's user, unless the session predates the user's last credential change
        (read with the user's roles, permissions and regions: ``load_principal``)."""
        if not has_request_context():
            return super().load_user(pk)
        try:
            user, principal = load_principal(int(pk))
        except (TypeError, ValueError):
            return None
        if user is None or not user.is_active:
            return None
        if session.get(credentials.SESSION_KEY) != principal.credential_version:
            return None
        return user

    def load_user_jwt(self, _jwt_header, jwt_data):
        """A token's user (the token itself was checked against the credential version)."""
        user, _principal = load_principal(int(jwt_data["sub"]))
        if user and user.is_active:
            g.user = user
            return user
        return None

    def on_user_logout(self, user):
        super().on_user_logout(user)
        credentials.logged_out(user.id)

    # --- permission checks from the request's principal (one statement per request) -----------
    def _principal_builtin(self, principal, permission_name, view_name):
        return any(self._has_access_builtin_roles(type("BuiltinRole", (), {"name": name})(),
                                                  permission_name, view_name)
                   for name in principal.role_names if name in self.builtin_roles)

    def _has_view_access(self, user, permission_name, view_name):
        principal = principal_of(user)
        if principal is None:
            return super()._has_view_access(user, permission_name, view_name)
        if self.builtin_roles and self._principal_builtin(principal, permission_name, view_name):
            return True
        return _holds(principal, permission_name, view_name)

    def is_item_public(self, permission_name, view_name):
        cached = g.get("_principal") if has_request_context() else None
        if cached is None:
            return super().is_item_public(permission_name, view_name)
        return _holds(cached[1], permission_name, view_name, public=True)

    def _get_user_permission_view_menus(self, user, permission_name, view_menus_name):
        principal = principal_of(user)
        if principal is None or self.builtin_roles:
            return super()._get_user_permission_view_menus(user, permission_name, view_menus_name)
        ids = _principal_permission_ids(principal)
        by_id = catalogue().by_id
        held = {by_id[pid][1] for pid in ids if pid in by_id and by_id[pid][0] == permission_name}
        return held if view_menus_name is None else held & set(view_menus_name)

    def exist_permission_on_roles(self, view_name, permission_name, role_ids):
        cached = g.get("_principal") if has_request_context() else None
        if cached is not None and not self.builtin_roles and set(role_ids) == set(cached[1].role_ids):
            return _holds(cached[1], permission_name, view_name)
        return super().exist_permission_on_roles(view_name, permission_name, role_ids)

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


# --- who the request's user is, in one statement -------------------------------------------------
# Every request needs the signed-in user, their credential version, their roles (direct and through
# groups), the permissions of those roles, the Public role's permissions and their regions. FAB
# reads them in five to eight statements per request; here ``load_principal`` reads them all in
# ONE (scalar subqueries aggregated to text) and keeps them on ``g._principal`` for the request.
# Nothing about a user is cached across requests, so nothing can be stale: a permission removed
# from a role, a role taken from a user or a region reassigned counts from the very next request,
# in every process. The only per-process cache is the catalogue of permission pairs
# (``ab_permission_view`` id → (permission, view)), which FAB only ever inserts into or deletes
# from: it is reloaded whenever a user holds an id it does not know.

class Principal:
    __slots__ = ("user_id", "credential_version", "roles", "group_roles", "role_ids", "role_names",
                 "permission_ids", "public_permission_ids", "region_ids", "groups")

    def __init__(self, user_id, credential_version, roles, group_roles, permission_ids, public_permission_ids,
                 region_ids, groups):
        self.user_id = user_id
        self.credential_version = credential_version or 0
        self.roles = roles  # [(id, name)] held directly
        self.group_roles = group_roles  # [(id, name)] held through groups
        self.role_ids = frozenset(rid for rid, _ in roles + group_roles)
        self.role_names = frozenset(name for _, name in roles + group_roles)
        self.permission_ids = permission_ids
        self.public_permission_ids = public_permission_ids
        self.region_ids = region_ids
        self.groups = groups


def _ids(text):
    return frozenset(int(v) for v in (text or "").split(",") if v)


def _pairs(text):
    out = []
    for part in (text or "").split("\n"):
        if part:
            rid, _, name = part.partition(":")
            out.append((int(rid), name))
    return out


def _principal_statement(user_id):
    from flask import current_app
    from flask_appbuilder.security.sqla.models import (
        Role, User, assoc_group_role, assoc_permissionview_role as pvr, assoc_user_group, assoc_user_role,
    )
    from sqlalchemy import String, cast, func, select, union

    from app.network.models import region_user
    from app.security.models import UserCredential

    def agg(expr, sep):
        return func.aggregate_strings(expr, sep)

    direct = select(assoc_user_role.c.role_id).where(assoc_user_role.c.user_id == User.id).correlate(User)
    via_groups = (select(assoc_group_role.c.role_id)
                  .join(assoc_user_group, assoc_user_group.c.group_id == assoc_group_role.c.group_id)
                  .where(assoc_user_group.c.user_id == User.id).correlate(User))
    role_text = cast(Role.id, String) + ":" + Role.name
    public_name = current_app.config.get("AUTH_ROLE_PUBLIC", "Public")
    return select(
        User,
        select(UserCredential.version).where(UserCredential.user_id == User.id).scalar_subquery().label("cv"),
        select(agg(role_text, "\n")).where(Role.id.in_(direct)).scalar_subquery().label("roles"),
        select(agg(role_text, "\n")).where(Role.id.in_(via_groups)).scalar_subquery().label("group_roles"),
        select(agg(cast(pvr.c.permission_view_id, String), ","))
        .where(pvr.c.role_id.in_(union(direct, via_groups))).scalar_subquery().label("pvs"),
        select(agg(cast(pvr.c.permission_view_id, String), ","))
        .where(pvr.c.role_id.in_(select(Role.id).where(Role.name == public_name)))
        .scalar_subquery().label("public_pvs"),
        select(agg(cast(region_user.c.region_id, String), ","))
        .where(region_user.c.user_id == User.id).scalar_subquery().label("regions"),
        select(func.count()).select_from(assoc_user_group)
        .where(assoc_user_group.c.user_id == User.id).scalar_subquery().label("groups"),
    ).where(User.id == user_id)


def _attach_roles(session, user, roles):
    """Give ``user.roles`` the roles just read, without another statement."""
    from flask_appbuilder.security.sqla.models import Role
    from sqlalchemy.orm import make_transient_to_detached
    from sqlalchemy.orm.attributes import set_committed_value
    from sqlalchemy.orm.util import identity_key

    attached = []
    for rid, name in roles:
        role = session.identity_map.get(identity_key(Role, rid))
        if role is None:
            role = Role()
            role.id, role.name = rid, name
            make_transient_to_detached(role)
            session.add(role)
        attached.append(role)
    set_committed_value(user, "roles", attached)


def load_principal(user_id):
    """``(user, principal)`` for ``user_id`` in one statement (``(None, None)``: no such user); the
    principal is kept on ``g`` for the rest of the request."""
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy.orm.attributes import set_committed_value

    from app.extensions import db

    cached = g.get("_principal")
    if cached is not None and cached[1].user_id == user_id:
        return cached
    row = db.session.execute(_principal_statement(user_id)).first()
    if row is None:
        return None, None
    user = row[0]
    principal = Principal(user.id, row.cv, _pairs(row.roles), _pairs(row.group_roles), _ids(row.pvs),
                          _ids(row.public_pvs), _ids(row.regions), row.groups or 0)
    state = sa_inspect(user)
    if "roles" not in state.dict:
        _attach_roles(db.session, user, principal.roles)
    if principal.groups == 0 and "groups" not in state.dict:
        set_committed_value(user, "groups", [])
    g._principal = (user, principal)
    return user, principal


def principal_of(user):
    """The request's principal when it is ``user``'s (else ``None``)."""
    if user is None or not has_request_context():
        return None
    cached = g.get("_principal")
    if cached is None:
        return None
    try:
        uid = user.id
    except Exception:
        return None
    return cached[1] if cached[1].user_id == uid else None


class _PermissionCatalogue:
    """``ab_permission_view`` ids ↔ (permission name, view name), per process."""

    def __init__(self):
        self.by_pair, self.by_id = {}, {}

    def load(self):
        from flask_appbuilder.security.sqla.models import Permission, PermissionView, ViewMenu
        from sqlalchemy import select

        from app.extensions import db

        rows = db.session.execute(
            select(PermissionView.id, Permission.name, ViewMenu.name)
            .join(Permission, Permission.id == PermissionView.permission_id)
            .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)).all()
        by_pair = {(perm, view): pid for pid, perm, view in rows}
        self.by_pair, self.by_id = by_pair, {pid: pair for pair, pid in by_pair.items()}

    def ensure(self, ids):
        if not ids <= self.by_id.keys():
            self.load()

    def pair_id(self, permission_name, view_name):
        return self.by_pair.get((permission_name, view_name))


def catalogue():
    """The app's catalogue (one per app: a process may serve apps on different databases)."""
    from flask import current_app

    return current_app.extensions.setdefault("permission_catalogue", _PermissionCatalogue())


def _principal_permission_ids(principal, public=False):
    """The principal's permission ids, the catalogue made to know each of them first."""
    ids = principal.public_permission_ids if public else principal.permission_ids
    catalogue().ensure(ids)
    return ids


def _holds(principal, permission_name, view_name, public=False):
    ids = _principal_permission_ids(principal, public=public)  # before the lookup: it may load the catalogue
    return catalogue().pair_id(permission_name, view_name) in ids
