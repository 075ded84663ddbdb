"""Engineer lifecycle: status moves, the onboarding gate, the quarterly refresher.

The rules themselves are in ``engineers.rules`` (the status table ``STATUS_TRANSITIONS`` and
its conditions, ``onboarding_unmet``, ``refresher_verdict``); this module gathers the facts they
need and applies their verdicts. Every change of an engineer's status goes through
``rules.status_refusal``: ``check_status_change`` for pages, the API and imports (an entity rule,
``engineers.services``), ``apply_refresher_to_record`` when a retake is saved, and
``enforce_refresher_training`` for the nightly job.
"""
import logging
from datetime import date

from sqlalchemy import and_, bindparam, case, func, inspect, or_, select, update

from app.core import clock, scope, settings
from app.core.errors import Conflict
from app.core.services import transaction
from app.engineers import rules
from app.engineers.enums import ENGINEER_STATUS
from app.engineers.models import Engineer, TrainingRecord
from app.extensions import db

log = logging.getLogger(__name__)


def onboarding_records(engineer):
    """An engineer's onboarding training records, most recent first — the stored ones and any
    written in this unit of work (an import row bringing one with a new engineer)."""
    if engineer is None:
        return []
    records = [r for r in engineer.training_records if r.kind == "onboarding"]
    return sorted(records, key=lambda r: (r.taken_on or date.min, r.id if r.id is not None else float("inf")),
                  reverse=True)


# --- status moves ----------------------------------------------------------------------------------

def stored_status(engineer):
    """``(status, suspension_reason)`` as stored before this change — ``None`` status for a new
    engineer. Row-locked on PostgreSQL, so two concurrent changes are judged one after the other."""
    state = inspect(engineer)
    if state.transient or state.pending or engineer.id is None:
        return None, None
    row = (db.session.query(Engineer.status, Engineer.suspension_reason)
           .filter(Engineer.id == engineer.id).with_for_update().one_or_none())
    return (row[0], row[1]) if row is not None else (None, None)


def _retake_passed(engineer, reason, today=None):
    """The refresher rule would put this engineer, suspended for ``reason``, back on duty today."""
    if engineer.id is None:
        return False
    today = today or clock.today()
    facts = refresher_facts(engineer.id, today)
    verdict = rules.refresher_verdict("suspended", reason, facts, engineer.hire_date, today,
                                      settings.get("training.refresher_grace_days"))
    return verdict == ("active", None)


def check_status_change(engineer, actor=None):
    """The status table for a change written by a person (pages, the API, imports): raise a
    ``Conflict`` naming the current status and each unmet condition when the move is not allowed.

    A new engineer moves from ``trainee``. A suspension made here is one by hand (reason
    ``other``); the suspension reason follows the status (cleared off ``suspended``).
    """
    target = engineer.status or rules.NEW_ENGINEER_STATUS
    if target not in ENGINEER_STATUS:
        return  # not a status at all: the column rule refuses it (422)
    stored, stored_reason = stored_status(engineer)
    current = stored or rules.NEW_ENGINEER_STATUS
    if target == current:
        if target != "suspended":
            engineer.suspension_reason = None
        return
    actor = scope.acting_user() if actor is None else actor
    if target == "suspended":
        reason = engineer.suspension_reason if engineer.suspension_reason in rules.REFRESHER_REASONS else "other"
    else:
        reason = stored_reason
    facts = rules.StatusFacts(
        reason=reason,
        by_hq_admin=rules.holds_hq_role(actor),
        onboarding_unmet=lambda: rules.onboarding_unmet(onboarding_records(engineer)),
        retake_passed=lambda: _retake_passed(engineer, stored_reason),
    )
    refusal = rules.status_refusal(current, target, facts)
    if refusal is not None:
        raise Conflict(*refusal)
    engineer.status = target
    engineer.suspension_reason = reason if target == "suspended" else None


def _moved_by_refresher_rule(status, reason, verdict):
    """Whether the status table lets the refresher rule make ``verdict`` (``(status, reason)``) of
    an engineer now ``status`` (suspended for ``reason``): its verdict is the retake condition."""
    target, new_reason = verdict
    facts = rules.StatusFacts(reason=new_reason if target == "suspended" else reason, by_refresher_rule=True,
                              retake_passed=lambda: target == "active")
    refusal = rules.status_refusal(status, target, facts)
    if refusal is not None:
        log.warning("refresher verdict %s refused for status %s: %s", verdict, status, refusal[1])
    return refusal is None


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
    if verdict is not None and _moved_by_refresher_rule(engineer.status, engineer.suspension_reason, verdict):
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
            if verdict is None or verdict == (status, reason) or not _moved_by_refresher_rule(status, reason, verdict):
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
