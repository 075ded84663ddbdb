"""Excel decompression bombs: an upload that unpacks beyond the ``imports.*`` limits is refused
before any parser opens it — at upload (a flash on the page, nothing stored) and again in the job.

The bomb is the real thing: a few hundred KB whose shared-strings part holds one 300 MB string,
written part by part so the test itself never holds it in memory.
"""
import io
import os
import struct
import zipfile

import pytest
from openpyxl import Workbook

from app.core.errors import Invalid
from app.core.models import Setting
from app.extensions import db
from app.reports import imports
from app.reports.models import UserJob

CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                 b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                 b'<Default Extension="xml" ContentType="application/xml"/></Types>')
WORKBOOK = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>')


def write_bomb(path, megabytes=300, part="xl/sharedStrings.xml"):
    """An .xlsx-shaped zip whose ``part`` holds one string of ``megabytes`` MB, streamed in."""
    chunk = b"A" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        with archive.open(part, "w") as fh:
            fh.write(b'<?xml version="1.0" encoding="UTF-8"?><sst count="1" uniqueCount="1"><si><t>')
            for _ in range(megabytes):
                fh.write(chunk)
            fh.write(b"</t></si></sst>")
    return path


@pytest.fixture
def bomb(tmp_path):
    return write_bomb(str(tmp_path / "bomb.xlsx"))


def _set(key, value):
    row = db.session.query(Setting).filter(Setting.key == key).one()
    row.value = str(value)
    db.session.commit()


def _workbook(rows=2000, width=10):
    """A genuine workbook of varied text (about 2 MB unpacked)."""
    wb = Workbook()
    ws = wb.active
    for r in range(rows):
        ws.append([f"行{r}-列{c}-{(r * 7919 + c * 104729) % 1000003}" for c in range(width)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _flashes(client):
    with client.session_transaction() as session:
        return [(category, message) for category, message in session.get("_flashes", [])]


def test_the_bomb_is_small_on_disk(bomb):
    assert os.path.getsize(bomb) < 1024 * 1024
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo("xl/sharedStrings.xml").file_size > 300 * 1024 * 1024


@pytest.mark.parametrize("username,entity", [("hq", "engineer"), ("agent_e", "service_order")])
def test_upload_of_a_bomb_is_refused_with_a_clear_message(app, world, login, bomb, username, entity, monkeypatch):
    import openpyxl

    def never(*args, **kwargs):
        raise AssertionError("the parser opened a refused workbook")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    monkeypatch.setattr(imports, "_enqueue", lambda func, job_id: type("J", (), {"id": "x"})())
    client = login(username)
    stored_before = set(os.listdir(imports._folder()))
    with open(bomb, "rb") as fh:
        data = fh.read()
    form = {"entity": entity, "file": (io.BytesIO(data), "orders.xlsx"), "csrf_token": client.csrf_token()}
    response = client.post("/import/upload", data=form, content_type="multipart/form-data")
    assert response.status_code == 302 and "/job/" not in response.headers["Location"]
    flashes = _flashes(client)
    assert any(category == "danger" and "100" in message for category, message in flashes), flashes
    assert db.session.query(UserJob).count() == 0
    assert set(os.listdir(imports._folder())) == stored_before  # nothing stored


def test_each_limit_refuses_on_its_own(app, world, tmp_path):
    genuine = _workbook()
    imports.check_upload("ok.xlsx", genuine)  # the defaults accept a normal workbook
    unpacked = imports.check_archive(io.BytesIO(genuine))
    assert unpacked > 1024 * 1024

    _set("imports.max_uncompressed_mb", 1)
    with pytest.raises(Invalid) as err:
        imports.check_upload("ok.xlsx", genuine)
    assert "file" in err.value.errors and err.value.status == 422
    _set("imports.max_uncompressed_mb", 100)

    _set("imports.max_part_mb", 1)
    with pytest.raises(Invalid) as err:
        imports.check_upload("ok.xlsx", genuine)
    assert "1 MB" in str(err.value.message)
    _set("imports.max_part_mb", 50)

    # well under the size limits, but 4 MB of zeros in a few KB: the ratio
    padded = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(genuine)) as source, zipfile.ZipFile(padded, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info, source.read(info))
        out.writestr("xl/media/padding.bin", b"\0" * (4 * 1024 * 1024))
    with pytest.raises(Invalid) as err:
        imports.check_upload("padded.xlsx", padded.getvalue())
    assert "100" in str(err.value.message)


def test_a_lying_size_header_is_caught_while_reading(app, world):
    """Sizes declared small, the part really 5 MB: the capped read stops and refuses it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/sharedStrings.xml", b"B" * (5 * 1024 * 1024))
    data = bytearray(out.getvalue())
    name = b"xl/sharedStrings.xml"
    local = data.find(b"PK\x03\x04")
    while local >= 0:
        if data[local + 30:local + 30 + len(name)] == name:
            struct.pack_into("<I", data, local + 22, 1000)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        if data[central + 46:central + 46 + len(name)] == name:
            struct.pack_into("<I", data, central + 24, 1000)
        central = data.find(b"PK\x01\x02", central + 4)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        assert archive.getinfo("xl/sharedStrings.xml").file_size == 1000  # the lie
    with pytest.raises(Invalid):
        imports.check_upload("liar.xlsx", bytes(data))


def test_too_many_parts_are_refused(app, world):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        for i in range(imports.MAX_PARTS):
            archive.writestr(f"xl/p{i}.xml", b"")
    with pytest.raises(Invalid):
        imports.check_upload("many.xlsx", out.getvalue())


def test_the_job_checks_again_before_the_parser_opens_the_file(app, world, bomb, monkeypatch):
    """A bomb stored by any other way (or limits lowered since the upload) never reaches openpyxl."""
    import shutil

    import openpyxl

    from tests import factories

    def never(*args, **kwargs):
        raise AssertionError("the parser opened a refused workbook")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    stored = "bomb-test.xlsx"
    shutil.copy(bomb, imports.file_path(stored))
    job = UserJob(kind="import", entity="engineer", label="bomb", user_id=factories.user("hq").id, status="queued",
                  params={"phase": "validate", "filename": "bomb.xlsx"}, input_file=stored)
    db.session.add(job)
    db.session.commit()
    imports.validate_import(job.id)
    db.session.expire_all()
    job = db.session.get(UserJob, job.id)
    assert job.status == "invalid" and "100" in (job.error or ""), (job.status, job.error)
