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
"""
import json
import os
from datetime import timedelta

from flask import abort, current_app, flash, g, jsonify, request, url_for
from flask_appbuilder import ModelView, expose
from flask_appbuilder.actions import action as page_action
from flask_appbuilder.baseviews import get_filter_args
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_appbuilder.models.filters import BaseFilter, FilterRelation, Filters
from flask_appbuilder.models.sqla import filters as fab_filters
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_order_args, get_page_args, get_page_size_args
from flask_appbuilder.widgets import SearchWidget
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import inspect as sa_inspect, or_
from wtforms import BooleanField, Field, IntegerField, SelectField, StringField
from wtforms.fields import DateField, DateTimeField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import html_params

from app.core import clock, l10n, scope
from app.core.datamodel import ScopedInterface
from app.core.errors import DomainError
from app.extensions import db

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

SHOW_PAGE_SECTIONS = []
"""Callables ``(view, item) -> {template variable: value}`` every show page adds, registered by
packages that enrich all records' pages (the audit trail's history section)."""

RELATED_PAGE_SIZE = 20
"""Rows one related-field search returns (select2 asks for the next page when scrolling)."""

# Columns a related record is searched by and sorted on, first match wins.
SEARCH_FIELD_CANDIDATES = ("code", "sku", "employee_no", "number", "name", "username", "first_name",
                           "last_name", "email")
ORDER_FIELD_CANDIDATES = ("code", "sku", "employee_no", "number", "name", "username")


def scoped(model):
    return ScopedInterface(model)


# --- display helpers ---------------------------------------------------------------------------

def _views_by_model():
    """The registered page showing each model (the first one registered for it)."""
    appbuilder = current_app.appbuilder
    cache = getattr(appbuilder, "_page_by_model", None)
    if cache is None:
        cache = {}
        for view in appbuilder.baseviews:
            if isinstance(view, BaseModelView):
                cache.setdefault(view.datamodel.obj, view)
        appbuilder._page_by_model = cache
    return cache


def _can_read(view):
    """Whether the current user may open ``view``'s show page (cached for the request)."""
    cache = g.setdefault("_page_read_access", {})
    name = view.class_permission_name
    if name not in cache:
        cache[name] = bool(current_app.appbuilder.sm.has_access("can_" + READ, name))
    return cache[name]


COMMON_LABELS = {"id": _l("ID"), "created_at": _l("Created at"), "updated_at": _l("Updated at")}
"""Labels of the columns many models share (FAB would show "Created At", in English, in the
search filters and the record history)."""


def record_link(obj):
    """A related record by name, linked to its show page when the user may read it."""
    if obj is None:
        return ""
    view = _views_by_model().get(type(obj))
    label = str(obj)
    if view is None or not _can_read(view):
        return escape(label)
    url = url_for(f"{view.endpoint}.show", pk=sa_inspect(obj).identity[0])
    return Markup('<a href="{}">{}</a>').format(url, label)


def related_formatter(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set)):
        return Markup(", ").join(record_link(v) for v in value)
    return record_link(value)


def yes_no(value, yes_style="success"):
    if value is None:
        return ""
    if value:
        return Markup('<span class="label label-{}">{}</span>').format(yes_style, gettext("Yes"))
    return Markup('<span class="label label-default">{}</span>').format(gettext("No"))


def yes_is_bad(value):
    """A flag where yes is a problem (a breach, an expiry): red."""
    return yes_no(value, "danger")


def local_datetime(value):
    """Kept on one line in a table cell ("2026年11月23日 14:30")."""
    text = l10n.datetime_text(value)
    return Markup('<span class="text-nowrap">{}</span>').format(text) if text else ""


def local_date(value):
    text = l10n.date_text(value)
    return Markup('<span class="text-nowrap">{}</span>').format(text) if text else ""


def local_number(value):
    return l10n.number_text(value)


def enum_formatter(enumeration):
    return lambda value: enumeration.label(value)


def badge(text, kind="default"):
    return Markup('<span class="label label-{}">{}</span>').format(kind, text)


# --- form fields -------------------------------------------------------------------------------

def enum_field(enumeration, label, required=True):
    """A select field offering an enumeration's codes with translated labels."""

    class _LazyChoices:
        def __iter__(self):
            return iter(enumeration.choices())

    return SelectField(
        label,
        choices=_LazyChoices(),
        validators=[DataRequired() if required else Optional()],
        widget=Select2Widget(),
    )


def _search_select(choices, label=""):
    """A plain select for the search form; ``choices`` evaluated per render (translated)."""

    class _Choices:
        def __iter__(self):
            return iter([(code, str(text)) for code, text in choices()])

    return SelectField(label, choices=_Choices(), validators=[Optional()], widget=Select2Widget())


def _yes_no_choices():
    return [("1", _l("Yes")), ("0", _l("No"))]


def _scalar_default(datamodel, col):
    default = datamodel.list_columns[col].default
    return default.arg if default is not None and default.is_scalar else None


def _load_scoped(model, raw_ids, clause=None):
    """``{id: row}`` for the ids the current user may see (``clause``: a narrower condition than
    the region scope, e.g. the users a related field offers); ``None`` when an id is malformed."""
    ids = []
    for raw in raw_ids:
        try:
            ids.append(int(raw))
        except (TypeError, ValueError):
            return None
    pk = model.__mapper__.primary_key[0]
    query = db.session.query(model).filter(pk.in_(ids))
    clause = scope.clause_for(model) if clause is None else clause
    if clause is not None:
        query = query.filter(clause)
    return {getattr(row, pk.key): row for row in query}


class AjaxSelectWidget:
    """``<select>`` holding only the chosen record(s); select2 fetches the rest as the user types."""

    def __call__(self, field, **kwargs):
        attrs = {
            "id": kwargs.pop("id", field.id),
            "name": kwargs.pop("name_", None) or field.name,
            "class": "form-control app-ajax-select",
            "data-url": field.search_url(),
            "data-placeholder": gettext("Type to search…"),
            "data-allow-clear": "false" if field.flags.required else "true",
        }
        if field.multiple:
            attrs["multiple"] = True
        if field.depends:
            attrs["data-depends"] = json.dumps(field.depends)
        if field.flags.required:
            attrs["required"] = True
        options = [] if field.multiple else [Markup('<option value=""></option>')]
        seen = set()
        for obj, selected in [(o, True) for o in field.selected_objects()] + [
            (o, False) for o in field.extra_objects
        ]:
            pk = sa_inspect(obj).identity[0]
            if pk in seen:
                continue
            seen.add(pk)
            options.append(Markup("<option {}>{}</option>").format(
                Markup(html_params(value=pk, selected=selected)), str(obj)))
        return Markup("<select {}>{}</select>").format(Markup(html_params(**attrs)), Markup("").join(options))


class AjaxSelectField(Field):
    """A related record (or several) chosen by AJAX search, accepted only within the user's scope.

    A submitted id that does not exist or lies outside the user's regions is refused as an
    invalid choice, so a form can never attach a record the user could not have found.
    """

    widget = AjaxSelectWidget()

    def __init__(self, label=None, validators=None, model=None, url=None, multiple=False, depends=None,
                 clause=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.model = model
        self.clause = clause  # () -> the condition on the rows offered (as the search offers them)
        self._url = url
        self.multiple = multiple
        self.depends = depends or {}
        self.extra_objects = []
        self._invalid = False

    def search_url(self):
        return self._url() if callable(self._url) else self._url

    def selected_objects(self):
        if self.data is None:
            return []
        if isinstance(self.data, (list, tuple, set)):
            return list(self.data)
        return [self.data]

    def process_data(self, value):
        if self.multiple:
            self.data = list(value) if value else []
        else:
            self.data = value

    def process_formdata(self, valuelist):
        values = [v for v in valuelist if v not in ("", "__None", None)]
        if not self.multiple:
            values = values[:1]
        if not values:
            self.data = [] if self.multiple else None
            return
        rows = _load_scoped(self.model, values, self.clause() if self.clause is not None else None)
        if rows is None or any(int(v) not in rows for v in values):
            self._invalid = True
            self.data = [] if self.multiple else None
            return
        found = [rows[int(v)] for v in values]
        self.data = found if self.multiple else found[0]

    def pre_validate(self, form):
        if self._invalid:
            raise ValidationError(gettext("Not a valid choice: pick a record from the list."))

    def _value(self):
        return ",".join(str(sa_inspect(o).identity[0]) for o in self.selected_objects())


class DateInputWidget(BS3TextFieldWidget):
    input_type = "date"


class LocalDateTimeField(DateTimeField):
    """A datetime typed and shown in the business time zone, stored as naive UTC."""

    class Widget(BS3TextFieldWidget):
        input_type = "datetime-local"

    widget = Widget()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                                     "%Y-%m-%d %H:%M:%S"])
        super().__init__(label, validators, **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        if self.data is None:
            return ""
        return clock.to_local(self.data).strftime("%Y-%m-%dT%H:%M")

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None:
            self.data = clock.to_utc(self.data)


# --- search filters ----------------------------------------------------------------------------

def _int_value(value):
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class FilterRelatedIs(FilterRelation):
    name = _l("Is")
    arg_name = None  # page-only filter: never registered for the REST API's operators

    def _fk(self):
        prop = getattr(self.model, self.column_name).property
        return list(prop.local_columns)[0]

    def apply(self, query, value):
        pk = _int_value(value)
        if pk is None:
            return query
        return query.filter(self._fk() == pk)


class FilterRelatedIsNot(FilterRelatedIs):
    name = _l("Is not")

    def apply(self, query, value):
        pk = _int_value(value)
        if pk is None:
            return query
        fk = self._fk()
        return query.filter(or_(fk != pk, fk.is_(None)))


class FilterRelatedIncludes(FilterRelation):
    name = _l("Includes")
    arg_name = None

    def apply(self, query, value):
        pk = _int_value(value)
        if pk is None:
            return query
        relation = getattr(self.model, self.column_name)
        target = relation.property.mapper.class_
        return query.filter(relation.any(target.__mapper__.primary_key[0] == pk))


class FilterBoolIs(BaseFilter):
    name = _l("Is")
    arg_name = None

    def apply(self, query, value):
        flag = _int_value(value)
        if flag is None:
            return query
        return query.filter(getattr(self.model, self.column_name).is_(bool(flag)))


class FilterInRegion(BaseFilter):
    """Rows of one region, by the model's own region rule (``region_scope_clause``)."""

    name = _l("Is")
    arg_name = None

    def apply(self, query, value):
        pk = _int_value(value)
        if pk is None:
            return query
        return query.filter(self.model.region_scope_clause([pk]))


class FilterDateWithinDays(BaseFilter):
    """``date_column`` falls between today and today + N days (N typed by the user).

    With ``include_past`` anything before today matches too (overdue, already expired).
    """

    name = _l("Within the next N days")
    arg_name = None
    date_column = None
    include_past = False

    def extra_clause(self):
        return None

    def apply(self, query, value):
        days = _int_value(value)
        if days is None or days < 0:
            return query
        column = getattr(self.model, self.date_column)
        today = clock.today()
        query = query.filter(column <= today + timedelta(days=days))
        if not self.include_past:
            query = query.filter(column >= today)
        extra = self.extra_clause()
        return query if extra is None else query.filter(extra)


class FilterYesNo(BaseFilter):
    """A yes/no question about a row: subclasses give ``clause()`` for *yes*."""

    name = _l("Is")
    arg_name = None

    def clause(self):
        raise NotImplementedError

    def apply(self, query, value):
        flag = _int_value(value)
        if flag is None:
            return query
        clause = self.clause()
        return query.filter(clause if flag else ~clause)


TEXT_FILTERS = [fab_filters.FilterContains, fab_filters.FilterEqual, fab_filters.FilterStartsWith,
                fab_filters.FilterNotContains, fab_filters.FilterNotEqual]
ENUM_FILTERS = [fab_filters.FilterEqual, fab_filters.FilterNotEqual]


class VirtualSearch:
    """A search filter that is not a model column: a label, its filters and its input field."""

    def __init__(self, label, filters, make_field=None, model=None, search_fields=None):
        self.label = label
        self.filters = list(filters)
        self.make_field = make_field
        self.model = model
        self.search_fields = search_fields


def related_search(model, filter_class, label, search_fields=None):
    """Filter by a record of ``model`` picked with the AJAX search (e.g. region, outlet)."""
    return VirtualSearch(label, [filter_class], model=model, search_fields=search_fields)


def days_search(filter_class, label):
    """Filter by a number of days typed by the user."""
    return VirtualSearch(label, [filter_class], make_field=lambda: IntegerField(
        label, validators=[Optional()], widget=BS3TextFieldWidget()))


def yes_no_search(filter_class, label):
    return VirtualSearch(label, [filter_class], make_field=lambda: _search_select(_yes_no_choices, label))


class ViewFilters(Filters):
    """FAB's filters with our operators per column, virtual columns and safe index lookups.

    FAB looks a requested filter up by position in the column's list of filters; the same list is
    used for the search form and for applying, so custom filters line up with what the user chose.
    """

    def __init__(self, datamodel, search_columns, column_filters):
        self.column_filters = column_filters
        super().__init__(fab_filters.SQLAFilterConverter, datamodel, search_columns=search_columns)
        self._search_filters = self._get_filters(search_columns)

    def _get_filters(self, cols):
        result = {}
        for col in list(cols) + [c for c in self.column_filters if c not in cols]:
            classes = self.column_filters.get(col)
            if classes is not None:
                result[col] = [cls(col, self.datamodel) for cls in classes]
                continue
            converted = self.filter_converter(self.datamodel).convert(col)
            if converted:
                result[col] = converted
        return result

    def add_filter_index(self, column_name, filter_instance_index, value):
        candidates = self._search_filters.get(column_name) or self._all_filters.get(column_name) or []
        if 0 <= filter_instance_index < len(candidates):
            self._add_filter(candidates[filter_instance_index], value)


class PageSearchWidget(SearchWidget):
    """FAB's search widget; AJAX fields carry the records already chosen in active filters."""

    def __call__(self, **kwargs):
        form = self.template_args["form"]
        active = {}
        for flt, value in self.filters.get_filters_values():
            values = value if isinstance(value, (list, tuple)) else [value]
            active.setdefault(flt.column_name, []).extend(v for v in values if v not in ("", None))
        for col in self.template_args["include_cols"]:
            field = form[col]
            if isinstance(field, AjaxSelectField) and active.get(col):
                rows = _load_scoped(field.model, active[col]) or {}
                field.extra_objects = list(rows.values())
        return super().__call__(**kwargs)


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
    show_template = "pages/show.html"
    list_template = "pages/list.html"

    singular = None
    """Label of one record (``_l("engineer")``): titles become "Add …", "Edit …", "… details"."""
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
        self._filters = ViewFilters(dm, self.search_columns, self._column_filters())
        self._ajax = {}

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
        mapper = sa_inspect(model)
        names = {c.key for c in mapper.column_attrs}
        search_fields = search_fields or [c for c in SEARCH_FIELD_CANDIDATES if c in names]
        order = [getattr(model, c) for c in ORDER_FIELD_CANDIDATES if c in names][:1]
        pk = mapper.primary_key[0]

        query = db.session.query(model)
        # the region scope, users by the regions they share, or the column's own rule
        clause = scope.related_clause(self.datamodel.obj, col_name, model)
        if clause is not None:
            query = query.filter(clause)
        term = (request.args.get("q") or "").strip()[:100]
        if term and search_fields:
            query = query.filter(or_(*[getattr(model, c).icontains(term, autoescape=True)
                                       for c in search_fields]))
        for param, column in self.related_depends.get(col_name, {}).items():
            value = _int_value(request.args.get(param))
            if value is not None:
                query = query.filter(getattr(model, column) == value)
        page = max(_int_value(request.args.get("page")) or 1, 1)
        rows = (query.order_by(*order, pk).offset((page - 1) * RELATED_PAGE_SIZE)
                .limit(RELATED_PAGE_SIZE + 1).all())
        more = len(rows) > RELATED_PAGE_SIZE
        results = [{"id": getattr(r, pk.key), "text": str(r)} for r in rows[:RELATED_PAGE_SIZE]]
        return jsonify(results=results, more=more)

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
                                          page_size=page_size)
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
            **kwargs,
        )
        return widgets

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
            export.count()  # a filter value the database refuses: say so before streaming
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
