"""FAB's security APIs with the app's sign-in rules (the class names stay FAB's: endpoints and
permission names derive from them).

* ``SecurityApi.login``: a locked account is refused with its own message (403); the rate limits
  (per client address and per account) are attached by ``SecurityManager.register_views``.
* ``UserApi``: passwords set through ``POST``/``PUT`` follow the password policy (422,
  ``{"message", "errors": {"password": [...]}}``); ``POST /<pk>/unlock`` lifts a lockout.
"""
from flask import g, request
from flask_appbuilder.api import expose, safe
from flask_appbuilder.security import api as fab_api
from flask_appbuilder.security.decorators import permission_name, protect
from flask_appbuilder.security.sqla.apis.user import api as fab_user_api
from flask_babel import gettext

from app.core.errors import DomainError
from app.security import credentials, passwords


def locked_message(until):
    from app.core import clock

    return gettext("This account is locked after too many failed sign-ins until %(time)s. "
                   "Try again later or ask an administrator to unlock it.",
                   time=clock.to_local(until).strftime("%Y-%m-%d %H:%M"))


class SecurityApi(fab_api.SecurityApi):
    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        response = super().login()
        until = g.get("_login_locked_until")
        if response.status_code == 401 and until is not None:
            return self.response(403, message=locked_message(until), errors={})
        if response.status_code == 401:
            return self.response(401, message=gettext("Wrong username or password."), errors={})
        return response


class UserApi(fab_user_api.UserApi):
    def _policy_error(self, username):
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("password"), str):
            return None  # FAB's schema answers the malformed cases
        try:
            passwords.check(payload["password"], payload.get("username") or username)
        except DomainError as exc:
            return self.response(exc.status, **exc.to_dict())
        return None

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    def post(self):
        return self._policy_error(None) or super().post()

    @expose("/<pk>", methods=("PUT",))
    @protect()
    @safe
    @permission_name("put")
    def put(self, pk):
        user = self.datamodel.get(pk, self._base_filters)
        if user is None:
            return self.response(404, message=gettext("Not found."), errors={})
        return self._policy_error(user.username) or super().put(pk)

    @expose("/<int:pk>/unlock", methods=["POST"])
    @protect()
    @safe
    @permission_name("put")
    def unlock(self, pk):
        """Lift a user's sign-in lockout
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: The account is unlocked (``was_locked`` says whether it was locked)
            404:
              $ref: '#/components/responses/404'
        """
        from app.extensions import db

        user = self.datamodel.get(pk, self._base_filters)
        if user is None:
            return self.response(404, message=gettext("Not found."), errors={})
        was_locked = credentials.unlock(user)
        db.session.commit()
        return self.response(200, message=gettext("The account of %(name)s is unlocked.", name=user.username),
                             was_locked=was_locked)
