"""Demo qualification work: the nightly jobs' audits (annual reviews falling due, special audits of
outlets below a threshold), one audit waiting for an HQ admin's approval and one approved
conditional outcome with its follow-up — all through the qualification services and jobs."""
from app.extensions import db
from app.qualification import jobs, services
from app.qualification.models import QualificationAudit


def _user(username):
    from flask import current_app

    return current_app.appbuilder.sm.find_user(username=username)


def _answer_and_submit(audit, auditor, outcome, comment=""):
    answers = [{"code": i.code, "answer": "yes", "note": "现场核实：门店正常营业，证照齐全"}
               for i in audit.items if i.kind == "onsite"]
    services.save_answers(audit.id, answers, auditor)
    return services.submit(audit.id, outcome, comment, 30 if outcome == "conditional" else None, auditor)


def load(log=print):
    """Idempotent: the jobs open nothing twice, and the worked examples are made once."""
    flagged = jobs.check_outlet_qualification()
    annual = jobs.open_annual_audits()
    worked = 0
    if db.session.query(QualificationAudit.id).filter(QualificationAudit.status != "draft").first() is None:
        auditor, hq = _user("auditor"), _user("hq")
        drafts = (db.session.query(QualificationAudit).filter_by(status="draft", kind="annual")
                  .order_by(QualificationAudit.due_on, QualificationAudit.id).all())
        if auditor is not None and hq is not None:
            qualifying = []
            for audit in drafts:
                lines = services.rows(audit, drilldown=False)
                met = {line["metric"]: line["met"] for line in lines}
                if met.get("certified_engineers") and met.get("stock_rate"):
                    qualifying.append(audit)
                if len(qualifying) == 2:
                    break
            if len(qualifying) == 2:
                waiting, conditional = qualifying
                _answer_and_submit(waiting, auditor, "pass", "年度复核各项达标")
                _answer_and_submit(conditional, auditor, "conditional", "门头标识陈旧，限期30天整改")
                services.approve(conditional.id, "同意限期整改", hq)
                worked = 2
    log(f"demo qualification: {flagged['opened']} special and {annual} annual audit(s) opened, "
        f"{flagged['flagged']} outlet(s) flagged, {worked} worked example(s)")
    return {"special": flagged["opened"], "annual": annual, "worked": worked}
