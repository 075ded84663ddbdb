"""Operators' tools: the dashboard, Excel imports and exports, and the jobs users watch."""


def register(appbuilder):
    """Each part registers its pages and APIs here."""
    from app.reports import my_jobs

    my_jobs.register(appbuilder)  # My jobs, queue health, list exports in the background

    from app.reports import dashboard_views

    dashboard_views.register(appbuilder)

    from app.reports import import_views

    import_views.register(appbuilder)
