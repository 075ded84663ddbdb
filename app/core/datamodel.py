"""The datamodel every generated page and API uses.

It is Flask-AppBuilder's ``SQLAInterface`` with two changes:

* every query it builds (lists, counts, ``get`` for show/edit/delete/actions, related-field
  choices through ``get_related_interface``) carries the acting user's region scope;
* ``add``/``edit``/``delete`` go through ``core.services`` (entity rules, scope check after the
  flush, one commit, database refusals turned into field errors).
"""
from flask import g, has_app_context
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext

from app.core import scope, services


COUNT_LIMIT = 10_000
"""Lists count their rows exactly up to this many; beyond it they say "more than 10,000" (pages)
or answer a lower bound with ``count_exact: false`` (API). Counting every row of a million-row
table on every page costs more than the page itself; the pager still knows whether a next page
exists, because the count always reaches one row past the page shown."""


def count_exact():
    """Whether the last list query of this request counted its rows exactly (``COUNT_LIMIT``)."""
    return g.get("_list_count_exact", True) if has_app_context() else True


class ScopedInterface(SQLAInterface):
    def _scoped(self, query):
        clause = scope.clause_for(self.obj)
        return query if clause is None else query.filter(clause)

    def apply_all(self, query, *args, **kwargs):
        return super().apply_all(self._scoped(query), *args, **kwargs)

    def query_count(self, query, *args, **kwargs):
        return super().query_count(self._scoped(query), *args, **kwargs)

    # --- lists: a bounded count and one statement for the page's rows -------------------------
    def capped_count(self, filters=None, page=None, page_size=None, select_columns=None):
        """``(count, exact)``: the matching rows counted up to ``COUNT_LIMIT`` + 1 (or one row past
        the requested page when that lies deeper). ``exact`` is false when the count reached that
        limit: then ``count`` is a lower bound, one row beyond what is shown, so the pager still
        offers the next page."""
        from sqlalchemy import func

        limit = max(COUNT_LIMIT, ((page or 0) + 1) * (page_size or 0)) + 1
        # only dotted columns matter to a count (the joins their filters need)
        dotted = [c for c in select_columns or () if "." in c] or None
        query = self._apply_inner_all(self._scoped(self.session.query(self.obj)), filters,
                                      select_columns=dotted, aliases_mapping={})
        pk = self.get_pk()
        inner = query.with_entities(pk).order_by(None).limit(limit).subquery()
        count = self.session.query(func.count()).select_from(inner).scalar() or 0
        return count, count < limit  # at the limit: a lower bound (at least this many rows)

    def _list_options(self, query, select_columns, eager):
        """No relation loads itself (the models' ``lazy="joined"``/``"selectin"`` would join or
        query whole chains per page); the ones the list shows are loaded with the page: many-to-one
        in the same statement, many-to-many in one more. With ``select_columns`` (the API) a
        many-to-one relation travels as its foreign key, which is selected with the row."""
        from sqlalchemy.orm import Load, joinedload, lazyload, selectinload

        options = [lazyload("*")]
        for path in eager or ():
            model, loader = self.obj, None
            for name in path.split("."):
                attr = getattr(model, name, None)
                prop = getattr(attr, "property", None)
                if prop is None or not hasattr(prop, "direction"):
                    break  # a column at the end of a dotted path
                how = joinedload if prop.direction.name == "MANYTOONE" else selectinload
                loader = how(attr) if loader is None else getattr(loader, how.__name__)(attr)
                model = prop.mapper.class_
            if loader is not None:
                options.append(loader.lazyload("*"))
        for name in select_columns or ():
            if "." not in name and self.is_relation_many_to_one(name):
                for fk in getattr(self.obj, name).property.local_columns:
                    options.append(Load(self.obj).load_only(getattr(self.obj, fk.key)))
        return query.options(*options)

    def query(self, filters=None, order_column="", order_direction="", page=None, page_size=None,
              select_columns=None, outer_default_load=False, eager=None):
        """FAB's list query with a bounded count (``capped_count``), no per-row loads and the
        default order broken by the primary key. ``eager``: relations shown with the rows (by
        default the many-to-many ones among ``select_columns``). ``count_exact()`` tells whether the
        count is exact."""
        paged = bool(page_size)
        count, exact = self.capped_count(filters, page, page_size, select_columns) if paged else (None, True)
        if has_app_context():
            g._list_count_exact = exact
        if eager is None:
            eager = [c for c in select_columns or () if "." not in c and self.is_relation_many_to_many(c)]
        query = self.apply_all(self.session.query(self.obj), filters, order_column, order_direction, page,
                               page_size, select_columns, outer_default_load)
        rows = self._list_options(query, select_columns, eager).all()
        if not paged:  # every matching row (a small reference table's choices): no count needed
            count = len(rows)
        result = []
        for item in rows:
            if hasattr(item, self.obj.__name__):
                result.append(getattr(item, self.obj.__name__))
            else:
                return count, rows
        return count, result

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
