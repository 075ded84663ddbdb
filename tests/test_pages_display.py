"""What the pages show: derived qualification facts, translated values, links, menus, no N+1."""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale

from app.core import clock
from app.engineers.enums import CERTIFICATION_STATUS, ENGINEER_STATUS
from app.extensions import db
from tests import factories
from tests.test_pages_support import count_queries, list_body, show_body, text


def _qualified_outlet(world):
    """Outlet E with 3 certified engineers and its one common part stocked: it qualifies."""
    for n in range(2):
        factories.certification(factories.engineer(world.outlet_e, employee_no=f"E10{n + 2}"))
    db.session.commit()


def test_outlet_show_displays_qualification_facts(world, login):
    c = login("hq")
    html = c.get(f"/outletview/show/{world.outlet_e.id}").get_data(as_text=True)
    facts = text(html[html.find("qualification-evidence"):html.find("</table>", html.find("qualification-evidence"))])
    assert "1 ≥ 3" in facts.replace("&ge;", "≥")
    assert "100.0% ≥ 90.0%" in facts
    assert 'data-fact="qualifies">' in html and "label label-danger\" data-fact=\"qualifies\"" in html

    _qualified_outlet(world)
    html = c.get(f"/outletview/show/{world.outlet_e.id}").get_data(as_text=True)
    assert "label label-success\" data-fact=\"qualifies\"" in html
    assert "3 ≥ 3" in text(html).replace("&ge;", "≥")
    # links to the outlet's own records
    assert f"/engineerview/list/?_flt_0_outlet={world.outlet_e.id}" in html


def test_outlet_list_shows_facts_computed_in_one_batch(world, login):
    _qualified_outlet(world)
    c = login("hq")
    c.get("/outletview/list/")  # warm-up (permissions, menu)
    with count_queries() as few:
        body = list_body(c.get("/outletview/list/").get_data(as_text=True))
    assert '<span class="text-success">3 / 3</span>' in body  # outlet E
    assert '<span class="text-danger">1 / 3</span>' in body  # outlet W
    for i in range(15):
        factories.outlet(world.east, code=f"X{i:03d}", name=f"网点{i}", categories=("air_conditioner", "refrigerator"))
    db.session.commit()
    with count_queries() as many:
        c.get("/outletview/list/")
    assert many["n"] == few["n"], (few["n"], many["n"])


@pytest.mark.parametrize("url, build", [
    ("/engineerview/list/", lambda w, i: factories.engineer(w.outlet_w, employee_no=f"N{i}")),
    ("/certificationview/list/", lambda w, i: factories.certification(w.engineer_w)),
    ("/stockview/list/", lambda w, i: factories.stock(factories.part(sku=f"N{i}"), outlet=w.outlet_w)),
    ("/serviceorderview/list/", lambda w, i: factories.service_order(w.outlet_w, w.engineer_w, number=f"N{i}")),
])
def test_list_pages_do_not_query_per_row(world, login, url, build):
    c = login("hq")
    c.get(url)
    with count_queries() as few:
        assert c.get(url).status_code == 200
    for i in range(12):
        build(world, i)
    db.session.commit()
    with count_queries() as many:
        assert c.get(url).status_code == 200
    assert many["n"] == few["n"], (few["n"], many["n"])


def test_enumerations_are_shown_translated(world, login):
    world.cert_e.expires_on = clock.today() + timedelta(days=5)
    world.cert_e.status = "expiring"
    db.session.commit()
    c = login("hq")
    with force_locale("zh"):
        expiring = CERTIFICATION_STATUS.label("expiring")
        on_duty = ENGINEER_STATUS.label("active")
    body = list_body(c.get("/certificationview/list/").get_data(as_text=True))
    assert f'<span class="label label-warning">{expiring}</span>' in body
    assert ">expiring<" not in body
    body = list_body(c.get("/engineerview/list/").get_data(as_text=True))
    assert on_duty in body and ">active<" not in body
    # the edit form offers the statuses by their translated names, submitting the codes
    form = c.get(f"/engineerview/edit/{world.engineer_e.id}").get_data(as_text=True)
    assert f'<option selected value="active">{on_duty}</option>' in form


def test_english_pages(world, login):
    c = login("hq")
    c.post("/language/", data={"locale": "en"})
    html = c.get("/certificationview/list/").get_data(as_text=True)
    assert "Certifications" in html and '<span class="label label-success">Valid</span>' in html
    assert "Add certification" in c.get("/certificationview/add").get_data(as_text=True)


def test_user_data_is_escaped(world, login):
    world.outlet_e.name = '<script>alert("x")</script>'
    db.session.commit()
    c = login("hq")
    for url in ("/engineerview/list/", f"/engineerview/show/{world.engineer_e.id}", "/outletview/list/"):
        html = c.get(url).get_data(as_text=True)
        assert '<script>alert("x")</script>' not in html, url
        assert "&lt;script&gt;" in html, url
    results = c.get("/engineerview/related/outlet?q=script").get_json()["results"]
    assert results[0]["text"].startswith('SH001 <script>alert("x")</script>')  # JSON; select2 escapes on display


def test_show_page_links_related_records(world, login):
    html = show_body(login("manager_e").get(f"/certificationview/show/{world.cert_e.id}").get_data(as_text=True))
    assert f'<a href="/engineerview/show/{world.engineer_e.id}">E1001 张工</a>' in html
    assert f'<a href="/outletview/show/{world.outlet_e.id}">SH001 上海浦东网点</a>' in html
    assert "None" not in text(html)


def test_menu_order(world, login):
    html = login("hq").get("/").get_data(as_text=True)
    order = [m for m in re.findall(r'href="/(\w+)/list/"', html)]
    assert order.index("outletview") < order.index("engineerview") < order.index("partview") \
        < order.index("serviceorderview") < order.index("slapolicyview") < order.index("settingview")
    # a Regional Manager sees no system settings
    assert "/settingview/list/" not in login("manager_e").get("/").get_data(as_text=True)


def test_no_external_urls(world, login):
    c = login("hq")
    for url in ("/", "/outletview/list/", f"/outletview/show/{world.outlet_e.id}", "/serviceorderview/add",
                "/certificationview/list/"):
        html = c.get(url).get_data(as_text=True)
        assert not re.search(r'(src|href)=["\']?(https?:)?//', html), url
    root = Path(__file__).resolve().parents[1] / "app"
    for path in list((root / "templates").rglob("*.html")) + list((root / "static").rglob("*.*")):
        content = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", path.read_text(encoding="utf-8"))
        if "vendor" in path.parts:  # third-party code: licence comments and XML namespace names are no fetch
            content = re.sub(r"/\*.*?\*/", "", content, flags=re.S)
            content = re.sub(r'"http://www\.w3\.org/[^"]*"', '""', content)
        assert not re.search(r"https?://|//cdn", content), path  # (an XML namespace is not a fetch)


def test_a_breach_reads_as_a_problem_and_times_stay_on_one_line(world, login):
    from tests.test_complaints_lifecycle import new_complaint

    breached = new_complaint(world)
    breached.response_breached = True
    db.session.commit()
    html = list_body(login("hq").get(f"/complaintview/list/?_flt_0_number={breached.number}").get_data(as_text=True))
    assert '<span class="label label-danger">是</span>' in html  # response breached: red, not green
    assert '<span class="label label-default">否</span>' in html  # resolution not breached
    assert '<span class="text-nowrap">' in html  # "2026年11月23日 14:30" does not wrap in the cell


def test_roles_read_by_their_names_in_the_users_language(world, login):
    admin = login("admin")
    users = text(list_body(admin.get("/users/list/?_flt_0_username=hq").get_data(as_text=True)))
    assert "总部管理员" in users and "HQ Admin" not in users and "[]" not in users
    profile = text(login("manager_e").get("/users/userinfo/").get_data(as_text=True))
    assert "区域经理" in profile and "Regional Manager" not in profile
    admin.post("/language/", data={"locale": "en"})
    assert "HQ administrator" in text(list_body(admin.get("/users/list/?_flt_0_username=hq").get_data(as_text=True)))
    admin.post("/language/", data={"locale": "zh"})
