"""Personal data (PIPL): customers' phone numbers are masked for roles that do not need them.

The policy is data (``security/roles.py``), on the resource ``CustomerPhone``:

* ``can_read`` — sees full numbers everywhere (Service Agent, HQ Admin; Admin holds every
  permission, so it sees them too);
* ``can_reveal`` — sees masked numbers (``138****1234``) and may reveal one record's number at a
  time, each reveal written to the audit trail (Regional Manager, Auditor);
* neither — masked, no reveal.

One function masks (``mask_phone``), one check decides (``may_see_phones``), one service reveals
(``reveal_phone``, used by the page and the API). The mixins below apply them to the generated
pages and REST resources of every model carrying a ``customer_phone``: list and show payloads,
show pages, search (a masked user's phone search only ever matches the whole number, so
``contains``/``starts with`` cannot be used to read a number digit by digit), and edit forms
(a masked number sent back unchanged keeps the stored one).
"""
from flask import abort, current_app, flash, g, redirect, url_for
from flask_appbuilder import expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_appbuilder.models.sqla import filters as fab_filters
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import inspect as sa_inspect

from app.core import scope
from app.core.errors import DomainError, Forbidden, NotFound
from app.security import permissions as p

PHONE = "customer_phone"
"""The column holding a customer's phone number on every model that has one."""

PERSONAL_FIELDS = {"complaint": (PHONE,), "service_order": (PHONE,)}
"""``{table: columns}`` of personal data: for anything else that shows stored values (exports,
change history) and must mask them for users who may not see them."""

REVEAL_ACTION = "reveal_phone"

STARS = "****"


def mask_phone(value):
    """``13812341234`` → ``138****1234``.

    Keeps the first 3 and (at most) the last 4 characters with ``****`` in between, hiding at
    least 4 characters: an 11-digit mobile hides its middle 4 and a longer value (a landline with
    its area code, ``021-12345678`` → ``021****5678``) hides its length too; 8 to 10 characters
    keep fewer at the end (``12345678`` → ``123****8``); under 8 characters everything is starred.
    ``None`` and ``""`` stay as they are.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return ""
    if len(text) < 8:
        return "*" * max(len(text), len(STARS))
    tail = min(4, len(text) - 3 - len(STARS))
    return text[:3] + STARS + text[len(text) - tail:]


# --- who may see what ----------------------------------------------------------------------------

def _has(user, action):
    cache = g.setdefault("_personal_access", {})
    key = (user.id, action)
    if key not in cache:
        sm = current_app.appbuilder.sm
        role_ids = [role.id for role in user.roles]
        cache[key] = bool(role_ids) and bool(sm.exist_permission_on_roles(p.CUSTOMER_PHONE, action, role_ids))
    return cache[key]


def _allowed(user, actions):
    if user is None:
        user = scope._acting_user()  # the system (jobs, CLI) acts with full data
        if user is scope._SYSTEM:
            return True
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    return any(_has(user, action) for action in actions)


def may_see_phones(user=None):
    """Whether the acting user (or ``user``) sees full phone numbers: ``can_read`` on
    ``CustomerPhone``. The system (jobs, CLI) does; an anonymous request does not."""
    return _allowed(user, (p.READ,))


def may_reveal_phones(user=None):
    """Whether the acting user may reveal one record's full number (logged): ``can_reveal`` or
    ``can_read`` on ``CustomerPhone``."""
    return _allowed(user, (p.READ, p.REVEAL))


def shown_phone(value, user=None):
    """The number as this user may see it."""
    return value if may_see_phones(user) else mask_phone(value)


def mask_changes(entity, changes, user=None):
    """``{field: [before, after]}`` (or ``{field: value}``) with personal fields masked unless the
    user may see them — for the change history and exports of ``entity`` (a table name)."""
    fields = PERSONAL_FIELDS.get(entity, ())
    if not fields or not isinstance(changes, dict) or may_see_phones(user):
        return changes
    out = dict(changes)
    for field in fields:
        if field in out:
            value = out[field]
            out[field] = ([mask_phone(v) for v in value] if isinstance(value, (list, tuple))
                          else mask_phone(value))
    return out


# --- the reveal (one service for the page and the API) -----------------------------------------

def reveal_phone(model, pk, user=None):
    """The full phone number of one ``model`` row, for a user allowed to reveal it: 403 without
    the permission, 404 for a row that does not exist or lies outside the user's regions. Writes
    the audit event ``reveal_phone`` and commits."""
    from app.audit_trail.capture import record
    from app.extensions import db

    if not may_reveal_phones(user):
        raise Forbidden(gettext("You are not allowed to see customers' phone numbers."))
    key = model.__mapper__.primary_key[0]
    query = db.session.query(model).filter(key == pk)
    clause = scope.clause_for(model)
    if clause is not None:
        query = query.filter(clause)
    row = query.one_or_none()
    if row is None:
        raise NotFound()
    value = getattr(row, PHONE)
    try:
        record(REVEAL_ACTION, model.__tablename__, getattr(row, key.key), {"field": PHONE})
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return value


def _keep_stored_if_masked(item):
    """A masked user's edit that sends the masked number back unchanged keeps the stored one."""
    from app.extensions import db

    with db.session.no_autoflush:  # the pending change must not reach the database first
        if may_see_phones():
            return
        state = sa_inspect(item)
        history = state.attrs[PHONE].history
        if not history.added or state.identity is None:
            return
        if history.deleted:
            stored = history.deleted[0]
        else:  # the old value was not loaded
            key = state.mapper.primary_key[0]
            stored = db.session.query(getattr(type(item), PHONE)).filter(key == state.identity[0]).scalar()
        if stored is not None and history.added[0] == mask_phone(stored):
            setattr(item, PHONE, stored)


# --- search: masked users only match whole numbers ---------------------------------------------

NEGATIVE_OPERATORS = {"neq", "nct", "nsw", "new"}


def masked_search_filters(filters):
    """Rison filters of an API list request, with a masked user's phone filters narrowed to an
    exact match (``eq``; the negated operators become ``neq``)."""
    if may_see_phones() or not isinstance(filters, list):
        return filters
    out = []
    for flt in filters:
        if isinstance(flt, dict) and flt.get("col") == PHONE:
            flt = {**flt, "opr": "neq" if flt.get("opr") in NEGATIVE_OPERATORS else "eq",
                   "value": str(flt.get("value") or "").strip()}
        out.append(flt)
    return out


def _page_phone_filter(base, negative):
    """A page search filter on the phone column: as ``base`` for users who see numbers, an exact
    (or, negated, an exact-mismatch) match for masked users."""

    def apply(self, query, value):
        if may_see_phones():
            return base.apply(self, query, value)
        column = getattr(self.model, self.column_name)
        value = str(value or "").strip()
        return query.filter(column != value if negative else column == value)

    # arg_name None: page-only, never registered as a REST operator (FAB maps operators globally)
    return type(f"Phone{base.__name__}", (base,), {"arg_name": None, "apply": apply})


PAGE_PHONE_FILTERS = [
    _page_phone_filter(fab_filters.FilterContains, False),
    _page_phone_filter(fab_filters.FilterEqual, False),
    _page_phone_filter(fab_filters.FilterStartsWith, False),
    _page_phone_filter(fab_filters.FilterNotContains, True),
    _page_phone_filter(fab_filters.FilterNotEqual, True),
]


# --- REST resources ------------------------------------------------------------------------------

class PhoneMaskingApi:
    """Mixin for a ``BaseApi`` whose model has ``customer_phone``: masked payloads for masked
    users, exact-only phone search for them, and ``POST /<id>/reveal_phone``."""

    def _mask_row(self, row):
        if isinstance(row, dict) and PHONE in row:
            row[PHONE] = mask_phone(row[PHONE])

    def pre_get_list(self, data):
        super().pre_get_list(data)
        if not may_see_phones():
            for row in data.get(API_RESULT_RES_KEY) or []:
                self._mask_row(row)

    def pre_get(self, data):
        super().pre_get(data)
        if not may_see_phones():
            self._mask_row(data.get(API_RESULT_RES_KEY))

    def _handle_filters_args(self, rison_args):
        if isinstance(rison_args, dict) and "filters" in rison_args:
            rison_args = {**rison_args, "filters": masked_search_filters(rison_args["filters"])}
        return super()._handle_filters_args(rison_args)

    def pre_update(self, item):
        super().pre_update(item)
        _keep_stored_if_masked(item)

    @expose("/<int:pk>/reveal_phone", methods=["POST"])
    @protect()
    @safe
    @permission_name("read")
    def reveal_phone(self, pk):
        """The full customer phone number ``{"customer_phone"}``, logged in the audit trail: for
        users allowed to see or reveal numbers (403 otherwise), within their regions (404).

        ---
        post:
          responses:
            200:
              description: The full number
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      customer_phone: {type: string, nullable: true}
        """
        try:
            return self.response(200, **{PHONE: reveal_phone(self.datamodel.obj, pk)})
        except DomainError as exc:
            return self.response(exc.status, **exc.to_dict())


# --- pages ---------------------------------------------------------------------------------------

class PhoneMaskingView:
    """Mixin for a ``BaseModelView`` whose model has ``customer_phone``: the number masked in
    lists and show pages for masked users, with a "Reveal" button (a logged POST) on the show page;
    exact-only phone search for them; a masked number left unchanged on an edit form keeps the
    stored one."""

    def _init_properties(self):
        super()._init_properties()
        self.method_permission_name = {**self.method_permission_name, "reveal_phone": "read"}
        self.formatters_columns[PHONE] = self._phone_cell

    def _column_filters(self):
        result = super()._column_filters()
        if PHONE in result:
            result[PHONE] = PAGE_PHONE_FILTERS
        return result

    def _phone_cell(self, value):
        if value in (None, ""):
            return ""
        if may_see_phones() or g.get("_phone_shown") == (self.endpoint, value):
            return Markup('<span class="customer-phone">{}</span>').format(value)
        cell = Markup('<span class="customer-phone masked">{}</span>').format(mask_phone(value))
        shown = g.get("_phone_show_pk")
        if shown is None or shown[0] != self.endpoint or not may_reveal_phones():
            return cell
        return cell + Markup(
            ' <form method="post" action="{}" class="reveal-phone" style="display:inline">'
            '<input type="hidden" name="csrf_token" value="{}">'
            '<button type="submit" class="btn btn-xs btn-default" title="{}">'
            '<i class="fa fa-eye"></i> {}</button></form>'
        ).format(url_for(f"{self.endpoint}.reveal_phone", pk=shown[1]), generate_csrf(),
                 gettext("Revealing the number is recorded in the audit trail."),
                 gettext("Show the full number"))

    def _get_show_widget(self, pk, item, *args, **kwargs):
        g._phone_show_pk = (self.endpoint, pk)
        return super()._get_show_widget(pk, item, *args, **kwargs)

    def prefill_form(self, form, pk):
        super().prefill_form(form, pk)
        field = getattr(form, PHONE, None)
        if field is not None and not may_see_phones():
            field.data = mask_phone(field.data)

    def pre_update(self, item):
        super().pre_update(item)
        _keep_stored_if_masked(item)

    @expose("/show/<pk>/reveal_phone", methods=["POST"])
    @has_access
    def reveal_phone(self, pk):
        """The show page again with this record's full number, the reveal logged (same service as
        the API)."""
        from app.extensions import db

        back = url_for(f"{self.endpoint}.show", pk=pk)
        from app.core.web import csrf_ok

        if not csrf_ok():
            return redirect(back)
        try:
            number = reveal_phone(self.datamodel.obj, _int(pk))
        except DomainError as exc:
            db.session.rollback()
            if exc.status == 404:
                abort(404)
            flash(str(exc.message), "danger")
            return redirect(back)
        g._phone_shown = (self.endpoint, number)
        flash(gettext("The full number is shown; this was recorded in the audit trail."), "info")
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        return self.render_template(self.show_template, pk=pk, title=self.show_title, widgets=widgets,
                                    related_views=self._related_views, **g.pop("_page_show_extras", {}))


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


__all__ = ["mask_phone", "may_see_phones", "may_reveal_phones", "shown_phone", "mask_changes", "reveal_phone",
           "PhoneMaskingApi", "PhoneMaskingView", "PERSONAL_FIELDS", "PHONE"]
