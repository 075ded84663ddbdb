"""The app's security manager: FAB's, with region scope reachable from the user."""
from flask_appbuilder.security.sqla.manager import SecurityManager as FabSecurityManager


class SecurityManager(FabSecurityManager):
    pass
