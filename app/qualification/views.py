"""Pages of outlet qualification: the audit workbench (open, answer, upload evidence, submit), the
approval screen for HQ admins, the list of audits and the checklist template. Every change goes
through ``qualification.services``."""
from datetime import date

from flask import abort, current_app, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from sqlalchemy import or_, select

from app.core import clock, scope, settings
from app.core.errors import DomainError
from app.core.web import csrf_ok, flash_error
from app.core.views import BaseModelView, FilterInRegion, related_search, scoped
from app.extensions import db
from app.network.enums import OUTLET_STATUS
from app.network.models import Outlet, Region
from app.qualification import checklist, services
from app.qualification.enums import (
    ANSWER, AUDIT_KIND, AUDIT_ORIGIN, AUDIT_OUTCOME, AUDIT_STATUS, FLAG_REASON, ITEM_KIND,
)
from app.qualification.models import AuditTemplateItem, QualificationAudit
from app.security import permissions as p

STATUS_STYLE = {"draft": "default", "submitted": "info", "approved": "success", "returned": "warning"}


def _user():
    return current_app.appbuilder.sm.current_user


def _scoped(query, model):
    clause = scope.clause_for(model)
    return query if clause is None else query.filter(clause)


def _can(permission):
    return current_app.appbuilder.sm.has_access(permission, p.QUALIFICATION_AUDIT)


def _template_globals():
    from app.engineers.enums import CERTIFICATION_STATUS, ENGINEER_STATUS

    return dict(ENGINEER_STATUS=ENGINEER_STATUS, CERTIFICATION_STATUS=CERTIFICATION_STATUS, AUDIT_KIND=AUDIT_KIND,
                AUDIT_STATUS=AUDIT_STATUS, AUDIT_OUTCOME=AUDIT_OUTCOME, AUDIT_ORIGIN=AUDIT_ORIGIN, ITEM_KIND=ITEM_KIND,
                ANSWER=ANSWER, OUTLET_STATUS=OUTLET_STATUS,
                FLAG_REASON=FLAG_REASON, STATUS_STYLE=STATUS_STYLE, today=clock.today(), csrf_token=generate_csrf,
                to_local=clock.to_local)


# The fields of the submission panel: kept when another action of the page (save, upload, remove
# evidence) reloads it, so nothing typed there is lost.
PROPOSAL_FIELDS = ("outcome", "rectification_days", "comment")


def _answers_from_form(audit, form):
    """The on-site answers and notes a page's form carries (a missing radio is "not answered")."""
    return [{"code": i.code, "answer": form.get(f"answer-{i.code}") or None, "note": form.get(f"note-{i.code}", "")}
            for i in audit.items if i.kind == "onsite"]


def _proposal(form, default_days):
    """The submission panel's values the user typed or chose — ``{field: value}`` of those that differ
    from what the page put there (the suggested outcome, the default rectification days, no
    comment) — or ``None`` when there are none."""
    if form is None:
        return None
    values = {f: form.get(f, "") for f in PROPOSAL_FIELDS}
    touched = {}
    if values["outcome"] != form.get("suggested_outcome", ""):
        touched["outcome"] = values["outcome"]
    if values["rectification_days"] not in ("", str(default_days)):
        touched["rectification_days"] = values["rectification_days"]
    if values["comment"].strip():
        touched["comment"] = values["comment"]
    return touched or None


def _warnings(outlets):
    """``{outlet id: [(code, text)]}``: why each outlet due for review is a concern now, from live
    data (the computed criteria it misses, premises not confirmed) and its flag, in a fixed number of
    queries."""
    from app.core import l10n
    from app.qualification import evidence

    facts = evidence.for_outlets([o.id for o in outlets])
    result = {}
    for o in outlets:
        ev, found = facts.get(o.id), []
        if ev is not None and not ev.meets_engineers:
            found.append(("engineers", _("Certified engineers: %(n)s of %(required)s required",
                                         n=ev.certified_engineers, required=ev.required_engineers)))
        if ev is not None and not ev.meets_stock:
            if ev.stock_rate is None:
                found.append(("stock", _("No common part applies to the categories this outlet serves.")))
            else:
                found.append(("stock", _("Common-parts stock rate: %(rate)s of %(required)s required",
                                         rate=f"{l10n.number_text(ev.stock_rate, '#,##0.0')}%",
                                         required=f"{l10n.number_text(ev.required_stock_rate, '#,##0')}%")))
        if ev is not None and not ev.has_fixed_premises:
            found.append(("premises", _("Fixed premises not confirmed")))
        if o.flagged_on is not None:
            found.append(("flagged", _("Flagged on %(day)s", day=l10n.date_text(o.flagged_on))))
        result[o.id] = found
    return result


class WorkbenchView(BaseView):
    """The auditor's workbench and the HQ admin's approval screen.

    The audit page is one form: the on-site answers, the evidence upload and the submission panel.
    Every button posts all of it, and the server first keeps what the form carries (the answers
    saved as a draft, a chosen file stored) before the button's own action, so no action loses
    typed input, with or without scripts. Removing evidence asks for confirmation on a page of
    its own (as every action on one record does, ``pages/confirm_action.html``)."""

    route_base = "/workbench"
    default_view = "index"
    class_permission_name = p.QUALIFICATION_AUDIT
    method_permission_name = {
        "index": "write", "outlets": "write", "open": "write", "audit": "read", "save": "write",
        "upload": "write", "evidence": "read", "remove_evidence": "write", "submit": "write",
        "approvals": "approve", "approval": "approve", "approve": "approve", "return_audit": "approve",
    }
    base_permissions = [p.READ, p.WRITE, p.APPROVE]

    # --- the workbench -------------------------------------------------------------------------
    @expose("/")
    @has_access
    def index(self):
        """Open audits of the user's regions, the nearest due first, with their live verdict; and
        outlets due for review without an open audit."""
        return self._index(request.args.get("outlet", type=int))

    def _index(self, preselect=None, entered=None):
        audits = _scoped(db.session.query(QualificationAudit), QualificationAudit).filter(
            QualificationAudit.status.in_(services.EDITABLE)).order_by(
            QualificationAudit.due_on, QualificationAudit.id).limit(200).all()
        values = checklist.live_values({a.outlet_id for a in audits})
        verdicts = {}
        for a in audits:
            v = values.get(a.outlet_id, {})
            verdicts[a.id] = {m: v.get(m) for m in ("certified_engineers", "stock_rate")}
        horizon = clock.today().toordinal() + settings.get("qualification.annual_open_days_before")
        due = _scoped(db.session.query(Outlet), Outlet).filter(
            or_(Outlet.status == "applying", Outlet.flagged_on.isnot(None),
                Outlet.next_audit_due_on <= date.fromordinal(horizon)),
            Outlet.status != "terminated",
            ~select(QualificationAudit.id).where(QualificationAudit.outlet_id == Outlet.id,
                                                 QualificationAudit.is_open.is_(True)).exists(),
        ).order_by(Outlet.next_audit_due_on.is_(None), Outlet.next_audit_due_on, Outlet.code).limit(50).all()
        submitted = _scoped(db.session.query(QualificationAudit), QualificationAudit).filter(
            QualificationAudit.status == "submitted").count()
        preselected = (_scoped(db.session.query(Outlet), Outlet).filter(Outlet.id == preselect).one_or_none()
                       if preselect else None)
        return self.render_template("qualification/workbench.html", audits=audits, verdicts=verdicts,
                                    due_outlets=due, warnings=_warnings(due), submitted=submitted,
                                    can_approve=_can(p.APPROVE), preselected=preselected, entered=entered or {},
                                    **_template_globals())

    @expose("/outlets")
    @has_access
    def outlets(self):
        """Outlets for the "open an audit" box: ``{results: [{id, text}], more}`` (AJAX, scoped)."""
        term = (request.args.get("q") or "").strip()[:100]
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        query = _scoped(db.session.query(Outlet), Outlet).filter(Outlet.status != "terminated")
        if term:
            query = query.filter(or_(Outlet.code.icontains(term, autoescape=True),
                                     Outlet.name.icontains(term, autoescape=True)))
        rows = query.order_by(Outlet.code).offset((page - 1) * 20).limit(21).all()
        return jsonify(results=[{"id": o.id, "text": f"{o} · {OUTLET_STATUS.label(o.status)}"} for o in rows[:20]],
                       more=len(rows) > 20)

    @expose("/open", methods=["POST"])
    @has_access
    def open(self):
        """Open an audit; a refusal shows the form again with what was entered."""
        if not csrf_ok():
            return redirect(url_for("WorkbenchView.index"))
        try:
            outlet_id = int(request.form.get("outlet") or 0) or None
        except ValueError:
            outlet_id = None
        entered = {"kind": request.form.get("kind", ""), "due_on": request.form.get("due_on", "")}

        def refused():
            return self._index(outlet_id, entered)

        if outlet_id is None:
            flash(_("Choose an outlet."), "danger")
            return refused()
        due_on = None
        if request.form.get("due_on"):
            try:
                due_on = date.fromisoformat(request.form["due_on"])
            except ValueError:
                flash(_("Enter a date as YYYY-MM-DD."), "danger")
                return refused()
        try:
            audit = services.open_audit(outlet_id, request.form.get("kind"), _user(), due_on=due_on)
        except DomainError as exc:
            db.session.rollback()
            flash_error(exc)
            return refused()
        flash(_("Audit %(number)s opened.", number=audit.number), "success")
        return redirect(url_for("WorkbenchView.audit", pk=audit.id))

    # --- one audit -----------------------------------------------------------------------------
    def _load(self, pk):
        try:
            return services.get_audit(pk)
        except DomainError:
            abort(404)

    def _check(self, pk):
        """404 unless the audit is in the user's scope; what was read is let go, so the service
        called next reads the audit afresh under its lock."""
        self._load(pk)
        db.session.rollback()

    def _page(self, pk, mode, form=None):
        """The audit page; ``form``: a posted form whose on-site answers (when they could not be
        saved) and submission panel are shown as the user left them."""
        audit = self._load(pk)
        lines = services.rows(audit)
        editable = mode == "work" and audit.status in services.EDITABLE and _can(p.WRITE)
        default_days = settings.get("qualification.rectification_days")
        verdict = checklist.verdict(lines)
        suggested = checklist.suggested_outcome(lines)
        proposal = {"outcome": suggested or "", "rectification_days": str(default_days), "comment": ""}
        if form is not None and editable:
            proposal.update(_proposal(form, default_days) or {})
            if form.get("with_answers"):
                posted = {a["code"]: a for a in _answers_from_form(audit, form)}
                for line in lines:
                    if line["code"] in posted:
                        line.update(answer=posted[line["code"]]["answer"], note=posted[line["code"]]["note"])
        return self.render_template(
            "qualification/audit.html", audit=audit, lines=lines, facts=services.summary(audit, lines),
            verdict=verdict, onsite_pending=len(checklist.unanswered(lines)), suggested=suggested or "",
            proposal=proposal, mode=mode, editable=editable, can_approve=_can(p.APPROVE), can_work=_can(p.WRITE),
            user=_user(), max_mb=settings.get("qualification.evidence_max_mb"), **_template_globals())

    def _back(self, pk):
        """After an action of the audit page: back to the page — shown at once with the submission
        panel as the user left it when they had typed or chosen something there, else redirected."""
        if _proposal(request.form, settings.get("qualification.rectification_days")) is not None:
            return self._page(pk, "work", request.form)
        return redirect(url_for("WorkbenchView.audit", pk=pk))

    def _keep_input(self, pk, file_required=False):
        """Keep what the posted form carries before the button's own action: the on-site answers
        (saved as a draft when the form has them) and a chosen evidence file. Flashes what was kept
        and each refusal; ``True`` when nothing was refused."""
        kept, ok = [], True
        if request.form.get("with_answers"):
            answers = _answers_from_form(self._load(pk), request.form)
            db.session.rollback()
            try:
                services.save_answers(pk, answers, _user())
                kept.append(_("Answers saved."))
            except DomainError as exc:
                db.session.rollback()
                flash_error(exc)
                return False
        upload = request.files.get("file")
        if file_required or (upload is not None and upload.filename):
            try:
                services.add_evidence(pk, request.form.get("item"), upload.filename if upload else "",
                                      upload.stream if upload else None, _user())
                kept.append(_("Evidence uploaded."))
            except DomainError as exc:
                db.session.rollback()
                flash_error(exc)
                ok = False
        if len(kept) == 2:
            flash(_("Answers saved and evidence uploaded."), "success")
        elif kept:
            flash(kept[0], "success")
        return ok

    @expose("/<int:pk>")
    @has_access
    def audit(self, pk):
        """One audit: every item with the numbers behind it and the drill-down; on-site answers,
        evidence and submission while it is open for answers."""
        return self._page(pk, "work")

    def _act(self, pk, action, success, target="WorkbenchView.audit"):
        if csrf_ok():
            try:
                action()
                flash(success, "success")
            except DomainError as exc:
                db.session.rollback()
                flash_error(exc)
        return redirect(url_for(target, pk=pk))

    @expose("/<int:pk>/save", methods=["POST"])
    @has_access
    def save(self, pk):
        """Save the on-site answers (every on-site item of the form: a missing radio clears the
        answer), and a chosen evidence file with them."""
        audit = self._load(pk)
        if not csrf_ok():
            return redirect(url_for("WorkbenchView.audit", pk=pk))
        if not request.form.get("with_answers"):  # a form of answers only (no marker)
            answers = _answers_from_form(audit, request.form)
            db.session.rollback()
            return self._act(pk, lambda: services.save_answers(pk, answers, _user()), _("Answers saved."))
        self._keep_input(pk)
        return self._back(pk)

    @expose("/<int:pk>/evidence", methods=["POST"])
    @has_access
    def upload(self, pk):
        """Store an evidence file for an on-site item — after saving the answers the form carries."""
        self._check(pk)
        if csrf_ok():
            self._keep_input(pk, file_required=True)
        return self._back(pk)

    @expose("/<int:pk>/evidence/<int:file_id>")
    @has_access
    def evidence(self, pk, file_id):
        from app.qualification.api import evidence_response

        try:
            return evidence_response(pk, file_id)
        except DomainError:
            abort(404)

    @expose("/<int:pk>/evidence/<int:file_id>/delete", methods=["GET", "POST"])
    @has_access
    def remove_evidence(self, pk, file_id):
        """Remove an evidence file, once confirmed: a GET, or the page's remove button (which saves
        the answers first), shows what will be removed with a button that confirms it; only a POST
        with ``confirmed`` removes it. The submission panel's values ride along."""
        try:
            services.get_evidence(pk, file_id)
        except DomainError:
            abort(404)
        db.session.rollback()
        if request.method == "POST" and csrf_ok():
            if request.form.get("confirmed"):
                try:
                    services.remove_evidence(pk, file_id, _user())
                    flash(_("Evidence removed."), "success")
                except DomainError as exc:
                    db.session.rollback()
                    flash_error(exc)
                return self._back(pk)
            if request.form.get("cancelled"):
                return self._back(pk)
            if not self._keep_input(pk):
                return self._back(pk)
        row, _path = services.get_evidence(pk, file_id)
        audit = row.item.audit
        kept = {}
        if _proposal(request.form, settings.get("qualification.rectification_days")) is not None:
            kept = {f: request.form.get(f, "") for f in PROPOSAL_FIELDS + ("suggested_outcome",)}
        return self.render_template("qualification/confirm_remove.html", audit=audit, file=row, item=row.item,
                                    kept=kept)

    @expose("/<int:pk>/submit", methods=["POST"])
    @has_access
    def submit(self, pk):
        """Submit for approval — after keeping the answers and a file the form carries. A refusal
        shows the page again with the submission panel as it was filled in."""
        self._check(pk)
        if not csrf_ok():
            return redirect(url_for("WorkbenchView.audit", pk=pk))
        if not self._keep_input(pk):
            return self._page(pk, "work", request.form)
        try:
            services.submit(pk, request.form.get("outcome"), request.form.get("comment"),
                            request.form.get("rectification_days"), _user())
        except DomainError as exc:
            db.session.rollback()
            flash_error(exc)
            return self._page(pk, "work", request.form)
        flash(_("Audit submitted for approval."), "success")
        return redirect(url_for("WorkbenchView.audit", pk=pk))

    # --- the approval screen -------------------------------------------------------------------
    @expose("/approvals/")
    @has_access
    def approvals(self):
        """Submitted audits waiting for an HQ admin's decision, the oldest first."""
        audits = _scoped(db.session.query(QualificationAudit), QualificationAudit).filter(
            QualificationAudit.status == "submitted").order_by(QualificationAudit.submitted_at,
                                                                QualificationAudit.id).all()
        return self.render_template("qualification/approvals.html", audits=audits, user=_user(),
                                    **_template_globals())

    @expose("/approvals/<int:pk>")
    @has_access
    def approval(self, pk):
        return self._page(pk, "approve")

    @expose("/approvals/<int:pk>/approve", methods=["POST"])
    @has_access
    def approve(self, pk):
        return self._act(pk, lambda: services.approve(pk, request.form.get("comment"), _user()),
                         _("Audit approved; the outcome now applies to the outlet."), "WorkbenchView.approval")

    @expose("/approvals/<int:pk>/return", methods=["POST"])
    @has_access
    def return_audit(self, pk):
        return self._act(pk, lambda: services.return_(pk, request.form.get("comment"), _user()),
                         _("Audit returned to the auditor."), "WorkbenchView.approval")


# --- generated pages ---------------------------------------------------------------------------

def _audit_status(value):
    from app.core.views import badge

    return badge(AUDIT_STATUS.label(value), STATUS_STYLE.get(value, "default")) if value else ""


class QualificationAuditView(BaseModelView):
    """Every audit, searchable; work on one in the workbench. Only drafts can be deleted."""

    class_permission_name = p.QUALIFICATION_AUDIT
    datamodel = scoped(QualificationAudit)
    base_permissions = [p.READ, p.DELETE]
    singular = _l("qualification audit")
    list_title = _l("Qualification audits")
    show_template = "qualification/audit_show.html"
    list_columns = ["number", "outlet", "outlet.region", "kind", "status", "due_on", "outcome", "auditor",
                    "decided_at"]
    show_columns = ["number", "outlet", "kind", "status", "origin", "due_on", "trigger_note", "parent", "opened_by",
                    "auditor", "outcome", "rectification_days", "rectification_deadline", "submit_comment",
                    "submitted_at", "decided_by", "decided_at", "decision_comment", "created_at"]
    search_columns = ["number", "outlet", "region", "kind", "status", "origin", "outcome", "due_on"]
    virtual_search = {"region": related_search(Region, FilterInRegion, _l("Region"))}
    enum_columns = {"kind": AUDIT_KIND, "status": AUDIT_STATUS, "origin": AUDIT_ORIGIN, "outcome": AUDIT_OUTCOME}
    formatters_columns = {"status": _audit_status}
    base_order = ("due_on", "asc")
    quick_filters = [
        (_l("Drafts"), {"_flt_0_status": "draft"}),
        (_l("Waiting for approval"), {"_flt_0_status": "submitted"}),
        (_l("Returned"), {"_flt_0_status": "returned"}),
    ]
    label_columns = {
        "number": _l("Audit no."), "outlet": _l("Outlet"), "outlet.region": _l("Region"), "kind": _l("Kind"),
        "status": _l("Status"), "origin": _l("Opened because"), "due_on": _l("Due on"),
        "trigger_note": _l("Reason"), "parent": _l("Follow-up of"), "opened_by": _l("Opened by"),
        "auditor": _l("Auditor"), "outcome": _l("Outcome"), "rectification_days": _l("Rectification days"),
        "rectification_deadline": _l("Rectification deadline"), "submit_comment": _l("Auditor's comment"),
        "submitted_at": _l("Submitted at"), "decided_by": _l("Decided by"), "decided_at": _l("Decided at"),
        "decision_comment": _l("Decision comment"), "created_at": _l("Created at"),
    }

    def show_extras(self, item):
        return {"audit": item}


class AuditTemplateItemView(BaseModelView):
    """The checklist every new audit starts from; changes apply to audits opened afterwards."""

    class_permission_name = p.AUDIT_TEMPLATE
    datamodel = scoped(AuditTemplateItem)
    singular = _l("checklist item")
    list_title = _l("Audit checklist template")
    list_columns = ["position", "code", "label", "kind", "metric", "required", "evidence_required", "active"]
    show_columns = ["position", "code", "label", "kind", "metric", "required", "evidence_required", "active",
                    "guidance", "updated_at"]
    add_columns = ["position", "code", "label", "kind", "metric", "required", "evidence_required", "active",
                   "guidance"]
    edit_columns = add_columns
    search_columns = ["code", "label", "kind", "active"]
    enum_columns = {"kind": ITEM_KIND}
    base_order = ("position", "asc")
    label_columns = {
        "position": _l("Order"), "code": _l("Code"), "label": _l("Item"), "kind": _l("Kind"),
        "metric": _l("Metric"), "required": _l("Required to qualify"),
        "evidence_required": _l("Needs a photo or note"), "active": _l("In use"), "guidance": _l("Guidance"),
        "updated_at": _l("Updated at"),
    }
    description_columns = {
        "metric": _l("Computed items: certified_engineers, stock_rate. KPIs: on_time_rate, first_time_fix_rate, "
                     "mean_satisfaction, complaint_rate. On-site items: empty, or has_fixed_premises to confirm "
                     "the outlet's fixed premises."),
        "required": _l("Required items decide whether the outlet qualifies; KPIs are informative."),
    }
