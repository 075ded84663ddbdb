"""Search filters of the generated pages: a related record is (not) / includes, flags, "within the next
N days", yes/no questions about a row, region, and filters that are not model columns
(``VirtualSearch``: ``related_search``, ``days_search``, ``yes_no_search``); ``ViewFilters`` lines
them up with what the search form offers."""
from datetime import timedelta

from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.filters import BaseFilter, FilterRelation, Filters
from flask_appbuilder.models.sqla import filters as fab_filters
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_
from wtforms import IntegerField
from wtforms.validators import Optional

from app.core import clock
from app.core.search import int_value
from app.core.widgets import search_select, yes_no_choices


class FilterRelatedIs(FilterRelation):
    name = _l("Is")
    arg_name = None  # page-only filter: never registered for the REST API's operators

    def _fk(self):
        prop = getattr(self.model, self.column_name).property
        return list(prop.local_columns)[0]

    def apply(self, query, value):
        pk = int_value(value)
        if pk is None:
            return query
        return query.filter(self._fk() == pk)


class FilterRelatedIsNot(FilterRelatedIs):
    name = _l("Is not")

    def apply(self, query, value):
        pk = int_value(value)
        if pk is None:
            return query
        fk = self._fk()
        return query.filter(or_(fk != pk, fk.is_(None)))


class FilterRelatedIncludes(FilterRelation):
    name = _l("Includes")
    arg_name = None

    def apply(self, query, value):
        pk = int_value(value)
        if pk is None:
            return query
        relation = getattr(self.model, self.column_name)
        target = relation.property.mapper.class_
        return query.filter(relation.any(target.__mapper__.primary_key[0] == pk))


class FilterBoolIs(BaseFilter):
    name = _l("Is")
    arg_name = None

    def apply(self, query, value):
        flag = int_value(value)
        if flag is None:
            return query
        return query.filter(getattr(self.model, self.column_name).is_(bool(flag)))


class FilterInRegion(BaseFilter):
    """Rows of one region, by the model's own region rule (``region_scope_clause``)."""

    name = _l("Is")
    arg_name = None

    def apply(self, query, value):
        pk = int_value(value)
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
        days = int_value(value)
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
        flag = int_value(value)
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
    return VirtualSearch(label, [filter_class], make_field=lambda: search_select(yes_no_choices, label))


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
