"""Form fields and widgets of the generated pages: enumerations as selects, related records chosen by
AJAX search within the user's scope, dates and local times with the browser's own pickers, and the
list's search form."""
import json

from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_appbuilder.widgets import ListWidget, SearchWidget, ShowWidget
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import inspect as sa_inspect
from wtforms import Field, SelectField
from wtforms.fields import DateTimeField
from wtforms.validators import DataRequired, Optional, ValidationError
from wtforms.widgets import html_params

from app.core import clock
from app.core.search import load_scoped, picker_label


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


def search_select(choices, label=""):
    """A plain select for the search form; ``choices`` evaluated per render (translated)."""

    class _Choices:
        def __iter__(self):
            return iter([(code, str(text)) for code, text in choices()])

    return SelectField(label, choices=_Choices(), validators=[Optional()], widget=Select2Widget())


def yes_no_choices():
    return [("1", _l("Yes")), ("0", _l("No"))]


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
                Markup(html_params(value=pk, selected=selected)), picker_label(obj)))
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
        rows = load_scoped(self.model, values, self.clause() if self.clause is not None else None)
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
                rows = load_scoped(field.model, active[col]) or {}
                field.extra_objects = list(rows.values())
        return super().__call__(**kwargs)


class PageListWidget(ListWidget):
    """The list's table (``pages/list_widget.html``): an add button named after the record, named
    row buttons, short values on one line. Extra arguments: ``add_label``, ``wrap_columns``."""

    template = "pages/list_widget.html"


class PageShowWidget(ShowWidget):
    """A record's fields and its buttons (``pages/show_widget.html``): edit, the record actions,
    delete and back. Extra arguments: ``edit_url``, ``delete_url`` (``None``: no button)."""

    template = "pages/show_widget.html"
