"""Text a page cannot store is the user's mistake: a form error or a 400, never a 500.

PostgreSQL refuses a NUL character in text ("A string literal cannot contain NUL") and UTF-8
cannot encode an unpaired surrogate. Two checks, before anything is queried or written:

* **generated forms** (add and edit of every ``ModelView``): ``StorableTextForm`` puts an error on
  each field holding such text and validates nothing else (FAB's ``Unique`` validator would query
  the database with the value) — the form comes back with the error under the field;
* **every other page** (the custom pages' forms, the login page, search filters in the query
  string, uploads' file names): ``check_page_request`` answers 400 with a page naming the field.

The API has its own check with its own error shape (``core.api_input``); the rule — which text
cannot be stored — is the one defined there.
"""
from flask import current_app, request
from flask_babel import gettext
from werkzeug.exceptions import BadRequest

from app.core.api_input import unstorable


def field_message():
    return gettext("This text contains a character that cannot be saved (a NUL character or an unpaired "
                   "surrogate). Remove it and try again.")


def _bad_values(values):
    return any(unstorable(v) for v in values or ())


class StorableTextForm:
    """Mixed into a WTForms form class: text that cannot be stored is an error on its field."""

    def validate(self, extra_validators=None):
        refused = [field for field in self if _bad_values(field.raw_data)]
        if not refused:
            return super().validate(extra_validators)
        for field in refused:
            field.errors = [field_message()]
        return False


def storable_text_form(form_class):
    """``form_class`` with ``StorableTextForm`` in front (the same class when it is there already)."""
    if form_class is None or issubclass(form_class, StorableTextForm):
        return form_class
    return type(form_class.__name__, (StorableTextForm, form_class), {"__module__": form_class.__module__})


def _form_checked_by_view():
    """Whether the view serving this request checks its form fields itself (``StorableTextForm``)."""
    endpoint = request.endpoint or ""
    view = getattr(current_app.view_functions.get(endpoint), "__self__", None)
    return endpoint.rsplit(".", 1)[-1] in ("add", "edit") and getattr(view, "checks_form_text", False)


def _refused_fields():
    fields = [key if not unstorable(key) else "?" for key, values in request.args.lists()
              if unstorable(key) or _bad_values(values)]
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
            "multipart/form-data", "application/x-www-form-urlencoded"):
        if not _form_checked_by_view():
            fields += [key if not unstorable(key) else "?" for key, values in request.form.lists()
                       if unstorable(key) or _bad_values(values)]
        fields += [key for key, upload in request.files.items(multi=True) if unstorable(upload.filename)]
    return list(dict.fromkeys(fields))


def check_page_request():
    """``before_request``: 400 with a page naming the fields (the API is ``core.api_input``'s)."""
    if request.path.startswith("/api/") or request.endpoint in (None, "static", "appbuilder.static"):
        return None
    fields = _refused_fields()
    if not fields:
        return None
    from app.core import error_pages

    text = gettext("These fields contain a character that cannot be saved (a NUL character or an unpaired "
                   "surrogate): %(fields)s. Go back, remove it and try again; nothing was saved.",
                   fields=", ".join(fields))
    return error_pages.render(BadRequest(description=text), text=text)


def install(app):
    app.before_request(check_page_request)
