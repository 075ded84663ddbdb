"""The escalation desk: pending escalations of the actor's regions, most urgent first, decided by
regional managers (level 1, or their delegates) and HQ admins (level 2). Decisions go through
``complaints.services``.

* Approving takes two steps, both plain forms (no script): the desk's *Approve* button opens the
  confirmation page (``approve`` without ``confirmed``: GET, or the desk's POST carrying the comment
  typed so far), which says what the approval will do; only its *Confirm approval* button (a POST with
  ``confirmed=1``) approves.
* Rejecting needs a reason (the services' rule): without one the desk comes back with the error on
  that escalation's reason field, what was typed kept in it.
"""
from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from app.complaints import services
from app.complaints.enums import COMPLAINT_STATUS, ESCALATION_REASON, EVENT_KIND, REMEDY, SEVERITY
from app.complaints.models import Complaint, Escalation
from app.core import clock, scope
from app.core.errors import DomainError
from app.core.web import csrf_ok, flash_error
from app.extensions import db
from app.security import permissions as p

LABELS = {"SEVERITY": SEVERITY, "REMEDY": REMEDY, "ESCALATION_REASON": ESCALATION_REASON,
          "EVENT_KIND": EVENT_KIND, "COMPLAINT_STATUS": COMPLAINT_STATUS}


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


def _parents(escalations):
    """The level 1 decisions that referred these escalations to HQ, by id (one query)."""
    ids = {e.parent_id for e in escalations if e.parent_id}
    if not ids:
        return {}
    return {e.id: e for e in db.session.query(Escalation).filter(Escalation.id.in_(ids))}


def _desk_url(pk=None):
    return url_for("EscalationDeskView.index", _anchor=f"escalation-{pk}" if pk else None)


class EscalationDeskView(BaseView):
    route_base = "/desk"
    default_view = "index"
    class_permission_name = p.ESCALATION
    method_permission_name = {"index": "decide", "approve": "decide", "reject": "decide"}
    base_permissions = ["can_read", "can_decide"]

    @expose("/")
    @has_access
    def index(self):
        return self._desk()

    def _items(self, failed=None, error=None, typed=""):
        user = current_app.appbuilder.sm.current_user
        escalations = pending_escalations()
        parents = _parents(escalations)
        # a delegate decides for another manager's region but reads only their own regions'
        # complaints: the desk card (with its timeline) is all they get of those
        regions = scope.current_region_ids()
        items = []
        for esc in escalations:
            try:
                services.check_can_decide(esc, user)
                can_decide, why = True, ""
            except DomainError as exc:
                can_decide, why = False, str(exc.message)
            mine = esc.id == failed
            items.append({"esc": esc, "c": esc.complaint, "can_decide": can_decide, "why": why,
                          "level1": parents.get(esc.parent_id),
                          "can_open": regions is None or esc.complaint.outlet.region_id in regions, "timeline": services.timeline(esc.complaint),
                          "error": error if mine else None, "typed": typed if mine else ""})
        return items

    def _desk(self, items=None):
        return self.render_template("complaints/desk.html", items=self._items() if items is None else items,
                                    now=clock.now(), to_local=clock.to_local, csrf_token=generate_csrf, **LABELS)

    # --- approving: the confirmation page, then the approval ------------------------------------

    @expose("/<int:pk>/approve", methods=["GET", "POST"])
    @has_access
    def approve(self, pk):
        user = current_app.appbuilder.sm.current_user
        comment = (request.form.get("comment") or "").strip()
        if request.method == "POST" and not csrf_ok():
            return redirect(_desk_url(pk))
        if request.method == "POST" and request.form.get("confirmed") == "1":
            try:
                services.approve(pk, comment, user)
            except DomainError as exc:
                db.session.rollback()
                flash_error(exc)
                return redirect(_desk_url(pk))
            flash(_("Escalation approved."), "success")
            return redirect(_desk_url())
        try:
            esc = services.get_escalation(pk)
            if esc.status != "pending":
                from app.complaints.enums import ESCALATION_STATUS

                flash(_("This escalation was already decided (%(status)s).",
                        status=ESCALATION_STATUS.label(esc.status)), "warning")
                return redirect(_desk_url())
            services.check_can_decide(esc, user)
        except DomainError as exc:
            flash_error(exc)
            return redirect(_desk_url())
        c = esc.complaint
        to_hq = esc.level == 1 and services.needs_level2(c, esc.remedy, esc.compensation_amount)
        level1 = db.session.get(Escalation, esc.parent_id) if esc.parent_id else None
        return self.render_template("complaints/desk_confirm.html", esc=esc, c=c, comment=comment, to_hq=to_hq,
                                    level1=level1, back=_desk_url(pk), csrf_token=generate_csrf, **LABELS)

    # --- rejecting: a reason is required ---------------------------------------------------------

    @expose("/<int:pk>/reject", methods=["POST"])
    @has_access
    def reject(self, pk):
        user = current_app.appbuilder.sm.current_user
        if not csrf_ok():
            return redirect(_desk_url(pk))
        comment = request.form.get("comment") or ""
        try:
            services.reject(pk, comment.strip(), user)
        except DomainError as exc:
            db.session.rollback()
            field = exc.errors.get("comment")
            if field:
                items = self._items(failed=pk, error=" ".join(str(m) for m in field), typed=comment)
                if any(i["esc"].id == pk and i["can_decide"] for i in items):  # the error goes on its field
                    return self._desk(items)
            flash_error(exc)
            return redirect(_desk_url(pk))
        flash(_("Escalation rejected; the complaint is back with its owner."), "success")
        return redirect(_desk_url())
