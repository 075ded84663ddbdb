"""My jobs: the signed-in user's imports and exports, newest first, 25 to a page, filtered by kind
and status, with their progress (polled while queued or running; the live value in Redis while a
job runs, ``job_control``), their result or error, a Cancel button while they can still be stopped,
a Retry button on a failed job (a new job with the same input, ``job_control.retry``) and their
files — downloadable by their owner only (anyone else gets a 404, as if the job did not exist; a
file the nightly clean-up deleted answers 410 with a message)."""
import os

from flask import abort, current_app, flash, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from app.core import scope
from app.core.errors import DomainError
from app.core.l10n import datetime_text
from app.core.web import csrf_ok, flash_error
from app.extensions import db
from app.reports import cleanup, job_control
from app.reports.enums import JOB_KIND, JOB_STATUS
from app.reports.models import UserJob
from app.security import permissions as p

PAGE_SIZE = 25
"""Jobs on one page."""
STATUS_LIMIT = 100
"""Ids the status endpoint answers at once."""
PAGE_LINKS = 2
"""Page links shown on each side of the current page."""
RUNNING = ("queued", "running")
STATUS_STYLE = {"queued": "default", "running": "info", "validated": "warning", "invalid": "danger",
                "done": "success", "failed": "danger", "cancelled": "default"}
IMPORT_ENDPOINT = "ImportView.job"


def _mine(pk=None):
    user = scope.acting_user()
    if user is None:
        abort(404)
    query = db.session.query(UserJob).filter(UserJob.user_id == user.id)
    if pk is not None:
        job = query.filter(UserJob.id == pk).one_or_none()
        if job is None:
            abort(404)
        return job
    return query


def summary(job):
    """One line saying what the job did (or why it stopped)."""
    if job.status == "failed":
        return job.error or gettext("The job failed.")
    if job.status == "cancelled" and job.error:
        return job.error
    result = job.result if isinstance(job.result, dict) else {}
    if job.kind == "export" and job.status == "done":
        return gettext("%(n)s rows exported.", n=result.get("rows", job.progress))
    parts = []
    for key, label in (("rows", gettext("rows")), ("created", gettext("created")), ("updated", gettext("updated")),
                       ("errors", gettext("errors"))):
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{label}: {value}")
    return ", ".join(parts) or (job.error or "")


def state(job, live=None):
    """What the page (and its polling) shows of one job; ``live`` is its entry of
    ``job_control.snapshot`` (the progress in Redis, a pending cancel request)."""
    running = job.status in RUNNING
    live = (live or {}) if running else {}
    progress, total = job.progress or 0, job.total or 0
    if "progress" in live:
        progress, total = live["progress"], live["total"] or total
    percent = 0
    if total:
        percent = max(0, min(100, int(progress * 100 / total)))
    elif job.status == "done":
        percent = 100
    cancelling = bool(live.get("cancelling"))
    expired = cleanup.file_expired(job) and bool(job.output_file)
    has_file = bool(job.output_file) and not running and not expired
    return {
        "id": job.id,
        "kind": job.kind,
        "kind_label": JOB_KIND.label(job.kind),
        "status": job.status,
        "status_label": gettext("Cancelling…") if cancelling else JOB_STATUS.label(job.status),
        "status_style": "warning" if cancelling else STATUS_STYLE.get(job.status, "default"),
        "progress": progress,
        "total": total,
        "percent": percent,
        "running": running,
        "cancelling": cancelling,
        "summary": summary(job),
        "download_url": url_for("MyJobsView.download", pk=job.id) if has_file else None,
        "file_expired": expired,
        "cancel_url": (url_for("MyJobsView.cancel", pk=job.id)
                       if job_control.cancellable(job) and not cancelling else None),
        "retry_url": url_for("MyJobsView.retry", pk=job.id) if job_control.retryable(job) else None,
        "retried_as": job_control.retried_as(job),
    }


def _filters():
    """The kind and status filters of the request (unknown values are ignored)."""
    kind = request.args.get("kind") or ""
    status = request.args.get("status") or ""
    return (kind if kind in JOB_KIND else ""), (status if status in JOB_STATUS else "")


def _page_number():
    raw = request.args.get("page") or "1"
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def _page_links(page, pages):
    """Page numbers to link, with ``None`` for a gap: 1 … 4 5 [6] 7 8 … 20."""
    shown = {1, pages} | set(range(max(1, page - PAGE_LINKS), min(pages, page + PAGE_LINKS) + 1))
    links, previous = [], 0
    for number in sorted(shown):
        if number - previous > 1:
            links.append(None)
        links.append(number)
        previous = number
    return links


def _back_to_list():
    """The list page the user came from (its filters and page), else the first page."""
    target = request.form.get("next") or ""
    if target.startswith("/myjobs/") and "//" not in target and "\\" not in target:
        return redirect(target)
    return redirect(url_for("MyJobsView.list"))


class MyJobsView(BaseView):
    route_base = "/myjobs"
    default_view = "list"
    class_permission_name = p.MY_JOBS
    method_permission_name = {"list": "read", "status": "read", "download": "read", "cancel": "read",
                              "retry": "read"}
    base_permissions = [p.READ]

    @expose("/")
    @has_access
    def list(self):
        """The user's jobs, newest first, a page at a time, filtered by kind and status."""
        kind, status = _filters()
        query = _mine()
        if kind:
            query = query.filter(UserJob.kind == kind)
        if status:
            query = query.filter(UserJob.status == status)
        count = query.order_by(None).count()
        pages = max(1, -(-count // PAGE_SIZE))
        page = min(_page_number(), pages)
        jobs = (query.order_by(UserJob.created_at.desc(), UserJob.id.desc())
                .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE).all())
        live = job_control.snapshot([job.id for job in jobs if job.status in RUNNING])
        import_link = IMPORT_ENDPOINT in current_app.view_functions
        rows = []
        for job in jobs:
            row = state(job, live.get(job.id))
            row.update(job=job, label=job.label or job.entity,
                       created=datetime_text(job.created_at), finished=datetime_text(job.finished_at),
                       import_url=url_for(IMPORT_ENDPOINT, pk=job.id) if import_link and job.kind == "import"
                       else None)
            rows.append(row)
        args = {name: value for name, value in (("kind", kind), ("status", status)) if value}

        def page_url(number):
            return url_for("MyJobsView.list", page=number, **args) if number > 1 else url_for("MyJobsView.list", **args)

        return self.render_template(
            "reports/my_jobs.html", rows=rows, running=any(r["running"] for r in rows), title=_l("My jobs"),
            kind=kind, status=status, kinds=JOB_KIND.choices(), statuses=JOB_STATUS.choices(),
            page=page, pages=pages, count=count, page_size=PAGE_SIZE, page_links=_page_links(page, pages),
            page_url=page_url, filtered=bool(args), csrf_token=generate_csrf, here=request.full_path.rstrip("?"))

    @expose("/status")
    @has_access
    def status(self):
        """``{"jobs": [state, …]}`` of the listed ids that are the user's (``?ids=1,2``)."""
        ids = []
        for raw in (request.args.get("ids") or "").split(","):
            raw = raw.strip()
            if raw.isdigit():
                ids.append(int(raw))
        jobs = _mine().filter(UserJob.id.in_(ids[:STATUS_LIMIT])).all() if ids else []
        live = job_control.snapshot([job.id for job in jobs if job.status in RUNNING])
        return jsonify(jobs=[state(job, live.get(job.id)) for job in jobs])

    @expose("/<int:pk>/cancel", methods=["POST"])
    @has_access
    def cancel(self, pk):
        """Cancel the user's own queued, running or checked job (404 for anyone else's)."""
        job = _mine(pk)
        if not csrf_ok():
            return _back_to_list()
        try:
            outcome = job_control.cancel(job, scope.acting_user())
        except DomainError as exc:
            db.session.rollback()
            flash_error(exc)
            return _back_to_list()
        if outcome == "requested":
            flash(gettext("Cancelling: the job stops at its next step and keeps nothing of its unfinished work."),
                  "info")
        else:
            flash(gettext("Job cancelled."), "info")
        return _back_to_list()

    @expose("/<int:pk>/retry", methods=["POST"])
    @has_access
    def retry(self, pk):
        """Start the user's own failed job again with the same input (404 for anyone else's)."""
        job = _mine(pk)
        if not csrf_ok():
            return _back_to_list()
        try:
            new = job_control.retry(job, scope.acting_user())
        except DomainError as exc:
            db.session.rollback()
            flash_error(exc)
            return _back_to_list()
        flash(gettext("Job #%(old)s is started again as job #%(new)s.", old=job.id, new=new.id), "info")
        return _back_to_list()

    @expose("/<int:pk>/download")
    @has_access
    def download(self, pk):
        """The job's file, for its owner only (404 for anyone else and for a missing file; 410 with
        a message once the clean-up deleted it)."""
        job = _mine(pk)
        if job.output_file and cleanup.file_expired(job):
            return expired_page(self, job)
        path = cleanup.output_file_path(job)
        if job.status in RUNNING or path is None or not os.path.isfile(path):
            abort(404)
        response = send_file(path, as_attachment=True, download_name=job.output_name or os.path.basename(path),
                             max_age=0)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def expired_page(view, job):
    """410 Gone: the page saying the job's file was deleted by the clean-up, and when."""
    from app.core import settings

    return view.render_template("reports/file_expired.html", job=job, title=_l("File expired"),
                                deleted=datetime_text(job.files_deleted_at),
                                days=settings.get("jobs.file_retention_days")), 410


def register(appbuilder):
    """My jobs (top-level menu), queue health (under System settings, Admin only) and the
    background Excel export of every generated list."""
    from app.core import exports
    from app.reports.exports import start_list_export
    from app.reports.queue_health import QueueHealthView

    appbuilder.add_view(MyJobsView, "My jobs", label=_l("My jobs"), icon="fa-tasks")
    appbuilder.add_view(QueueHealthView, "Queue health", label=_l("Queue health"), icon="fa-heartbeat",
                        category=p.MENU_SYSTEM)
    exports.register_background_export(start_list_export)
