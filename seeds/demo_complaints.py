"""Demo complaints in every state — some breached, some escalated and waiting on the desk —
recorded through the complaint services so their timelines and due times are real; and twelve
weeks of history in every region, mostly resolved and closed, so the dashboard's rates and trend
look like a running network."""
import random
from datetime import timedelta

from app.complaints import services
from app.complaints.models import Complaint
from app.core import clock, scope
from app.core.services import save
from app.extensions import db

CUSTOMERS = ["王先生", "李女士", "张先生", "刘女士", "陈先生", "杨女士", "赵先生", "黄女士", "周先生", "吴女士"]
ISSUES = [
    "空调安装后漏水，师傅未处理干净", "洗衣机维修后仍有异响", "冰箱不制冷，预约三次未上门",
    "工程师迟到两小时且态度差", "热水器更换配件收费与报价不符", "以旧换新旧机未按约定回收",
    "维修后一周内同一故障复发", "空调外机安装不牢固存在安全隐患", "电视上门检测后无人跟进",
]
# (how long ago received in hours, severity, the path it takes)
PLAN = [
    (0.05, "general", "new"), (0.1, "urgent", "new"), (3, "major", "new_breached"),
    (1, "general", "responded"), (5, "general", "in_progress"), (30, "general", "paused"),
    (50, "major", "escalated"), (40, "general", "escalated_comp"), (3, "urgent", "escalated_refund"),
    (28, "general", "auto_escalated"), (70, "general", "resolved"), (120, "major", "closed"),
    (200, "general", "closed_unsatisfied"), (90, "general", "rejected"), (20, "major", "awaiting_hq"),
]
HISTORY_WEEKS = 12
HISTORY_PER_WEEK = 2  # per region
# how past complaints ended: most closed with a satisfied customer
HISTORY_PATHS = ["closed"] * 17 + ["closed_unsatisfied", "resolved", "resolved"]


def _user(username):
    from flask import current_app

    return current_app.appbuilder.sm.find_user(username=username)


def load(log=print, per_region=1):
    from app.network.models import Outlet, Region

    if db.session.query(Complaint.id).first() is not None:
        log("demo complaints already present")
        return 0
    agent, manager, hq = _user("agent"), _user("manager"), _user("hq")
    if agent is None or manager is None:
        log("demo users missing; skipping complaints")
        return 0
    rnd = random.Random(42)
    east = db.session.query(Region).filter(Region.code == "E").first()
    regions = [east] if east else db.session.query(Region).limit(1).all()
    others = db.session.query(Region).filter(Region.id != (east.id if east else 0)).all()
    made = 0
    now = clock.now()
    for region in regions + others:
        outlets = db.session.query(Outlet).filter(Outlet.region_id == region.id).limit(10).all()
        if not outlets:
            continue
        plan = PLAN if region is east else PLAN[:4]  # decisions are the East manager's
        history = [(24 * (7 * week + rnd.uniform(0, 6.5)), rnd.choice(["general"] * 6 + ["major", "urgent"]),
                    rnd.choice(HISTORY_PATHS))
                   for week in range(1, HISTORY_WEEKS) for _ in range(HISTORY_PER_WEEK)]
        for hours_ago, severity, path in plan * per_region + history * per_region:
            outlet = rnd.choice(outlets)
            received = now - timedelta(hours=hours_ago)
            with clock.freeze(received), scope.acting_as(agent if region is east else None):
                c = Complaint(customer_name=rnd.choice(CUSTOMERS),
                              customer_phone=f"13{rnd.randint(100000000, 999999999)}",
                              channel=rnd.choice(["phone", "app", "web", "email", "in_person"]), outlet=outlet,
                              severity=severity, description=rnd.choice(ISSUES), received_at=received)
                if region is not east:
                    c.owner = agent
                save(c)
            made += 1
            _advance(c, path, received, agent, manager, hq)
    # mark breaches and raise the automatic escalations as the sweep would have
    services.sweep(now=now)
    log(f"demo complaints: {made}")
    return made


def _at(received, minutes):
    return clock.freeze(received + timedelta(minutes=minutes))


def _advance(c, path, received, agent, manager, hq):
    if path in ("new", "new_breached", "auto_escalated"):
        return
    with _at(received, 6):
        services.respond(c.id, "已致电客户，了解情况并致歉", agent)
    if path == "responded":
        return
    if path == "paused":
        with _at(received, 60):
            services.pause(c.id, "等待客户提供购买发票", agent)
        return
    if path == "awaiting_hq":  # level 1 approved a large compensation: HQ decides level 2
        with _at(received, 30):
            esc = services.escalate(c.id, "compensation", "compensation", "3500", "客户要求高额赔偿", agent)
        with _at(received, 100):
            services.approve(esc.id, "情况属实，报总部审批", manager)
        return
    if path.startswith("escalated") or path == "rejected":
        remedy, amount = {"escalated": ("replacement", None), "escalated_comp": ("compensation", "2500"),
                          "escalated_refund": ("refund", None), "rejected": ("compensation", "500")}[path]
        with _at(received, 30):
            esc = services.escalate(c.id, "compensation" if amount else "customer_request", remedy, amount,
                                    "客户要求升级处理", agent)
        if path == "rejected":
            with _at(received, 120):
                services.reject(esc.id, "赔偿诉求不符合政策，请与客户再沟通", manager)
        return
    if path == "in_progress":
        with _at(received, 40):
            esc = services.escalate(c.id, "customer_request", "repair", None, "需安排高级工程师上门", agent)
        with _at(received, 90):
            services.approve(esc.id, "同意安排", manager)
        return
    with _at(received, 60 * 20):
        services.resolve(c.id, "已上门更换故障配件，客户确认恢复正常", agent)
    if path.startswith("closed"):
        with _at(received, 60 * 22):
            services.close(c.id, path == "closed", agent)
