"""Operators' tools: the dashboard, Excel imports and exports, and the jobs users watch."""


def register(appbuilder):
    """Each part registers its pages and APIs here."""
