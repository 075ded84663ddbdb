"""Absolute links to the app's pages, for text read outside the app (emails).

``absolute_url(endpoint, **values)`` builds the page's address on ``PUBLIC_BASE_URL`` (the address
people open the app at, e.g. ``https://service.example.cn`` or ``https://intra.example.cn/aftersales``),
never on the host of the current request: an email is rendered the same way in a page's request, a
background job or a CLI command, and a link in it must work for whoever reads it. It only needs an
app context.
"""
from urllib.parse import quote, urlsplit

from flask import current_app


def base_url(app=None):
    """``PUBLIC_BASE_URL`` without a trailing slash."""
    app = app or current_app
    return str(app.config["PUBLIC_BASE_URL"]).rstrip("/")


def absolute_url(endpoint, **values):
    """The absolute address of ``endpoint`` (as ``url_for`` takes it) under ``PUBLIC_BASE_URL``;
    ``_anchor`` adds a fragment, other ``_``-options of ``url_for`` are not taken."""
    anchor = values.pop("_anchor", None)
    base = urlsplit(base_url())
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    url = adapter.build(endpoint, values, force_external=True)
    if anchor is not None:
        url += "#" + quote(str(anchor), safe="!$&'()*+,;=:@/?-._~")
    return url
