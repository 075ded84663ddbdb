"""The Excel import in a real browser, with a real rq worker: an HQ admin uploads a workbook with
errors and reads them row by row, uploads the corrected workbook, watches the check finish,
confirms and sees the import done; the same workbook once more has nothing to change."""
import io
import uuid
from datetime import date

import pytest
from flask_babel import force_locale
from openpyxl import Workbook

from app.engineers.enums import ENGINEER_STATUS
from app.engineers.models import Engineer
from app.extensions import db
from app.reports import imports
from tests import factories
from tests.browser.conftest import login, shot
from tests.workers import running


@pytest.fixture
def worker(app, monkeypatch):
    """An rq worker process on a queue of its own, for the length of the test."""
    name = f"browser-import-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "RQ_QUEUE", name)
    with running(app, name) as process:
        yield process


def _file(tmp_path, name, rows):
    spec = imports.spec_for("engineer")
    wb = Workbook()
    ws = wb.active
    with force_locale("zh"):
        ws.append([str(c.label) for c in spec.columns])
        trainee = ENGINEER_STATUS.label("trainee")
        active = ENGINEER_STATUS.label("active")
    for row in rows:
        ws.append([trainee if v == "trainee" else active if v == "active" else v for v in row])
    out = io.BytesIO()
    wb.save(out)
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return str(path)


def _no_trouble(page):
    assert page.failed_responses == []
    assert page.console_errors == []
    assert page.outside_requests == []


def test_import_engineers_with_errors_then_fixed(page, tmp_path, worker):
    east = factories.region("E", "华东区")
    factories.outlet(east, code="SH001", name="上海浦东网点")
    db.session.commit()
    hired = date(2025, 3, 1)
    bad = _file(tmp_path, "工程师-有错.xlsx", [
        ["E3001", "王工", "13900001111", "", "SH001", hired, "trainee"],
        ["E3002", "赵工", "", "", "XX999", hired, "trainee"],
        ["E3003", "钱工", "", "", "SH001", hired, "active"],
    ] + [[f"E31{i:02d}", f"工程师{i}", "", "", "SH001", hired, "trainee"] for i in range(40)])
    good = _file(tmp_path, "工程师.xlsx", [
        ["E3001", "王工", "13900001111", "", "SH001", hired, "trainee"],
        ["E3002", "赵工", "", "", "SH001", hired, "trainee"],
        ["E3003", "钱工", "", "", "SH001", hired, "trainee"],
    ] + [[f"E31{i:02d}", f"工程师{i}", "", "", "SH001", hired, "trainee"] for i in range(40)])

    login(page, "hq")
    page.goto(page.base + "/import/")
    page.wait_for_selector("#import-form")
    assert page.locator('.template-link[data-entity="engineer"]').count() == 1
    shot(page, "import-index")
    page.select_option("#import-entity", "engineer")
    page.set_input_files("#import-file", bad)
    page.click("#import-submit")
    page.wait_for_selector("#import-job")
    page.wait_for_selector("#row-errors", timeout=60000)  # the page follows the check and reloads
    assert page.locator('.row-error[data-row="3"]').count() == 1
    assert page.locator('.row-error[data-row="4"]').count() == 1
    assert page.locator(".row-error").count() == 2
    assert "XX999" in page.locator('.row-error[data-row="3"]').inner_text()  # the message quotes the cell
    assert page.locator("#count-errors").inner_text() == "2"
    assert page.locator("#error-workbook").count() == 1
    shot(page, "import-errors")
    assert db.session.query(Engineer).count() == 0

    page.goto(page.base + "/import/?entity=engineer")
    page.set_input_files("#import-file", good)
    page.click("#import-submit")
    page.wait_for_selector("#import-job")
    page.wait_for_selector("#confirm-import", timeout=60000)
    assert page.locator("#count-new").inner_text() == "43"
    shot(page, "import-validated")
    page.click("#confirm-import")
    page.wait_for_selector("#done", timeout=60000)
    shot(page, "import-done")
    db.session.expire_all()
    assert db.session.query(Engineer).count() == 43

    # the same workbook again: nothing to change, nothing to confirm
    page.goto(page.base + "/import/?entity=engineer")
    page.set_input_files("#import-file", good)
    page.click("#import-submit")
    page.wait_for_selector("#nothing-to-change", timeout=60000)
    assert page.locator("#confirm-import").count() == 0
    assert page.locator("#count-unchanged").inner_text() == "43"
    _no_trouble(page)
