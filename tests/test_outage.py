"""A database outage is a 503 with ``Retry-After``, never a 500, and the app recovers by itself.

A dedicated app instance reaches the session's database through a way the test can cut and
restore without touching the app:

* PostgreSQL (``TEST_DATABASE_URL``): a TCP proxy (a thread in this test, on 127.0.0.1, random
  port). Cutting it closes its listening socket and every relayed connection — the pooled
  connections die under the app, new ones are refused, as when the server goes away.
* SQLite has no server to lose: the dedicated app opens the file without creating it
  (``mode=rw``), one connection per checkout; cutting renames the file away, so opening it fails
  ("unable to open database file") as a connection to a lost server would.

Restoring puts the proxy back on the same port (or the file back in place); the same app, never
restarted, must answer normally again.
"""
import os
import socket
import sqlite3
import threading

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.core import outage as outage_module
from app.extensions import db
from app.network.models import Outlet
from tests.conftest import PASSWORD


class TcpProxy:
    """Relays 127.0.0.1:<port> to ``target``; ``cut()`` drops everything, ``start()`` comes back on the same port."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.port = 0
        self._listener = None
        self._sockets = set()
        self._lock = threading.Lock()

    def start(self):
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def connections(self):
        with self._lock:
            return len(self._sockets) // 2


class SqliteSwitch:
    """The SQLite file in place or renamed away (the app cannot open it)."""

    def __init__(self, path):
        self.path = path

    def connect(self):
        return sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, check_same_thread=False)

    def cut(self):
        os.rename(self.path, self.path + ".away")

    def start(self):
        if os.path.exists(self.path + ".away"):
            os.rename(self.path + ".away", self.path)


@pytest.fixture
def outage(app, tmp_path):
    """``(dedicated app, switch)``: ``switch.cut()`` takes the database away, ``switch.start()`` brings it back."""
    from app import create_app

    url = make_url(app.config["TEST_DATABASE_URL"])
    overrides = {"UPLOAD_FOLDER": str(tmp_path / "uploads"), "EMBEDDED_REDIS_FILE": str(tmp_path / "redis.rdb")}
    if url.get_backend_name() == "postgresql":
        switch = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        switch.start()
        overrides["SQLALCHEMY_DATABASE_URI"] = url.set(host="127.0.0.1", port=switch.port).render_as_string(
            hide_password=False)
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "pool_size": 5}
    else:
        switch = SqliteSwitch(url.database)
        overrides["SQLALCHEMY_DATABASE_URI"] = app.config["TEST_DATABASE_URL"]
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "poolclass": NullPool,
                                                  "creator": switch.connect}
    dedicated = create_app("testing", overrides=overrides)
    dedicated.test_client_class = app.test_client_class
    try:
        yield dedicated, switch
    finally:
        switch.start()
        with dedicated.app_context():
            db.session.remove()
            db.engine.dispose()
        if isinstance(switch, TcpProxy):
            switch.cut()


def _is_outage(resp):
    assert resp.status_code == 503, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert int(resp.headers["Retry-After"]) > 0
    return resp


def _zh(message):
    """``message`` as a Chinese reader gets it (服务暂时不可用 once the catalogue has it)."""
    from flask_babel import force_locale

    with force_locale("zh"):
        return str(message)


def _outage_page(resp):
    from html import unescape

    html = unescape(_is_outage(resp).get_data(as_text=True))
    assert 'lang="zh-CN"' in html and 'data-code="503"' in html
    assert f"<title>{_zh(outage_module.TITLE)}</title>" in html and _zh(outage_module.TEXT) in html, html[:500]
    return html


def _outage_json(resp):
    body = _is_outage(resp).get_json()
    assert body == {"message": _zh(outage_module.API_MESSAGE), "errors": {}}
    return body


def _login_form(client):
    """The login page's fields with its CSRF token, as a browser would post them."""
    import re

    html = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    data = {"username": "hq", "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    return data


def test_outage_answers_503_and_recovers_without_restart(outage, world):
    dedicated, switch = outage
    outlet = world.outlet_e
    pages = ["/outletview/list/", f"/outletview/show/{outlet.id}", "/engineerview/list/"]

    # signed in (page session and API token) while the database is up
    page = dedicated.test_client()
    assert page.post("/login/", data=_login_form(page)).status_code in (302, 303)
    anonymous = dedicated.test_client()
    login_data = _login_form(anonymous)
    api = dedicated.test_client()
    token = api.post("/api/v1/security/login",
                     json={"username": "hq", "password": PASSWORD, "provider": "db"}).get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for url in pages:
        assert page.get(url).status_code == 200, url
    assert api.get(f"/api/v1/outlet/{outlet.id}", headers=bearer).status_code == 200
    if isinstance(switch, TcpProxy):
        assert switch.connections() >= 1  # the pool holds live connections that the cut will break

    switch.cut()
    for url in pages:
        _outage_page(page.get(url))
    _outage_page(anonymous.post("/login/", data=login_data))
    _outage_json(api.get(f"/api/v1/outlet/{outlet.id}", headers=bearer))
    _outage_json(api.get("/api/v1/outlet/", headers=bearer))
    _outage_json(api.put(f"/api/v1/outlet/{outlet.id}", headers=bearer, json={"name": "停电时改名"}))
    # twice: a failed request leaves nothing stuck for the next one
    _outage_page(page.get(pages[1]))

    switch.start()  # the database is back; the app is the same instance
    for url in pages:
        resp = page.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
    assert outlet.name in page.get(f"/outletview/show/{outlet.id}").get_data(as_text=True)
    resp = anonymous.post("/login/", data=login_data)
    assert resp.status_code in (302, 303) and "/login" not in resp.headers["Location"]
    assert api.get(f"/api/v1/outlet/{outlet.id}", headers=bearer).get_json()["result"]["name"] == outlet.name
    # the write refused during the outage left nothing behind
    db.session.expire_all()
    assert db.session.get(Outlet, outlet.id).name == outlet.name


def test_outage_during_a_request_rolls_back_and_the_next_request_works(outage, world):
    """The database goes away in the middle of a request — the user is loaded and allowed in, the
    page's own query fails: 503, and the failed session is discarded, so the next request
    (database back) starts clean. Under /api/ FAB's ``@safe`` catches the error and answers 500
    itself; that 500 becomes the 503 too."""
    from sqlalchemy import event

    dedicated, switch = outage
    if not isinstance(switch, TcpProxy):
        pytest.skip("SQLite: a connection keeps reading a file renamed under it; nothing can be lost mid-request")
    outlet = world.outlet_e
    api = dedicated.test_client()
    token = api.post("/api/v1/security/login",
                     json={"username": "hq", "password": PASSWORD, "provider": "db"}).get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    page = dedicated.test_client()
    assert page.post("/login/", data=_login_form(page)).status_code in (302, 303)
    with dedicated.app_context():
        engine = db.engine

    def _cut_at_the_outlet_query(conn, cursor, statement, *args):
        if "FROM outlet" in statement:
            switch.cut()

    for request in (lambda: _outage_page(page.get("/outletview/list/")),
                    lambda: _outage_json(api.get(f"/api/v1/outlet/{outlet.id}", headers=bearer)),
                    lambda: _outage_json(api.put(f"/api/v1/outlet/{outlet.id}", headers=bearer,
                                                 json={"name": "停电时改名"}))):
        event.listen(engine, "before_cursor_execute", _cut_at_the_outlet_query)
        try:
            request()
        finally:
            event.remove(engine, "before_cursor_execute", _cut_at_the_outlet_query)
        switch.start()
        assert page.get("/outletview/list/").status_code == 200
        assert api.get(f"/api/v1/outlet/{outlet.id}", headers=bearer).status_code == 200
    db.session.expire_all()
    assert db.session.get(Outlet, outlet.id).name == outlet.name
