"""Record numbers stay unique and readable when many are created at once.

Numbers used to be ``max + 1``: five simultaneous creations gave a 409 on the number. Now each
prefix has a counter taken atomically (``core.numbering``). PostgreSQL runs the requests truly at
once; SQLite serialises writers, so there they run one after another.
"""
import re
import threading

import pytest

from app.complaints.models import Complaint
from app.core import clock
from app.extensions import db
from app.qualification.models import QualificationAudit
from tests import factories
from tests.test_complaints_api import _create, cal  # noqa: F401  (fixture)

N = 50


def _run_at_once(calls):
    concurrent = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(len(calls) if concurrent else 1)
    results = [None] * len(calls)

    def run(i):
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # shown by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
        if not concurrent:
            t.join()
    for t in threads:
        t.join()
    failed = [r for r in results if isinstance(r, Exception)]
    assert not failed, failed[:3]
    return results


def test_fifty_concurrent_complaints_get_fifty_numbers(world, cal, api):  # noqa: F811
    clients = [api("agent_e") for _ in range(N)]
    outlet = world.outlet_e.id  # read here: the threads have no app context to load it
    payload = {"customer_name": "王先生", "customer_phone": "13912345678", "channel": "phone",
               "outlet": outlet, "severity": "general", "description": "空调不制冷"}
    responses = _run_at_once([lambda c=c: c.post("/api/v1/complaint/", json=payload) for c in clients])
    assert [r.status_code for r in responses] == [201] * N, [r.get_json() for r in responses if r.status_code != 201]
    numbers = [r.get_json()["result"]["number"] for r in responses]
    assert len(set(numbers)) == N
    prefix = f"TS{clock.to_local(clock.now()):%Y%m%d}"
    assert sorted(numbers) == [f"{prefix}{i:04d}" for i in range(1, N + 1)]  # no gap, readable
    assert db.session.query(Complaint).count() == N


def test_fifty_concurrent_audits_get_fifty_numbers(world, api):
    region = world.outlet_e.region
    outlets = [factories.outlet(region) for _ in range(N)]
    db.session.commit()
    clients = [api("hq") for _ in range(N)]
    calls = [lambda c=c, o=o.id: c.post("/api/v1/qualification_audit/", json={"outlet": o, "kind": "annual"})
             for c, o in zip(clients, outlets)]
    responses = _run_at_once(calls)
    assert [r.status_code for r in responses] == [201] * N, [r.get_json() for r in responses if r.status_code != 201]
    numbers = {a.number for a in db.session.query(QualificationAudit)}
    assert len(numbers) == N and all(re.fullmatch(r"QA\d{8}\d{4}", n) for n in numbers)


def test_numbers_continue_after_the_highest_stored_and_skip_taken_ones(world, cal, api):  # noqa: F811
    """Rows written before the counter existed (or imported with a number) are never repeated."""
    agent = api("agent_e")
    first = _create(agent, world).get_json()["result"]["number"]
    prefix = first[:-4]
    # an older row further on, as an import could have written it
    old = db.session.query(Complaint).filter_by(number=first).one()
    old.number = f"{prefix}0007"
    db.session.commit()
    from app.core.numbering import number_sequence

    db.session.execute(number_sequence.delete())  # as before the counter existed
    db.session.commit()
    assert _create(agent, world).get_json()["result"]["number"] == f"{prefix}0008"
    db.session.execute(number_sequence.update().values(value=8))
    db.session.add(Complaint(**{k: getattr(old, k) for k in (
        "customer_name", "customer_phone", "channel", "outlet_id", "severity", "description", "received_at",
        "owner_id")}, number=f"{prefix}0009"))
    db.session.commit()
    assert _create(agent, world).get_json()["result"]["number"] == f"{prefix}0010"


@pytest.fixture(autouse=True)
def _enough_connections(app):
    """Fifty requests at once need more than the default pool of connections."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        yield
        return
    old = engine.pool
    engine.pool = old.recreate()
    engine.pool._max_overflow = N + 10
    yield
    engine.pool.dispose()
    engine.pool = old


def test_fifty_concurrent_service_orders_get_fifty_numbers(world, api):
    """An order created without a number is numbered ``SO`` + day + sequence; a typed one is kept."""
    payload = {"customer_name": "周先生", "customer_phone": "13800000001", "customer_address": "上海",
               "product_category": factories.category("air_conditioner").id, "outlet": world.outlet_e.id,
               "kind": "repair", "status": "created"}
    clients = [api("hq") for _ in range(N)]
    responses = _run_at_once([lambda c=c: c.post("/api/v1/service_order/", json=payload) for c in clients])
    assert [r.status_code for r in responses] == [201] * N, [r.get_json() for r in responses if r.status_code != 201]
    numbers = {r.get_json()["result"]["number"] for r in responses}
    prefix = f"SO{clock.to_local(clock.now()):%Y%m%d}"
    assert numbers == {f"{prefix}{i:04d}" for i in range(1, N + 1)}
    typed = api("hq").post("/api/v1/service_order/", json={**payload, "number": "SO-MANUAL-1"})
    assert typed.status_code == 201 and typed.get_json()["result"]["number"] == "SO-MANUAL-1"


def test_the_order_page_numbers_an_order_left_without_one(world, login):
    client = login("hq")
    page = client.get("/serviceorderview/add")
    assert page.status_code == 200
    r = client.post("/serviceorderview/add", data={
        "number": "", "customer_name": "周先生", "customer_phone": "13800000001", "customer_address": "上海",
        "product_category": factories.category("air_conditioner").id, "outlet": world.outlet_e.id, "kind": "repair",
        "status": "created"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    from app.orders.models import ServiceOrder

    created = db.session.query(ServiceOrder).filter(ServiceOrder.customer_phone == "13800000001").one()
    assert re.fullmatch(r"SO\d{12}", created.number)
