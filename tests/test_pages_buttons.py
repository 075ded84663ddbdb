"""What a page offers: a show page's 编辑 / 删除 buttons for those who may use them on the record,
add buttons named after the record, named row buttons, pickers that say which record is which
(in one query), and Chinese that never ends a sentence with an ASCII period."""
import os
import re
from datetime import datetime

from babel.messages.pofile import read_po
from sqlalchemy import event

from app.extensions import db
from tests import factories
from tests.test_pages_support import list_body, text


def test_show_page_offers_edit_and_delete_where_the_user_may(world, login):
    agent = login("agent_e")  # writes service orders and complaints, reads the network
    order = agent.get(f"/serviceorderview/show/{world.order_e.id}").get_data(as_text=True)
    assert f'href="/serviceorderview/edit/{world.order_e.id}" class="btn btn-sm btn-primary" id="record-edit"' in order
    assert "编辑" in text(order[order.find('id="record-edit"'):order.find("</a>", order.find('id="record-edit"'))])
    assert 'id="record-delete"' not in order  # agents do not delete orders
    outlet = agent.get(f"/outletview/show/{world.outlet_e.id}").get_data(as_text=True)
    assert 'id="record-edit"' not in outlet and 'id="record-delete"' not in outlet  # read-only for agents

    hq = login("hq")
    page = hq.get(f"/outletview/show/{world.outlet_w.id}").get_data(as_text=True)
    assert f'href="/outletview/edit/{world.outlet_w.id}"' in page and 'id="record-delete"' in page

    # deleted from its own show page: back to the list, not to the page of a record that is gone
    spare = factories.region("X", "华北区")
    db.session.commit()
    assert hq.get("/regionview/list/").status_code == 200
    assert hq.get(f"/regionview/show/{spare.id}").status_code == 200
    resp = hq.post(f"/regionview/delete/{spare.id}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/regionview/list/"), resp.headers
    assert hq.get(f"/regionview/show/{spare.id}").status_code == 404


def test_add_button_is_named_after_the_record_and_row_buttons_have_names(world, login):
    html = login("agent_e").get("/complaintview/list/").get_data(as_text=True)
    add = html[html.find('id="list-add"'):html.find("</a>", html.find('id="list-add"'))]
    assert "新增投诉" in text(add)
    orders = login("agent_e").get("/serviceorderview/list/").get_data(as_text=True)
    body = list_body(orders)
    assert 'aria-label="查看记录"' in body and 'aria-label="编辑记录"' in body and 'title="编辑记录"' in body
    assert "新增服务工单" in text(orders[orders.find('id="list-add"'):orders.find("</a>", orders.find('id="list-add"'))])
    assert 'id="list-add"' not in login("manager_e").get("/complaintview/list/").get_data(as_text=True)


def test_service_order_picker_names_customer_product_and_day_in_one_query(world, login):
    order = factories.service_order(world.outlet_e, number="SO20260817NJ00007014",
                                    created_at=datetime(2026, 8, 17, 2, 0))  # 10:00 in Shanghai
    order.customer_name = "赵先生"
    db.session.commit()
    agent = login("agent_e")
    url = f"/complaintview/related/service_order?outlet={world.outlet_e.id}&q="
    agent.get(url)  # warm-up (permissions)
    with _statements() as few:
        results = agent.get(url + "SO2026").get_json()["results"]
    assert [r["text"] for r in results] == ["SO20260817NJ00007014 · 赵先生 · 空调 · 2026年8月17日"]
    # found by the customer's name too
    assert [r["text"][:20] for r in agent.get(url + "赵先生").get_json()["results"]] == ["SO20260817NJ00007014"]
    for i in range(12):
        factories.service_order(world.outlet_e, number=f"SO20260817NJ1{i:07d}")
    db.session.commit()
    with _statements() as many:
        assert len(agent.get(url + "SO2026").get_json()["results"]) == 13
    assert len(many) == len(few)
    # besides the sign-in, permission and region look-ups: one statement, the search itself
    records = [s for s in many
               if not re.match(r"\s*SELECT (EXISTS \(SELECT 1\s+)?[^(]*?FROM (ab_|user_credential|region_user)", s)
               and not re.match(r"\s*SELECT ab_user\.id,", s)]  # the sign-in: the user with roles and regions
    assert len(records) == 1 and "FROM service_order" in records[0], records
    # an outlet reads with its region
    outlet, = agent.get("/engineerview/related/outlet?q=SH001").get_json()["results"]
    assert outlet["text"].startswith("SH001 上海浦东网点") and "华东区" in outlet["text"]


def test_no_chinese_translation_ends_a_sentence_with_an_ascii_period():
    path = os.path.join(os.path.dirname(__file__), os.pardir, "app", "translations", "zh", "LC_MESSAGES",
                        "messages.po")
    with open(path, "rb") as f:
        catalog = read_po(f)
    cjk = r"[\u3400-\u9fff\uff01-\uff5e]"
    bad = []
    for message in catalog:
        for string in (message.string if isinstance(message.string, tuple) else (message.string,)):
            if string and (re.search(cjk + r"[.]\s*$", string) or re.search(cjk + r"\. ", string)
                           or re.search(cjk + r":(\s|$)", string)):
                bad.append(f"{message.id!r} → {string!r}")
    assert not bad, "\n".join(bad)


class _statements:
    """The SQL statements run on the app's engine inside the block."""

    def __enter__(self):
        self.seen = []
        event.listen(db.engine, "before_cursor_execute", self._seen)
        return self.seen

    def _seen(self, conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            self.seen.append(statement)

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._seen)


def test_the_security_pages_have_the_same_buttons(login):
    """Users, roles and groups (FAB's pages): named add buttons, 记录数 with a Chinese colon, and
    编辑 on a record's page for the admin, who may edit it."""
    admin = login("admin")
    user_id = factories.user("agent_e").id
    users = admin.get("/users/list/").get_data(as_text=True)
    assert "新增用户" in text(users) and "记录数：" in text(users) and "记录数:" not in text(users)
    roles = admin.get("/roles/list/").get_data(as_text=True)
    assert "新增角色" in text(roles) and "记录数：" in text(roles)
    shown = admin.get(f"/users/show/{user_id}").get_data(as_text=True)
    assert f'href="/users/edit/{user_id}"' in shown and 'id="record-edit"' in shown
    role_id = factories.user("agent_e").roles[0].id
    assert f'href="/roles/edit/{role_id}"' in admin.get(f"/roles/show/{role_id}").get_data(as_text=True)
