def register(appbuilder):
    """Security pages come from FAB's own security manager; roles are synced by the CLI."""
