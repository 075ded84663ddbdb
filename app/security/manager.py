"""The app's security manager: FAB's, recording every database login attempt in the audit trail."""
from flask import g
from flask_appbuilder.security.sqla.manager import SecurityManager as FabSecurityManager


class SecurityManager(FabSecurityManager):
    def auth_user_db(self, username, password):
        """FAB's check (page login and API login alike), then a ``login`` or ``login_failed`` event."""
        from app.audit_trail import web

        user = super().auth_user_db(username, password)
        name = (username or "")[:100]
        if user:
            g._audit_login_user = user
            web._commit_event("login", "ab_user", user.id, {"username": name, "channel": web.channel()}, as_user=user)
        else:
            web._commit_event("login_failed", "ab_user", None, {"username": name, "channel": web.channel()})
        return user
