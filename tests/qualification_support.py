"""Builders shared by the qualification tests: outlets that qualify or not, and audits driven
through the API."""
from datetime import timedelta

from app.core import clock
from app.extensions import db
from tests import factories



def _png():
    """A real 1×1 PNG."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


PNG = _png()
ONSITE_OK = [{"code": "fixed_premises", "answer": "yes", "note": "现场核实：门店正常营业"},
             {"code": "signage", "answer": "yes"}, {"code": "tools", "answer": "yes"}]


def staff(outlet, n=3, **cert):
    """``n`` engineers on duty, each holding a certificate valid today (or as ``cert`` says)."""
    engineers = []
    for _ in range(n):
        e = factories.engineer(outlet)
        factories.certification(e, **cert)
        engineers.append(e)
    db.session.commit()
    return engineers


def stock_common(outlet, n=10, short=0, category="air_conditioner"):
    """``n`` common parts of ``category`` at the outlet, the first ``short`` below the safety level."""
    parts = [factories.part(category) for _ in range(n)]
    for i, part in enumerate(parts):
        factories.stock(part, outlet=outlet, quantity=4 if i < short else 5, safety_level=5)
    db.session.commit()
    return parts


def catalogue(category="air_conditioner", n=10):
    """The common parts of ``category`` (common parts are the same for every outlet serving it),
    created up to ``n`` when fewer exist."""
    from app.parts.models import Part

    parts = db.session.query(Part).filter(Part.is_common.is_(True),
                                          Part.product_category_id == factories.category(category).id).all()
    parts += [factories.part(category) for _ in range(n - len(parts))]
    db.session.commit()
    return parts


def stock_all(outlet, category="air_conditioner", short=0):
    """Stock every common part of ``category`` at the outlet, the first ``short`` below safety."""
    for i, part in enumerate(catalogue(category)):
        factories.stock(part, outlet=outlet, quantity=4 if i < short else 5, safety_level=5)
    db.session.commit()


def qualifying_outlet(region, status="active", **kw):
    outlet = factories.outlet(region, status=status, **kw)
    staff(outlet)
    stock_all(outlet)
    return outlet


def open_audit(client, outlet, kind="annual", **extra):
    r = client.post("/api/v1/qualification_audit/", json={"outlet": outlet.id, "kind": kind, **extra})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"], r.get_json()["result"]


def answer_and_submit(client, audit_id, outcome="pass", comment="", days=None, answers=ONSITE_OK):
    r = client.put(f"/api/v1/qualification_audit/{audit_id}", json={"items": answers})
    assert r.status_code == 200, r.get_json()
    body = {"outcome": outcome, "comment": comment}
    if days is not None:
        body["rectification_days"] = days
    r = client.post(f"/api/v1/qualification_audit/{audit_id}/submit", json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["result"]


def items_by_code(result):
    return {i["code"]: i for i in result["items"]}


def days_from_today(n):
    return clock.today() + timedelta(days=n)
