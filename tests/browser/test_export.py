"""Exports in a real browser: a filtered list downloaded as CSV and opened (BOM, Chinese headers,
only the filtered rows), and as an Excel workbook made by a real rq worker, watched on My jobs,
downloaded and opened."""
import csv
import io

from openpyxl import load_workbook

from app.extensions import db
from tests import factories
from tests.browser.conftest import login, shot
from tests.browser.test_import import worker  # noqa: F401  (fixture: a real rq worker process)


def test_export_a_filtered_list_as_csv_and_as_excel(world, page, worker, tmp_path):  # noqa: F811
    factories.outlet(world.east, code="SH900", name="上海整改网点", status="probation")
    db.session.commit()
    login(page, "hq")
    page.goto(page.base + "/outletview/list/?_flt_0_status=probation")
    with page.expect_download() as download:
        page.click("#list-export-csv")
    path = tmp_path / "outlets.csv"
    download.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Chinese Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert "编码" in rows[0] and "合作状态" in rows[0]
    assert [r[rows[0].index("编码")] for r in rows[1:]] == ["SH900"]
    assert rows[1][rows[0].index("合作状态")] == "整改中"

    page.click("#list-export-xlsx")
    page.wait_for_selector("#my-jobs-table")
    job = page.locator('.my-job[data-kind="export"]').first
    page.wait_for_selector('.my-job[data-kind="export"] .job-download', timeout=60000)
    assert job.get_attribute("data-status") in ("done", "running", "queued")
    shot(page, "export-my-jobs")
    with page.expect_download() as download:
        page.click('.my-job[data-kind="export"] .job-download')
    path = tmp_path / "outlets.xlsx"
    download.value.save_as(path)
    sheet = load_workbook(path, read_only=True).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert "编码" in values[0] and [r[values[0].index("编码")] for r in values[1:]] == ["SH900"]
    assert page.console_errors == [] and page.outside_requests == [] and page.failed_responses == []
