"""How values read in tables and on show pages: related records as links, flags as Yes/No badges,
dates, times and numbers in the reader's locale, enumerations translated."""
from flask import current_app, g, url_for
from flask_babel import gettext
from markupsafe import Markup, escape
from sqlalchemy import inspect as sa_inspect

from app.core import l10n


def views_by_model():
    """The registered page showing each model (the first one registered for it)."""
    from app.core.views import BaseModelView

    appbuilder = current_app.appbuilder
    cache = getattr(appbuilder, "_page_by_model", None)
    if cache is None:
        cache = {}
        for view in appbuilder.baseviews:
            if isinstance(view, BaseModelView):
                cache.setdefault(view.datamodel.obj, view)
        appbuilder._page_by_model = cache
    return cache


def can_read(view):
    """Whether the current user may open ``view``'s show page (cached for the request)."""
    from app.core.views import READ

    cache = g.setdefault("_page_read_access", {})
    name = view.class_permission_name
    if name not in cache:
        cache[name] = bool(current_app.appbuilder.sm.has_access("can_" + READ, name))
    return cache[name]


def record_link(obj):
    """A related record by name, linked to its show page when the user may read it."""
    if obj is None:
        return ""
    view = views_by_model().get(type(obj))
    label = str(obj)
    if view is None or not can_read(view):
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
