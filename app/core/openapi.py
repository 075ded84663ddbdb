"""The served OpenAPI spec (``/api/v1/_openapi``): valid, and what the API really answers.

FAB builds the spec from each API's schemas and from the YAML after ``---`` in each endpoint's
docstring (custom actions document their request body and their success answer there). This module
completes what FAB leaves out or gets wrong, for every operation at once, as the spec is served:

* **path parameters**: every ``{name}`` of a path is declared, typed from the route's converter; ids
  are integers from 1 to 2^31 - 1 (anything else answers 404);
* **error answers**: every operation documents the API's error shape ``{"message", "errors"}`` for
  400, 401, 403, 404, 409, 413, 415, 422 and 429, any of which a request can meet (malformed
  input, scope, state, body size, rate limits);
* **numbers**: decimal bounds are numbers (apispec writes ``Decimal`` bounds as strings);
* **FAB's generic answers**: ids are integers; ``_info``'s ``add_columns``/``edit_columns`` are
  arrays; the app's resources answer a write with the record as ``GET`` shows it.
"""
import json
import re

import yaml

from flask import current_app
from werkzeug.routing import IntegerConverter

from app.core.api_input import ID_ARGS, INT_MAX

ERROR_STATUSES = {
    "400": "Malformed request",
    "401": "Not authenticated",
    "403": "Not allowed, or outside the caller's regions",
    "404": "No such record (or not visible to the caller)",
    "409": "Conflict: a duplicate, or a state that does not allow this",
    "413": "Request body too large",
    "415": "Request body is not JSON",
    "422": "Validation failed; errors name the fields",
    "429": "Too many requests",
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Messages by field name",
        },
    },
    "required": ["message"],
}
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": INT_MAX}
COLUMNS_INFO = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "description": {"type": "string"},
            "required": {"type": "boolean"},
            "unique": {"type": "boolean"},
            "type": {"type": "string"},
        },
    },
}
DATE_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$"
_PARAM = re.compile(r"{([^}]+)}")
_RULE_ARG = re.compile(r"<(?:[^:<>]+(?:\([^)]*\))?:)?([^<>]+)>")
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def _path_converters(app):
    """``{openapi path: {argument: converter}}`` from the URL map."""
    out = {}
    for rule in app.url_map.iter_rules():
        path = _RULE_ARG.sub(r"{\1}", rule.rule)
        out.setdefault(path, {}).update(rule._converters)
        if path.endswith("/") and len(path) > 1:  # FAB's specs name "/x/" and "/x" alike
            out.setdefault(path.rstrip("/"), {}).update(rule._converters)
    return out


def _param_schema(name, converter):
    if name in ID_ARGS or isinstance(converter, IntegerConverter):
        return dict(ID_SCHEMA)
    return {"type": "string"}


def _numeric(value):
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def _walk_schemas(node):
    """Decimal bounds (``"100.00"``) become numbers, everywhere; decimals travelling as text keep
    their bounds in the description only."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("format") == "date-time" and item.get("type") == "string":
                # ISO 8601; answers are UTC without an offset, requests may carry one
                item.pop("format")
                item["pattern"] = DATE_TIME
            if item.get("format") == "decimal" and item.get("type") == "string":
                item.pop("minimum", None)
                item.pop("maximum", None)
            for key in ("minimum", "maximum"):
                if key in item:
                    item[key] = _numeric(item[key])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _json_schema(response):
    return (response or {}).get("content", {}).get("application/json", {}).get("schema", {})


def _own_resources(app):
    """Route bases of the app's resources (``core.api.BaseApi``): they answer writes with the
    record as ``GET`` shows it."""
    from app.core.api import BaseApi

    return {view.route_base: type(view).__name__ for view in app.appbuilder.baseviews if isinstance(view, BaseApi)}


def complete(spec, app):
    """Fix ``spec`` (FAB's dict) in place; returns it."""
    converters = _path_converters(app)
    own = _own_resources(app)
    for view in app.appbuilder.baseviews:  # fields whose answers a model column does not describe
        for field, field_schema in getattr(view, "response_field_schemas", {}).items():
            for suffix in (".get", ".get_list"):
                props = spec.get("components", {}).get("schemas", {}).get(type(view).__name__ + suffix, {})
                if field in props.get("properties", {}):
                    props["properties"][field] = dict(field_schema)
    components = spec.setdefault("components", {})
    responses = components.setdefault("responses", {})
    for code, text in ERROR_STATUSES.items():
        responses[code] = {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    responses["500"] = {"description": "Internal error", "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for name in own.values():  # what a custom action answers: the record after it (``action_doc``)
        responses[f"{name}.record"] = {"description": "The record after the action", "content": {
            "application/json": {"schema": {"type": "object", "properties": {
                "id": {"type": "integer"}, "result": {"$ref": f"#/components/schemas/{name}.get"}}}}}}
    schemas = components.get("schemas", {})
    _walk_schemas(schemas)
    for name, schema in schemas.items():
        # what GET answers may grow (derived fields, details): only request bodies are closed
        if name.endswith((".get", ".get_list")) and isinstance(schema, dict):
            schema.pop("additionalProperties", None)
            for field, prop in schema.get("properties", {}).items():
                # FAB's nested related rows (its security API): a list or null as often as an object
                if isinstance(prop, dict) and prop.get("$ref", "").rsplit("/", 1)[-1].count(".") >= 2:
                    schema["properties"][field] = {"description": "the related record(s)", "nullable": True}

    for path, item in spec.get("paths", {}).items():
        names = _PARAM.findall(path)
        args = converters.get(path, {})
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = op.setdefault("parameters", [])
            declared = {p.get("name") for p in params if p.get("in") == "path"}
            for p in params:
                if p.get("in") == "path" and p.get("name") in names:
                    p["required"] = True
                    p["schema"] = _param_schema(p["name"], args.get(p["name"]))
            for name in names:
                if name not in declared:
                    params.append({"in": "path", "name": name, "required": True,
                                   "schema": _param_schema(name, args.get(name))})
            if not params:
                op.pop("parameters")
            answers = op.setdefault("responses", {})
            if not any(str(code).startswith("2") for code in answers):
                answers["200"] = {"description": "Done", "content": {"application/json": {"schema": {"type": "object"}}}}
            for code in ERROR_STATUSES:
                answers.setdefault(code, {"$ref": f"#/components/responses/{code}"})
            _fix_generic(path, method, answers, own)
            _list_count(answers)
        _walk_schemas(item)
    return spec


COUNT_DOC = ("The number of matching records: exact up to 10,000 (core.datamodel.COUNT_LIMIT); beyond that "
             "(count_exact false) a lower bound, one record past the requested page, so a next page is known "
             "to exist when count > (page + 1) * page_size.")


def _list_count(answers):
    """A list's ``count`` is exact only up to a limit: say so, and describe ``count_exact``."""
    schema = (((answers.get(200) or answers.get("200") or {}).get("content") or {})
              .get("application/json", {}).get("schema") or {})
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict) or "count" not in props or "ids" not in props:
        return
    props["count"] = {"type": "integer", "description": COUNT_DOC}
    props["count_exact"] = {"type": "boolean", "description": "Whether count is the exact number of matching "
                                                              "records (false: a lower bound)."}


def _fix_generic(path, method, answers, own):
    for code, response in answers.items():
        schema = _json_schema(response)
        props = schema.get("properties") if isinstance(schema, dict) else None
        if not props:
            continue
        if props.get("id", {}).get("type") == "string":
            props["id"] = {"type": "integer", "description": props["id"].get("description", "The item id")}
        if props.get("ids", {}).get("items", {}).get("type") == "string":
            props["ids"]["items"] = {"type": "integer"}
        if path.endswith("/_info"):
            for key in ("add_columns", "edit_columns"):
                if key in props:
                    props[key] = dict(COLUMNS_INFO)
        result = props.get("result")
        childs = (result or {}).get("items", {}).get("properties", {}).get("childs") if path == "/api/v1/menu/" else None
        if childs:  # FAB's menu: a separator is the string "-"
            childs["items"] = {"description": "a menu item (an object), or \"-\" for a separator"}
        if isinstance(result, dict) and "$ref" in result:
            ref = result["$ref"]
            base = path.rsplit("/{pk}", 1)[0].rstrip("/") if "{pk}" in path else path.rstrip("/")
            name = own.get(base)
            if name and (ref.endswith(f"/{name}.post") or ref.endswith(f"/{name}.put")):
                result["$ref"] = f"#/components/schemas/{name}.get"


TEXT = {"type": "string", "nullable": True}


def action_doc(body=None, method="post", status=200, record="{{self.__class__.__name__}}", answer=None):
    """The OpenAPI text of a custom API action, written once: ``body`` maps the JSON body's fields
    to their schemas (``TEXT`` for free text; ``None``: no body); the ``status`` answer is
    ``answer``, by default the record after the action (``components/responses/<record>.record``,
    the API's own resource unless ``record`` names another API). The function's docstring stays
    its summary. Put it right above the ``def``: FAB reads the YAML after ``---`` in the docstring."""
    operation = {"responses": {str(status): answer or {"$ref": f"#/components/responses/{record}.record"}}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False, "properties": body}}}}

    def decorate(func):
        summary = (func.__doc__ or "").strip()
        func.__doc__ = f"{summary}\n\n---\n" + yaml.safe_dump({method: operation}, allow_unicode=True, sort_keys=False)
        return func

    return decorate


def install(app):
    """Serve the completed spec from FAB's ``/api/<version>/_openapi`` endpoint (FAB's view, with
    its permission check, answers; this completes its answer)."""

    @app.after_request
    def _complete_spec(response):
        from flask import request

        if request.endpoint == "OpenApi.get" and response.status_code == 200 and response.is_json:
            response.set_data(json.dumps(complete(json.loads(response.get_data()), current_app)))
        return response
