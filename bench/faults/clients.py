"""HTTP clients of the running app: the REST API with a bearer token, and the pages with a signed-in
session and its CSRF token (the import and export buttons are pages)."""
import re
import time

import requests

CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class ApiClient:
    """``POST /api/v1/security/login`` once, then ``Authorization: Bearer …`` on every call."""

    def __init__(self, base_url, username, password, timeout=15):
        self.base_url, self.username, self.password, self.timeout = base_url, username, password, timeout
        self.session = requests.Session()
        self.token = None

    def login(self, attempts=20):
        last = None
        for _ in range(attempts):
            try:
                r = self.session.post(self.base_url + "/api/v1/security/login", timeout=self.timeout,
                                      json={"username": self.username, "password": self.password, "provider": "db"})
                if r.status_code == 200:
                    self.token = r.json()["access_token"]
                    self.session.headers["Authorization"] = f"Bearer {self.token}"
                    return self
                last = f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as exc:
                last = exc
            time.sleep(1)
        raise RuntimeError(f"API login of {self.username} failed: {last}")

    def post(self, path, payload, timeout=None):
        return self.session.post(self.base_url + path, json=payload, timeout=timeout or self.timeout)

    def get(self, path, timeout=None, **params):
        return self.session.get(self.base_url + path, params=params or None, timeout=timeout or self.timeout)


class PageClient:
    """A browser-like session: the login form, then forms carrying the page's CSRF token.

    Production marks the session cookie ``Secure``; the run talks plain HTTP on loopback, so the
    cookies are kept sendable here (what a TLS-terminating proxy in front of gunicorn gives)."""

    def __init__(self, base_url, username, password, timeout=30):
        self.base_url, self.username, self.password, self.timeout = base_url, username, password, timeout
        self.session = requests.Session()

    def _unsecure(self):
        for cookie in self.session.cookies:
            cookie.secure = False

    def _csrf(self, html):
        m = CSRF_META.search(html) or CSRF_INPUT.search(html)
        if not m:
            raise RuntimeError("no CSRF token on the page")
        return next(g for g in m.groups() if g)

    def get(self, path, **kwargs):
        r = self.session.get(self.base_url + path, timeout=self.timeout, **kwargs)
        self._unsecure()
        return r

    def post(self, path, data=None, files=None, allow_redirects=False):
        r = self.session.post(self.base_url + path, data=data, files=files, timeout=self.timeout,
                              allow_redirects=allow_redirects)
        self._unsecure()
        return r

    def token(self, path="/"):
        r = self.get(path)
        r.raise_for_status()
        return self._csrf(r.text)

    def login(self, attempts=20):
        last = None
        for _ in range(attempts):
            try:
                r = self.get("/login/")
                token = self._csrf(r.text)
                r = self.post("/login/", data={"username": self.username, "password": self.password,
                                               "csrf_token": token})
                if r.status_code in (302, 303) and "/login" not in r.headers.get("Location", "/login"):
                    return self
                last = f"{r.status_code} {r.headers.get('Location')}"
            except (requests.RequestException, RuntimeError) as exc:
                last = exc
            time.sleep(1)
        raise RuntimeError(f"page login of {self.username} failed: {last}")
