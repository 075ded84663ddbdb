def register(appbuilder):
    """Security pages come from FAB's own security manager; roles are synced by the CLI.

    Here: the login guard in front of every endpoint and the API's 401 answers (``guard``), and
    the readable names of roles and permissions for the role pages (``permission_labels``).
    """
    from flask import current_app

    from app.security import credentials, guard, permission_labels, roles

    guard.install(appbuilder)
    credentials.install()  # a password change, a deactivation: the user's sessions and tokens end
    current_app.add_template_global(roles.role_label, "role_label")
    current_app.add_template_global(permission_labels.permissions_text, "permissions_text")
