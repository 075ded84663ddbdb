"""The home page's "today" section: what the signed-in user must act on, chosen by their roles.

Each role has its panels (``SECTIONS``); a user holding several roles sees each role's panels. A
panel is a count and its first rows (``LIMIT``), each row linking to the page where the user acts
and the count linking to the matching list: an existing list where one shows the panel's rows (the
complaint list filtered on "mine" and "open", the escalation desk, the escalation list filtered on
pending level 2, the approval screen, the workbench, the outlet list filtered on flagged serving
outlets, the calendar days, the trail's verification events), otherwise the panel's own full list
(``/today/<panel>``: breach warnings, today's breaches, locked accounts, users without a region).
Each panel runs one ``COUNT`` and one limited query (selected columns, no business row loaded as
an object, no query per row), inside the user's region scope (``core.scope``).

What each panel holds:

* Service agent — *my open complaints*: complaints I own (首接负责人) not yet resolved or closed, the
  next due time first (the first response while none was given, then the resolution); *breach
  warnings*: those of them whose response or resolution breached, or that passed the warning share
  of their allowed time (``complaint.warning_percent``, set by the SLA sweep).
* Regional manager — *escalations waiting for me*: pending level-1 escalations of the regions I
  decide for (my own regions, and those of managers who named me their delegate today), except the
  ones I requested (``complaints.services.check_can_decide``); *breaches today*: complaints of my
  regions whose first response or resolution breached today (the local day): a breach happens at
  the due time it missed.
* HQ admin — *audits awaiting approval* (submitted, not run by me: nobody approves their own
  audit); *level-2 escalations* pending, not requested by me; *flagged outlets*: outlets active or on
  probation flagged by the nightly qualification check (fewer certified engineers than required or
  a common-parts stock rate below the threshold: ``Outlet.flagged_on`` and ``flag_reasons``);
  *holiday calendar*: this year or the next whose holiday arrangement is missing or provisional.
* Auditor — *audits to work on*: audits open for answers (draft or returned) that are mine (I
  submitted or opened them) or nobody's yet and due within the annual-audit horizon
  (``qualification.annual_open_days_before``) or overdue; *audit-trail verification*: when the hash
  chain was last verified, by whom and with what result (the ``chain_verified`` audit event).
* Admin — *locked accounts*: sign-ins locked now after repeated failures; *users without a
  region*: active regional managers and service agents (with no unrestricted role) assigned to no
  region, who therefore see no rows.
"""
import json
from datetime import datetime, time, timedelta
from types import SimpleNamespace

from babel.lists import format_list
from babel.units import format_unit
from flask import url_for
from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select

from app.complaints.enums import COMPLAINT_STATUS, ESCALATION_REASON, REMEDY, SEVERITY
from app.complaints.models import Complaint, Escalation, EscalationDelegation
from app.complaints.services import OPEN_STATES as OPEN_COMPLAINT
from app.core import clock, l10n, scope, settings
from app.extensions import db
from app.network.enums import OUTLET_STATUS
from app.network.models import Outlet, Region, region_user
from app.qualification.enums import AUDIT_KIND, AUDIT_OUTCOME, AUDIT_STATUS, FLAG_REASON
from app.qualification.models import QualificationAudit
from app.qualification.services import EDITABLE as EDITABLE_AUDIT
from app.reports.dashboard import SERVING_OUTLET, calendar_notices
from app.security.roles import ADMIN, AUDITOR, HQ_ADMIN, REGIONAL_MANAGER, SERVICE_AGENT, role_label

LIMIT = 10
"""Rows shown per panel on the home page; the count links to the rest."""
PAGE_SIZE = 50
"""Rows per page of a panel's full list."""

VERIFIED = "chain_verified"
"""The audit-trail action recorded each time the hash chain is verified."""


# --- small helpers -------------------------------------------------------------------------------

def _scoped(stmt, model):
    clause = scope.clause_for(model)
    return stmt if clause is None else stmt.where(clause)


def _count(model, *where):
    return int(db.session.execute(_scoped(select(func.count()).select_from(model).where(*where), model))
               .scalar() or 0)


def _person(first_name, last_name, username):
    """Enough of a user for the ``person`` filter, from selected columns."""
    if username is None and first_name is None and last_name is None:
        return None
    return SimpleNamespace(first_name=first_name, last_name=last_name, username=username)


def span_text(delta):
    """A length of time in the reader's language, two units at most: "1天3小时" / "1 day 3 hr"."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        units = [(days, "duration-day"), (hours, "duration-hour")]
    elif hours:
        units = [(hours, "duration-hour"), (minutes, "duration-minute")]
    else:
        units = [(minutes, "duration-minute")]
    loc = l10n.locale()
    parts = [format_unit(value, unit, length="short", locale=loc) for i, (value, unit) in enumerate(units)
             if value or i == 0]
    return format_list(parts, style="unit-narrow", locale=loc)


def _countdown(due, now):
    """``(text, overdue)`` for a due time: "Due in 2 hr 5 min" or "Overdue by 1 day 3 hr"."""
    if due is None:
        return "", False
    if due < now:
        return gettext("Overdue by %(span)s", span=span_text(now - due)), True
    return gettext("Due in %(span)s", span=span_text(due - now)), False


def _today_start():
    return clock.to_utc(datetime.combine(clock.today(), time()))


def has_role(user, name):
    return user is not None and any(role.name == name for role in user.roles)


# --- service agent -------------------------------------------------------------------------------

def _next_due():
    """The complaint's next deadline: the first response while none was given, then the resolution."""
    return case((Complaint.first_response_at.is_(None), Complaint.response_due_at),
                else_=Complaint.resolution_due_at)


def _breached(now):
    """Breached: a flag set, or a due time passed that the SLA sweep has not marked yet."""
    return or_(Complaint.response_breached.is_(True), Complaint.resolution_breached.is_(True),
               and_(Complaint.first_response_at.is_(None), Complaint.response_due_at < now),
               and_(Complaint.paused.is_(False), Complaint.resolution_due_at < now))


def _warned():
    """Past the warning share of the allowed time (the SLA sweep sets the flags at that moment)."""
    return or_(and_(Complaint.first_response_at.is_(None), Complaint.response_warned.is_(True)),
               and_(Complaint.paused.is_(False), Complaint.resolution_warned.is_(True)))


COMPLAINT_COLUMNS = (Complaint.id, Complaint.number, Complaint.customer_name, Complaint.severity,
                     Complaint.status, Complaint.first_response_at, Complaint.response_due_at,
                     Complaint.resolution_due_at, Complaint.paused, Complaint.response_breached,
                     Complaint.resolution_breached, Outlet.name)


def _complaint_row(row, now, breached=None):
    (cid, number, customer, severity, status, responded_at, response_due, resolution_due, paused,
     response_breached, resolution_breached, outlet) = row[:12]
    awaiting_response = responded_at is None
    due = response_due if awaiting_response else resolution_due
    text, overdue = ("", False) if paused else _countdown(due, now)
    response_late = bool(response_breached) or (awaiting_response and response_due is not None
                                                 and response_due < now)
    resolution_late = bool(resolution_breached) or (not paused and resolution_due is not None
                                                     and resolution_due < now)
    late = [label for flag, label in ((response_late, gettext("First response")),
                                      (resolution_late, gettext("Resolution"))) if flag]
    return {
        "id": cid, "number": number, "link": url_for("ComplaintView.show", pk=cid), "customer": customer,
        "outlet": outlet, "severity": severity, "severity_label": SEVERITY.label(severity),
        "status_label": COMPLAINT_STATUS.label(status),
        "due_label": gettext("First response due") if awaiting_response else gettext("Resolution due"),
        "due_at": due, "countdown": text, "overdue": overdue, "paused": bool(paused),
        "breached": bool(late) if breached is None else breached,
        "breach_text": gettext("Breached: %(what)s", what=format_list(late, locale=l10n.locale())) if late else "",
    }


def _mine(user):
    return (Complaint.owner_id == user.id, Complaint.status.in_(OPEN_COMPLAINT))


def my_complaints(user, limit=LIMIT, offset=0):
    now = clock.now()
    where = _mine(user)
    due = _next_due()
    rows = db.session.execute(_scoped(
        select(*COMPLAINT_COLUMNS).join(Outlet, Outlet.id == Complaint.outlet_id).where(*where)
        .order_by(due.is_(None), due, Complaint.id).limit(limit).offset(offset), Complaint)).all()
    return _count(Complaint, *where), [_complaint_row(r, now) for r in rows]


def my_warnings(user, limit=LIMIT, offset=0):
    now = clock.now()
    breached = _breached(now)
    where = (*_mine(user), or_(breached, _warned()))
    due = _next_due()
    rows = db.session.execute(_scoped(
        select(*COMPLAINT_COLUMNS).join(Outlet, Outlet.id == Complaint.outlet_id).where(*where)
        .order_by(case((breached, 0), else_=1), due.is_(None), due, Complaint.id)
        .limit(limit).offset(offset), Complaint)).all()
    result = []
    for r in rows:
        item = _complaint_row(r, now)
        item["warning"] = not item["breached"]
        result.append(item)
    return _count(Complaint, *where), result


# --- regional manager ----------------------------------------------------------------------------

def decidable_regions(user):
    """Regions whose level-1 escalations ``user`` decides (as a subquery): the regions of the active
    regional managers who are ``user`` or named ``user`` their delegate today — the complaint
    services' rule (``level1_decider_ids``) turned around."""
    today = clock.today()
    managers = (select(assoc_user_role.c.user_id)
                .join(Role, Role.id == assoc_user_role.c.role_id)
                .join(User, User.id == assoc_user_role.c.user_id)
                .where(Role.name == REGIONAL_MANAGER, User.active.is_(True)))
    delegators = select(EscalationDelegation.manager_id).where(
        EscalationDelegation.delegate_id == user.id, EscalationDelegation.starts_on <= today,
        EscalationDelegation.ends_on >= today)
    return select(region_user.c.region_id).where(
        region_user.c.user_id.in_(managers),
        or_(region_user.c.user_id == user.id, region_user.c.user_id.in_(delegators)))


def _not_requested_by(user):
    return or_(Escalation.requested_by_id.is_(None), Escalation.requested_by_id != user.id)


def _escalations(user, where, limit, offset, scoped):
    now = clock.now()
    where = (Escalation.status == "pending", _not_requested_by(user), *where)
    base = (select(Escalation.id, Escalation.level, Escalation.reason, Escalation.remedy,
                   Escalation.compensation_amount, Escalation.requested_at, Complaint.id, Complaint.number,
                   Complaint.severity, Complaint.resolution_due_at, Outlet.name, Region.name)
            .join(Complaint, Complaint.id == Escalation.complaint_id)
            .join(Outlet, Outlet.id == Complaint.outlet_id)
            .join(Region, Region.id == Outlet.region_id)
            .where(*where))
    count = (select(func.count()).select_from(Escalation)
             .join(Complaint, Complaint.id == Escalation.complaint_id)
             .join(Outlet, Outlet.id == Complaint.outlet_id)
             .where(*where))
    if scoped:
        base, count = _scoped(base, Escalation), _scoped(count, Escalation)
    order = func.coalesce(Complaint.resolution_due_at, Escalation.requested_at)
    rows = db.session.execute(base.order_by(order, Escalation.id).limit(limit).offset(offset)).all()
    result = []
    for (eid, level, reason, remedy, amount, requested_at, cid, number, severity, due, outlet,
         region) in rows:
        text, overdue = _countdown(due, now)
        result.append({
            "id": eid, "level": level, "number": number,
            "link": url_for("EscalationDeskView.index", _anchor=f"escalation-{eid}"),
            "complaint_link": url_for("ComplaintView.show", pk=cid), "severity": severity,
            "severity_label": SEVERITY.label(severity), "reason_label": ESCALATION_REASON.label(reason),
            "remedy_label": REMEDY.label(remedy) if remedy else "", "amount": amount,
            "amount_text": l10n.money_text(amount) if amount is not None else "",
            "requested_at": requested_at, "outlet": outlet, "region": region, "due_at": due,
            "countdown": text, "overdue": overdue,
        })
    return int(db.session.execute(count).scalar() or 0), result


def escalations_waiting(user, limit=LIMIT, offset=0):
    return _escalations(user, (Escalation.level == 1, Outlet.region_id.in_(decidable_regions(user))),
                        limit, offset, scoped=False)


def breaches_today(user, limit=LIMIT, offset=0):
    """Complaints of the user's regions whose response or resolution breached today (local day)."""
    now, start = clock.now(), _today_start()
    response = and_(Complaint.response_due_at >= start, Complaint.response_due_at < now,
                    or_(Complaint.response_breached.is_(True), Complaint.first_response_at.is_(None)))
    resolution = and_(Complaint.resolution_due_at >= start, Complaint.resolution_due_at < now,
                      or_(Complaint.resolution_breached.is_(True),
                          and_(Complaint.resolved_at.is_(None), Complaint.status.in_(OPEN_COMPLAINT),
                               Complaint.paused.is_(False))))
    when = case((resolution, Complaint.resolution_due_at), else_=Complaint.response_due_at)
    rows = db.session.execute(_scoped(
        select(*COMPLAINT_COLUMNS, case((response, 1), else_=0), case((resolution, 1), else_=0), when,
               User.first_name, User.last_name, User.username)
        .join(Outlet, Outlet.id == Complaint.outlet_id)
        .outerjoin(User, User.id == Complaint.owner_id)
        .where(or_(response, resolution))
        .order_by(when.desc(), Complaint.id).limit(limit).offset(offset), Complaint)).all()
    result = []
    for r in rows:
        item = _complaint_row(r, now, breached=True)
        missed = [label for flag, label in ((r[12], gettext("First response")), (r[13], gettext("Resolution")))
                  if flag]
        item.update(breached_at=r[14], owner=_person(*r[15:18]),
                    breach_text=gettext("Breached: %(what)s", what=format_list(missed, locale=l10n.locale())))
        result.append(item)
    return _count(Complaint, or_(response, resolution)), result


# --- HQ admin ------------------------------------------------------------------------------------

def audits_to_approve(user, limit=LIMIT, offset=0):
    where = (QualificationAudit.status == "submitted",
             or_(QualificationAudit.auditor_id.is_(None), QualificationAudit.auditor_id != user.id))
    rows = db.session.execute(_scoped(
        select(QualificationAudit.id, QualificationAudit.number, QualificationAudit.kind,
               QualificationAudit.outcome, QualificationAudit.submitted_at, Outlet.code, Outlet.name,
               User.first_name, User.last_name, User.username)
        .join(Outlet, Outlet.id == QualificationAudit.outlet_id)
        .outerjoin(User, User.id == QualificationAudit.auditor_id)
        .where(*where).order_by(QualificationAudit.submitted_at, QualificationAudit.id)
        .limit(limit).offset(offset), QualificationAudit)).all()
    return _count(QualificationAudit, *where), [{
        "id": aid, "number": number, "link": url_for("WorkbenchView.approval", pk=aid),
        "kind_label": AUDIT_KIND.label(kind), "outcome_label": AUDIT_OUTCOME.label(outcome) if outcome else "",
        "outcome": outcome, "submitted_at": submitted_at, "outlet": f"{code} {name}",
        "auditor": _person(first, last, username),
    } for aid, number, kind, outcome, submitted_at, code, name, first, last, username in rows]


def level2_escalations(user, limit=LIMIT, offset=0):
    return _escalations(user, (Escalation.level == 2,), limit, offset, scoped=True)


def flagged_outlets(user, limit=LIMIT, offset=0):
    where = (Outlet.flagged_on.isnot(None), Outlet.status.in_(SERVING_OUTLET))
    rows = db.session.execute(_scoped(
        select(Outlet.id, Outlet.code, Outlet.name, Outlet.status, Outlet.flagged_on, Outlet.flag_reasons,
               Region.name)
        .join(Region, Region.id == Outlet.region_id)
        .where(*where).order_by(Outlet.flagged_on, Outlet.code).limit(limit).offset(offset), Outlet)).all()
    return _count(Outlet, *where), [{
        "id": oid, "code": code, "name": name, "link": url_for("OutletView.show", pk=oid),
        "status": status, "status_label": OUTLET_STATUS.label(status), "flagged_on": flagged_on,
        "reasons": [FLAG_REASON.label(r) for r in (reasons or "").split(",") if r], "region": region,
    } for oid, code, name, status, flagged_on, reasons, region in rows]


def holiday_calendar(user, limit=LIMIT, offset=0):
    notices = calendar_notices(user)
    return len(notices), notices[offset:offset + limit]


# --- auditor -------------------------------------------------------------------------------------

def my_audits(user, limit=LIMIT, offset=0):
    today = clock.today()
    horizon = today + timedelta(days=int(settings.get("qualification.annual_open_days_before")))
    mine = or_(QualificationAudit.auditor_id == user.id,
               and_(QualificationAudit.auditor_id.is_(None), QualificationAudit.opened_by_id == user.id))
    where = (QualificationAudit.status.in_(EDITABLE_AUDIT), QualificationAudit.is_open.is_(True),
             or_(mine, and_(QualificationAudit.auditor_id.is_(None), QualificationAudit.due_on <= horizon)))
    rows = db.session.execute(_scoped(
        select(QualificationAudit.id, QualificationAudit.number, QualificationAudit.kind, QualificationAudit.status,
               QualificationAudit.due_on, mine, Outlet.code, Outlet.name)
        .join(Outlet, Outlet.id == QualificationAudit.outlet_id)
        .where(*where).order_by(QualificationAudit.due_on, QualificationAudit.id).limit(limit).offset(offset),
        QualificationAudit)).all()
    result = []
    for aid, number, kind, status, due_on, is_mine, code, name in rows:
        days = (due_on - today).days
        result.append({
            "id": aid, "number": number, "link": url_for("WorkbenchView.audit", pk=aid),
            "kind_label": AUDIT_KIND.label(kind), "status": status, "status_label": AUDIT_STATUS.label(status),
            "due_on": due_on, "overdue": days < 0, "mine": bool(is_mine), "outlet": f"{code} {name}",
            "due_text": (gettext("Overdue by %(span)s", span=span_text(timedelta(days=-days))) if days < 0
                         else gettext("Due today") if days == 0
                         else gettext("Due in %(span)s", span=span_text(timedelta(days=days)))),
        })
    return _count(QualificationAudit, *where), result


def trail_verification(user, limit=LIMIT, offset=0):
    """The last verification of the audit trail's hash chain: one row, or none when never run."""
    from app.audit_trail.models import AuditEvent

    row = db.session.execute(
        select(AuditEvent.at, AuditEvent.changes, AuditEvent.actor_name, User.first_name, User.last_name,
               User.username)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.action == VERIFIED).order_by(AuditEvent.id.desc()).limit(1)).first()
    if row is None:
        return 0, []
    at, changes, actor_name, first, last, username = row
    try:
        result = json.loads(changes or "{}")
    except ValueError:
        result = {}
    ok = result.get("ok") is True
    if ok:
        text = gettext("Intact: %(n)s events checked, every hash and link verified.",
                       n=l10n.number_text(int(result.get("checked") or 0)))
    else:
        text = gettext("Altered: the chain breaks at event %(id)s.", id=result.get("first_broken_id"))
    return 1, [{"at": at, "ok": ok, "text": text, "by": _person(first, last, username), "actor_name": actor_name}]


# --- admin ---------------------------------------------------------------------------------------

def locked_accounts(user, limit=LIMIT, offset=0):
    from app.security.models import UserCredential

    now = clock.now()
    where = (UserCredential.locked_until > now,)
    rows = db.session.execute(
        select(User.id, User.first_name, User.last_name, User.username, UserCredential.locked_until,
               UserCredential.failed_logins)
        .join(UserCredential, UserCredential.user_id == User.id)
        .where(*where).order_by(UserCredential.locked_until.desc(), User.id).limit(limit).offset(offset)).all()
    count = db.session.execute(select(func.count()).select_from(UserCredential).where(*where)).scalar()
    return int(count or 0), [{
        "id": uid, "person": _person(first, last, username), "link": url_for("UserDBModelView.show", pk=uid),
        "locked_until": locked_until, "failed": failed,
    } for uid, first, last, username, locked_until, failed in rows]


def users_without_region(user, limit=LIMIT, offset=0):
    def holders(*names):
        return (select(assoc_user_role.c.user_id).join(Role, Role.id == assoc_user_role.c.role_id)
                .where(Role.name.in_(names)))

    where = (User.active.is_(True), User.id.in_(holders(REGIONAL_MANAGER, SERVICE_AGENT)),
             User.id.not_in(holders(*scope.UNRESTRICTED_ROLES)),
             User.id.not_in(select(region_user.c.user_id)))
    rows = db.session.execute(
        select(User.id, User.first_name, User.last_name, User.username).where(*where)
        .order_by(User.username).limit(limit).offset(offset)).all()
    count = db.session.execute(select(func.count()).select_from(User).where(*where)).scalar()
    regions = url_for("RegionView.list")
    return int(count or 0), [{
        "id": uid, "person": _person(first, last, username), "link": url_for("UserDBModelView.show", pk=uid),
        "regions_link": regions,
    } for uid, first, last, username in rows]


# --- the panels, by role -------------------------------------------------------------------------

class Panel:
    """A panel: its title, its query ``(user, limit, offset) -> (count, rows)``, what it says when
    empty, and where its count leads (an existing list, or ``full_list``: its own at /today/<key>)."""

    def __init__(self, key, title, query, empty, link=None, full_list=False, counted=True):
        self.key, self.title, self.query, self.empty = key, title, query, empty
        self.link, self.full_list, self.counted = link, full_list, counted

    def list_link(self, user):
        if self.full_list:
            return url_for("TodayView.panel_list", key=self.key)
        return self.link(user) if self.link else None


PANELS = {p.key: p for p in (
    Panel("my_complaints", _l("My open complaints"), my_complaints,
          _l("Nothing waiting: you own no open complaint."),
          link=lambda user: url_for("ComplaintView.list", _flt_0_mine=1, _flt_0_open=1)),
    Panel("my_warnings", _l("Breach warnings"), my_warnings,
          _l("Nothing waiting: none of your complaints is near or past its due time."), full_list=True),
    Panel("escalations_waiting", _l("Escalations waiting for my decision"), escalations_waiting,
          _l("Nothing waiting: no escalation needs your decision."),
          link=lambda user: url_for("EscalationDeskView.index")),
    Panel("breaches_today", _l("Breaches in my regions today"), breaches_today,
          _l("Nothing to report: no response or resolution breached today."), full_list=True),
    Panel("audits_to_approve", _l("Qualification audits awaiting approval"), audits_to_approve,
          _l("Nothing waiting: no submitted audit needs your approval."),
          link=lambda user: url_for("WorkbenchView.approvals")),
    Panel("level2_escalations", _l("Level-2 escalations pending"), level2_escalations,
          _l("Nothing waiting: no level-2 escalation is pending."),
          link=lambda user: url_for("EscalationView.list", _flt_0_status="pending", _flt_0_level=2)),
    Panel("flagged_outlets", _l("Flagged outlets"), flagged_outlets,
          _l("Nothing waiting: every outlet meets the computed qualification criteria."),
          link=lambda user: url_for("OutletView.list", _flt_0_flagged=1,
                                    _flt_1_status=[s for s in OUTLET_STATUS.codes if s not in SERVING_OUTLET])),
    Panel("holiday_calendar", _l("Holiday calendar"), holiday_calendar,
          _l("Nothing waiting: this year's and next year's holiday arrangements are confirmed."),
          link=lambda user: url_for("CalendarDayView.list")),
    Panel("my_audits", _l("Qualification audits to work on"), my_audits,
          _l("Nothing waiting: no audit is assigned to you or due soon."),
          link=lambda user: url_for("WorkbenchView.index")),
    Panel("trail_verification", _l("Audit-trail verification"), trail_verification,
          _l("The audit trail has never been verified."),
          link=lambda user: url_for("AuditEventView.list", _flt_0_action=VERIFIED), counted=False),
    Panel("locked_accounts", _l("Locked accounts"), locked_accounts,
          _l("Nothing waiting: no account is locked."), full_list=True),
    Panel("users_without_region", _l("Users without a region"), users_without_region,
          _l("Nothing waiting: every regional manager and service agent has a region."), full_list=True),
)}

SECTIONS = (
    (SERVICE_AGENT, ("my_complaints", "my_warnings")),
    (REGIONAL_MANAGER, ("escalations_waiting", "breaches_today")),
    (HQ_ADMIN, ("audits_to_approve", "level2_escalations", "flagged_outlets", "holiday_calendar")),
    (AUDITOR, ("my_audits", "trail_verification")),
    (ADMIN, ("locked_accounts", "users_without_region")),
)
"""Role → its panels on the home page, in this order."""


def panel_roles(key):
    return {role for role, keys in SECTIONS if key in keys}


def may_see(user, key):
    return key in PANELS and any(has_role(user, role) for role in panel_roles(key))


def panel(key, user, limit=LIMIT, offset=0):
    """One panel for ``user``: its title, count, first rows and the link to all of them."""
    spec = PANELS[key]
    count, rows = spec.query(user, limit, offset)
    result = {"key": key, "title": str(spec.title), "count": count, "rows": rows, "empty": str(spec.empty),
              "link": spec.list_link(user), "counted": spec.counted}
    if key == "trail_verification":
        result["verify_link"] = url_for("AuditEventView.verify")
    return result


def sections(user=None):
    """The user's "today" section: one group per role they hold, each with its panels."""
    user = scope.acting_user() if user is None else user
    if user is None:
        return []
    return [{"role": role, "label": role_label(role), "panels": [panel(key, user) for key in keys]}
            for role, keys in SECTIONS if has_role(user, role)]
