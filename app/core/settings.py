"""Policies are data: every threshold DOMAIN.md marks *(config)* is a ``setting`` row.

``DEFINITIONS`` is the catalogue of settings (type, default, label); the rows hold the
values an HQ admin edits. ``get(key)`` returns the typed value, falling back to the default
when no row exists yet.
"""
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

from app.core.errors import Invalid


class Definition:
    def __init__(self, key, kind, default, label, minimum=None, maximum=None):
        self.key, self.kind, self.default, self.label = key, kind, default, label
        self.minimum, self.maximum = minimum, maximum

    def parse(self, raw):
        """Text → typed value, or raise ValueError with a translatable reason."""
        text = str(raw).strip()
        if self.kind == "int":
            try:
                value = int(text)
            except ValueError:
                raise ValueError(_l("Enter a whole number.")) from None
        elif self.kind == "decimal":
            try:
                value = Decimal(text)
            except InvalidOperation:
                raise ValueError(_l("Enter a number.")) from None
        elif self.kind == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(_l("Enter true or false."))
            return text.lower() in ("true", "1", "yes")
        elif self.kind == "int_list":
            try:
                value = [int(p) for p in text.replace("，", ",").split(",") if p.strip()]
            except ValueError:
                raise ValueError(_l("Enter whole numbers separated by commas.")) from None
            if not value:
                raise ValueError(_l("Enter at least one number."))
            for item in value:
                self._bounds(item)
            return value
        else:
            return text
        self._bounds(value)
        return value

    def _bounds(self, value):
        if self.minimum is not None and value < self.minimum:
            raise ValueError(_l("Must be at least %(n)s.", n=self.minimum))
        if self.maximum is not None and value > self.maximum:
            raise ValueError(_l("Must be at most %(n)s.", n=self.maximum))

    def render(self, value):
        if self.kind == "int_list":
            return ",".join(str(v) for v in value)
        if self.kind == "bool":
            return "true" if value else "false"
        return str(value)


DEFINITIONS = {
    d.key: d
    for d in [
        # Outlet qualification
        Definition("qualification.min_certified_engineers", "int", 3,
                   _l("Minimum certified engineers per outlet"), 0, 1000),
        Definition("qualification.min_common_stock_rate", "decimal", Decimal("90"),
                   _l("Minimum common-parts stock rate (%)"), 0, 100),
        Definition("qualification.annual_open_days_before", "int", 30,
                   _l("Open the annual audit this many days before it is due"), 0, 365),
        Definition("qualification.rectification_days", "int", 30,
                   _l("Default rectification deadline (days)"), 1, 365),
        Definition("qualification.kpi_window_days", "int", 90,
                   _l("KPI window (days)"), 1, 730),
        Definition("qualification.evidence_max_mb", "int", 10,
                   _l("Largest evidence file (MB)"), 1, 15),
        # Certifications
        Definition("certification.expiring_days", "int", 30,
                   _l("A certificate is expiring within this many days"), 0, 365),
        Definition("certification.reminder_days", "int_list", [30, 7],
                   _l("Send certificate reminders this many days before expiry"), 0, 365),
        # Onboarding and refresher training
        Definition("training.onboarding_theory_hours", "decimal", Decimal("30"),
                   _l("Onboarding theory hours"), 0, 1000),
        Definition("training.onboarding_practical_hours", "decimal", Decimal("50"),
                   _l("Onboarding practical hours"), 0, 1000),
        Definition("training.onboarding_mentored_orders", "int", 10,
                   _l("Onboarding mentored orders"), 0, 1000),
        Definition("training.pass_theory_score", "decimal", Decimal("80"),
                   _l("Passing theory score"), 0, 100),
        Definition("training.pass_practical_score", "decimal", Decimal("90"),
                   _l("Passing practical score"), 0, 100),
        Definition("training.refresher_grace_days", "int", 15,
                   _l("Grace period after a quarter without refresher training (days)"), 0, 365),
        # Star level (engineers.stars): weights of the inputs, in percent, and the score each star needs
        Definition("star.window_days", "int", 90, _l("Star level: service orders of the last N days"), 7, 730),
        Definition("star.min_orders", "int", 5,
                   _l("Star level: fewest completed orders for a rating"), 1, 1000),
        Definition("star.weight_on_time", "int", 30, _l("Star level: weight of the on-time arrival rate (%)"),
                   0, 100),
        Definition("star.weight_first_time_fix", "int", 30,
                   _l("Star level: weight of the first-time-fix rate (%)"), 0, 100),
        Definition("star.weight_satisfaction", "int", 40,
                   _l("Star level: weight of mean satisfaction (%)"), 0, 100),
        Definition("star.thresholds", "int_list", [60, 70, 80, 90],
                   _l("Star level: scores needed for 2, 3, 4 and 5 stars"), 0, 100),
        # Complaints and escalation
        Definition("complaint.investigation_working_days", "int", 3,
                   _l("Initial verification within (working days)"), 1, 60),
        Definition("complaint.warning_percent", "int", 75,
                   _l("Warn the owner at this share of the allowed time (%)"), 1, 99),
        Definition("complaint.received_max_age_hours", "int", 72,
                   _l("A complaint's received time may lie at most this many hours in the past"), 1, 24 * 30),
        Definition("escalation.level2_compensation_threshold", "decimal", Decimal("2000"),
                   _l("Compensation above this amount needs HQ approval (CNY)"), 0, 10_000_000),
        # Users' background jobs (imports, exports)
        Definition("jobs.file_retention_days", "int", 7,
                   _l("Keep the files of imports and exports for (days)"), 1, 365),
        # Excel imports: what an uploaded workbook may unpack to (checked before any parser opens it)
        Definition("imports.max_uncompressed_mb", "int", 100,
                   _l("Excel import: largest unpacked workbook (MB, all parts together)"), 1, 2000),
        Definition("imports.max_part_mb", "int", 50,
                   _l("Excel import: largest unpacked part of a workbook (MB)"), 1, 2000),
        Definition("imports.max_compression_ratio", "int", 100,
                   _l("Excel import: highest compression ratio of a workbook part"), 10, 10000),
        # Parts
        Definition("part.default_warranty_days", "int", 90,
                   _l("Default repair warranty (days)"), 0, 3650),
        # KPI targets shown by reports
        Definition("kpi.on_time_arrival_target", "decimal", Decimal("98"), _l("On-time arrival target (%)"), 0, 100),
        Definition("kpi.first_time_fix_target", "decimal", Decimal("95"), _l("First-time-fix target (%)"), 0, 100),
        Definition("kpi.satisfaction_target", "decimal", Decimal("4.6"), _l("Mean satisfaction target (1-5)"), 1, 5),
        Definition("kpi.complaint_resolution_target", "decimal", Decimal("98"),
                   _l("Complaint resolution rate target (%)"), 0, 100),
        Definition("kpi.complaint_satisfaction_target", "decimal", Decimal("97"),
                   _l("Satisfaction with complaint handling target (%)"), 0, 100),
        Definition("kpi.complaint_rate_limit", "decimal", Decimal("5"), _l("Complaint rate limit (%)"), 0, 100),
        # Signing in (app/security): lockout after failed sign-ins, the password policy
        Definition("security.lockout_failures", "int", 10,
                   _l("Lock an account after this many failed sign-ins in a row"), 3, 100),
        Definition("security.lockout_minutes", "int", 15,
                   _l("Keep a locked account locked for (minutes)"), 1, 1440),
        Definition("security.password_min_length", "int", 10,
                   _l("Shortest password allowed (characters)"), 8, 128),
    ]
}


def definition(key):
    try:
        return DEFINITIONS[key]
    except KeyError:
        raise Invalid({"key": [_l("Unknown setting.")]}) from None


def get(key):
    """Typed value of ``key``: the stored row, or the default.

    Read once per transaction: the first ``get`` reads every ``setting`` row (one small query) and
    keeps the values with the session until its transaction ends (commit, rollback, close) or a
    ``setting`` row is written through the session. A request or job therefore reads the settings
    once, and a setting saved through the settings service is seen by the next read after it."""
    defn = DEFINITIONS[key]
    raw = _stored().get(key)
    if raw is None:
        return defn.default
    try:
        return defn.parse(raw)
    except ValueError:
        return defn.default


_CACHE = "settings.values"


def _stored():
    """``{key: raw text}`` of every stored setting, kept in the session's ``info`` (see ``get``)."""
    from app.core.models import Setting
    from app.extensions import db

    session = db.session()
    values = session.info.get(_CACHE)
    if values is None:
        _install()
        values = session.info[_CACHE] = dict(session.query(Setting.key, Setting.value).all())
    return values


def forget(session=None):
    """Forget the values read (the next ``get`` reads them again)."""
    if session is None:
        from app.extensions import db

        session = db.session()
    session.info.pop(_CACHE, None)


def _transaction_ended(session, transaction):
    if transaction.parent is None:
        session.info.pop(_CACHE, None)


def _flushed(session, flush_context):
    if _CACHE not in session.info:
        return
    from app.core.models import Setting

    if any(isinstance(o, Setting) for objs in (session.new, session.dirty, session.deleted) for o in objs):
        session.info.pop(_CACHE, None)


def _install():
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "after_transaction_end", _transaction_ended):
        event.listen(Session, "after_transaction_end", _transaction_ended)
        event.listen(Session, "after_flush", _flushed)
        event.listen(Session, "do_orm_execute", _statement)


def _statement(state):
    """A bulk ``INSERT``/``UPDATE``/``DELETE`` of settings through the session forgets the values."""
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) == "setting":
            state.session.info.pop(_CACHE, None)


def label(key):
    return DEFINITIONS[key].label if key in DEFINITIONS else key
