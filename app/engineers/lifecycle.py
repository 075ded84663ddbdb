"""Engineer lifecycle: the onboarding gate, the quarterly refresher and going on duty.

The rules themselves are in ``engineers.rules`` (``onboarding_unmet``, ``refresher_verdict``);
this module gathers the facts they need with set-based queries and applies their verdicts.
"""
import logging

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from app.core import clock, settings
from app.core.services import transaction
from app.engineers import rules
from app.engineers.models import Engineer, TrainingRecord
from app.extensions import db

log = logging.getLogger(__name__)


def onboarding_records(engineer_id):
    """An engineer's onboarding training records, most recent first."""
    if engineer_id is None:
        return []
    return (db.session.query(TrainingRecord)
            .filter(TrainingRecord.engineer_id == engineer_id, TrainingRecord.kind == "onboarding")
            .order_by(TrainingRecord.taken_on.desc(), TrainingRecord.id.desc())
            .all())


def _fact_columns(today):
    """Per-engineer aggregates of training records taken up to ``today`` (for ``RefresherFacts``)."""
    tr = TrainingRecord
    current = tr.taken_on <= today
    quarterly = tr.kind == "quarterly"
    return [
        func.max(case((and_(current, quarterly, tr.passed.is_(False)), tr.taken_on))),
        func.max(case((and_(current, quarterly, tr.passed.is_(True)), tr.taken_on))),
        func.max(case((and_(current, tr.kind.in_(("onboarding", "quarterly")), tr.passed.is_(True)),
                       tr.taken_on))),
    ]


def refresher_facts(engineer_id, today=None, exclude_record_id=None):
    """``RefresherFacts`` of one engineer from the stored records (one aggregate query)."""
    today = today or clock.today()
    query = select(*_fact_columns(today)).where(TrainingRecord.engineer_id == engineer_id)
    if exclude_record_id is not None:
        query = query.where(TrainingRecord.id != exclude_record_id)
    row = db.session.execute(query).one()
    return rules.RefresherFacts(*row)


def apply_refresher_to_record(record, today=None):
    """Saving a training record: a passed quarterly retake puts an engineer suspended for a
    refresher reason back on duty at once (the same ``refresher_verdict`` as the nightly job)."""
    engineer = record.engineer
    if engineer is None and record.engineer_id is not None:
        engineer = db.session.get(Engineer, record.engineer_id)
    if engineer is None or engineer.status != "suspended" or engineer.suspension_reason not in rules.REFRESHER_REASONS:
        return
    today = today or clock.today()
    if record.kind != "quarterly" or not record.passed or record.taken_on is None or record.taken_on > today:
        return
    facts = refresher_facts(engineer.id, today, exclude_record_id=record.id)
    facts = facts.with_record(record.kind, record.taken_on, record.passed)
    verdict = rules.refresher_verdict(engineer.status, engineer.suspension_reason, facts, engineer.hire_date,
                                      today, settings.get("training.refresher_grace_days"))
    if verdict is not None:
        engineer.status, engineer.suspension_reason = verdict


def enforce_refresher_training():
    """Nightly: suspend engineers on duty who failed their latest quarterly refresher or are
    overdue for one, and put back on duty those suspended for it who have since passed a retake.

    One grouped query reads the facts of every engineer concerned, one batched UPDATE writes the
    changes (guarded by the status read, so a concurrent edit wins); re-running changes nothing.
    Returns ``{"suspended_failed", "suspended_overdue", "reinstated"}`` counts.
    """
    today = clock.today()
    grace = settings.get("training.refresher_grace_days")
    concerned = or_(
        Engineer.status == "active",
        and_(Engineer.status == "suspended", Engineer.suspension_reason.in_(rules.REFRESHER_REASONS)),
    )
    query = (
        select(Engineer.id, Engineer.status, Engineer.suspension_reason, Engineer.hire_date, *_fact_columns(today))
        .select_from(Engineer)
        .outerjoin(TrainingRecord, TrainingRecord.engineer_id == Engineer.id)
        .where(concerned)
        .group_by(Engineer.id, Engineer.status, Engineer.suspension_reason, Engineer.hire_date)
    )
    counts = {"suspended_failed": 0, "suspended_overdue": 0, "reinstated": 0}
    changes = []
    with transaction() as session:
        for pk, status, reason, hire_date, failed_q, passed_q, passed in session.execute(query):
            facts = rules.RefresherFacts(failed_q, passed_q, passed)
            verdict = rules.refresher_verdict(status, reason, facts, hire_date, today, grace)
            if verdict is None or verdict == (status, reason):
                continue
            changes.append({"b_id": pk, "b_old_status": status, "b_status": verdict[0], "b_reason": verdict[1]})
        changed = 0
        if changes:
            table = Engineer.__table__
            stmt = (
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.status == bindparam("b_old_status"))
                .values(status=bindparam("b_status"), suspension_reason=bindparam("b_reason"),
                        updated_at=clock.now())
            )
            changed = session.connection().execute(stmt, changes).rowcount
        for change in changes:
            if change["b_status"] == "active":
                counts["reinstated"] += 1
            elif change["b_reason"] == "refresher_failed":
                counts["suspended_failed"] += 1
            else:
                counts["suspended_overdue"] += 1
    log.info("refresher training enforced: %s (%s rows written)", counts, changed)
    return counts
