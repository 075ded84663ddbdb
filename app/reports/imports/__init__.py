"""Excel imports of engineers, certifications, parts, stock and service orders.

Upload (``lifecycle.create_job``: a real .xlsx within the limits of ``files`` and ``archive``) →
the rq job ``runner.validate_import``: every row checked by ``rows.process_row`` with the same rules
as every other write path, then rolled back → ``invalid`` with an error workbook, ``done`` when
nothing would change, or ``validated`` → the user confirms → ``runner.commit_import`` applies every
row in one transaction, or none.

Where things are:

* ``columns``      how an import is described: ``Spec``, ``Col``, ``Attached``
* ``engineers``, ``certifications``, ``parts``, ``stock``, ``service_orders``
                   one module per entity: its columns, key, defaults, examples
* ``registry``     the entities, and who may import each
* ``parsing``      a cell → a value: text, numbers (1,234.50), dates (2026/12/2), date-times, choices
* ``references``   codes → records (outlet, region, engineer, category, certification type, part)
* ``rows``         one row: its cells, its record, the entity rules, its messages
* ``runner``       the two jobs: check, then apply
* ``chunks``       rows judged a chunk at a time: look-ups, flush and audit events batched per chunk
* ``lifecycle``    create, start, confirm, cancel a job
* ``templates``    the downloadable template (data sheet, instructions sheet, dropdowns)
* ``workbook``     reading the upload, writing the error workbook
* ``files``, ``archive``  where files are kept; the upload's checks (decompression bombs)

Numbers are read exactly (``core.precision``): a cell with more decimal places than its column
keeps is a row error naming the column, never rounded.

The names below are the package's interface (``from app.reports import imports``). Replacing one
on the package — ``monkeypatch.setattr(imports, "process_row", …)`` in a test, a stand-in in a
bench — replaces it in the modules of the package that use it too.
"""
import sys
import types

from app.reports.imports.archive import (MAX_PARTS, RATIO_FLOOR, UNPACK_CHUNK, archive_limits, check_archive,
                                         check_archive_file)
from app.reports.imports.columns import MAX_ROWS, Attached, Col, RowError, Spec
from app.reports.imports.files import _folder, check_upload, file_path, max_upload_bytes
from app.reports.imports.lifecycle import _enqueue, cancel, confirm, create_job, start
from app.reports.imports.parsing import local_datetime, number, parse_cell, parse_date, shown, text
from app.reports.imports.references import References
from app.reports.imports.registry import can_import, importable, spec_for, specs
from app.reports.imports.rows import process_row
from app.reports.imports.runner import MAX_ERRORS_SHOWN, commit_import, validate_import
from app.reports.imports.templates import REQUIRED_FILL, build_template, template_name
from app.reports.imports.workbook import ERROR_FILL, HEADER_FILL, Sheet, read_workbook, write_error_workbook

__all__ = [
    "MAX_PARTS", "RATIO_FLOOR", "UNPACK_CHUNK", "archive_limits", "check_archive", "check_archive_file",
    "MAX_ROWS", "Attached", "Col", "RowError", "Spec",
    "_folder", "check_upload", "file_path", "max_upload_bytes",
    "_enqueue", "cancel", "confirm", "create_job", "start",
    "local_datetime", "number", "parse_cell", "parse_date", "shown", "text",
    "References", "can_import", "importable", "spec_for", "specs", "process_row",
    "MAX_ERRORS_SHOWN", "commit_import", "validate_import",
    "REQUIRED_FILL", "build_template", "template_name",
    "ERROR_FILL", "HEADER_FILL", "Sheet", "read_workbook", "write_error_workbook",
]

_MISSING = object()


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        current = self.__dict__.get(name, _MISSING)
        if current is not _MISSING and not name.startswith("__"):
            prefix = self.__name__ + "."
            for module_name, module in list(sys.modules.items()):
                if module_name.startswith(prefix) and module is not None \
                        and module.__dict__.get(name, _MISSING) is current:
                    module.__dict__[name] = value
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
