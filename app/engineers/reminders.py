"""Certificate expiry reminders (DOMAIN.md: "Reminders go out at 30 and 7 days"), a daily job.

``send_certificate_reminders()`` runs every morning (08:30 Asia/Shanghai). The thresholds are the
setting ``certification.reminder_days`` (default 30, 7). A certificate is considered when it is not
revoked, its engineer has not left, and it has between 0 and the largest threshold days left
(``expires_on`` − today; ``expires_on`` is the last valid day, so 0 means it expires today). Its
reminder is the one of the smallest threshold ≥ the days left: 30 → 8 days left is the 30-day
reminder, 7 → 0 days left the 7-day one. Each (certificate, threshold, expiry date) is emailed once:
the outbox row carries the key ``cert-reminder:<certificate id>:<threshold>:<expires_on>``, so a
re-run sends nothing new, a certificate recorded with 5 days left gets only the 7-day reminder, and
a renewed certificate (a new expiry date) is reminded again.

Recipients: the outlet's contact email (when set) and the active regional managers of the outlet's
region; no recipient, no email. The email is in Chinese. The work is set-based: one query for the
candidate certificates (with engineer, outlet and type), one for the product categories their
types are required for, one for the regional managers, the existing keys looked up in bulk; one
commit, then the send jobs are queued.
"""
import logging
from datetime import timedelta

from flask_babel import force_locale, gettext as _
from sqlalchemy import select

from app.core import clock, l10n, outbox, scope, settings
from app.core.models import Notification
from app.core.services import transaction
from app.engineers.models import Certification, CertificationType, Engineer, certification_type_product_category
from app.extensions import db
from app.network.models import Outlet, ProductCategory
from app.security.roles import REGIONAL_MANAGER

log = logging.getLogger(__name__)

TOPIC = "certificate_reminder"
_CHUNK = 500  # keys per IN (...) lookup, well under SQLite's bound-parameter limit


def dedupe_key(certification_id, threshold, expires_on):
    return f"cert-reminder:{certification_id}:{threshold}:{expires_on.isoformat()}"


def applicable_threshold(days_left, thresholds):
    """The smallest threshold ≥ ``days_left``, or ``None`` when it is beyond them all (or past)."""
    if days_left < 0:
        return None
    fitting = [t for t in thresholds if t >= days_left]
    return min(fitting) if fitting else None


def _candidates(today, horizon):
    return db.session.execute(
        select(Certification.id, Certification.number, Certification.expires_on,
               Certification.certification_type_id, CertificationType.name.label("type_name"),
               Engineer.employee_no, Engineer.name.label("engineer_name"),
               Outlet.code.label("outlet_code"), Outlet.name.label("outlet_name"),
               Outlet.email.label("outlet_email"), Outlet.region_id)
        .join(Engineer, Engineer.id == Certification.engineer_id)
        .join(Outlet, Outlet.id == Engineer.outlet_id)
        .join(CertificationType, CertificationType.id == Certification.certification_type_id)
        .where(Certification.revoked.is_(False), Engineer.status != "left",
               Certification.expires_on >= today, Certification.expires_on <= horizon)
        .order_by(Certification.expires_on, Certification.id)
    ).all()


def _categories_by_type(type_ids):
    link = certification_type_product_category
    rows = db.session.execute(
        select(link.c.certification_type_id, ProductCategory.name)
        .join(ProductCategory, ProductCategory.id == link.c.product_category_id)
        .where(link.c.certification_type_id.in_(list(type_ids)))
        .order_by(ProductCategory.id)
    )
    found = {}
    for type_id, name in rows:
        found.setdefault(type_id, []).append(name)
    return found


def _managers_by_region(region_ids):
    found = {}
    for region_id, _user_id, email in scope.region_members(region_ids, REGIONAL_MANAGER):
        if email:
            found.setdefault(region_id, set()).add(email)
    return found


def _existing_keys(keys):
    keys = list(keys)
    found = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        found.update(r[0] for r in db.session.execute(
            select(Notification.dedupe_key).where(Notification.dedupe_key.in_(chunk))))
    return found


def _render(row, days_left, categories):
    """Subject and body in Chinese."""
    with force_locale("zh"):
        d = {
            "employee_no": row.employee_no, "engineer": row.engineer_name, "type": row.type_name,
            "number": row.number, "expires_on": l10n.date_text(row.expires_on), "days": days_left,
        }
        subject = _("[Certificate reminder] %(employee_no)s %(engineer)s: %(type)s expires on %(expires_on)s "
                    "(%(days)s days left)", **d)
        if days_left == 0:
            intro = _("The certificate below expires today: it is valid until the end of the day.")
        else:
            intro = _("The certificate below expires in %(days)s days.", **d)
        if categories:
            action = _("Please renew it before it expires and record the new certificate in the system. "
                       "Without a valid certificate the engineer cannot be assigned service orders of: "
                       "%(categories)s.", categories="、".join(categories))
        else:
            action = _("Please renew it before it expires and record the new certificate in the system. "
                       "Without a valid certificate the engineer cannot be assigned service orders of the "
                       "product categories that require it.")
        fields = [
            (_("Engineer"), f"{row.employee_no} {row.engineer_name}"),
            (_("Outlet"), f"{row.outlet_code} {row.outlet_name}"),
            (_("Certification type"), row.type_name),
            (_("Certificate no."), row.number),
            (_("Expires on"), l10n.date_text(row.expires_on)),
            (_("Days left"), str(days_left)),
        ]
    body = "\n".join([intro, ""] + [f"{label}：{value}" for label, value in fields] + ["", action])
    return subject, body


def send_certificate_reminders():
    """Queue the reminders due today; returns how many were queued. Re-running queues nothing new."""
    thresholds = sorted(set(settings.get("certification.reminder_days")))
    if not thresholds:
        return 0
    today = clock.today()
    due = []
    for row in _candidates(today, today + timedelta(days=thresholds[-1])):
        days_left = (row.expires_on - today).days
        threshold = applicable_threshold(days_left, thresholds)
        if threshold is not None:
            due.append((row, days_left, dedupe_key(row.id, threshold, row.expires_on)))
    if not due:
        return 0
    sent = _existing_keys(key for _row, _days, key in due)
    due = [item for item in due if item[2] not in sent]
    if not due:
        return 0
    categories = _categories_by_type({row.certification_type_id for row, _days, _key in due})
    managers = _managers_by_region({row.region_id for row, _days, _key in due})
    queued = 0
    with transaction():
        for row, days_left, key in due:
            recipients = ([row.outlet_email.strip()] if row.outlet_email and row.outlet_email.strip() else [])
            recipients += sorted(managers.get(row.region_id, ()))
            if not recipients:
                continue
            subject, body = _render(row, days_left, categories.get(row.certification_type_id, []))
            if outbox.queue_email(recipients, subject, body, TOPIC, dedupe_key=key) is not None:
                queued += 1
    outbox.dispatch()
    log.info("certificate reminders: %s queued", queued)
    return queued
