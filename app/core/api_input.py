"""Bad input is the client's mistake: a 4xx in the API's error shape, never a 500.

Checked once for every endpoint, before any view runs:

* **ids in the path** (``pk``, ``file_id``, ``role_id`` and every ``<int:…>``) must be whole numbers
  that fit the database's ``INTEGER`` (at most 2^31 - 1): anything else cannot name a row, so the
  answer is 404 — for the API, FAB's generated pages and the custom pages alike (PostgreSQL would
  otherwise fail the query with "integer out of range", and ``abc`` with "invalid input syntax").
* **body size**: an API request's body is read here, so a body over ``MAX_CONTENT_LENGTH`` — with a
  ``Content-Length`` or chunked without one — answers 413 in the API's shape (read later, inside a
  view, Werkzeug's 413 would be swallowed by FAB's ``@safe`` into a 500).
* **text**: a NUL character or an unpaired surrogate (``"\\udc00"``) in any string of a JSON body
  (keys and nested values included), of a form or of the query string (rison ``q`` included)
  cannot be stored (PostgreSQL refuses NUL, UTF-8 cannot encode a lone surrogate): 422 naming the
  field (``items.0.note`` for nested values).
* **malformed JSON** declared as JSON: 400.

Relation ids and integer columns in bodies are bounded in ``core.api`` (422 naming the field).
"""
import json
import re

from flask import abort, jsonify, request
from flask_babel import gettext

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
ID_ARGS = frozenset({"pk", "file_id", "role_id"})
_DIGITS = re.compile(r"-?[0-9]{1,10}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def fits_integer(value):
    """Whether ``value`` (an int or its decimal text) fits a 32-bit ``INTEGER`` column."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            return False
        value = int(value)
    return isinstance(value, int) and INT_MIN <= value <= INT_MAX


def unstorable(text):
    """Whether a string holds a NUL character or an unpaired surrogate."""
    return isinstance(text, str) and _UNSTORABLE.search(text) is not None


def _unstorable_fields(body):
    """Dotted paths of the strings (or keys) in a JSON body that cannot be stored."""
    found, stack = [], [(body, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if unstorable(value):
                found.append(path or "_schema")
        elif isinstance(value, dict):
            for key, item in value.items():
                if unstorable(key):
                    found.append(path or "_schema")
                else:
                    stack.append((item, f"{path}.{key}" if path else str(key)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}.{index}" if path else str(index)))
    return sorted(found)


def _error(status, message, errors=None):
    return jsonify({"message": str(message), "errors": errors or {}}), status


def _unstorable_answer(fields):
    message = gettext("Text may not contain a NUL character or an unpaired surrogate.")
    return _error(422, gettext("Validation failed."), {field: [message] for field in dict.fromkeys(fields)})


def check_path_ids():
    for name, value in (request.view_args or {}).items():
        if (name in ID_ARGS or isinstance(value, int)) and not fits_integer(value):
            abort(404)


def check_api_input():
    if not request.path.startswith("/api/"):
        return None
    found = []
    for key, values in request.args.lists():
        if unstorable(key) or any(unstorable(v) for v in values):
            found.append(key if not unstorable(key) else "_schema")
    if found:
        return _unstorable_answer(found)
    if request.method not in WRITE_METHODS:
        return None
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = request.form  # parsing here: a body over the limit is a 413 now
        for key, values in form.lists():
            if any(unstorable(v) for v in values):
                found.append(key)
        for key, upload in request.files.items(multi=True):
            if unstorable(upload.filename):
                found.append(key)
        return _unstorable_answer(found) if found else None
    data = request.get_data(cache=True)  # a body over the limit is a 413 now
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit:
        request.stream.read(1)  # a chunked body stops at the limit: 413 when more was sent
    if not data or not request.is_json:
        return None
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return _error(400, gettext("Malformed JSON."))
    found = _unstorable_fields(body)
    return _unstorable_answer(found) if found else None


def install(app):
    app.before_request(check_path_ids)
    app.before_request(check_api_input)
