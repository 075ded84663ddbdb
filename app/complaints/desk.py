"""The escalation desk: pending escalations of the actor's regions, most urgent first, decided by
regional managers (level 1, or their delegates) and HQ admins (level 2). Decisions go through
``complaints.services``."""
from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from app.complaints import services
from app.complaints.enums import COMPLAINT_STATUS, ESCALATION_REASON, EVENT_KIND, REMEDY, SEVERITY
from app.complaints.models import Complaint, Escalation
from app.core import clock
from app.core.errors import DomainError
from app.core.web import csrf_ok
from app.extensions import db
from app.security import permissions as p


def pending_escalations():
    """Pending escalations in the actor's regions, most urgent first (two queries, no N+1)."""
    from sqlalchemy.orm import selectinload

    query = (db.session.query(Escalation)
             .filter(Escalation.status == "pending")
             .options(selectinload(Escalation.complaint).selectinload(Complaint.events)))
    clause = services.escalation_scope_clause(current_app.appbuilder.sm.current_user)
    if clause is not None:
        query = query.filter(clause)
    rows = query.all()
    return sorted(rows, key=lambda e: (e.complaint.resolution_due_at or e.requested_at, e.id))


class EscalationDeskView(BaseView):
    route_base = "/desk"
    default_view = "index"
    class_permission_name = p.ESCALATION
    method_permission_name = {"index": "decide", "approve": "decide", "reject": "decide"}
    base_permissions = ["can_read", "can_decide"]

    @expose("/")
    @has_access
    def index(self):
        user = current_app.appbuilder.sm.current_user
        items = []
        for esc in pending_escalations():
            try:
                services.check_can_decide(esc, user)
                can_decide, why = True, ""
            except DomainError as exc:
                can_decide, why = False, str(exc.message)
            items.append({"esc": esc, "c": esc.complaint, "can_decide": can_decide, "why": why,
                          "timeline": services.timeline(esc.complaint)})
        return self.render_template(
            "complaints/desk.html", items=items, now=clock.now(), SEVERITY=SEVERITY, REMEDY=REMEDY,
            ESCALATION_REASON=ESCALATION_REASON, EVENT_KIND=EVENT_KIND, COMPLAINT_STATUS=COMPLAINT_STATUS,
            to_local=clock.to_local, csrf_token=generate_csrf,
        )

    def _decide(self, pk, approve):
        user = current_app.appbuilder.sm.current_user
        comment = (request.form.get("comment") or "").strip()
        if not csrf_ok():
            return redirect(url_for("EscalationDeskView.index"))
        try:
            if approve:
                services.approve(pk, comment, user)
                flash(_("Escalation approved."), "success")
            else:
                services.reject(pk, comment, user)
                flash(_("Escalation rejected; the complaint is back with its owner."), "success")
        except DomainError as exc:
            db.session.rollback()
            details = " ".join(str(m) for msgs in exc.errors.values() for m in msgs if m)
            flash(f"{exc.message} {details}".strip(), "danger")
        return redirect(url_for("EscalationDeskView.index"))

    @expose("/<int:pk>/approve", methods=["POST"])
    @has_access
    def approve(self, pk):
        return self._decide(pk, True)

    @expose("/<int:pk>/reject", methods=["POST"])
    @has_access
    def reject(self, pk):
        return self._decide(pk, False)
