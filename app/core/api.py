"""Base class for every REST resource.

Translates HTTP to service calls and errors to statuses: every error answers
``{"message": ..., "errors": {field: [...]}}`` — 400 malformed JSON, 403/404 scope, 409 state or
duplicate, 422 validation — and a failed write leaves nothing behind.
"""
import functools
import sys

from flask import request
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_babel import gettext
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError

from app.core import services
from app.core.datamodel import ScopedInterface
from app.core.errors import BadRequest, DomainError, Invalid
from app.extensions import db

READ = "read"
WRITE = "write"
DELETE = "delete"

API_METHOD_PERMISSIONS = {
    "get": READ,
    "get_list": READ,
    "info": READ,
    "related": READ,
    "distinct": READ,
    "post": WRITE,
    "put": WRITE,
    "delete": DELETE,
}


def error_response(status, message, errors=None):
    return ModelRestApi.response(status, message=str(message), errors=errors or {})


def handle_domain_errors(fn):
    """Decorator for custom endpoints: DomainError → its JSON response, rollback on failure."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except DomainError as exc:
            db.session.rollback()
            return self.response(exc.status, **exc.to_dict())
        except IntegrityError as exc:
            db.session.rollback()
            err = services.integrity_error(exc)
            return self.response(err.status, **err.to_dict())

    return wrapper


def json_body():
    """The request's JSON object, or raise BadRequest (400) for anything else."""
    if not request.is_json:
        raise BadRequest(gettext("Request body must be JSON (Content-Type: application/json)."))
    data = request.get_json(silent=True)
    if data is None and request.get_data():
        raise BadRequest(gettext("Malformed JSON."))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest(gettext("The JSON body must be an object."))
    return data


def _marshmallow_errors(messages):
    if isinstance(messages, dict):
        out = {}
        for field, msgs in messages.items():
            if isinstance(msgs, dict):  # nested / list-index errors
                flat = []
                for v in msgs.values():
                    flat.extend(v if isinstance(v, list) else [str(v)])
                out[field] = [str(m) for m in flat]
            else:
                out[field] = [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
        return out
    return {"_schema": [str(m) for m in (messages if isinstance(messages, list) else [messages])]}


class BaseApi(ModelRestApi):
    """A resource at ``/api/v1/<resource_name>/`` with scoped reads and service-backed writes."""

    allow_browser_login = True
    method_permission_name = API_METHOD_PERMISSIONS
    max_page_size = 100
    page_size = 25

    # --- errors ----------------------------------------------------------------------------
    def response_400(self, message=None):
        if isinstance(message, (dict, list)):
            return self.response(400, message=gettext("Malformed request."), errors=_marshmallow_errors(message))
        return self.response(400, message=str(message or gettext("Malformed request.")), errors={})

    def response_401(self):
        return self.response(401, message=gettext("Not authenticated."), errors={})

    def response_403(self):
        return self.response(403, message=gettext("You are not allowed to do this."), errors={})

    def response_404(self):
        return self.response(404, message=gettext("Not found."), errors={})

    def response_422(self, message=None):
        if isinstance(message, (dict, list)):
            return self.response(422, message=gettext("Validation failed."), errors=_marshmallow_errors(message))
        return self.response(422, message=str(message or gettext("Validation failed.")), errors={})

    def response_500(self, message=None):
        # FAB's @safe calls this from inside its `except` block: answer domain errors properly.
        exc = sys.exc_info()[1]
        if isinstance(exc, DomainError):
            db.session.rollback()
            return self.response(exc.status, **exc.to_dict())
        if isinstance(exc, IntegrityError):
            db.session.rollback()
            err = services.integrity_error(exc)
            return self.response(err.status, **err.to_dict())
        db.session.rollback()
        return self.response(500, message=gettext("Internal error."), errors={})

    # --- writes ----------------------------------------------------------------------------
    def _load(self, schema, data, instance=None):
        try:
            if instance is not None:
                return schema.load(data, instance=instance)
            return schema.load(data)
        except ValidationError as err:
            db.session.rollback()
            raise Invalid(_marshmallow_errors(err.messages)) from None

    @handle_domain_errors
    def post_headless(self):
        data = json_body()
        item = self._load(self.add_model_schema, data)
        self.pre_add(item)
        services.save(item)
        self.post_add(item)
        return self.response(
            201,
            **{API_RESULT_RES_KEY: self._dump_one(item, self.add_model_schema), "id": self.datamodel.get_pk_value(item)},
        )

    @handle_domain_errors
    def put_headless(self, pk):
        data = json_body()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        merged = self._merge_update_item(item, data)
        with db.session.no_autoflush:
            item = self._load(self.edit_model_schema, merged, instance=item)
            self.pre_update(item)
        services.save(item)
        self.post_update(item)
        return self.response(200, **{API_RESULT_RES_KEY: self._dump_one(item, self.edit_model_schema)})

    @handle_domain_errors
    def delete_headless(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        self.pre_delete(item)
        services.delete(item)
        self.post_delete(item)
        return self.response(200, message=gettext("Deleted."))

    # --- derived (read-only) fields ---------------------------------------------------------
    def derived(self, ids):
        """``{id: {field: value}}`` of computed fields for these rows; one batch per page."""
        return {}

    def pre_get_list(self, data):
        extra = self.derived(data.get("ids", []))
        if extra:
            for pk, row in zip(data.get("ids", []), data.get(API_RESULT_RES_KEY, [])):
                row.update(extra.get(pk, {}))

    def pre_get(self, data):
        row = data.get(API_RESULT_RES_KEY)
        pk = data.get("id", row.get("id") if isinstance(row, dict) else None)
        if pk is not None and isinstance(row, dict):
            row.update(self.derived([pk]).get(pk, {}))

    def _dump_one(self, item, schema):
        """The written record as the show endpoint would render it (derived fields included)."""
        data = {API_RESULT_RES_KEY: self.show_model_schema.dump(item, many=False),
                "id": self.datamodel.get_pk_value(item)}
        self.pre_get(data)
        return data[API_RESULT_RES_KEY]


def scoped(model):
    return ScopedInterface(model)
