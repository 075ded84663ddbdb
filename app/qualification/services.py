"""Qualification audits: opening, answering, evidence files, submission, approval, return.

The only code that changes audits. Pages, the API and jobs call these functions; each runs in one
transaction and raises ``DomainError``s (404 outside scope, 409 wrong state or a second open
audit, 403 not allowed, 422 invalid). Rules:

* an outlet has at most one open audit (draft, submitted or returned) — a unique key;
* admission audits are for applying outlets, annual and special ones for outlets in the network
  (not applying, not terminated);
* computed items are live while the audit is open for answers and frozen at submission;
* ``pass`` needs every required item met; ``conditional`` and ``fail`` need a comment;
* an HQ admin who did not submit the audit approves or returns it; approval is a compare-and-set
  (under ``FOR UPDATE`` on PostgreSQL): of two concurrent decisions exactly one wins;
* approval carries the outcome to the outlet: ``pass`` → active, last qualified today, next audit
  in 12 months; ``conditional`` → probation, a rectification deadline and a follow-up special
  audit due then; ``fail`` → terminated.
"""
import logging
import os
import uuid
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from app.core import clock, l10n, numbering, scope, settings
from app.core.errors import Conflict, ErrorCollector, Forbidden, Invalid, NotFound
from app.core.services import guards_delete, load, transaction, validates_entity
from app.extensions import db
from app.network.models import Outlet
from app.qualification import checklist
from app.qualification.enums import ANSWER, AUDIT_KIND, AUDIT_OUTCOME, AUDIT_STATUS
from app.qualification.models import (
    AuditTemplateItem, QualificationAudit, QualificationAuditItem, QualificationEvidenceFile,
)

log = logging.getLogger(__name__)

HQ_ADMIN = "HQ Admin"
EDITABLE = ("draft", "returned")
NOT_AUDITED = ("terminated",)

# Evidence files: what the first bytes must say, and the file name extensions that go with it.
FILE_TYPES = (
    ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff"), ("jpg", "jpeg")),
    ("image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"), ("png",)),
    ("image/webp", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP", ("webp",)),
    ("application/pdf", lambda b: b.startswith(b"%PDF-"), ("pdf",)),
)


def _actor():
    return scope.acting_user()


def _has_role(user, name):
    return user is not None and any(r.name == name for r in user.roles)


def _require_state(audit, allowed, action):
    if audit.status not in allowed:
        raise Conflict(
            _("Cannot %(action)s an audit that is %(state)s.", action=action,
              state=AUDIT_STATUS.label(audit.status)),
            {"status": [audit.status]},
        )


def get_audit(pk, lock=False):
    """An audit within the actor's region scope (404 otherwise), row-locked when ``lock``."""
    return load(QualificationAudit, pk, lock)


def open_audit_of(outlet_id):
    return db.session.execute(
        select(QualificationAudit).where(QualificationAudit.outlet_id == outlet_id,
                                         QualificationAudit.is_open.is_(True))
    ).scalar_one_or_none()


# --- opening -----------------------------------------------------------------------------------

def next_number(today):
    """``QA`` + the day + a sequence: ``QA202612070001`` (unique under load)."""
    return numbering.take(f"QA{today:%Y%m%d}", QualificationAudit.number)


def _check_kind(outlet, kind):
    if kind not in AUDIT_KIND:
        raise Invalid({"kind": [_("Not a valid choice. Choose one of: %(codes)s.",
                                  codes=", ".join(AUDIT_KIND.codes))]})
    from app.network.enums import OUTLET_STATUS

    if outlet.status in NOT_AUDITED:
        raise Conflict(_("A terminated outlet is no longer audited."), {"outlet": [outlet.status]})
    if kind == "admission" and outlet.status != "applying":
        raise Conflict(_("An admission audit is for an applying outlet; this one is %(state)s.",
                         state=OUTLET_STATUS.label(outlet.status)), {"kind": [kind]})
    if kind != "admission" and outlet.status == "applying":
        raise Conflict(_("An applying outlet needs an admission audit first."), {"kind": [kind]})


def build_audit(outlet, kind, actor, due_on=None, origin="manual", trigger_note="", parent=None):
    """A new draft audit with the active template's items, added to the session (no commit).

    Refuses (409) a second open audit of the outlet."""
    _check_kind(outlet, kind)
    existing = open_audit_of(outlet.id)
    if existing is not None:
        raise Conflict(_("Outlet %(outlet)s already has an open audit: %(number)s.", outlet=outlet.code,
                         number=existing.number), {"outlet": [existing.number]})
    today = clock.today()
    if due_on is None:
        if kind == "annual" and outlet.next_audit_due_on is not None:
            due_on = outlet.next_audit_due_on
        else:
            due_on = today + timedelta(days=settings.get("qualification.annual_open_days_before"))
    audit = QualificationAudit(
        number=next_number(today), outlet=outlet, kind=kind, status="draft", origin=origin, due_on=due_on,
        is_open=True, trigger_note=(trigger_note or "")[:300], parent=parent,
        opened_by_id=actor.id if actor is not None else None,
    )
    template = db.session.execute(
        select(AuditTemplateItem).where(AuditTemplateItem.active.is_(True))
        .order_by(AuditTemplateItem.position, AuditTemplateItem.id)
    ).scalars().all()
    for t in template:
        audit.items.append(QualificationAuditItem(
            position=t.position, code=t.code, label=t.label, kind=t.kind, metric=t.metric,
            required=bool(t.required) and t.kind != "kpi", evidence_required=bool(t.evidence_required),
            guidance=t.guidance or "", note=""))
    db.session.add(audit)
    return audit


def _open_conflict(exc):
    log.info("second open audit refused by the database: %s", getattr(exc, "orig", exc))
    return Conflict(_("This outlet already has an open audit."), {"outlet": [_("Already has an open audit.")]})


def open_audit(outlet_id, kind, actor, due_on=None):
    """Open a draft audit of an outlet in the actor's scope (by hand)."""
    if isinstance(outlet_id, bool) or not isinstance(outlet_id, int):
        raise Invalid({"outlet": [_("Give the id (a whole number) of a record.")]})
    with transaction(_open_conflict):
        outlet = db.session.query(Outlet).filter(Outlet.id == outlet_id)
        clause = scope.clause_for(Outlet)
        if clause is not None:
            outlet = outlet.filter(clause)
        outlet = outlet.one_or_none()
        if outlet is None:
            raise Invalid({"outlet": [_("There is no record with id %(id)s.", id=outlet_id)]})
        audit = build_audit(outlet, kind, actor, due_on=due_on)
        db.session.flush()
    return audit


# --- reading -----------------------------------------------------------------------------------

def is_live(audit):
    """Open for answers: computed items show live data; afterwards the frozen values."""
    return audit.status in EDITABLE


def rows(audit, drilldown=True):
    """The checklist lines of an audit, live or frozen."""
    if is_live(audit):
        values = checklist.live_values([audit.outlet_id]).get(audit.outlet_id, {})
        breakdown = checklist.drilldown(audit.outlet_id) if drilldown else None
        return [checklist.item_view(i, values.get(i.metric) if i.kind != "onsite" else None, breakdown)
                for i in audit.items]
    return [checklist.item_view(i) for i in audit.items]


def summary(audit, lines):
    """The headline facts of an audit: the two computed criteria, the premises answer, qualifies."""
    by_metric = {r["metric"]: r for r in lines if r["metric"]}
    eng, stock, premises = (by_metric.get("certified_engineers"), by_metric.get("stock_rate"),
                            by_metric.get("has_fixed_premises"))
    return {
        "certified_engineers": int(eng["actual"]) if eng and eng["actual"] is not None else None,
        "required_engineers": int(eng["target"]) if eng and eng["target"] is not None else None,
        "stock_rate": stock["actual"] if stock else None,
        "required_stock_rate": stock["target"] if stock else None,
        "has_fixed_premises": premises["met"] if premises else None,
        "qualifies": checklist.qualifies(lines),
        "live": is_live(audit),
    }


def outlet_qualification(outlet):
    """The live evidence of an outlet, as the API's ``/outlet/<id>/qualification`` answers it."""
    from app.qualification import evidence

    ev = evidence.for_outlet(outlet.id)
    values = checklist.live_values([outlet.id]).get(outlet.id, {})
    breakdown = checklist.drilldown(outlet.id)
    template = db.session.execute(
        select(AuditTemplateItem).where(AuditTemplateItem.active.is_(True))
        .order_by(AuditTemplateItem.position, AuditTemplateItem.id)
    ).scalars().all()
    items = []
    for t in template:
        if t.kind == "onsite":
            row = checklist.item_view(t)
            row["answer"] = None
            row["met"] = bool(outlet.has_fixed_premises) if t.metric == "has_fixed_premises" else None
            items.append(row)
        else:
            items.append(checklist.item_view(t, values.get(t.metric), breakdown))
    return {
        "outlet": outlet.id,
        "certified_engineers": ev.certified_engineers,
        "required_engineers": ev.required_engineers,
        "stock_rate": float(ev.stock_rate) if ev.stock_rate is not None else None,
        "required_stock_rate": float(ev.required_stock_rate),
        "has_fixed_premises": ev.has_fixed_premises,
        "qualifies": ev.qualifies,
        "items": items,
    }


# --- answering ---------------------------------------------------------------------------------

def save_answers(pk, answers, actor, due_on=None):
    """``answers``: ``[{"code", "answer": "yes"|"no"|None, "note"}]`` for on-site items."""
    if not isinstance(answers, list):
        raise Invalid({"items": [_("Give a list of checklist answers.")]})
    with transaction():
        audit = get_audit(pk, lock=True)
        _require_state(audit, EDITABLE, _("change the answers of"))
        errors = ErrorCollector()
        for entry in answers:
            if not isinstance(entry, dict):
                errors.add("items", _("Each answer is an object with a code."))
                continue
            code = entry.get("code")
            item = audit.item(code) if isinstance(code, str) else None
            if item is None:
                errors.add("items", _("No checklist item %(code)s in this audit.", code=code))
                continue
            if item.kind != "onsite":
                errors.add(code, _("Computed items are not answered by hand."))
                continue
            if "answer" in entry:
                answer = entry["answer"]
                if answer is True:
                    answer = "yes"
                elif answer is False:
                    answer = "no"
                if answer not in (None, "") and answer not in ANSWER:
                    errors.add(code, _("Answer yes or no."))
                    continue
                item.answer = answer or None
            if "note" in entry:
                note = entry["note"]
                if note is not None and not isinstance(note, str):
                    errors.add(code, _("The note must be text."))
                    continue
                item.note = (note or "").strip()[:2000]
        if due_on is not None:
            audit.due_on = due_on
        errors.raise_if_any()
    return audit


# --- evidence files ----------------------------------------------------------------------------

def _evidence_dir():
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "evidence")
    os.makedirs(path, exist_ok=True)
    return path


def sniff(data, filename):
    """The content type of an evidence file from its first bytes, or ``None`` when it is not an
    image or PDF whose name has the matching extension."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    for content_type, matches, extensions in FILE_TYPES:
        if matches(data[:16]):
            return content_type if ext in extensions else None
    return None


def add_evidence(pk, code, filename, stream, actor):
    """Store a photo or PDF for an on-site item: type and size checked, kept under a random name."""
    filename = os.path.basename((filename or "").replace("\\", "/")).strip()[:200]
    limit = settings.get("qualification.evidence_max_mb") * 1024 * 1024
    data = stream.read(limit + 1) if stream is not None else b""
    errors = ErrorCollector()
    if not filename or not data:
        errors.add("file", _("Choose a file to upload."))
    elif len(data) > limit:
        errors.add("file", _("The file is larger than %(mb)s MB.", mb=limit // (1024 * 1024)))
    else:
        content_type = sniff(data, filename)
        if content_type is None:
            errors.add("file", _("Only JPEG, PNG or WebP images and PDF documents are accepted."))
    errors.raise_if_any()
    stored_name = f"{uuid.uuid4().hex}.{filename.rsplit('.', 1)[-1].lower()}"
    path = os.path.join(_evidence_dir(), stored_name)
    try:
        with transaction():
            audit = get_audit(pk, lock=True)
            _require_state(audit, EDITABLE, _("add evidence to"))
            item = audit.item(code) if isinstance(code, str) else None
            if item is None or item.kind != "onsite":
                raise Invalid({"item": [_("Evidence belongs to an on-site item of this audit.")]})
            with open(path, "wb") as f:
                f.write(data)
            row = QualificationEvidenceFile(item=item, filename=filename, stored_name=stored_name,
                                            content_type=content_type, size=len(data),
                                            uploaded_by_id=actor.id if actor else None, uploaded_at=clock.now())
            db.session.add(row)
            db.session.flush()
    except Exception:
        if os.path.exists(path):
            os.remove(path)
        raise
    return row


def get_evidence(pk, file_id):
    """``(file row, path on disk)`` of an evidence file of an audit the actor may see."""
    audit = get_audit(pk)
    row = db.session.execute(
        select(QualificationEvidenceFile).join(QualificationAuditItem)
        .where(QualificationEvidenceFile.id == file_id, QualificationAuditItem.audit_id == audit.id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound()
    return row, os.path.join(_evidence_dir(), row.stored_name)


def remove_evidence(pk, file_id, actor):
    with transaction():
        audit = get_audit(pk, lock=True)
        _require_state(audit, EDITABLE, _("remove evidence from"))
        row, path = get_evidence(pk, file_id)
        db.session.delete(row)
    if os.path.exists(path):
        os.remove(path)


# --- submission and decision -------------------------------------------------------------------

def _parse_days(value):
    """Rectification days: a whole number 1–365 (or text of one); empty means the setting."""
    if value is None or value == "":
        return settings.get("qualification.rectification_days")
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise ValueError
    days = int(value)
    if not 1 <= days <= 365:
        raise ValueError
    return days


def submit(pk, outcome, comment, rectification_days, actor):
    """Freeze the evidence and propose an outcome (by an auditor or HQ admin)."""
    comment = (comment or "").strip() if isinstance(comment, str) else ""
    with transaction():
        audit = get_audit(pk, lock=True)
        _require_state(audit, EDITABLE, _("submit"))
        errors = ErrorCollector()
        if outcome not in AUDIT_OUTCOME:
            errors.add("outcome", _("Not a valid choice. Choose one of: %(codes)s.",
                                    codes=", ".join(AUDIT_OUTCOME.codes)))
        days = None
        if outcome == "conditional":
            try:
                days = _parse_days(rectification_days)
            except (TypeError, ValueError):
                errors.add("rectification_days", _("Enter a number of days between 1 and 365."))
        if outcome in ("conditional", "fail") and not comment:
            errors.add("comment", _("Explain the outcome for the outlet."))
        lines = rows(audit)
        for line, item in zip(lines, audit.items):
            if item.kind != "onsite":
                continue
            if line["required"] and line["answer"] is None:
                errors.add(item.code, _("Answer this on-site item."))
            if item.evidence_required and line["answer"] is not None and not item.note and not item.files:
                errors.add(item.code, _("Add a photo or a note as evidence."))
        if outcome == "pass" and not errors and not checklist.qualifies(lines):
            unmet = [r["label"] for r in lines if r["required"] and r["met"] is not True]
            errors.add("outcome", _("The outlet cannot pass: not met: %(items)s.", items="、".join(unmet)))
        errors.raise_if_any()
        # freeze the computed evidence as it stands now
        for line, item in zip(lines, audit.items):
            if item.kind == "onsite":
                continue
            item.actual = None if line["actual"] is None else line["actual"]
            item.target = None if line["target"] is None else line["target"]
            item.met = line["met"]
            item.details = line["details"]
        audit.evidence_snapshot = {**summary(audit, lines), "live": False, "as_of": clock.today().isoformat()}
        audit.status = "submitted"
        audit.outcome = outcome
        audit.rectification_days = days
        audit.submit_comment = comment
        audit.auditor_id = actor.id if actor else None
        audit.submitted_at = clock.now()
    return audit


def check_can_decide(audit, user):
    if user is None or not _has_role(user, HQ_ADMIN):
        raise Forbidden(_("Only an HQ admin approves or returns an audit."))
    if audit.auditor_id is not None and audit.auditor_id == user.id:
        raise Forbidden(_("You cannot decide an audit you submitted."), {"audit": [_("Submitted by you.")]})


def _decide(pk, actor, approve, comment):
    comment = (comment or "").strip() if isinstance(comment, str) else ""
    if not approve and not comment:
        raise Invalid({"comment": [_("Say what the auditor must correct.")]})
    with transaction(_open_conflict):
        audit = get_audit(pk, lock=True)
        _require_state(audit, ("submitted",), _("decide"))
        check_can_decide(audit, actor)
        now = clock.now()
        # compare-and-set: exactly one decision wins even where FOR UPDATE is not supported
        won = db.session.execute(
            update(QualificationAudit)
            .where(QualificationAudit.id == audit.id, QualificationAudit.status == "submitted")
            .values(status="approved" if approve else "returned", decided_by_id=actor.id, decided_at=now,
                    decision_comment=comment, updated_at=now,
                    is_open=None if approve else True)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            raise Conflict(_("This audit was already decided by someone else."), {"status": ["decided"]})
        db.session.refresh(audit)
        if approve:
            apply_outcome(audit)
    return audit


def apply_outcome(audit):
    """Carry an approved outcome to the outlet (DOMAIN: outlet admission and qualification)."""
    outlet = audit.outlet
    today = clock.today()
    premises = next((i for i in audit.items if i.metric == "has_fixed_premises" and i.answer), None)
    if premises is not None:
        outlet.has_fixed_premises = premises.answer == "yes"
    if audit.outcome == "pass":
        outlet.status = "active"
        outlet.last_qualified_on = today
        outlet.next_audit_due_on = today + relativedelta(months=12)
        outlet.flagged_on, outlet.flag_reasons = None, ""
    elif audit.outcome == "conditional":
        deadline = today + timedelta(days=audit.rectification_days or settings.get("qualification.rectification_days"))
        audit.rectification_deadline = deadline
        outlet.status = "probation"
        outlet.next_audit_due_on = deadline
        db.session.flush()
        build_audit(outlet, "special", None, due_on=deadline, origin="follow_up", parent=audit,
                    trigger_note=_("Follow-up of %(number)s: rectify by %(deadline)s.", number=audit.number,
                                   deadline=l10n.date_text(deadline)))
    else:
        outlet.status = "terminated"
        outlet.next_audit_due_on = None
    db.session.flush()


def approve(pk, comment, actor):
    return _decide(pk, actor, True, comment)


def return_(pk, comment, actor):
    return _decide(pk, actor, False, comment)


# --- entity rules ------------------------------------------------------------------------------

@validates_entity(AuditTemplateItem)
def _template_rules(item, errors):
    if item.kind in ("computed", "kpi"):
        metric = checklist.METRICS.get(item.metric or "")
        if metric is None or metric.kind != item.kind:
            codes = [c for c, m in checklist.METRICS.items() if m.kind == item.kind]
            errors.add("metric", _("Choose one of: %(codes)s.", codes=", ".join(codes)))
    elif item.kind == "onsite" and item.metric and item.metric not in checklist.ONSITE_BINDINGS:
        errors.add("metric", _("Leave empty, or choose one of: %(codes)s.",
                               codes=", ".join(checklist.ONSITE_BINDINGS)))
    if item.kind == "kpi" and item.required:
        errors.add("required", _("An informative KPI cannot be required."))


@validates_entity(QualificationAudit)
def _audit_rules(item, errors):
    if item.id is not None and item.status not in EDITABLE:
        from app.core.services import changed_fields

        if changed_fields(item) - {"updated_at"}:
            errors.add("status", _("A submitted or approved audit cannot be edited."))


@guards_delete(QualificationAudit)
def _only_drafts_are_deleted(item):
    if item.status != "draft":
        raise Conflict(_("Only a draft audit can be deleted."), {"status": [item.status]})
