"""The datamodel every generated page and API uses.

It is Flask-AppBuilder's ``SQLAInterface`` with two changes:

* every query it builds (lists, counts, ``get`` for show/edit/delete/actions, related-field
  choices through ``get_related_interface``) carries the acting user's region scope;
* ``add``/``edit``/``delete`` go through ``core.services`` (entity rules, scope check after the
  flush, one commit, database refusals turned into field errors).
"""
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext

from app.core import scope, services


class ScopedInterface(SQLAInterface):
    def _scoped(self, query):
        clause = scope.clause_for(self.obj)
        return query if clause is None else query.filter(clause)

    def apply_all(self, query, *args, **kwargs):
        return super().apply_all(self._scoped(query), *args, **kwargs)

    def query_count(self, query, *args, **kwargs):
        return super().query_count(self._scoped(query), *args, **kwargs)

    def get_related_obj(self, col_name, value):
        rel = self.get_related_interface(col_name)
        return rel.get(value)

    def add(self, item, commit=True):
        services.save(item)

    def edit(self, item, commit=True):
        services.save(item)

    def delete(self, item, commit=True):
        services.delete(item)

    def delete_all(self, items):
        services.delete_many(items)


class FilterInRegion(BaseFilter):
    """Rows of a region-scoped model that belong to the given region(s), through the same
    ``region_scope_clause`` the scope uses: ``(col:outlet,opr:in_region,value:3)`` on engineers,
    service orders, stock, certifications, training records. The acting user's scope still applies."""

    name = lazy_gettext("In region")
    arg_name = "in_region"

    def apply(self, query, value):
        values = value if isinstance(value, (list, tuple)) else [value]
        try:
            ids = [int(v) for v in values if v not in (None, "")]
        except (TypeError, ValueError):
            ids = []
        return query.filter(self.model.region_scope_clause(ids))
