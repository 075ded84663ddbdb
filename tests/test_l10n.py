"""Dates, times and numbers as each locale writes them; times in Asia/Shanghai, stored in UTC."""
from datetime import date, datetime
from decimal import Decimal

import pytest
from flask_babel import force_locale

from app.core import l10n
from tests import factories
from tests.test_pages_support import list_body, show_body, text

UTC_MOMENT = datetime(2026, 11, 23, 6, 30, 5)  # 14:30:05 in Beijing


@pytest.mark.parametrize("loc, moment, with_seconds, day, hour", [
    ("zh", "2026年11月23日 14:30", "2026年11月23日 14:30:05", "2026年11月23日", "14:30"),
    ("en", "Nov 23, 2026, 2:30 PM", "Nov 23, 2026, 2:30:05 PM", "Nov 23, 2026", "2:30 PM"),
])
def test_each_locale_writes_dates_and_times_its_own_way_in_beijing_time(app, loc, moment, with_seconds, day, hour):
    with app.test_request_context(), force_locale(loc):
        assert l10n.datetime_text(UTC_MOMENT) == moment
        assert l10n.datetime_text(UTC_MOMENT, seconds=True) == with_seconds
        assert l10n.date_text(date(2026, 11, 23)) == day
        assert l10n.time_text(UTC_MOMENT) == hour
        # the UTC evening is already the next day in Beijing
        assert l10n.date_text(datetime(2026, 11, 23, 17, 0)) == l10n.date_text(date(2026, 11, 24))
        # ISO text kept in JSON snapshots reads the same as the value
        assert l10n.date_text("2026-11-23") == day
        assert l10n.datetime_text("2026-11-23T06:30:05") == moment
        assert l10n.datetime_text(None) == l10n.date_text(None) == l10n.number_text(None) == ""


def test_numbers_keep_their_places_and_group_thousands(app):
    with app.test_request_context(), force_locale("zh"):
        assert l10n.number_text(1234567) == "1,234,567"
        assert l10n.number_text(Decimal("1234.50")) == "1,234.50"  # a price keeps its cents
        assert l10n.number_text(Decimal("84.5")) == "84.5"
        assert l10n.number_text(2.0 / 3) == "0.667"
        assert l10n.number_text(97.456, "#,##0.0") == "97.5"
        assert l10n.percent_text(0.975) == "97.5%"
        assert l10n.money_text(Decimal("1234.5")) == "¥1,234.50"


def test_outside_a_request_the_default_is_chinese(app):
    with app.app_context():
        assert l10n.date_text(date(2026, 1, 5)) == "2026年1月5日"


def test_list_and_show_pages_write_dates_and_numbers_in_the_users_language(world, login):
    from app.extensions import db

    order = factories.service_order(world.outlet_e, world.engineer_e, number="SO-L10N", status="dispatched",
                                    dispatched_at=UTC_MOMENT, created_at=UTC_MOMENT)
    part = factories.part(sku="P-L10N")
    part.unit_price = Decimal("12345.60")
    db.session.commit()
    c = login("hq")
    body = text(list_body(c.get("/serviceorderview/list/?_flt_0_number=SO-L10N").get_data(as_text=True)))
    assert "2026年11月23日 14:30" in body and "2026-11-23" not in body
    assert "12,345.60" in text(show_body(c.get(f"/partview/show/{part.id}").get_data(as_text=True)))

    c.post("/language/", data={"locale": "en"})
    shown = text(show_body(c.get(f"/serviceorderview/show/{order.id}").get_data(as_text=True)))
    assert "Nov 23, 2026, 2:30 PM" in shown and "2026年" not in shown
    c.post("/language/", data={"locale": "zh"})
