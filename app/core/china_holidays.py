"""Mainland China's public holiday arrangements (放假调休安排), the data the business calendar is
built from.

``PUBLISHED`` holds each year as the General Office of the State Council published it: every
holiday period from its first to its last day (weekends inside a period included: a 9-day Spring
Festival is 9 days off) and the make-up working days (调休上班). A year not published yet is
forecast from the ``holidays`` package (``holidays.China``), which knows the statutory days and
the days in lieu but not the weekends a period spans: a weekend touching a holiday is taken into
its period (it reproduces 2025 and 2026 exactly; ``tests/test_calendar.py``). A forecast has no
make-up working days until the State Council announces them, so its days are *provisional*.

When the State Council publishes a year, add it to ``PUBLISHED``; ``flask seed reference`` then
replaces the forecast days nobody has confirmed (``seeds/reference.py``).
"""
from collections import namedtuple
from datetime import date, timedelta
from functools import lru_cache

ArrangedDay = namedtuple("ArrangedDay", "day kind name provisional")
"""One day of an arrangement: ``kind`` is ``holiday`` or ``workday`` (a make-up working day)."""

Published = namedtuple("Published", "notice url periods workdays")
"""``periods``: (name, first day, last day); ``workdays``: (name of the period, day)."""

MAKEUP_SUFFIX = "调休上班"

PUBLISHED = {
    2025: Published(
        notice="国务院办公厅关于2025年部分节假日安排的通知（国办发明电〔2024〕12号，2024年11月12日）",
        url="https://www.gov.cn/gongbao/2024/issue_11726/202411/content_6989767.html",
        periods=(
            ("元旦", "2025-01-01", "2025-01-01"),        # 1月1日（周三）放假1天，不调休
            ("春节", "2025-01-28", "2025-02-04"),        # 除夕（周二）至正月初七（周二），共8天
            ("清明节", "2025-04-04", "2025-04-06"),      # 周五至周日，共3天
            ("劳动节", "2025-05-01", "2025-05-05"),      # 周四至周一，共5天
            ("端午节", "2025-05-31", "2025-06-02"),      # 周六至周一，共3天
            ("国庆节、中秋节", "2025-10-01", "2025-10-08"),  # 周三至周三，共8天
        ),
        workdays=(
            ("春节", "2025-01-26"),            # 周日
            ("春节", "2025-02-08"),            # 周六
            ("劳动节", "2025-04-27"),          # 周日
            ("国庆节、中秋节", "2025-09-28"),  # 周日
            ("国庆节、中秋节", "2025-10-11"),  # 周六
        ),
    ),
    2026: Published(
        notice="国务院办公厅关于2026年部分节假日安排的通知（2025年11月4日）",
        url="https://www.gov.cn/gongbao/2025/issue_12406/202511/content_7048922.html",
        periods=(
            ("元旦", "2026-01-01", "2026-01-03"),      # 周四至周六，共3天
            ("春节", "2026-02-15", "2026-02-23"),      # 腊月二十八（周日）至正月初七（周一），共9天
            ("清明节", "2026-04-04", "2026-04-06"),    # 周六至周一，共3天
            ("劳动节", "2026-05-01", "2026-05-05"),    # 周五至周二，共5天
            ("端午节", "2026-06-19", "2026-06-21"),    # 周五至周日，共3天
            ("中秋节", "2026-09-25", "2026-09-27"),    # 周五至周日，共3天
            ("国庆节", "2026-10-01", "2026-10-07"),    # 周四至周三，共7天
        ),
        workdays=(
            ("元旦", "2026-01-04"),     # 周日
            ("春节", "2026-02-14"),     # 周六
            ("春节", "2026-02-28"),     # 周六
            ("劳动节", "2026-05-09"),   # 周六
            ("国庆节", "2026-09-20"),   # 周日
            ("国庆节", "2026-10-10"),   # 周六
        ),
    ),
}


def _published_days(year):
    arrangement = PUBLISHED[year]
    days = []
    for name, first, last in arrangement.periods:
        day, last = date.fromisoformat(first), date.fromisoformat(last)
        while day <= last:
            days.append(ArrangedDay(day, "holiday", name, False))
            day += timedelta(days=1)
    for name, day in arrangement.workdays:
        days.append(ArrangedDay(date.fromisoformat(day), "workday", name + MAKEUP_SUFFIX, False))
    return days


def _festival(name):
    """The package's day name as the festival it belongs to: '春节（补假）' → '春节', '农历除夕' → '春节'."""
    name = str(name).split("（")[0].split("(")[0].strip()
    return "春节" if name == "农历除夕" else name


def forecast_days(year):
    """``year``'s arrangement as the ``holidays`` package has it, weekends touching a holiday taken
    into its period, every day provisional."""
    import holidays

    cn = holidays.China(years=year, language="zh_CN")
    off = {d: _festival(name) for d, name in cn.items() if d.year == year}
    workdays = {d for d in getattr(cn, "weekend_workdays", ()) if d.year == year}
    for day, name in sorted(off.items()):
        for step in (timedelta(days=-1), timedelta(days=1)):
            other = day + step
            while (other.year == year and other.weekday() >= 5 and other not in workdays
                   and other not in off):
                off[other] = name
                other += step
    days = [ArrangedDay(d, "holiday", name, True) for d, name in sorted(off.items())]
    days += [ArrangedDay(d, "workday", MAKEUP_SUFFIX, True) for d in sorted(workdays)]
    return days


@lru_cache(maxsize=64)
def _year(year):
    return tuple(_published_days(year) if year in PUBLISHED else forecast_days(year))


def arrangement(year):
    """``year``'s days: the published arrangement, else the forecast (provisional), by date."""
    return sorted(_year(year), key=lambda d: d.day)


def is_published(year):
    return year in PUBLISHED
