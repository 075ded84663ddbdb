"""Base page classes: generated CRUD pages that share the services and the region scope."""
from flask import abort, flash, request
from flask_appbuilder import IndexView, ModelView, expose
from flask_appbuilder.baseviews import get_filter_args
from flask_babel import gettext

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
    "api_read": READ,
    "api_get": READ,
    "api_readvalues": READ,
    "api_column_add": WRITE,
    "api_column_edit": WRITE,
    "add": WRITE,
    "edit": WRITE,
    "api_create": WRITE,
    "api_update": WRITE,
    "action": WRITE,
    "action_post": WRITE,
    "delete": DELETE,
    "api_delete": DELETE,
}


def scoped(model):
    return ScopedInterface(model)


class HomeView(IndexView):
    index_template = "index.html"


def apply_domain_error(form, exc):
    """Put a DomainError's field messages on the form fields; the rest becomes a flash."""
    leftovers = []
    for field, messages in exc.errors.items():
        target = getattr(form, field, None)
        if target is None and field.endswith("_id"):
            target = getattr(form, field[:-3], None)
        if target is not None:
            target.errors = list(getattr(target, "errors", []) or []) + [str(m) for m in messages]
        else:
            leftovers.extend(str(m) for m in messages)
    flash(" ".join([str(exc.message)] + leftovers), "danger")


class BaseModelView(ModelView):
    """CRUD pages whose writes go through the services and whose errors land on the form."""

    method_permission_name = VIEW_METHOD_PERMISSIONS
    page_size = 25

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

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        if name not in self.actions:
            abort(404)
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk))
        if item is None:
            abort(404)
        return super().action(name, pk)

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


def enum_field(enumeration, label, required=True):
    """A select field offering an enumeration's codes with translated labels."""
    from flask_appbuilder.fieldwidgets import Select2Widget
    from wtforms import SelectField
    from wtforms.validators import DataRequired, Optional

    class _LazyChoices:
        def __iter__(self):
            return iter(enumeration.choices())

    return SelectField(
        label,
        choices=_LazyChoices(),
        validators=[DataRequired() if required else Optional()],
        widget=Select2Widget(),
    )


def enum_formatter(enumeration):
    return lambda value: enumeration.label(value)
