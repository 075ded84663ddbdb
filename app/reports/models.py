"""Background work a user starts and watches: Excel imports and exports."""
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from app.core.db import Model, TimestampMixin
from app.reports.enums import JOB_KIND, JOB_STATUS


class UserJob(TimestampMixin, Model):
    """One import or export: who started it, its status and progress, its result or error, and
    its files (the uploaded workbook, the export or the error workbook) under ``UPLOAD_FOLDER``.

    Statuses: ``queued`` → ``running`` → (imports) ``validated`` awaiting confirmation, or
    ``invalid`` with an error workbook → ``queued``/``running`` again to commit → ``done``;
    ``failed`` when the job itself broke; ``cancelled`` when the user drops a validated import or
    stops a queued or running job (``reports.job_control``), or when a checked import waits for its
    confirmation longer than the files are kept. ``files_deleted_at``: when the nightly clean-up
    (``reports.cleanup``) deleted the job's files — My jobs then says "file expired".
    """

    __tablename__ = "user_job"
    __table_args__ = (JOB_KIND.check("kind"), JOB_STATUS.check("status"),
                      Index("ix_user_job_user_created", "user_id", "created_at"))
    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False, info={"enum": JOB_KIND})
    entity = Column(String(50), nullable=False)  # what is imported or exported, e.g. "engineer"
    label = Column(String(200), nullable=False, default="")
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    user = relationship(User, lazy="joined")
    status = Column(String(20), nullable=False, default="queued", index=True, info={"enum": JOB_STATUS})
    progress = Column(Integer, nullable=False, default=0)  # rows done
    total = Column(Integer, nullable=False, default=0)  # rows to do (0 while unknown)
    rq_job_id = Column(String(64), nullable=True)
    params = Column(JSON, nullable=True)  # the export's filters, the import's options
    result = Column(JSON, nullable=True)  # counts, per-row errors of an import preview, …
    error = Column(Text, nullable=True)
    input_file = Column(String(300), nullable=True)  # stored name of the uploaded workbook
    output_file = Column(String(300), nullable=True)  # stored name of the export / error workbook
    output_name = Column(String(200), nullable=True)  # the file name the user downloads
    started_at = Column(DateTime, nullable=True)
    finished_at = Column(DateTime, nullable=True)
    files_deleted_at = Column(DateTime, nullable=True)  # the clean-up deleted the job's files

    @property
    def locale(self):
        """The language the user worked in when starting the job (its messages use it)."""
        return (self.params or {}).get("locale") or "zh"

    def __repr__(self):
        return f"#{self.id} {self.kind} {self.entity}"
