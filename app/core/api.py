"""Base class for every REST resource.

Translates HTTP to service calls and errors to statuses: every error answers
``{"message": ..., "errors": {field: [...]}}`` — 400 malformed JSON, 403/404 scope, 409 state or
duplicate, 422 validation — and a failed write leaves nothing behind.

The payload contract (``IdSchemaConverter``): fields are the models' column names; a relation is
the related row's id (``"outlet": 3``), a many-to-many relation a sorted list of ids, both ways;
enumerations are their lower-case codes; dates ``YYYY-MM-DD``; date-times ISO 8601 in UTC (an
offset in the input is converted, output carries none); decimals travel as strings. Unknown fields
are refused (422). Lists: ``page_size`` at most 100; FAB's rison filters on the ``search_columns``
plus ``in_region`` (region of a scoped row), ``status_now`` (certification) and ``low`` (stock).
"""
import functools
import re
import sys
import threading

from flask import current_app, request
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_appbuilder.exceptions import ApplyFilterException
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, missing, validate
from marshmallow_sqlalchemy.fields import Related, RelatedList
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import lazyload

from app.core import clock, precision, scope, services
from app.core.api_input import INT_MAX, INT_MIN, fits_integer
from app.core.datamodel import ScopedInterface, count_exact
from app.core.errors import BadRequest, DomainError, Forbidden, Invalid
from app.extensions import db

_SCHEMA_LOAD = threading.Lock()

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
        except DataError:  # a value the column cannot hold
            db.session.rollback()
            return self.response(422, message=gettext("A value is out of range or not valid."), errors={})

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


def N_(message):
    """Marks a message for extraction only (it is translated later, by ``gettext``)."""
    return message


# marshmallow's own messages, in English whatever the locale: answered in the reader's language
# like every other message of the API (looked up by their English text, formatted ones by pattern).
MARSHMALLOW_MESSAGES = frozenset({
    N_("Missing data for required field."), N_("Field may not be null."), N_("Invalid value."),
    N_("Not a valid string."), N_("Not a valid utf-8 string."), N_("Not a valid number."), N_("Number too large."),
    N_("Not a valid integer."), N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid boolean."), N_("Not a valid datetime."), N_("Not a valid date."), N_("Not a valid time."),
    N_("Not a valid list."), N_("Not a valid mapping type."), N_("Invalid type."), N_("Invalid input type."),
    N_("Unknown field."), N_("Not a valid email address."), N_("Not a valid URL."), N_("Not a valid UUID."),
    N_("String does not match expected pattern."), N_("Invalid input."),
})
MARSHMALLOW_PATTERNS = [
    (re.compile(r"Shorter than minimum length (?P<min>\d+)\."), N_("Shorter than minimum length %(min)s.")),
    (re.compile(r"Longer than maximum length (?P<max>\d+)\."), N_("Longer than maximum length %(max)s.")),
    (re.compile(r"Length must be between (?P<min>\d+) and (?P<max>\d+)\."),
     N_("Length must be between %(min)s and %(max)s.")),
    (re.compile(r"Length must be (?P<equal>\d+)\."), N_("Length must be %(equal)s.")),
    (re.compile(r"Must be one of: (?P<choices>.*)\.", re.S), N_("Must be one of: %(choices)s.")),
    (re.compile(r"Must be greater than or equal to (?P<min>[^ ]+) and less than or equal to (?P<max>[^ ]+)\."),
     N_("Must be from %(min)s to %(max)s.")),
    (re.compile(r"Must be greater than or equal to (?P<n>[^ ]+)\."), N_("Must be at least %(n)s.")),
    (re.compile(r"Must be less than or equal to (?P<n>[^ ]+)\."), N_("Must be at most %(n)s.")),
]


def translated(message):
    """One error message in the reader's language (marshmallow's own ones included)."""
    text = str(message)
    if text in MARSHMALLOW_MESSAGES:
        return gettext(text)
    for pattern, msgid in MARSHMALLOW_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return gettext(msgid, **found.groupdict())
    return text


def _marshmallow_errors(messages):
    if isinstance(messages, dict):
        out = {}
        for field, msgs in messages.items():
            if isinstance(msgs, dict):  # nested / list-index errors
                flat = []
                for v in msgs.values():
                    flat.extend(v if isinstance(v, list) else [str(v)])
                out[field] = [translated(m) for m in flat]
            else:
                out[field] = [translated(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
        return out
    return {"_schema": [translated(m) for m in (messages if isinstance(messages, list) else [messages])]}


# --- payload schemas: relations by id, enumerations and ranges checked -------------------------

class _ForeignKey:
    __slots__ = ("id",)

    def __init__(self, value):
        self.id = value


class RelatedById(Related):
    """A many-to-one relation read and written as the related row's id (``"outlet": 3``).

    Writing looks the id up (422 naming the field when there is no such row, instead of
    marshmallow-sqlalchemy's habit of inventing a new related row) and refuses (403) a row of a
    region-scoped model that lies outside the acting user's regions.
    """

    def get_value(self, obj, attr, accessor=None, default=missing):
        """The related row's id from the foreign key (no load of the related row), unless the
        relation is already loaded (or set and not yet flushed)."""
        from sqlalchemy import inspect as sa_inspect

        state = sa_inspect(obj, raiseerr=False)
        prop = getattr(type(obj), attr, None)
        prop = getattr(prop, "property", None)
        columns = list(getattr(prop, "local_columns", ()) or ())
        if state is None or attr in state.dict or len(columns) != 1 or prop.direction.name != "MANYTOONE":
            return super().get_value(obj, attr, accessor=accessor, default=default)
        return _ForeignKey(getattr(obj, columns[0].key))

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, _ForeignKey):
            return value.id
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value, attr=None, data=None, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(gettext("Give the id (a whole number) of a record."))
        if not fits_integer(value):  # no row has it (and PostgreSQL would refuse the query)
            raise ValidationError(gettext("There is no record with id %(id)s.", id=value))
        model = self.related_model
        # the row only: its eager relations (collections a write never reads) load when touched
        obj = db.session.get(model, value, options=[lazyload("*")])
        if obj is None:
            raise ValidationError(gettext("There is no record with id %(id)s.", id=value))
        if not scope.in_scope(obj):
            raise Forbidden(errors={self.name: [scope.outside_message()]})
        return obj


class RelatedIdList(RelatedList):
    """A many-to-many relation read and written as a list of ids (``"product_categories": [1, 3]``)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return sorted(item.id for item in value)

    def _deserialize(self, value, attr, data, **kwargs):
        items = super()._deserialize(value, attr, data, **kwargs)
        seen, unique = set(), []
        for item in items:
            if item.id not in seen:
                seen.add(item.id)
                unique.append(item)
        return unique


class UtcDateTime(fields.DateTime):
    """Date-times travel as ISO 8601; stored naive UTC. An offset in the input is converted to UTC;
    a value without one is taken as UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if result is not None and result.tzinfo is not None:
            result = clock.to_utc(result)
        return result


class IdSchemaConverter(Model2SchemaConverter):
    """FAB's converter with one rule for relations everywhere (reads and writes): ids.

    FAB 5.3 dumps relations on ``GET`` as nested objects (leaking every column of the related row,
    users' password hashes included) while ``POST``/``PUT`` take ids. Here a relation is its id (or a
    sorted id list) in both directions; only explicitly dotted columns (``outlet.name``) nest.
    Columns declaring ``info={"enum": ...}`` or ``min``/``max`` get the matching validators, so an
    invalid code or an out-of-range number is a field error of the same 422 as a missing field.
    """

    def _column2relation(self, datamodel, column, nested=False, parent_schema_name=None):
        if nested and column.children:
            return super()._column2relation(datamodel, column, nested=True, parent_schema_name=parent_schema_name)
        name = column.name
        target = datamodel.get_related_model(name).__tablename__
        if datamodel.is_relation_many_to_one(name):
            nullable = datamodel.is_nullable(name)
            field = RelatedById(required=not nullable, allow_none=nullable,
                                metadata={"type": "integer", "minimum": 1, "maximum": INT_MAX,
                                          "description": f"id of a {target} row"})
        else:
            required = bool(datamodel.get_info(name).get("required", False))
            field = RelatedIdList(RelatedById(metadata={"type": "integer", "minimum": 1, "maximum": INT_MAX}),
                                  required=required,
                                  metadata={"description": f"ids of {target} rows"})
        field.unique = False
        return field

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        field = super()._column2field(datamodel, column, nested=nested, parent_schema_name=parent_schema_name)
        sqla_column = datamodel.list_columns.get(column.name)
        if sqla_column is None or datamodel.is_relation(column.name):
            return field
        if type(field) is fields.DateTime:
            field.__class__ = UtcDateTime
        info = getattr(sqla_column, "info", None) or {}
        if info.get("generated"):  # numbered by the service when left out (``core.numbering``)
            field.required = False
            field.allow_none = True
        enum = info.get("enum")
        if enum is not None:
            field.validators.append(validate.OneOf(
                enum.codes, error=_l("Not a valid choice. Choose one of: %(codes)s.", codes="{choices}")))
        low, high = info.get("min"), info.get("max")
        if low is not None and high is not None:
            error = _l("Must be between %(min)s and %(max)s.", min="{min}", max="{max}")
        elif low is not None:
            error = _l("Must be at least %(n)s.", n="{min}")
        else:
            error = _l("Must be at most %(n)s.", n="{max}")
        if low is not None or high is not None:
            field.validators.append(validate.Range(min=low, max=high, error=error))
        if type(field) is fields.Integer and low is None and high is None:
            # what an INTEGER column holds: beyond it, a field error instead of a database failure
            field.validators.append(validate.Range(min=INT_MIN, max=INT_MAX, error=_l(
                "Must be between %(min)s and %(max)s.", min="{min}", max="{max}")))
        if isinstance(field, fields.Decimal):
            field.metadata = {**field.metadata, **decimal_metadata(sqla_column, low, high)}
            precision.exact_decimal_field(field, sqla_column)  # loaded exactly, never rounded
        return field


def decimal_metadata(column, low, high):
    """How a decimal travels, for the OpenAPI spec: as text (``"12.50"``), with its digits."""
    precision = getattr(column.type, "precision", None) or 18
    scale = getattr(column.type, "scale", None) or 0
    whole = max(precision - scale, 1)
    pattern = f"^-?[0-9]{{1,{whole}}}" + (f"(\\.[0-9]{{1,{scale}}})?$" if scale else "$")
    bounds = f" from {low} to {high}" if low is not None and high is not None else ""
    return {"type": "string", "format": "decimal", "pattern": pattern,
            "description": f"a decimal number as text{bounds}"}


class _OfferedRows(ScopedInterface):
    """A related model's rows restricted to what one related field offers (``clause``; ``None``:
    everything)."""

    def __init__(self, model, clause):
        super().__init__(model)
        self._clause = clause

    def _scoped(self, query):
        return query if self._clause is None else query.filter(self._clause)


class BaseApi(ModelRestApi):
    """A resource at ``/api/v1/<resource_name>/`` with scoped reads and service-backed writes."""

    allow_browser_login = True
    method_permission_name = API_METHOD_PERMISSIONS
    model2schemaconverter = IdSchemaConverter
    max_page_size = 100
    page_size = 25

    # --- metadata ----------------------------------------------------------------------------
    def _may_write(self):
        return current_app.appbuilder.sm.has_access(f"can_{WRITE}", self.class_permission_name)

    # ``_info`` lists the add/edit fields with the choices of every relation: only for users who
    # may write (a reader learns nothing from them, and the choices cost queries).
    def _get_fields_info(self, cols, model_schema, filter_rel_fields, **kwargs):
        if not self._may_write():
            return []
        return super()._get_fields_info(cols, model_schema, filter_rel_fields, **kwargs)

    def _get_list_related_field(self, field, filter_rel_field, page=None, page_size=None):
        """A relation's choices in ``_info``: the rows its field offers the acting user, as the
        pages' related search does (``scope.related_clause``: the region scope, users by the
        regions they share, or the column's own rule, e.g. a delegation's delegate)."""
        if not isinstance(field, (Related, RelatedList)):
            return 0, []
        model = self.datamodel.get_related_model(field.name)
        datamodel = _OfferedRows(model, scope.related_clause(self.datamodel.obj, field.name, model))
        filters = datamodel.get_filters(datamodel.get_search_columns_list())
        page, page_size = self._sanitize_page_args(page, page_size)
        order_column, order_direction = self.order_rel_fields.get(field.name) or ("", "")
        if filter_rel_field:
            filters = filters.add_filter_list(filter_rel_field)
        count, values = datamodel.query(filters, order_column, order_direction, page=page, page_size=page_size)
        return count, [{"id": datamodel.get_pk_value(value), "value": str(value)} for value in values]

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        # gettext("") answers the catalogue's header: no description means an empty one.
        if not self.description_columns.get(field.name):
            info["description"] = ""
        return info

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
        if isinstance(exc, ApplyFilterException) or isinstance(exc, DataError):
            # a filter or value the database cannot take (an id beyond INTEGER, a number too large)
            return self.response(400, message=gettext("A value is out of range or not valid."), errors={})
        return self.response(500, message=gettext("Internal error."), errors={})

    # --- writes ----------------------------------------------------------------------------
    def _load(self, schema, data, instance=None):
        # The schemas are shared by every request of the process, and marshmallow-sqlalchemy keeps
        # the instance being loaded on the schema itself: concurrent loads in threads would mix
        # up their rows. Loading takes microseconds; writers queue here briefly.
        try:
            with _SCHEMA_LOAD:
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

    @staticmethod
    def _int_pk(pk):
        try:
            return int(pk)
        except (TypeError, ValueError):
            return None

    @handle_domain_errors
    def put_headless(self, pk):
        pk = self._int_pk(pk)
        if pk is None:
            return self.response_404()
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
        pk = self._int_pk(pk)
        if pk is None:
            return self.response_404()
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
        # ``count`` is exact up to ``COUNT_LIMIT`` rows; beyond, it is that lower bound
        data["count_exact"] = count_exact()
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


class _PreparedJsonSchema:
    """FAB checks every list request's rison arguments with ``jsonschema.validate``, which first
    validates the *schema* itself against the JSON Schema meta-schema: half of a list request's
    time. The schemas are fixed per endpoint, so each is checked once and its validator kept; the
    arguments are validated exactly as before (same errors, same messages)."""

    def __init__(self, module):
        self._module = module
        self._validators = {}

    def __getattr__(self, name):
        return getattr(self._module, name)

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:
            return self._module.validate(instance, schema, *args, **kwargs)
        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            cls = self._module.validators.validator_for(schema)
            cls.check_schema(schema)
            entry = (schema, cls(schema))
            self._validators[id(schema)] = entry
        error = self._module.exceptions.best_match(entry[1].iter_errors(instance))
        if error is not None:
            raise error


def _prepare_rison_schemas():
    import flask_appbuilder.api as fab_api

    if not isinstance(fab_api.jsonschema, _PreparedJsonSchema):
        fab_api.jsonschema = _PreparedJsonSchema(fab_api.jsonschema)


_prepare_rison_schemas()
