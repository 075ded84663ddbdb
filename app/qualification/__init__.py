"""Outlet qualification: live evidence, audits with their checklist, workbench and approvals."""
from flask_babel import lazy_gettext as _l

from app.security import permissions as p


def register(appbuilder):
    from app.qualification import api, services, views  # noqa: F401  (services registers the rules)

    cat = dict(category=p.MENU_QUALIFICATION, category_label=_l("Qualification"), category_icon="fa-check-square-o")
    appbuilder.add_view(views.WorkbenchView, "Audit workbench", label=_l("Audit workbench"), icon="fa-clipboard",
                        **cat)
    appbuilder.add_link("Qualification approvals", label=_l("Qualification approvals"),
                        href="/workbench/approvals/", icon="fa-check", **cat)
    appbuilder.add_view(views.QualificationAuditView, "Qualification audits", label=_l("Qualification audits"),
                        icon="fa-list", **cat)
    appbuilder.add_view(views.AuditTemplateItemView, "Audit checklist template",
                        label=_l("Audit checklist template"), icon="fa-list-ol", **cat)
    appbuilder.add_api(api.QualificationAuditApi)
    appbuilder.add_api(api.AuditTemplateItemApi)
