"""Base page classes: generated CRUD pages that share the services and the region scope.

Every page is a ``BaseModelView``. On top of Flask-AppBuilder's ``ModelView`` it gives:

* **writes through the services** (``ScopedInterface`` → ``core.services``): add, edit, delete and
  list actions; a ``DomainError`` lands on the form fields it names, nothing is half-written;
* **region scope everywhere**: lists, show, edit, delete, actions, related-field searches and the
  values a form accepts for a related field;
* **related fields as AJAX select boxes**: every many-to-one / many-to-many field (on add, edit
  and search forms) is a select2 box that asks ``/<view>/related/<column>?q=…&page=…`` for at most
  ``RELATED_PAGE_SIZE`` matching rows of the user's scope. No page loads a whole table into a
  dropdown; small reference tables named in ``plain_related_columns`` stay plain selects;
* **search that matters**: enumerations as translated selects, yes/no selects for flags,
  relations by AJAX search and ``virtual_search`` filters (region, expiry window, low stock…);
* **display**: enumerations translated (``enum_columns``), flags as Yes/No, datetimes in the
  business time zone, related records by name and linked to their show page; computed columns
  filled for a whole page in one batch (``computed_values``).

The parts live by concern: ``core.formatters`` (how values read), ``core.widgets`` (form fields),
``core.filters`` (search filters) and ``core.search`` (finding related records); their names are
importable from here too.
"""
import os

from flask import abort, current_app, flash, g, jsonify, request, url_for
from flask_appbuilder import ModelView, expose
from flask_appbuilder.actions import action as page_action
from flask_appbuilder.baseviews import get_filter_args
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_order_args, get_page_args, get_page_size_args
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect, or_
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields import DateField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.core import scope
from app.core.datamodel import ScopedInterface, count_exact
from app.core.errors import DomainError
from app.core.filters import (
    ENUM_FILTERS, TEXT_FILTERS, FilterBoolIs, FilterDateWithinDays, FilterInRegion, FilterRelatedIncludes,
    FilterRelatedIs, FilterRelatedIsNot, FilterYesNo, ViewFilters, VirtualSearch, days_search, related_search,
    yes_no_search,
)
from app.core.formatters import (
    badge, enum_formatter, local_date, local_datetime, local_number, record_link,
    related_formatter, views_by_model as _views_by_model, yes_is_bad, yes_no,
)
from app.core.search import (
    ORDER_FIELD_CANDIDATES, RELATED_PAGE_SIZE, SEARCH_FIELD_CANDIDATES, find_related, int_value as _int_value,
    load_scoped as _load_scoped, picker_label,
)
from app.core.widgets import (
    AjaxSelectField, AjaxSelectWidget, DateInputWidget, LocalDateTimeField, PageListWidget, PageSearchWidget,
    PageShowWidget, enum_field, search_select as _search_select, yes_no_choices as _yes_no_choices,
)
from app.extensions import db

__all__ = [  # the base pages, and the parts other packages have imported from here
    "BaseModelView", "SafeModelViewMixin", "SettingView", "apply_domain_error", "scoped", "COMMON_LABELS",
    "READ", "WRITE", "DELETE", "VIEW_METHOD_PERMISSIONS", "SHOW_PAGE_SECTIONS", "LONG_TEXT_LENGTH",
    # core.filters
    "ENUM_FILTERS", "TEXT_FILTERS", "FilterBoolIs", "FilterDateWithinDays", "FilterInRegion",
    "FilterRelatedIncludes", "FilterRelatedIs", "FilterRelatedIsNot", "FilterYesNo", "ViewFilters", "VirtualSearch",
    "days_search", "related_search", "yes_no_search",
    # core.formatters
    "badge", "enum_formatter", "local_date", "local_datetime", "local_number", "record_link", "related_formatter",
    "yes_is_bad", "yes_no", "_views_by_model",
    # core.search
    "ORDER_FIELD_CANDIDATES", "RELATED_PAGE_SIZE", "SEARCH_FIELD_CANDIDATES", "_int_value", "_load_scoped",
    # core.widgets
    "AjaxSelectField", "AjaxSelectWidget", "DateInputWidget", "LocalDateTimeField", "PageListWidget",
    "PageSearchWidget", "PageShowWidget", "enum_field",
]

READ = "read"
WRITE = "write"
DELETE = "delete"

VIEW_METHOD_PERMISSIONS = {
    "list": READ,
    "show": READ,
    "download": READ,
    "related_search": READ,
    "export_csv": READ,  # reading a list is exporting it
    "export_xlsx": READ,
    "add": WRITE,
    "edit": WRITE,
    "action": WRITE,
    "action_post": WRITE,
    "delete": DELETE,
    "muldelete": DELETE,
}

LONG_TEXT_LENGTH = 200
"""A string column longer than this holds text that may wrap in a list (an address, a note)."""

SHOW_PAGE_SECTIONS = []
"""Callables ``(view, item) -> {template variable: value}`` every show page adds, registered by
packages that enrich all records' pages (the audit trail's history section)."""


def scoped(model):
    return ScopedInterface(model)


COMMON_LABELS = {"id": _l("ID"), "created_at": _l("Created at"), "updated_at": _l("Updated at")}
"""Labels of the columns many models share (FAB would show "Created At", in English, in the
search filters and the record history)."""


def _scalar_default(datamodel, col):
    default = datamodel.list_columns[col].default
    return default.arg if default is not None and default.is_scalar else None


# --- what every page of records does safely --------------------------------------------------

def _file_columns(model):
    from flask_appbuilder.models.mixins import FileColumn, ImageColumn

    mapper = sa_inspect(model, raiseerr=False)
    if mapper is None:
        return []
    return [column for column in mapper.columns if isinstance(column.type, (FileColumn, ImageColumn))]


def _plain_file_name(name):
    """A bare file name: no directory part, no ``..``, nothing hidden, nothing unstorable."""
    from app.core.api_input import unstorable

    return bool(name) and not unstorable(name) and "/" not in name and "\\" not in name \
        and not name.startswith(".") and name == os.path.basename(name)


class SafeModelViewMixin:
    """Mixed in front of FAB's ``ModelView`` by every page of records (``BaseModelView`` and the
    security pages): what FAB's own answers with a 500 or does on a plain GET.

    * ``download/<name>`` serves only a file that a file column of this page's model names, on a
      row the user can see, and that exists; anything else (a missing file, ``..%2f…``) is a 404;
    * add and edit forms refuse text that cannot be stored as a form error (``core.page_input``),
      and numbers their column would round (``core.precision``);
    * an action on one record (``action/<name>/<pk>``) acts on POST only: a GET answers 405 with a
      page saying what it will do and a button that POSTs it (with the CSRF token); an unknown
      action or record is a 404.
    """

    checks_form_text = True
    """``core.page_input`` leaves this page's add and edit forms to ``StorableTextForm``."""

    def _init_forms(self):
        from app.core.page_input import storable_text_form
        from app.core.precision import exact_number_form

        super()._init_forms()
        self.add_form = exact_number_form(storable_text_form(self.add_form), self.datamodel.obj)
        self.edit_form = exact_number_form(storable_text_form(self.edit_form), self.datamodel.obj)

    @expose("/download/<string:filename>")
    @has_access
    def download(self, filename):
        from flask import send_file
        from flask_appbuilder.filemanager import uuid_originalname
        from werkzeug.security import safe_join

        model = self.datamodel.obj
        columns = _file_columns(model)
        if not columns or not _plain_file_name(filename):
            abort(404)
        query = db.session.query(model).filter(or_(*[column == filename for column in columns]))
        clause = scope.clause_for(model)
        if clause is not None:
            query = query.filter(clause)
        path = safe_join(current_app.config["UPLOAD_FOLDER"], filename)
        if query.first() is None or path is None or not os.path.isfile(path):
            abort(404)
        return send_file(path, download_name=uuid_originalname(filename), as_attachment=True)

    def _action_item(self, name, pk):
        if name not in self.actions:
            abort(404)
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk))
        if item is None:
            abort(404)
        return item

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        item = self._action_item(name, pk)
        if request.method == "POST":
            return super().action(name, pk)
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            from flask import redirect
            from flask_appbuilder.const import FLAMSG_ERR_SEC_ACCESS_DENIED

            flash(str(FLAMSG_ERR_SEC_ACCESS_DENIED), "danger")
            return redirect(url_for(f"{self.endpoint}.list"))
        spec = self.actions[name]
        show = f"{self.endpoint}.show"
        back = url_for(show, pk=pk) if show in current_app.view_functions else url_for(f"{self.endpoint}.list")
        # 405 (this address acts on POST only), with the page that POSTs it
        return self.render_template("pages/confirm_action.html", title=str(spec.text), action=spec,
                                    question=spec.confirmation or gettext("Apply this action to the record?"),
                                    record=str(item), back=back), 405, {"Allow": "POST"}

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        name = request.form.get("action")
        if name not in self.actions:
            abort(404)
        pks = request.form.getlist("rowid")
        items = [self.datamodel.get(self._deserialize_pk_if_composite(pk)) for pk in pks]
        if any(item is None for item in items):
            flash(gettext("Some selected records are outside your scope."), "danger")
            abort(404)
        return super().action_post()


# --- the base page -----------------------------------------------------------------------------

class BaseModelView(SafeModelViewMixin, ModelView):
    """CRUD pages whose writes go through the services and whose errors land on the form."""

    method_permission_name = VIEW_METHOD_PERMISSIONS
    page_size = 25
    search_widget = PageSearchWidget
    list_widget = PageListWidget
    show_widget = PageShowWidget
    show_template = "pages/show.html"
    list_template = "pages/list.html"

    singular = None
    """Label of one record (``_l("engineer")``): titles become "Add …", "Edit …", "… details", and
    the list's add button reads "Add …" ("新增…")."""
    enum_columns = None
    """``{column: Enumeration}``: shown translated, edited and searched with a select."""
    plain_related_columns = ()
    """Related columns of small reference tables kept as plain selects (categories, types)."""
    virtual_search = None
    """``{name: VirtualSearch}``: search filters that are not model columns."""
    related_depends = None
    """``{column: {request_param: model_column}}``: narrow a related search by another field of
    the form, e.g. engineers of the chosen outlet: ``{"engineer": {"outlet": "outlet_id"}}``."""
    computed_columns = ()
    """List/show columns whose values ``computed_values`` fills for a whole page at once."""
    quick_filters = ()
    """``[(label, {query arg: value})]``: one-click filters shown above the list."""
    wrap_columns = None
    """List columns holding long text (descriptions, notes, addresses), which may wrap; every other
    cell stays on one line. Default: text columns and strings longer than ``LONG_TEXT_LENGTH``."""

    # --- set-up --------------------------------------------------------------------------------
    def _init_properties(self):
        self.label_columns = {**COMMON_LABELS, **(self.label_columns or {})}
        self.formatters_columns = dict(self.formatters_columns or {})
        self.enum_columns = dict(self.enum_columns or {})
        self.virtual_search = dict(self.virtual_search or {})
        self.related_depends = dict(self.related_depends or {})
        for name, spec in self.virtual_search.items():
            self.label_columns.setdefault(name, spec.label)
        super()._init_properties()
        dm = self.datamodel
        # Orderable: real columns only (virtual, computed and dotted columns are not).
        self.order_columns = [c for c in self.order_columns
                              if c in dm.list_properties and c not in self.computed_columns
                              and not dm.is_relation(c)]
        # Default display of every shown column.
        for col in set(self.list_columns) | set(self.show_columns):
            if col in self.formatters_columns or col in self.computed_columns:
                continue
            if col in self.enum_columns:
                self.formatters_columns[col] = enum_formatter(self.enum_columns[col])
            elif "." in col or dm.is_relation(col):
                self.formatters_columns[col] = related_formatter
            elif dm.is_boolean(col):
                self.formatters_columns[col] = yes_no
            elif dm.is_datetime(col):
                self.formatters_columns[col] = local_datetime
            elif dm.is_date(col):
                self.formatters_columns[col] = local_date
            elif dm.is_float(col) or dm.is_numeric(col):
                self.formatters_columns[col] = local_number
        if self.wrap_columns is None:
            self.wrap_columns = [col for col in self.list_columns if self._holds_long_text(col)]
        self._filters = ViewFilters(dm, self.search_columns, self._column_filters())
        self._ajax = {}

    def _holds_long_text(self, col):
        dm = self.datamodel
        if "." in col or col not in dm.list_columns or col in self.enum_columns:
            return False
        return dm.is_text(col) or (dm.is_string(col) and dm.get_max_length(col) > LONG_TEXT_LENGTH)

    def _column_filters(self):
        dm = self.datamodel
        result = {}
        for col in self.search_columns:
            if col in self.virtual_search:
                result[col] = self.virtual_search[col].filters
            elif col in self.enum_columns:
                result[col] = ENUM_FILTERS
            elif dm.is_relation_many_to_one(col):
                result[col] = [FilterRelatedIs, FilterRelatedIsNot]
            elif dm.is_relation_many_to_many(col):
                result[col] = [FilterRelatedIncludes]
            elif dm.is_boolean(col):
                result[col] = [FilterBoolIs]
            elif dm.is_string(col) or dm.is_text(col):
                result[col] = TEXT_FILTERS
        return result

    def _related_url(self, col):
        return lambda: url_for(f"{self.endpoint}.related_search", col_name=col)

    def _ajax_field(self, col, label, model, validators, multiple=False, for_search=False):
        depends = {} if for_search else {param: param for param in self.related_depends.get(col, {})}
        return AjaxSelectField(label, validators=validators, model=model, url=self._related_url(col),
                               multiple=multiple, depends=depends,
                               clause=lambda: scope.related_clause(self.datamodel.obj, col, model))

    def _auto_form_fields(self, columns, declared):
        """Fields FAB would get wrong: enumerations, related records (AJAX), local datetimes."""
        dm = self.datamodel
        fields = {}
        for col in columns:
            if col in declared:
                continue
            label = self.label_columns.get(col, col)
            extra = list((self.validators_columns or {}).get(col, []))
            if col in self.enum_columns:
                fields[col] = enum_field(self.enum_columns[col], label, required=not dm.is_nullable(col))
            elif (dm.is_relation_many_to_one(col) or dm.is_relation_many_to_many(col)) \
                    and col not in self.plain_related_columns:
                multiple = dm.is_relation_many_to_many(col)
                required = not multiple and not dm.is_nullable(col)
                validators = extra + [DataRequired() if required else Optional()]
                model = dm.get_related_model(col)
                self._ajax[col] = (model, None)
                fields[col] = self._ajax_field(col, label, model, validators, multiple=multiple)
            elif dm.is_datetime(col):
                validators = extra + [Optional() if dm.is_nullable(col) else InputRequired()]
                fields[col] = LocalDateTimeField(label, validators=validators)
            elif dm.is_string(col) and (dm.list_columns[col].info or {}).get("generated"):
                # a number the service gives when left empty (``core.numbering``)
                length = dm.get_max_length(col)
                validators = extra + [Optional()] + ([Length(max=length)] if length > 0 else [])
                fields[col] = StringField(label, validators=validators, widget=BS3TextFieldWidget(),
                                          description=_l("Leave empty to number it automatically."))
            elif dm.is_string(col) and not dm.is_nullable(col) and not dm.is_unique(col) \
                    and _scalar_default(dm, col) is not None:
                # NOT NULL with a default ("" for an unknown address): optional on the form.
                length = dm.get_max_length(col)
                validators = extra + [Optional()] + ([Length(max=length)] if length > 0 else [])
                fields[col] = StringField(label, validators=validators, widget=BS3TextFieldWidget(),
                                          default=_scalar_default(dm, col))
            elif dm.is_date(col):
                # the browser's own date picker (localised, no script), submitting YYYY-MM-DD
                validators = extra + [Optional() if dm.is_nullable(col) else InputRequired()]
                fields[col] = DateField(label, validators=validators, widget=DateInputWidget())
            elif dm.is_boolean(col):
                # FAB marks a NOT NULL flag required, so an unticked box could never be saved.
                fields[col] = BooleanField(label, validators=extra, default=dm.get_col_default(col))
        return fields

    def _sync_foreign_keys(self, form, item):
        """Keep each many-to-one FK column in step with the relation the form just set.

        Setting ``item.outlet = None`` leaves ``item.outlet_id`` at its old value until the flush;
        the entity rules run before the flush and must see the new state.
        """
        dm = self.datamodel
        for field in form:
            if isinstance(field, AjaxSelectField) and not field.multiple and dm.is_relation_many_to_one(field.name):
                related = field.data
                for fk in dm.list_properties[field.name].local_columns:
                    setattr(item, fk.key, None if related is None else sa_inspect(related).identity[0])

    def _auto_search_fields(self):
        dm = self.datamodel
        fields = {}
        for col in self.search_columns:
            label = self.label_columns.get(col, col)
            if col in self.virtual_search:
                spec = self.virtual_search[col]
                if spec.model is not None:
                    self._ajax[col] = (spec.model, spec.search_fields)
                    fields[col] = self._ajax_field(col, label, spec.model, [Optional()], for_search=True)
                else:
                    fields[col] = spec.make_field()
            elif col in self.enum_columns:
                fields[col] = _search_select(self.enum_columns[col].choices, label)
            elif dm.is_boolean(col):
                fields[col] = _search_select(_yes_no_choices, label)
            elif dm.is_relation_many_to_one(col) and col not in self.plain_related_columns:
                model = dm.get_related_model(col)
                self._ajax[col] = (model, None)
                fields[col] = self._ajax_field(col, label, model, [Optional()], for_search=True)
        return fields

    def _init_forms(self):
        self._ajax = getattr(self, "_ajax", {})
        add_declared = dict(self.add_form_extra_fields or {})
        edit_declared = dict(self.edit_form_extra_fields or {})
        search_declared = dict(self.search_form_extra_fields or {})
        self.add_form_extra_fields = {**self._auto_form_fields(self.add_columns, add_declared), **add_declared}
        self.edit_form_extra_fields = {**self._auto_form_fields(self.edit_columns, edit_declared), **edit_declared}
        self.search_form_extra_fields = {**self._auto_search_fields(), **search_declared}
        super()._init_forms()

    def _init_titles(self):
        if self.singular is not None:
            self.add_title = self.add_title or _l("Add %(name)s", name=self.singular)
            self.edit_title = self.edit_title or _l("Edit %(name)s", name=self.singular)
            self.show_title = self.show_title or _l("%(name)s details", name=self.singular)
        super()._init_titles()

    # --- related-field search ------------------------------------------------------------------
    @expose("/related/<col_name>")
    @has_access
    def related_search(self, col_name):
        """``{"results": [{"id", "text"}], "more": bool}``: at most ``RELATED_PAGE_SIZE`` rows
        of the related table within the user's scope whose name or code contains ``q``.

        Columns that only appear on add/edit forms also need the write permission.
        """
        spec = self._ajax.get(col_name)
        if spec is None:
            abort(404)
        if col_name not in self.search_columns and not current_app.appbuilder.sm.has_access(
                "can_" + WRITE, self.class_permission_name):
            abort(403)
        model, search_fields = spec
        narrow = {}
        for param, column in self.related_depends.get(col_name, {}).items():
            value = _int_value(request.args.get(param))
            if value is not None:
                narrow[column] = value
        # the region scope, users by the regions they share, or the column's own rule
        rows, more = find_related(model, scope.related_clause(self.datamodel.obj, col_name, model),
                                  request.args.get("q"), search_fields, narrow,
                                  _int_value(request.args.get("page")) or 1)
        pk = sa_inspect(model).primary_key[0]
        return jsonify(results=[{"id": getattr(r, pk.key), "text": picker_label(r)} for r in rows], more=more)

    # --- list and show -------------------------------------------------------------------------
    def computed_values(self, items):
        """``{pk: {column: display value}}`` for ``computed_columns``, for all ``items`` at once."""
        return {}

    def _merge_computed(self, items, values, columns):
        if not self.computed_columns or not items:
            return values
        computed = self.computed_values(items)
        for item, row in zip(items, values):
            extra = computed.get(self.datamodel.get_pk_value(item), {})
            for col in self.computed_columns:
                if col in columns:
                    row[col] = extra.get(col, "")
        return values

    def _blank_nones(self, rows):
        """An unset value shows as blank, not "None"."""
        for row in rows:
            for col, value in row.items():
                if value is None and col not in self.formatters_columns:
                    row[col] = ""
        return rows

    def _get_list_widget(self, filters, actions=None, order_column="", order_direction="", page=None,
                         page_size=None, widgets=None, **kwargs):
        widgets = widgets or {}
        actions = actions or self.actions
        page_size = page_size or self.page_size
        if not order_column and self.base_order:
            order_column, order_direction = self.base_order
        joined_filters = filters.get_joined_filters(self._base_filters)
        count, lst = self.datamodel.query(joined_filters, order_column, order_direction, page=page,
                                          page_size=page_size, eager=self.list_relations())
        pks = [self._serialize_pk_if_composite(pk) for pk in self.datamodel.get_keys(lst)]
        values = list(self.datamodel.get_values(lst, self.list_columns))
        values = self._blank_nones(self._merge_computed(lst, values, self.list_columns))
        widgets["list"] = self.list_widget(
            label_columns=self.label_columns,
            include_columns=self.list_columns,
            value_columns=values,
            order_columns=self.order_columns,
            formatters_columns=self.formatters_columns,
            page=page,
            page_size=page_size,
            count=count,
            pks=pks,
            actions=actions,
            filters=filters,
            modelview_name=self.__class__.__name__,
            add_label=self.add_label(),
            wrap_columns=self.wrap_columns,
            count_exact=count_exact(),
            **kwargs,
        )
        return widgets

    list_eager = ()
    """Relation paths a list's computed columns or formatters read besides the shown ones
    (``("outlet.region",)``), loaded with the page's rows."""

    def list_relations(self):
        """The relations the list shows (a column that is a relation, or a dotted column's
        relations), loaded with the page: never one query per row."""
        dm = self.datamodel
        paths = []
        for col in self.list_columns:
            if "." in col:
                paths.append(col)
            elif col in dm.list_properties and dm.is_relation(col):
                paths.append(col)
        return paths + list(self.list_eager)

    def add_label(self):
        """The list's add button: "Add complaint" / "新增投诉" (or just "Add" without a ``singular``)."""
        if self.singular is None:
            return gettext("Add")
        return gettext("Add %(name)s", name=self.singular)

    def may(self, method):
        """Whether the current user may use this page's ``method`` ("edit", "delete"): the page
        offers it and the user's roles hold the permission it maps to."""
        if f"{self.endpoint}.{method}" not in current_app.view_functions:
            return False
        permission = "can_" + self.get_method_permission(method)
        return permission in self.base_permissions and bool(
            current_app.appbuilder.sm.has_access(permission, self.class_permission_name))

    def record_urls(self, item, pk):
        """``{"edit_url", "delete_url"}`` of the show page's buttons: a URL where the user may edit
        (delete) this record — the permission, and the record within their region scope — else ``None``.
        A page whose records' state also decides (a closed record) narrows it in an override."""
        allowed = {method: self.may(method) for method in ("edit", "delete")}
        if any(allowed.values()) and not scope.in_scope(item):
            allowed = {}
        return {f"{method}_url": url_for(f"{self.endpoint}.{method}", pk=pk) if allowed.get(method) else None
                for method in ("edit", "delete")}

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = widgets or {}
        row = dict(zip(self.show_columns, self.datamodel.get_values_item(item, self.show_columns)))
        row = self._blank_nones(self._merge_computed([item], [row], self.show_columns))[0]
        widgets["show"] = self.show_widget(
            pk=pk,
            label_columns=self.label_columns,
            include_columns=self.show_columns,
            value_columns=[row[c] for c in self.show_columns],
            formatters_columns=self.formatters_columns,
            actions=actions or self.actions,
            fieldsets=show_fieldsets or self.show_fieldsets,
            modelview_name=self.__class__.__name__,
            **self.record_urls(item, pk),
        )
        return widgets

    def show_extras(self, item):
        """Extra template variables for the show page (e.g. an outlet's qualification facts)."""
        return {}

    def _show(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        widgets = self._get_show_widget(pk, item)
        self.update_redirect()
        widgets = self._get_related_views_widgets(item, orders=get_order_args(), pages=get_page_args(),
                                                  page_sizes=get_page_size_args(), widgets=widgets)
        extras = dict(self.show_extras(item))
        for section in SHOW_PAGE_SECTIONS:
            extras.update(section(self, item))
        g._page_show_extras = extras
        return widgets

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        return self.render_template(self.show_template, pk=pk, title=self.show_title, widgets=widgets,
                                    related_views=self._related_views,
                                    **g.pop("_page_show_extras", {}))

    def render_template(self, template, **kwargs):
        kwargs.setdefault("quick_filters", [(label, url_for(f"{self.endpoint}.list", **args))
                                            for label, args in self.quick_filters])
        kwargs.setdefault("filters_active", bool(self._filters.filters))
        kwargs.setdefault("export_urls", self._export_urls())
        return super().render_template(template, **kwargs)

    # --- exports of the list, with its filters and the user's scope ----------------------------
    def _export_urls(self):
        """``{"csv": url, "xlsx": url, "csrf_token": …}`` for the list page's export buttons."""
        if request.endpoint != f"{self.endpoint}.list":
            return None
        urls = {}
        query = request.query_string.decode()
        for kind in ("csv", "xlsx"):
            endpoint = f"{self.endpoint}.export_{kind}"
            if endpoint in current_app.view_functions:
                urls[kind] = url_for(endpoint) + (f"?{query}" if query else "")
        if not urls:
            return None
        from flask_wtf.csrf import generate_csrf

        urls["csrf_token"] = generate_csrf()
        return urls

    @expose("/export.csv")
    @has_access
    def export_csv(self):
        """The filtered list (every row of the user's scope) as CSV, streamed: UTF-8 with a BOM,
        translated headers and labels, local times, formulas neutralised."""
        from flask import stream_with_context

        from app.core import exports

        export = exports.ListExport(self, request.args)
        try:
            export.probe()  # a filter value the database refuses: say so before streaming
        except Exception:
            db.session.rollback()
            from flask import redirect

            flash(gettext("These filters cannot be applied; please check their values."), "danger")
            return redirect(url_for(f"{self.endpoint}.list"))
        return exports.attachment(stream_with_context(exports.csv_stream(export.header(), export.rows())),
                                  exports.CSV_MIMETYPE, export.filename("csv"))

    @expose("/export.xlsx", methods=["POST"])
    @has_access
    def export_xlsx(self):
        """Start the filtered list's Excel export in the background; the user follows it (and
        downloads the workbook) under My jobs."""
        from flask import redirect

        from app.core import exports
        from app.core.web import csrf_ok

        back = url_for(f"{self.endpoint}.list") + (f"?{request.query_string.decode()}"
                                                   if request.query_string else "")
        if not csrf_ok():
            return redirect(back)
        starter = exports.background_export()
        if starter is None:
            abort(404)
        job = starter(self, request.args, scope.acting_user())
        if job.status == "failed":
            flash(job.error or gettext("The export could not be started."), "danger")
        else:
            flash(gettext("The export has started; the workbook will be ready under My jobs."), "info")
        return redirect(url_for("MyJobsView.list") if "MyJobsView.list" in current_app.view_functions else back)

    # --- writes --------------------------------------------------------------------------------
    def process_form(self, form, is_created):
        """Trim text; an empty optional text becomes NULL (so optional unique codes don't clash)."""
        dm = self.datamodel
        for field in form:
            if not isinstance(field.data, str) or field.name not in dm.list_columns:
                continue
            value = field.data.strip()
            if value == "" and dm.is_nullable(field.name):
                value = None
            field.data = value

    def _fill_form_exclude_cols(self, exclude_cols, form):
        for col in exclude_cols:
            value = self._filters.get_filter_value(col)
            pk = _int_value(value)
            model = self.datamodel.get_related_model(col)
            rows = _load_scoped(model, [pk]) if pk is not None else {}
            if hasattr(form, col):
                getattr(form, col).data = (rows or {}).get(pk)

    def _add(self):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        if request.method == "POST":
            self._fill_form_exclude_cols(exclude_cols, form)
            if form.validate():
                self.process_form(form, True)
                item = self.datamodel.obj()
                try:
                    with db.session.no_autoflush:
                        form.populate_obj(item)
                        self._sync_foreign_keys(form, item)
                        self.pre_add(item)
                    self.datamodel.add(item)
                    self.post_add(item)
                    flash(self.add_row_message, "success")
                    return None
                except DomainError as exc:
                    db.session.rollback()
                    apply_domain_error(form, exc)
        self.update_redirect()
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def _edit(self, pk):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        pk = self.datamodel.get_pk_value(item)
        if request.method == "POST":
            form = self.edit_form.refresh(request.form)
            self._fill_form_exclude_cols(exclude_cols, form)
            form._id = pk
            if form.validate():
                self.process_form(form, False)
                try:
                    with db.session.no_autoflush:
                        form.populate_obj(item)
                        self._sync_foreign_keys(form, item)
                        self.pre_update(item)
                    self.datamodel.edit(item)
                    self.post_update(item)
                    flash(self.edit_row_message, "success")
                    return None
                except DomainError as exc:
                    db.session.rollback()
                    apply_domain_error(form, exc)
        else:
            form = self.edit_form.refresh(obj=item)
            self.prefill_form(form, pk)
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        self.update_redirect()
        return widgets

    def _delete(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        try:
            self.pre_delete(item)
            self.datamodel.delete(item)
            self.post_delete(item)
            flash(self.delete_row_message, "success")
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        self.update_redirect()

    @expose("/delete/<pk>", methods=["GET", "POST"])
    @has_access
    def delete(self, pk):
        """FAB's delete (a POST); a record deleted from its own show page sends the user back to
        the list, not to the page of a record that is gone."""
        from urllib.parse import urlsplit

        from flask import redirect

        response = super().delete(pk)
        show = url_for(f"{self.endpoint}.show", pk=pk)
        if urlsplit(response.location or "").path == show and self.datamodel.get(
                self._deserialize_pk_if_composite(pk), self._base_filters) is None:
            return redirect(url_for(f"{self.endpoint}.list"))
        return response

    @page_action("muldelete", _l("Delete"), _l("Delete all selected records?"), "fa-trash", single=False)
    def muldelete(self, items):
        """Delete the selected records in one transaction (all or nothing)."""
        from flask import redirect

        items = items if isinstance(items, list) else [items]
        try:
            self.datamodel.delete_all(items)
            flash(gettext("Deleted %(n)s records.", n=len(items)), "success")
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        self.update_redirect()
        return redirect(self.get_redirect())


def apply_domain_error(form, exc):
    """Put a DomainError's field messages on the form fields; the rest becomes a flash."""
    leftovers = []
    for field, messages in exc.errors.items():
        target = getattr(form, field, None)
        if target is None and field.endswith("_id"):
            target = getattr(form, field[:-3], None)
        if target is not None and hasattr(target, "errors"):
            target.errors = list(getattr(target, "errors", []) or []) + [str(m) for m in messages]
        else:
            leftovers.extend(str(m) for m in messages)
    flash(" ".join([str(exc.message)] + leftovers), "danger")


# --- settings ----------------------------------------------------------------------------------

def _setting_key_choices():
    from app.core.settings import DEFINITIONS

    return [(key, f"{definition.label} ({key})") for key, definition in DEFINITIONS.items()]


class SettingView(BaseModelView):
    """Policy values an HQ admin edits at run time (thresholds marked *(config)*)."""

    from app.core.models import Setting as _Setting
    from app.security import permissions as _p

    label = _l("Settings")
    category_label = _l("System settings")
    class_permission_name = _p.SETTING
    datamodel = ScopedInterface(_Setting)
    singular = _l("setting")
    list_title = _l("Settings")
    list_columns = ["description", "value", "key", "updated_at"]
    show_columns = ["description", "key", "value", "updated_at"]
    add_columns = ["key", "value"]
    edit_columns = ["value"]
    search_columns = ["key", "value"]
    base_order = ("key", "asc")
    add_form_extra_fields = {
        "key": SelectField(_l("Setting"), choices=type("_Keys", (), {"__iter__": lambda self: iter(
            _setting_key_choices())})(), validators=[DataRequired()], widget=Select2Widget()),
    }
    label_columns = {
        "key": _l("Key"),
        "description": _l("Setting"),
        "value": _l("Value"),
        "updated_at": _l("Updated at"),
    }
    description_columns = {
        "value": _l("Numbers use a dot for decimals; lists are separated by commas."),
    }
    del _Setting, _p