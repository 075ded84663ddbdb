"""The pages speak the reader's language: a crawl of everything each role reaches on the demo
network, in Chinese (the default) and in English.

Each role signs in through the real login page and follows every link it is shown, from the
dashboard on: the menu, each list page's first record, its add and edit forms where the role has
them, the custom pages (escalation desk, audit workbench and approvals, import and an import's
page, my jobs, the audit trail, queue health, the user's profile, users and roles) and whatever
those link to. Each link shape is opened once (``/outletview/show/<n>`` once); downloads, exports
and links that change something (delete, actions, the language switch, logout) are not followed.

In Chinese the visible text of every page (text nodes, ``placeholder``, ``title``, ``aria-label``
and ``alt``, button values; never ``<script>`` or ``<style>``) must not contain

* an English msgid that our catalogue or Flask-AppBuilder's translates to something else: a
  string that should have been translated but was rendered in English;
* English words that are not data: strings nobody marked for translation, labels
  Flask-AppBuilder made up from column names ("Created At");
* lower-case codes (``in_progress``, ``sla_breach``): enumerations or keys shown raw.

Data is what the demo loader and this module wrote, and is recognisable: user names, e-mail
addresses, role and permission names (Flask-AppBuilder's identifiers, shown as such on the
security pages), product category and checklist item codes, the queue's name, the languages'
own names in the language menu, JSON documents the audit trail keeps verbatim (evidence
snapshots). Words the Chinese catalogue itself writes in Latin letters (SLA, Excel, …) pass too.

In English no Chinese may show outside data (any string stored in the database).

Flash messages, form errors and the API's validation errors are checked in both languages too,
as are the dashboard's figures (JSON) and every label a page or the audit trail can show.
"""
import io
import json
import os
import re
from collections import deque
from datetime import date
from html.parser import HTMLParser
from urllib.parse import urlsplit

import flask_appbuilder
import pytest
from babel.messages.pofile import read_po
from flask_appbuilder import Model
from flask_appbuilder.api import BaseApi
from flask_babel import force_locale
from openpyxl import Workbook
from sqlalchemy import JSON, String, Text, select

from app.extensions import db
from seeds import demo
from tests import factories
from tests.conftest import PASSWORD

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
OUR_PO = os.path.join(ROOT, "app", "translations", "zh", "LC_MESSAGES", "messages.po")
FAB_PO = os.path.join(os.path.dirname(flask_appbuilder.__file__), "translations", "zh", "LC_MESSAGES",
                      "messages.po")

# Who signs in: conftest's hq, auditor and admin stay as they are (the demo leaves existing users
# alone); the demo creates ``manager`` and ``agent`` (华东区), whose complaints and desk it fills.
PASSWORDS = {"admin": PASSWORD, "hq": PASSWORD, "manager": "Quyu-Demo-2026", "agent": "Kefu-Demo-2026",
             "auditor": PASSWORD}
# Pages each role must reach (by shape), so that the crawl cannot quietly shrink.
MUST_REACH = {
    "admin": ["/", "/users/list/", "/users/show/N", "/users/edit/N", "/users/add", "/roles/list/",
              "/roles/show/N", "/roles/edit/N", "/users/userinfo/", "/queuehealth/", "/import/", "/myjobs/",
              "/auditeventview/list/", "/auditeventview/show/N", "/desk/", "/workbench/",
              "/workbench/approvals/"],
    "hq": ["/", "/outletview/list/", "/outletview/show/N", "/outletview/add", "/outletview/edit/N", "/desk/",
           "/workbench/", "/workbench/N", "/workbench/approvals/", "/workbench/approvals/N", "/import/",
           "/import/job/N", "/myjobs/", "/auditeventview/list/", "/auditeventview/show/N", "/users/userinfo/",
           "/complaintview/show/N", "/escalationview/show/N", "/settingview/edit/N"],
    "manager": ["/", "/desk/", "/myjobs/", "/complaintview/list/", "/complaintview/show/N",
                "/escalationview/show/N", "/users/userinfo/"],
    "agent": ["/", "/complaintview/add", "/complaintview/edit/N", "/serviceorderview/add", "/import/",
              "/myjobs/", "/users/userinfo/"],
    "auditor": ["/", "/workbench/", "/workbench/N", "/auditeventview/list/", "/auditeventview/show/N",
                "/qualificationauditview/show/N"],
}
NOT_FOLLOWED = ("/logout", "/lang/", "/api/", "/static/", "/delete/", "/swagger", "/download", "/export",
                "/action/", "/action_post", "/template/", "/errors", "/status")
# Names written in Latin letters in Chinese too, and English words that are not acronyms although
# written in capitals.
PROPER = {"Excel", "Swagger", "ECharts", "Redis", "PostgreSQL", "SQLite"}
CAPITAL_WORDS = {"OK"}


# --- the demo network, once for the module ------------------------------------------------------

@pytest.fixture(autouse=True)
def _clean():
    """Replaces conftest's per-test wipe: the module's data is written once (``site``) and
    removed at its end."""
    yield


def _workbook(headers, rows):
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _imports(app, client):
    """Through the import page, run as the worker would: an engineer import with per-row errors
    and a part import waiting for confirmation."""
    from app.engineers.enums import ENGINEER_STATUS
    from app.reports import imports

    calls = []

    class Recorded:
        id = "recorded"

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(imports, "_enqueue", lambda func, job_id: calls.append((func, job_id)) or Recorded())
        with app.test_request_context(), force_locale("zh"):
            engineer = [str(c.label) for c in imports.spec_for("engineer").columns]
            part = [str(c.label) for c in imports.spec_for("part").columns]
            trainee = ENGINEER_STATUS.label("trainee")
        for entity, data in (
            ("engineer", _workbook(engineer, [["E9001", "王工", "", "", "XX999", date(2025, 3, 1), trainee],
                                              ["E9002", "钱工", "", "", "SH0001", date(2025, 3, 1), "不存在"]])),
            ("part", _workbook(part, [["DEMO-FAN-9", "风扇电机", "空调", 260, "是", 90]])),
        ):
            response = client.post("/import/upload", content_type="multipart/form-data",
                                   data={"entity": entity, "file": (io.BytesIO(data), f"{entity}.xlsx")})
            assert response.status_code == 302, response.get_data(as_text=True)[:300]
        while calls:
            func, job_id = calls.pop(0)
            with app.app_context():
                func(job_id)


def _exports(username):
    """Exports in three states on the user's My jobs page."""
    from app.reports.models import UserJob

    user = factories.user(username)
    db.session.add_all([
        UserJob(kind="export", entity="service_order", label="服务工单", user_id=user.id, status="done",
                progress=12, total=12, result={"rows": 12}),
        UserJob(kind="export", entity="engineer", label="工程师", user_id=user.id, status="running",
                progress=3, total=10),
        UserJob(kind="export", entity="outlet", label="服务网点", user_id=user.id, status="failed"),
    ])
    db.session.commit()


class Site:
    """The data the pages may show as it is."""

    def __init__(self, app):
        from app.audit_trail.models import AuditEvent
        from app.network.models import ProductCategory
        from app.qualification.models import AuditTemplateItem, QualificationAuditItem

        sm = app.appbuilder.sm
        queues = {app.config[k] for k in ("RQ_NOTIFY_QUEUE", "RQ_QUEUE", "RQ_HOUSEKEEPING_QUEUE")}
        latin = queues | {lang["name"] for lang in app.config["LANGUAGES"].values()}
        for u in db.session.scalars(select(sm.user_model)):
            latin |= {u.username, u.first_name, u.last_name, u.email, f"{u.first_name} {u.last_name}"}
        latin |= set(db.session.scalars(select(sm.role_model.name)))
        for pv in db.session.scalars(select(sm.permissionview_model)):
            latin |= {pv.permission.name, pv.view_menu.name, str(pv)}
        latin |= set(db.session.scalars(select(ProductCategory.code)))
        # commands typed on the command line, as the audit trail names who acted ("cli:jobs run")
        latin |= {name[len("cli:"):] for name in db.session.scalars(
            select(AuditEvent.actor_name).where(AuditEvent.actor_kind == "cli").distinct())}
        for model in (AuditTemplateItem, QualificationAuditItem):
            for code, metric in db.session.execute(select(model.code, model.metric)):
                latin |= {code, metric}
        self.latin = frozenset(s for s in latin if s)
        # every stored string: what English pages may show in Chinese
        chunks = []
        for table in Model.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            for row in db.session.execute(select(*columns)) if columns else ():
                chunks += [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in row if v is not None]
        self.stored = "\x00".join(chunks)
        self.stored_runs = frozenset(CJK_RUN.findall(self.stored))


@pytest.fixture(scope="module")
def site(app):
    with app.app_context():
        sm = app.appbuilder.sm
        before = set(db.session.scalars(select(sm.user_model.id)))
        demo.load(scale=1, log=lambda *a, **k: None)
        client = app.test_client()
        assert client.post("/login/", data={"username": "hq", "password": PASSWORD}).status_code == 302
        _imports(app, client)
        _exports("hq")
        yield Site(app)
        db.session.rollback()
        factories.wipe_business_data()
        for user in db.session.scalars(select(sm.user_model)).all():
            if user.id not in before:
                db.session.delete(user)
        db.session.commit()


# --- what should have been translated -------------------------------------------------------------

PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w*\}")


def _norm(text):
    return re.sub(r"\s+", " ", text).strip()


class Catalogue:
    """The English msgids our zh catalogue or Flask-AppBuilder's translates (to something else),
    and the Latin-letter words the Chinese translations themselves use."""

    def __init__(self):
        self.exact, patterns, self.kept_latin = set(), [], set(PROPER)
        for path in (OUR_PO, FAB_PO):
            with open(path, "rb") as f:
                messages = [m for m in read_po(f, locale="zh") if m.id]
            for m in messages:
                ids = m.id if isinstance(m.id, (tuple, list)) else (m.id,)
                strings = [s for s in (m.string if isinstance(m.string, (tuple, list)) else (m.string,)) if s]
                for s in strings:
                    self.kept_latin |= set(re.findall(r"[A-Za-z][A-Za-z0-9_\-]*", PLACEHOLDER.sub(" ", s)))
                if not strings or all(s == ids[0] for s in strings):
                    continue
                for msgid in ids:
                    if not re.search(r"[A-Za-z]{2}", PLACEHOLDER.sub("", msgid)):
                        continue
                    if PLACEHOLDER.search(msgid):
                        pieces = [re.escape(_norm(p)) for p in PLACEHOLDER.split(msgid)]
                        patterns.append(r"\s*.+?\s*".join(pieces))
                    else:
                        self.exact.add(_norm(msgid))
        self.pattern = re.compile("(?:" + "|".join(patterns) + ")")

    def is_msgid(self, fragment):
        return any(c in self.exact or self.pattern.fullmatch(c)
                   for c in {fragment, fragment.strip(" :：*[]()"), fragment.rstrip(" .…")})


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue()


# --- reading pages --------------------------------------------------------------------------------

class Visible(HTMLParser):
    """The text a reader sees, and the links to follow."""

    ATTRS = ("placeholder", "title", "aria-label", "alt")
    HIDDEN = ("script", "style", "template")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts, self.links, self._hidden = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.HIDDEN:
            self._hidden += 1
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        self.texts += [a[k] for k in self.ATTRS if a.get(k)]
        if tag == "input" and a.get("type") in ("submit", "button", "reset") and a.get("value"):
            self.texts.append(a["value"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in self.HIDDEN:
            self._hidden -= 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(data)


def visible(html):
    parser = Visible()
    parser.feed(html)
    return [_norm(t) for t in parser.texts if _norm(t)], parser.links


CJK = r"\u2e80-\u9fff\u3000-\u303f\uff00-\uffef"
CJK_RUN = re.compile(rf"[\u2e80-\u9fff\uff01-\uffef][{CJK}\w\-·]*")
WORD = re.compile(r"[A-Za-z][a-z]*(?:'[a-z]+)?")
CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
EDGE = "()[]{}<>:;,.!?\"'“”‘’…*·|=+#%&"
# JSON documents the audit trail shows verbatim (an audit's evidence snapshot, a checklist item's
# details): recorded data, keys included
JSON_DOC = re.compile(r"\{\".*\}|\[\{.*\}\]|\[\".*\"\]")
# the field code an auditor sees next to its label on an audit event's page: "(customer_phone)"
FIELD_CODE = re.compile(r"\([a-z][a-z0-9_]*\)")


def chinese_problem(fragment, catalogue, latin=frozenset()):
    """Why ``fragment`` should not be on a Chinese page, or None."""
    if fragment in latin or FIELD_CODE.fullmatch(fragment):
        return None
    if fragment.startswith("[") and fragment.endswith("]"):  # a list of related records (roles, permissions)
        if all(item in latin for item in fragment[1:-1].split(", ")):
            return None
    if catalogue.is_msgid(fragment):
        return "English msgid"
    fragment = JSON_DOC.sub(" ", fragment)
    allowed = lambda w: w in catalogue.kept_latin or w in latin  # noqa: E731
    runs, run = [], []
    # Chinese characters and Latin words side by side are separate tokens
    for raw in re.sub(rf"([{CJK}])", r" \1 ", fragment).split() + [""]:
        token = raw.strip(EDGE)
        if "/" in token or "@" in token:  # paths, addresses
            token = ""
        if (WORD.fullmatch(token) and not token.isupper() or token in CAPITAL_WORDS) and not allowed(token):
            run.append(token)
            continue
        if CODE.fullmatch(token) and not allowed(token):
            return f"code {token!r}"
        if run:
            runs.append(" ".join(run))
        run = []
    # a lone word counts from three letters on ("OK" aside); "a", "of" only next to others
    runs = [r for r in runs if " " in r or len(r) >= 3 or r in CAPITAL_WORDS]
    if runs and not all(any(r in s for s in latin) for r in runs):
        return "English: " + " | ".join(runs)
    return None


def english_problem(fragment, site):
    leaks = [r for r in CJK_RUN.findall(fragment)
             if r not in site.stored_runs and r not in site.latin and r not in site.stored]
    return ("Chinese: " + " | ".join(leaks)) if leaks else None


# --- the crawl ------------------------------------------------------------------------------------

def _shape(path):
    return re.sub(r"/\d+(?=/|$)", "/N", path)


def crawl(client):
    """``[(url, status, texts)]`` of every page reachable from the dashboard, once per shape."""
    seen, queue, pages = set(), deque(["/"]), []
    while queue:
        url = queue.popleft()
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        shape = _shape(parts.path)
        if shape in seen or any(x in parts.path for x in NOT_FOLLOWED):
            continue
        seen.add(shape)
        response = client.get(url)
        if response.status_code in (301, 302, 303, 307, 308):
            queue.append(response.headers["Location"])
            continue
        if response.mimetype != "text/html":
            continue
        texts, links = visible(response.get_data(as_text=True))
        pages.append((url, response.status_code, texts))
        queue.extend(links)
    return pages


def _signed_in(login, username, locale="zh"):
    client = login(username, PASSWORDS[username])
    if locale != "zh":
        client.post("/language/", data={"locale": locale})
    return client


def _report(problems):
    """One line per text: why, and the pages (the first few) showing it."""
    where = {}
    for url, text, why in problems:
        where.setdefault((text[:160], why), set()).add(url)
    lines = [f"{text!r} ({why}) on {len(urls)} page(s): {', '.join(sorted(urls)[:3])}"
             for (text, why), urls in sorted(where.items())]
    return f"{len(lines)} untranslated text(s):\n" + "\n".join(lines)


# --- pages ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("username", list(PASSWORDS))
def test_every_page_a_role_reaches_reads_chinese(site, catalogue, login, username):
    pages = crawl(_signed_in(login, username))
    reached = {_shape(urlsplit(url).path) for url, _status, _texts in pages}
    assert not set(MUST_REACH[username]) - reached, sorted(set(MUST_REACH[username]) - reached)
    assert not [(url, status) for url, status, _texts in pages if status >= 500]
    problems = [(url, text, why) for url, _status, texts in pages for text in texts
                for why in [chinese_problem(text, catalogue, site.latin)] if why]
    assert not problems, _report(problems)


@pytest.mark.parametrize("username", ["admin", "agent"])  # every page there is, and a region-scoped role
def test_english_pages_show_chinese_only_in_data(site, login, username):
    pages = crawl(_signed_in(login, username, "en"))
    assert len(pages) > 20
    problems = [(url, text, why) for url, _status, texts in pages for text in texts
                for why in [english_problem(text, site)] if why]
    assert not problems, _report(problems)


def test_an_error_page_reads_chinese(site, catalogue, login):
    """The manager may read an audit but not work on the workbench; a record that is not there."""
    client = _signed_in(login, "manager")
    for url, status in (("/workbench/", 403), ("/outletview/show/999999", 404), ("/no-such-page/", 404)):
        response = client.get(url)
        assert response.status_code == status, url
        texts, _links = visible(response.get_data(as_text=True))
        assert any(re.search(rf"[{CJK}]", t) for t in texts)
        problems = [(url, t, why) for t in texts for why in [chinese_problem(t, catalogue, site.latin)] if why]
        assert not problems, _report(problems)


# --- messages: flashes, form errors, the API ------------------------------------------------------

def _flashes(html):
    return [_norm(re.sub(r"<[^>]+>|&times;", " ", m)) for m in
            re.findall(r'<div class="alert alert-(?:danger|success|info|warning)">(.*?)</div>', html, re.S)]


def _chinese(texts, catalogue, latin=frozenset()):
    assert texts and all(re.search(rf"[{CJK}]", t) for t in texts), texts
    assert not [t for t in texts if chinese_problem(t, catalogue, latin)], texts


def test_flashes_and_form_errors_read_chinese(site, catalogue, app, login):
    from app.network.models import Region

    # a failed sign-in
    response = app.test_client().post("/login/", data={"username": "hq", "password": "wrong"},
                                      follow_redirects=True)
    _chinese(_flashes(response.get_data(as_text=True)), catalogue)

    client = _signed_in(login, "hq")
    # a form sent with its required fields empty: every field error, and the rest of the page
    html = client.post("/outletview/add", data={}).get_data(as_text=True)
    errors = [_norm(re.sub(r"<[^>]+>", " ", m))
              for m in re.findall(r'<div class="[^"]*alert-danger[^"]*">(.*?)</div>', html, re.S)]
    _chinese(errors, catalogue)
    texts, _links = visible(html)
    assert not [t for t in texts if chinese_problem(t, catalogue, site.latin)]

    east = db.session.scalars(select(Region).where(Region.code == "E")).one()
    # a record saved
    response = client.post(f"/regionview/edit/{east.id}", data={"code": east.code, "name": east.name},
                           follow_redirects=True)
    _chinese(_flashes(response.get_data(as_text=True)), catalogue)
    # a rule refusing a deletion (the region has outlets)
    response = client.post(f"/regionview/delete/{east.id}", follow_redirects=True)
    _chinese(_flashes(response.get_data(as_text=True)), catalogue)


def test_api_validation_errors_read_the_requested_language(site, catalogue, api):
    """The API answers in the session's language, Chinese by default, English with ``?_l_=en``:
    its own messages and marshmallow's ("Missing data for required field.") alike."""
    client = api("hq")
    for path in ("/api/v1/outlet/", "/api/v1/engineer/"):
        body = client.post(path, json={}).get_json()
        messages = [body["message"]] + [m for msgs in body["errors"].values() for m in msgs]
        _chinese(messages, catalogue)
        english = client.post(path + "?_l_=en", json={}).get_json()
        messages = [english["message"]] + [m for msgs in english["errors"].values() for m in msgs]
        assert not [m for m in messages if re.search(rf"[{CJK}]", m)], messages
    body = client.post("/api/v1/region/", json={"code": "X" * 200, "name": "区域", "bogus": 1}).get_json()
    _chinese([body["message"]] + [m for msgs in body["errors"].values() for m in msgs], catalogue)
    _chinese([client.get("/api/v1/no_such_resource/").get_json()["message"]], catalogue)  # Werkzeug's 404


def test_dashboard_figures_read_chinese(site, catalogue, login):
    """The dashboard's panels (JSON): titles, labels and series names; codes, links and ISO weeks
    are for the scripts."""
    from app.reports import dashboard

    machine = {"codes", "links", "link", "name", "key", "weeks"}

    def strings(value, key=None):
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in machine:
                    yield from strings(v, k)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v, key)
        elif isinstance(value, str) and value.strip():
            yield value

    for username in ("hq", "manager"):
        client = _signed_in(login, username)
        for panel in dashboard.PANELS:
            response = client.get(f"/api/v1/dashboard/{panel}")
            assert response.status_code == 200, panel
            texts = list(strings(response.get_json()))
            assert not [t for t in texts if chinese_problem(t, catalogue, site.latin)], (panel, texts)


# --- every label a page or the audit trail can show ------------------------------------------------

def test_every_label_reads_chinese(app, catalogue):
    """Labels of every column a page lists, shows, edits or searches (Flask-AppBuilder makes up
    English ones for columns nobody labelled), and the audit trail's names of every table and
    field it records and of every background job — including those the demo never shows."""
    from app.audit_trail import present
    from app.audit_trail.capture import NOT_AUDITED

    problems = []
    with app.test_request_context(), force_locale("zh"):
        for view in app.appbuilder.baseviews:
            labels = getattr(view, "label_columns", None)
            if not labels or not hasattr(view, "datamodel") or isinstance(view, BaseApi):
                continue
            columns = set(view.list_columns) | set(view.show_columns) | set(view.search_columns)
            for form in ("add", "edit"):  # forms the view offers at all
                permission = "can_" + (view.method_permission_name or {}).get(form, form)
                if permission in view.base_permissions:
                    extra = getattr(view, f"{form}_form_extra_fields", None) or {}  # labelled by their field
                    columns |= set(getattr(view, f"{form}_columns")) - set(extra)
            for col in sorted(columns):
                label = str(labels.get(col, col))
                why = chinese_problem(label, catalogue)
                if why:
                    problems.append((type(view).__name__, f"{col}: {label}", why))
        for table in sorted(set(Model.metadata.tables) - set(NOT_AUDITED)):
            for text in [present.entity_label(table)] + [present.field_label(table, c.name)
                                                         for c in Model.metadata.tables[table].columns]:
                why = chinese_problem(text, catalogue)
                if why:
                    problems.append(("audit trail", f"{table}: {text}", why))
        # background jobs acting as themselves: "who" in the trail and the records' history
        from app import jobs

        for name in jobs.__all__:
            why = chinese_problem(present.actor_text(f"job:{name}"), catalogue)
            if why:
                problems.append(("audit trail", f"job:{name}", why))
    assert not problems, _report(problems)
