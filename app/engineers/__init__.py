"""Engineers, certification types, certifications and training records."""
from flask_babel import lazy_gettext as _l

from app.security import permissions as p


def register(appbuilder):
    from app.engineers import api, services, views  # noqa: F401  (services registers the rules)

    cat = dict(category=p.MENU_ENGINEERS, category_label=_l("Engineers"), category_icon="fa-users")
    appbuilder.add_view(views.EngineerView, "Engineers list", label=_l("Engineers"), icon="fa-user", **cat)
    appbuilder.add_view(views.CertificationView, "Certifications", label=_l("Certifications"),
                        icon="fa-id-card", **cat)
    appbuilder.add_view(views.TrainingRecordView, "Training records", label=_l("Training records"),
                        icon="fa-graduation-cap", **cat)
    appbuilder.add_view(views.CertificationTypeView, "Certification types", label=_l("Certification types"),
                        icon="fa-certificate", **cat)
    for resource in (api.EngineerApi, api.CertificationTypeApi, api.CertificationApi, api.TrainingRecordApi):
        appbuilder.add_api(resource)
