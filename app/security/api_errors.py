"""FAB's security API (``FAB_ADD_SECURITY_API``: users, roles, groups, permissions, resources and
permissions on resources) answering bad input like the rest of the API: a 4xx with
``{"message", "errors"}``, never a 500 nor SQL text.

FAB reads ``request.json`` inside ``@safe`` (no JSON body → Werkzeug's 415/400 swallowed into a
500), echoes database errors as 422. The
subclasses below keep FAB's class names (permission names and endpoints derive from them) and
change only the answers: HTTP errors keep their status, a duplicate is a 409, other constraint or
value errors a 422.
"""
import re
import sys

from flask_appbuilder.security.sqla import apis as fab_apis
from flask_babel import gettext
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from werkzeug.exceptions import HTTPException

from app.core import api as core_api
from app.core import error_pages, services
from app.extensions import db


_UNBINDABLE = re.compile(r"Error binding parameter|cannot adapt type|type .* is not supported", re.I)


def _database_error(exc):
    """The 409/422 for a database error (itself or the cause of FAB's ``DatabaseException``)."""
    for candidate in (exc, getattr(exc, "__cause__", None)):
        if isinstance(candidate, IntegrityError):
            db.session.rollback()
            return services.integrity_error(candidate)
        if isinstance(candidate, DataError) or (
                isinstance(candidate, ProgrammingError) and _UNBINDABLE.search(str(candidate))):
            # FAB's raw foreign-key fields take any JSON value: one the driver cannot send is bad input
            db.session.rollback()
            return core_api.Invalid(message=gettext("A value is out of range or not valid."))
    return None


class ErrorAnswers:
    """The app's error shape for one of FAB's APIs."""

    @staticmethod
    def response(code, **kwargs):
        if code >= 400:
            kwargs.setdefault("errors", {})
        return core_api.BaseApi.response(code, **kwargs)

    response_400 = core_api.BaseApi.response_400
    response_401 = core_api.BaseApi.response_401
    response_403 = core_api.BaseApi.response_403

    def response_404(self, message=None):
        if isinstance(message, (dict, list)):
            return self.response(404, message=gettext("Not found."), errors=core_api._marshmallow_errors(message))
        return self.response(404, message=gettext("Not found."), errors={})

    def response_422(self, message=None):
        err = _database_error(sys.exc_info()[1])
        if err is not None:
            return self.response(err.status, **err.to_dict())
        return core_api.BaseApi.response_422(self, message)

    def response_500(self, message=None):
        exc = sys.exc_info()[1]
        if isinstance(exc, HTTPException) and exc.code and exc.code < 500:
            return self.response(exc.code, message=error_pages.api_message(exc), errors={})
        err = _database_error(exc)
        if err is not None:
            return self.response(err.status, **err.to_dict())
        db.session.rollback()
        return self.response(500, message=gettext("Internal error."), errors={})


class PermissionApi(ErrorAnswers, fab_apis.PermissionApi):
    pass


class RoleApi(ErrorAnswers, fab_apis.RoleApi):
    pass


class ViewMenuApi(ErrorAnswers, fab_apis.ViewMenuApi):
    pass


class PermissionViewMenuApi(ErrorAnswers, fab_apis.PermissionViewMenuApi):
    pass


class GroupApi(ErrorAnswers, fab_apis.GroupApi):
    pass


def apis(user_api=fab_apis.UserApi):
    """``(permission_api, role_api, user_api, view_menu_api, permission_view_menu_api, group_api)``
    for the security manager, ``user_api`` (FAB's or a subclass) answering errors the same way."""
    user = type(user_api.__name__, (ErrorAnswers, user_api), {"__module__": __name__})
    return PermissionApi, RoleApi, user, ViewMenuApi, PermissionViewMenuApi, GroupApi
