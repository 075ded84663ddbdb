"""The calendar page: a forecast year's days shown as provisional, reviewed and confirmed by an HQ
admin (recorded in the audit trail), refused to anyone else; saving a day by hand confirms it."""
from datetime import date

import pytest
from sqlalchemy import select

from app.audit_trail.models import AuditEvent
from app.core import calendar, clock
from app.core.calendar_services import unconfirmed_years
from app.core.models import CalendarDay
from app.extensions import db
from seeds.reference import load_default_calendar
from tests.test_pages_support import assert_saved, flashes, fresh, list_body, row_ids

TODAY = date(2026, 12, 7)


@pytest.fixture
def seeded(app):
    """The default calendar as a deployment loads it on TODAY: 2026 published, 2027 a forecast."""
    with clock.freeze(TODAY):
        load_default_calendar()
        db.session.commit()
        yield
    db.session.rollback()


def _provisional(year):
    return db.session.scalars(select(CalendarDay.day).where(
        CalendarDay.provisional.is_(True), CalendarDay.day >= date(year, 1, 1),
        CalendarDay.day <= date(year, 12, 31))).all()


def _english(client):
    client.post("/language/", data={"locale": "en"})
    return client


def test_the_list_shows_the_forecast_year_as_provisional(seeded, login):
    hq = _english(login("hq"))
    html = hq.get("/calendardayview/list/?_flt_0_provisional=1&psize_CalendarDayView=100").get_data(as_text=True)
    assert 'id="arrangement-2027"' in html and 'id="arrangement-2026"' not in html
    forecast = len(calendar.china_days([2027]))
    assert f'data-provisional="{forecast}"' in html
    assert "The 2027 holiday arrangement is a forecast" in html
    assert '/calendardayview/confirm?year=2027' in html
    # the provisional filter lists exactly the forecast year's days, flagged as a warning
    expected = db.session.scalars(select(CalendarDay.id).where(CalendarDay.provisional.is_(True))
                                  .order_by(CalendarDay.day)).all()
    assert len(expected) == forecast and row_ids(html) == expected
    assert list_body(html).count("label-warning") == forecast


def test_an_hq_admin_reviews_and_confirms_the_year(seeded, login):
    hq = _english(login("hq"))
    with clock.freeze(TODAY):
        page = hq.get("/calendardayview/confirm?year=2027")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert 'id="confirm-year"' in html and 'name="year" value="2027"' in html
        assert html.count('data-day="2027-') == len(calendar.china_days([2027]))
        assert _provisional(2027)  # nothing happened on the GET

        since = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
        resp = hq.post("/calendardayview/confirm", data={"year": "2027"})
        assert resp.status_code in (302, 303)
        db.session.expire_all()
        assert _provisional(2027) == []
        assert unconfirmed_years() == []
        html = hq.get(resp.headers["Location"]).get_data(as_text=True)
        assert any("2027 holiday arrangement is confirmed" in f for f in flashes(html, "success"))
        assert 'id="arrangement-2027"' not in html

    # recorded: one change per day, by the HQ admin
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.id > since,
                                                         AuditEvent.entity == "calendar_day")).all()
    assert len(events) == len(calendar.china_days([2027]))
    assert {(e.action, e.actor_name) for e in events} == {("update", "hq")}
    assert all('"provisional":[true,false]' in e.changes.replace(" ", "") for e in events)

    # confirming again: nothing left, said so
    with clock.freeze(TODAY):
        html = hq.post("/calendardayview/confirm", data={"year": "2027"}, follow_redirects=True).get_data(as_text=True)
    assert any("no provisional days to confirm" in f for f in flashes(html))


@pytest.mark.parametrize("username", ["manager_e", "agent_e", "auditor"])
def test_only_an_hq_admin_may_confirm(seeded, login, username):
    client = login(username)
    with clock.freeze(TODAY):
        html = client.get("/calendardayview/list/").get_data(as_text=True)
        assert 'id="arrangement-2027"' in html  # they see the year is a forecast
        assert "/calendardayview/confirm" not in html  # but are not offered to confirm it
        assert client.get("/calendardayview/confirm?year=2027").status_code == 403
        assert client.post("/calendardayview/confirm", data={"year": "2027"}).status_code == 403
    db.session.expire_all()
    assert len(_provisional(2027)) == len(calendar.china_days([2027]))


@pytest.mark.parametrize("year", ["", "abc", "20270", "1999", "2027.5"])
def test_a_bad_year_is_a_clear_error(seeded, login, year):
    hq = _english(login("hq"))
    resp = hq.post("/calendardayview/confirm", data={"year": year})
    assert resp.status_code in (302, 303)
    html = hq.get(resp.headers["Location"]).get_data(as_text=True)
    assert any("Enter a year between 2000 and 2100" in f for f in flashes(html))
    assert hq.get(f"/calendardayview/confirm?year={year}").status_code in (302, 303)
    db.session.expire_all()
    assert len(_provisional(2027)) == len(calendar.china_days([2027]))


def test_saving_a_provisional_day_by_hand_confirms_it(seeded, login, api):
    day = db.session.scalars(select(CalendarDay).where(CalendarDay.day == date(2027, 10, 5))).one()
    other = db.session.scalars(select(CalendarDay).where(CalendarDay.day == date(2027, 10, 4))).one()
    assert day.provisional and other.provisional
    hq = login("hq")
    assert_saved(hq.post(f"/calendardayview/edit/{day.id}", data={
        "calendar": str(day.calendar_id), "day": "2027-10-05", "kind": "holiday", "name": "国庆节"}))
    assert fresh(CalendarDay, day.id).provisional is False
    # the API shows the flag, and a PUT confirms the day the same way
    client = api("hq")
    assert client.get(f"/api/v1/calendar_day/{other.id}").get_json()["result"]["provisional"] is True
    assert client.put(f"/api/v1/calendar_day/{other.id}", json={"name": "国庆节"}).status_code == 200
    assert fresh(CalendarDay, other.id).provisional is False
    assert unconfirmed_years(TODAY) == [2027]  # the rest of the year still waits


def test_a_year_without_days_is_pointed_out(app, login):
    hq = _english(login("hq"))
    with clock.freeze(TODAY):
        html = hq.get("/calendardayview/list/").get_data(as_text=True)
    for year in (2026, 2027):
        assert f'id="arrangement-{year}"' in html
    assert "No public holidays or make-up working days are loaded for 2026" in html
    assert "/calendardayview/confirm?year=" not in html  # nothing to confirm yet
