"""Where uploads and error workbooks are kept, and the first check of an upload: a real .xlsx
within the size limit (then ``archive``'s check of what it unpacks to)."""
import io
import os
import zipfile

from flask import current_app
from flask_babel import gettext as _

from app.core.errors import DomainError
from app.reports.imports.archive import check_archive


def _folder():
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "imports")
    os.makedirs(path, exist_ok=True)
    return path


def file_path(stored):
    return os.path.join(_folder(), os.path.basename(stored))


def max_upload_bytes():
    return int(current_app.config.get("IMPORT_MAX_MB", 10)) * 1024 * 1024


def check_upload(filename, data):
    """Refuse anything but a real .xlsx (a zip holding a workbook) within the size limit."""
    if not filename or not filename.lower().endswith(".xlsx"):
        raise DomainError(_("Upload an Excel workbook (.xlsx)."), {"file": [_("Upload an Excel workbook (.xlsx).")]})
    if not data:
        raise DomainError(_("The file is empty."), {"file": [_("The file is empty.")]})
    if len(data) > max_upload_bytes():
        message = _("The file is larger than %(mb)s MB.", mb=max_upload_bytes() // (1024 * 1024))
        raise DomainError(message, {"file": [message]})
    message = _("The file is not a valid Excel workbook (.xlsx).")
    if not data.startswith(b"PK\x03\x04"):
        raise DomainError(message, {"file": [message]})
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise DomainError(message, {"file": [message]})
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise DomainError(message, {"file": [message]})
    check_archive(io.BytesIO(data))
