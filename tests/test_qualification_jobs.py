"""The periodic qualification jobs: annual audits opened 30 days ahead, outlets flagged when they
drop below a computed criterion with one special audit — all idempotent — and run by a real worker."""
import uuid
from datetime import timedelta

import pytest
from rq import Queue

from app import jobs
from app.core import clock, queue
from app.engineers.models import Engineer
from app.extensions import db
from app.network.models import Outlet
from app.qualification.models import QualificationAudit
from tests import factories
from tests.workers import burst
from tests.qualification_support import qualifying_outlet, staff


@pytest.fixture
def east(app):
    region = factories.region("E", "华东区", users=["manager_e"])
    db.session.commit()
    return region


def _audits(**filters):
    db.session.expire_all()
    return db.session.query(QualificationAudit).filter_by(**filters).order_by(QualificationAudit.id).all()


def test_annual_audits_open_30_days_before_they_are_due(east):
    today = clock.today()
    at_30 = qualifying_outlet(east, next_audit_due_on=today + timedelta(days=30))
    at_31 = qualifying_outlet(east, next_audit_due_on=today + timedelta(days=31))
    overdue = qualifying_outlet(east, status="probation", next_audit_due_on=today - timedelta(days=3))
    qualifying_outlet(east, status="terminated", next_audit_due_on=today)
    qualifying_outlet(east, status="applying", next_audit_due_on=today)
    busy = qualifying_outlet(east, next_audit_due_on=today + timedelta(days=5))
    db.session.add(QualificationAudit(number="QA-X", outlet=busy, kind="special", due_on=today, is_open=True))
    db.session.commit()

    assert jobs.open_annual_audits() == 2
    opened = _audits(origin="schedule")
    assert sorted(a.outlet_id for a in opened) == sorted([at_30.id, overdue.id])
    by_outlet = {a.outlet_id: a for a in opened}
    assert by_outlet[at_30.id].due_on == today + timedelta(days=30)
    assert by_outlet[at_30.id].kind == "annual" and by_outlet[at_30.id].status == "draft"
    assert len(by_outlet[at_30.id].items) == 9 and by_outlet[at_30.id].opened_by_id is None
    assert jobs.open_annual_audits() == 0  # idempotent
    assert len(_audits()) == 3
    with clock.freeze(today + timedelta(days=1)):
        assert jobs.open_annual_audits() == 1
    assert {a.outlet_id for a in _audits(origin="schedule")} == {at_30.id, overdue.id, at_31.id}


def test_days_before_is_a_setting(east):
    from app.core.models import Setting

    qualifying_outlet(east, next_audit_due_on=clock.today() + timedelta(days=45))
    assert jobs.open_annual_audits() == 0
    db.session.query(Setting).filter_by(key="qualification.annual_open_days_before").one().value = "45"
    db.session.commit()
    assert jobs.open_annual_audits() == 1


def test_dropping_below_flags_the_outlet_and_opens_one_special_audit(east):
    healthy = qualifying_outlet(east)
    dropping = qualifying_outlet(east)
    probation = factories.outlet(east, status="probation")  # never met: two reasons
    applying = factories.outlet(east, status="applying")  # not in the network yet: not checked
    db.session.commit()
    assert jobs.check_outlet_qualification() == {"checked": 3, "flagged": 1, "cleared": 0, "opened": 1}
    [special] = _audits(kind="special")
    assert special.outlet_id == probation.id and special.origin == "threshold"
    assert "0 < 3" in special.trigger_note and "0.00% < 90" in special.trigger_note
    assert db.session.get(Outlet, probation.id).flag_reasons == "engineers,stock"

    # an engineer of the dropping outlet leaves: 2 certified engineers remain
    leaver = db.session.query(Engineer).filter_by(outlet_id=dropping.id).first()
    leaver.status = "left"
    db.session.commit()
    counts = jobs.check_outlet_qualification()
    assert (counts["flagged"], counts["opened"]) == (1, 1)
    o = db.session.get(Outlet, dropping.id)
    assert (o.flagged_on, o.flag_reasons) == (clock.today(), "engineers")
    [audit] = _audits(outlet_id=dropping.id)
    assert audit.kind == "special" and "2 < 3" in audit.trigger_note
    # idempotent: nothing new however often it runs
    assert jobs.check_outlet_qualification() == {"checked": 3, "flagged": 0, "cleared": 0, "opened": 0}
    assert len(_audits(kind="special")) == 2

    # the draft is deleted by HQ: still flagged for the same reason, so no new audit opens
    db.session.delete(audit)
    db.session.commit()
    assert jobs.check_outlet_qualification()["opened"] == 0
    # a second reason appears: the outlet is flagged again and one new special audit opens
    from app.parts.models import Stock

    for row in db.session.query(Stock).filter_by(outlet_id=dropping.id).limit(2):
        row.quantity = 0
    db.session.commit()
    counts = jobs.check_outlet_qualification()
    assert (counts["flagged"], counts["opened"]) == (1, 1)
    assert db.session.get(Outlet, dropping.id).flag_reasons == "engineers,stock"

    # it meets both criteria again: the flag is cleared (the open audit stays for the auditor)
    staff(dropping, n=1)
    for row in db.session.query(Stock).filter_by(outlet_id=dropping.id):
        row.quantity = 5
    db.session.commit()
    counts = jobs.check_outlet_qualification()
    assert counts["cleared"] == 1
    o = db.session.get(Outlet, dropping.id)
    assert (o.flagged_on, o.flag_reasons) == (None, "")
    assert db.session.get(Outlet, healthy.id).flagged_on is None
    assert db.session.get(Outlet, applying.id).flagged_on is None


def test_no_special_audit_while_another_audit_is_open(east):
    outlet = factories.outlet(east)
    db.session.add(QualificationAudit(number="QA-Y", outlet=outlet, kind="annual", due_on=clock.today(),
                                      is_open=True))
    db.session.commit()
    counts = jobs.check_outlet_qualification()
    assert (counts["flagged"], counts["opened"]) == (1, 0)
    assert len(_audits()) == 1


def test_a_real_worker_runs_the_qualification_jobs(east, app):
    qualifying_outlet(east, next_audit_due_on=clock.today() + timedelta(days=10))
    factories.outlet(east)
    db.session.commit()
    name = f"test-{uuid.uuid4().hex[:8]}"
    q = Queue(name, connection=queue.connection(app))
    annual = q.enqueue(jobs.open_annual_audits)
    check = q.enqueue(jobs.check_outlet_qualification)
    result = burst(app, name)
    annual.refresh()
    check.refresh()
    assert annual.return_value() == 1, result.stderr[-3000:]
    assert check.return_value()["opened"] == 1
    assert {a.kind for a in _audits()} == {"annual", "special"}


def test_schedule_declares_the_qualification_jobs(app):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=queue.connection(app))
    scheduler.load_config_from_file("app.schedule")
    names = {j.func_name for j in scheduler.get_jobs()}
    assert {"app.qualification.jobs.open_annual_audits", "app.qualification.jobs.check_outlet_qualification"} <= names


def test_flagged_outlets_are_one_click_away(east, login):
    flagged = factories.outlet(east, code="SH404", name="预警网点")
    qualifying_outlet(east, code="SH200", name="达标网点")
    jobs.check_outlet_qualification()
    html = login("hq").get("/outletview/list/?_flt_0_flagged=1").get_data(as_text=True)
    assert "SH404" in html and "SH200" not in html
    show = login("hq").get(f"/outletview/show/{flagged.id}").get_data(as_text=True)
    assert 'data-flag="engineers"' in show and 'data-flag="stock"' in show
