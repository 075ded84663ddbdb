"""The audit trail: every change recorded, tamper-evident, and readable by auditors."""


def register(appbuilder):
    from app.audit_trail import capture, web

    capture.install()
    web.install(appbuilder)
    _register_pages(appbuilder)


def _register_pages(appbuilder):
    """The event list and API for auditors, and the history section on every record's page."""
    from flask_babel import lazy_gettext as _l

    from app.audit_trail import api, views
    from app.core.views import SHOW_PAGE_SECTIONS
    from app.security import permissions as p

    appbuilder.add_view(views.AuditEventView, "Audit events", label=_l("Audit events"), icon="fa-history",
                        category=p.MENU_AUDIT, category_label=_l("Audit trail"), category_icon="fa-history")
    appbuilder.add_api(api.AuditEventApi)
    if views.history_section not in SHOW_PAGE_SECTIONS:
        SHOW_PAGE_SECTIONS.append(views.history_section)
