def register(appbuilder):
    """Security pages come from FAB's own security manager; roles are synced by the CLI.

    Here: the login guard in front of every endpoint and the API's 401 answers (``guard``).
    """
    from app.security import guard

    guard.install(appbuilder)
