"""Outlet qualification: the evidence computed from live data (audits build on it)."""


def register(appbuilder):
    """Nothing to register yet: the evidence is shown through the outlet pages and API."""
