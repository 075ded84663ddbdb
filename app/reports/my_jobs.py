"""My jobs: the signed-in user's imports and exports, newest first, with their progress (polled
while queued or running), their result or error and their files — downloadable by their owner
only (anyone else gets a 404, as if the job did not exist)."""
import os

from flask import abort, current_app, jsonify, request, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext as _l

from app.core import clock, scope
from app.extensions import db
from app.reports.enums import JOB_KIND, JOB_STATUS
from app.reports.exports import output_path
from app.reports.models import UserJob
from app.security import permissions as p

LIMIT = 100
"""Jobs the page lists (the newest)."""
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


def state(job):
    """What the page (and its polling) shows of one job."""
    percent = 0
    if job.total:
        percent = max(0, min(100, int(job.progress * 100 / job.total)))
    elif job.status == "done":
        percent = 100
    has_file = bool(job.output_file) and job.status not in RUNNING
    return {
        "id": job.id,
        "kind": job.kind,
        "kind_label": JOB_KIND.label(job.kind),
        "status": job.status,
        "status_label": JOB_STATUS.label(job.status),
        "status_style": STATUS_STYLE.get(job.status, "default"),
        "progress": job.progress or 0,
        "total": job.total or 0,
        "percent": percent,
        "running": job.status in RUNNING,
        "summary": summary(job),
        "download_url": url_for("MyJobsView.download", pk=job.id) if has_file else None,
    }


class MyJobsView(BaseView):
    route_base = "/myjobs"
    default_view = "list"
    class_permission_name = p.MY_JOBS
    method_permission_name = {"list": "read", "status": "read", "download": "read"}
    base_permissions = [p.READ]

    @expose("/")
    @has_access
    def list(self):
        """The user's jobs, newest first."""
        jobs = _mine().order_by(UserJob.created_at.desc(), UserJob.id.desc()).limit(LIMIT).all()
        import_link = IMPORT_ENDPOINT in current_app.view_functions
        rows = []
        for job in jobs:
            row = state(job)
            row.update(job=job, label=job.label or job.entity,
                       created=clock.to_local(job.created_at).strftime("%Y-%m-%d %H:%M") if job.created_at else "",
                       finished=clock.to_local(job.finished_at).strftime("%Y-%m-%d %H:%M") if job.finished_at else "",
                       import_url=url_for(IMPORT_ENDPOINT, pk=job.id) if import_link and job.kind == "import"
                       else None)
            rows.append(row)
        return self.render_template("reports/my_jobs.html", rows=rows, running=any(r["running"] for r in rows),
                                    title=_l("My jobs"))

    @expose("/status")
    @has_access
    def status(self):
        """``{"jobs": [state, …]}`` of the listed ids that are the user's (``?ids=1,2``)."""
        ids = []
        for raw in (request.args.get("ids") or "").split(","):
            raw = raw.strip()
            if raw.isdigit():
                ids.append(int(raw))
        jobs = _mine().filter(UserJob.id.in_(ids[:LIMIT])).all() if ids else []
        return jsonify(jobs=[state(job) for job in jobs])

    @expose("/<int:pk>/download")
    @has_access
    def download(self, pk):
        """The job's file, for its owner only (404 for anyone else and for a missing file)."""
        job = _mine(pk)
        path = output_path(job.output_file)
        if job.status in RUNNING or path is None or not os.path.isfile(path):
            abort(404)
        response = send_file(path, as_attachment=True, download_name=job.output_name or os.path.basename(path),
                             max_age=0)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


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
