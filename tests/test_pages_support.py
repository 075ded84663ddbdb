"""Helpers shared by the page tests (no tests here): forms, field errors, list rows, SQL counting."""
import re
from contextlib import contextmanager
from html import unescape

from sqlalchemy import event

from app.extensions import db

_TAG = re.compile(r"<[^>]+>")


def text(html):
    """The visible text of an HTML fragment, whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(_TAG.sub(" ", html))).strip()


def field_errors(html, field):
    """The error messages shown under form field ``field`` (empty list when none)."""
    for chunk in html.split("<tr>"):
        if f'for="{field}"' in chunk:
            return [text(m) for m in re.findall(r'<div class="alert alert-danger">(.*?)</div>', chunk, re.S)]
    raise AssertionError(f"field {field!r} not on the form")


def flashes(html, category="danger"):
    return [text(m) for m in re.findall(
        rf'<div class="alert alert-{category}">\s*<button[^>]*>&times;</button>(.*?)</div>', html, re.S)]


def list_body(html):
    """The list table only (not the search form, whose scripts carry labels too)."""
    start = html.find('<table class="table table-bordered table-hover">')
    if start < 0:
        return ""
    return html[start:html.find("</table>", start)]


def row_ids(html):
    """Primary keys of the rows on a list page (from each row's show button)."""
    return [int(pk) for pk in re.findall(r'<a href="/\w+/show/(\d+)[^"]*" class="btn btn-sm btn-default"', html)]


def show_body(html):
    start = html.find('<div id="Home"')
    return html[start:html.find('<div class="well well-sm">', start)] if start >= 0 else ""


def assert_saved(resp):
    """A successful add/edit redirects; a re-rendered form would be 200 with errors."""
    if resp.status_code not in (302, 303):
        html = resp.get_data(as_text=True)
        errors = [text(m) for m in re.findall(r'<div class="alert alert-danger">(.*?)</div>', html, re.S)]
        raise AssertionError(f"not saved: {resp.status_code} {errors}")


def assert_form_refused(resp):
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


@contextmanager
def count_queries():
    """Count SQL statements run on the app's engine inside the block."""
    counter = {"n": 0}

    def _before(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            counter["n"] += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", _before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", _before)


def fresh(model, pk):
    """Reload a row from the database, past the test's session cache."""
    db.session.expire_all()
    return db.session.get(model, pk)
