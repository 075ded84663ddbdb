"""Reference data every installation needs: roles, product categories, certification types,
settings at their defaults, the default SLA policies, mainland China's business calendar and the
audit checklist. Loaded by ``flask deploy`` (or ``flask seed reference``). Safe to run again:
existing rows are left as an HQ admin edited them."""
from datetime import date

from app.complaints.models import SlaPolicy
from app.core.models import Setting
from app.core.settings import DEFINITIONS
from app.engineers.models import CertificationType
from app.extensions import db
from app.network.models import ProductCategory

PRODUCT_CATEGORIES = [
    ("refrigerator", "冰箱"),
    ("washing_machine", "洗衣机"),
    ("air_conditioner", "空调"),
    ("water_heater", "热水器"),
    ("kitchen", "厨房电器"),
    ("television", "电视"),
]

# (name, validity months, product category codes that require it)
CERTIFICATION_TYPES = [
    ("制冷与空调作业操作证", 72, ["air_conditioner", "refrigerator"]),
    ("低压电工作业证", 72, ["water_heater", "kitchen", "washing_machine"]),
    ("高处作业证", 72, ["air_conditioner"]),
    ("品牌认证工程师", 24, []),
]

SLA_DEFAULTS = [
    # severity, first response minutes, resolution hours, business time, description
    ("general", 10, 24, False, "一般投诉：10分钟内首次响应，24小时内解决"),
    ("major", 10, 48, False, "重大投诉：10分钟内首次响应，48小时内给出处理方案"),
    ("urgent", 10, 2, False, "紧急投诉（安全隐患、无法使用）：10分钟内首次响应，2小时内解决"),
]


# The default audit checklist (code, label, kind, metric, required, evidence required, position, guidance).
AUDIT_TEMPLATE = [
    ("fixed_premises", "固定经营场所", "onsite", "has_fixed_premises", True, True, 10,
     "现场核实网点有固定经营场所（营业执照地址一致、门店可正常营业），拍摄门头照片或填写核查说明。"),
    ("signage", "门头及服务标识规范", "onsite", None, False, False, 20, "门头、服务价目表、服务承诺按品牌规范张贴。"),
    ("tools", "维修工具与检测设备齐全", "onsite", None, False, False, 30, "真空泵、压力表、检漏仪等按品类配置且在检定有效期内。"),
    ("certified_engineers", "持证工程师人数", "computed", "certified_engineers", True, False, 40,
     "在岗且持有效证书的工程师人数，系统按实时数据计算。"),
    ("stock_rate", "常用配件库存率", "computed", "stock_rate", True, False, 50,
     "网点前置仓常用配件达到安全库存的比例，系统按实时数据计算。"),
    ("on_time_rate", "上门准时率", "kpi", "on_time_rate", False, False, 60, ""),
    ("first_time_fix_rate", "一次修复率", "kpi", "first_time_fix_rate", False, False, 70, ""),
    ("mean_satisfaction", "平均满意度", "kpi", "mean_satisfaction", False, False, 80, ""),
    ("complaint_rate", "投诉率", "kpi", "complaint_rate", False, False, 90, ""),
]


def load(log=print):
    from app.security import roles

    from flask import current_app

    roles.sync_all(current_app.appbuilder, log=log)

    categories = {c.code: c for c in db.session.query(ProductCategory)}
    for code, name in PRODUCT_CATEGORIES:
        if code not in categories:
            categories[code] = ProductCategory(code=code, name=name)
            db.session.add(categories[code])
    existing_types = {t.name for t in db.session.query(CertificationType.name)}
    for name, months, codes in CERTIFICATION_TYPES:
        if name not in existing_types:
            db.session.add(CertificationType(name=name, validity_months=months,
                                             product_categories=[categories[c] for c in codes]))
    existing_settings = {k for (k,) in db.session.query(Setting.key)}
    for key, definition in DEFINITIONS.items():
        if key not in existing_settings:
            db.session.add(Setting(key=key, value=definition.render(definition.default)))
    load_default_calendar()
    load_audit_template()
    existing_sla = {s for (s,) in db.session.query(SlaPolicy.severity)}
    for severity, minutes, hours, business, description in SLA_DEFAULTS:
        if severity not in existing_sla:
            db.session.add(SlaPolicy(severity=severity, response_minutes=minutes, resolution_hours=hours,
                                     business_time=business, description=description))
    db.session.commit()
    log("reference data loaded")
    from app.core.calendar_services import unconfirmed_years

    waiting = unconfirmed_years()
    if waiting:
        log("holiday arrangements to confirm on the calendar page: " + ", ".join(map(str, waiting)))
    return categories


def load_default_calendar(years=None):
    """Mainland China's calendar: Mon–Fri 09:00–18:00 with the public holidays and make-up working
    days (调休) of ``years`` (default: this year and the next) from ``core.china_holidays`` — the
    State Council's published arrangement, else a forecast whose days are provisional.

    What HQ admins did is kept. Per year:

    * a confirmed day (confirmed with its year, added or edited by hand) is never changed;
    * a provisional day follows the arrangement (updated, or removed when it no longer has the day);
    * a published year's missing days are added; a forecast's only while no day of that year is
      confirmed (a year HQ admins have worked on is theirs).
    """
    from app.core import calendar, clock
    from app.core.models import BusinessCalendar, CalendarDay

    cal = db.session.query(BusinessCalendar).filter(BusinessCalendar.region_id.is_(None)).first()
    if cal is None:
        cal = BusinessCalendar(name="中国大陆工作日历")
        db.session.add(cal)
        db.session.flush()
    year = clock.today().year
    for y in sorted(set(years or [year, year + 1])):
        arranged = {d.day: d for d in calendar.china_days([y])}
        rows = {r.day: r for r in db.session.query(CalendarDay).filter(
            CalendarDay.calendar_id == cal.id, CalendarDay.day >= date(y, 1, 1), CalendarDay.day <= date(y, 12, 31))}
        worked_on = any(not r.provisional for r in rows.values())
        for day, row in rows.items():
            if not row.provisional:
                continue
            new = arranged.get(day)
            if new is None:
                db.session.delete(row)
            elif (row.kind, row.name, row.provisional) != (new.kind, new.name[:100], new.provisional):
                row.kind, row.name, row.provisional = new.kind, new.name[:100], new.provisional
        for day, new in arranged.items():
            if day not in rows and not (new.provisional and worked_on):
                db.session.add(CalendarDay(calendar_id=cal.id, day=day, kind=new.kind, name=new.name[:100],
                                           provisional=new.provisional))
    db.session.flush()
    return cal


def load_audit_template():
    """The default checklist items whose code is missing (edited items are kept as they are)."""
    from app.qualification.models import AuditTemplateItem

    existing = {c for (c,) in db.session.query(AuditTemplateItem.code)}
    for code, label, kind, metric, required, evidence, position, guidance in AUDIT_TEMPLATE:
        if code not in existing:
            db.session.add(AuditTemplateItem(code=code, label=label, kind=kind, metric=metric, required=required,
                                             evidence_required=evidence, position=position, active=True,
                                             guidance=guidance))
