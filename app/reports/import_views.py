"""Pages of the Excel import: choose what to import, download its template, upload a workbook,
watch the check, read the per-row errors, confirm or cancel. Each page needs ``can_read`` on
"Import"; each entity also needs write permission on its own resource (checked at upload and
again when the import is applied)."""
from flask import abort, current_app, flash, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from app.core.errors import DomainError
from app.core.web import csrf_ok, flash_error
from app.extensions import db
from app.reports import cleanup, imports, job_control
from app.reports.enums import JOB_STATUS
from app.reports.models import UserJob
from app.security import permissions as p

RUNNING = ("queued", "running")
STATUS_STYLE = {"queued": "default", "running": "info", "validated": "success", "invalid": "danger",
                "done": "success", "failed": "danger", "cancelled": "default"}


def _user():
    return current_app.appbuilder.sm.current_user






def _own_job(pk):
    """The signed-in user's own import job (404 for anyone else's)."""
    job = db.session.get(UserJob, pk)
    if job is None or job.kind != "import" or job.user_id != _user().id:
        abort(404)
    return job


def _status(job):
    # while it runs: the live progress in Redis (an import's commit is one transaction; on SQLite
    # the row cannot be updated before it ends)
    progress, total, _cancelling = job_control.live_progress(job)
    percent = int(progress * 100 / total) if total else (100 if job.status not in RUNNING else 0)
    return {"id": job.id, "status": job.status, "status_label": JOB_STATUS.label(job.status),
            "progress": progress, "total": total, "percent": min(percent, 100),
            "finished": job.status not in RUNNING, "phase": (job.params or {}).get("phase")}


class ImportView(BaseView):
    route_base = "/import"
    default_view = "index"
    class_permission_name = p.IMPORT
    method_permission_name = {name: "read" for name in (
        "index", "template", "upload", "job", "status", "confirm", "cancel", "errors")}
    base_permissions = [p.READ]
    label = _l("Import data")

    @expose("/")
    @has_access
    def index(self):
        user = _user()
        entities = imports.importable(user)
        recent = (db.session.query(UserJob).filter(UserJob.user_id == user.id, UserJob.kind == "import")
                  .order_by(UserJob.id.desc()).limit(10).all())
        specs = imports.specs()
        return self.render_template("reports/import_index.html", entities=entities, recent=recent,
                                    specs=specs, JOB_STATUS=JOB_STATUS, STATUS_STYLE=STATUS_STYLE,
                                    csrf_token=generate_csrf, max_mb=imports.max_upload_bytes() // (1024 * 1024),
                                    selected=request.args.get("entity"))

    @expose("/template/<entity>")
    @has_access
    def template(self, entity):
        spec = imports.specs().get(entity)
        if spec is None or not imports.can_import(_user(), spec):
            abort(404)
        import io

        data = imports.build_template(spec)
        return send_file(io.BytesIO(data), as_attachment=True, download_name=imports.template_name(spec),
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    @expose("/upload", methods=["POST"])
    @has_access
    def upload(self):
        if not csrf_ok():
            return redirect(url_for("ImportView.index"))
        entity = request.form.get("entity") or ""
        spec = imports.specs().get(entity)
        if spec is None:
            flash(_("Choose what to import."), "danger")
            return redirect(url_for("ImportView.index"))
        if not imports.can_import(_user(), spec):
            flash(_("You are not allowed to import %(what)s.", what=spec.label), "danger")
            return redirect(url_for("ImportView.index"))
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose a file to upload."), "danger")
            return redirect(url_for("ImportView.index", entity=entity))
        data = upload.stream.read(imports.max_upload_bytes() + 1)
        try:
            job = imports.create_job(_user(), spec, upload.filename, data)
            job.params = dict(job.params or {}, locale=str(get_locale() or "zh"))
            db.session.commit()
            imports.start(job, imports.validate_import)
        except DomainError as exc:
            db.session.rollback()
            flash_error(exc)
            return redirect(url_for("ImportView.index", entity=entity))
        flash(_("File uploaded; checking it now."), "info")
        return redirect(url_for("ImportView.job", pk=job.id))

    @expose("/job/<int:pk>")
    @has_access
    def job(self, pk):
        job = _own_job(pk)
        spec = imports.specs().get(job.entity)
        return self.render_template("reports/import_job.html", job=job, spec=spec, info=_status(job),
                                    result=job.result or {}, JOB_STATUS=JOB_STATUS, STATUS_STYLE=STATUS_STYLE,
                                    csrf_token=generate_csrf, running=job.status in RUNNING)

    @expose("/job/<int:pk>/status")
    @has_access
    def status(self, pk):
        return jsonify(_status(_own_job(pk)))

    @expose("/job/<int:pk>/confirm", methods=["POST"])
    @has_access
    def confirm(self, pk):
        job = _own_job(pk)
        if csrf_ok():
            try:
                imports.confirm(job, _user())
                flash(_("Import confirmed; applying it now."), "info")
            except DomainError as exc:
                db.session.rollback()
                flash_error(exc)
        return redirect(url_for("ImportView.job", pk=pk))

    @expose("/job/<int:pk>/cancel", methods=["POST"])
    @has_access
    def cancel(self, pk):
        job = _own_job(pk)
        if csrf_ok():
            try:
                imports.cancel(job)
                flash(_("Import cancelled; nothing was written."), "info")
            except DomainError as exc:
                db.session.rollback()
                flash_error(exc)
        return redirect(url_for("ImportView.job", pk=pk))

    @expose("/job/<int:pk>/errors")
    @has_access
    def errors(self, pk):
        job = _own_job(pk)
        if not job.output_file:
            abort(404)
        if cleanup.file_expired(job):  # deleted by the clean-up: 410 with a message
            from app.reports.my_jobs import expired_page

            return expired_page(self, job)
        import os

        path = imports.file_path(job.output_file)
        if not os.path.exists(path):
            abort(404)
        response = send_file(path, as_attachment=True, download_name=job.output_name or "import-errors.xlsx",
                             mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def register(appbuilder):
    appbuilder.add_view(ImportView, "Import data", label=_l("Import data"), icon="fa-upload",
                        category=p.MENU_SYSTEM, category_label=_l("System settings"), category_icon="fa-cog")
