"""Search filters of the complaint list that an agent works from: open, mine, due within the hour,
breached, waiting for a decision. Each is a yes/no search (``_flt_0_<name>=1`` in the list's
address), so a filtered list can be bookmarked and exported like any other."""
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, false, or_, select

from app.complaints.models import Escalation
from app.complaints.services import OPEN_STATES
from app.core import clock, scope
from app.core.views import FilterYesNo, yes_no_search

DUE_SOON_MINUTES = 60


def open_clause(model):
    return model.status.in_(OPEN_STATES)


def response_awaited(model):
    """Still waiting for the first response."""
    return and_(open_clause(model), model.first_response_at.is_(None))


def resolution_running(model):
    """The resolution clock runs: open and not paused."""
    return and_(open_clause(model), model.paused.is_(False))


class FilterOpen(FilterYesNo):
    """New, responded or in progress."""

    def clause(self):
        return open_clause(self.model)


class FilterMine(FilterYesNo):
    """The acting user is the complaint's first-contact owner."""

    def clause(self):
        user = scope.acting_user()
        if user is None:
            return false()
        return and_(self.model.owner_id.isnot(None), self.model.owner_id == user.id)


class FilterDueSoon(FilterYesNo):
    """Open, with the first response or the resolution due within the next hour and not yet
    breached (the due time still ahead, no breach recorded)."""

    def clause(self):
        m = self.model
        now = clock.now()
        soon = now + timedelta(minutes=DUE_SOON_MINUTES)
        response = and_(response_awaited(m), m.response_breached.is_(False), m.response_due_at.isnot(None),
                        m.response_due_at > now, m.response_due_at <= soon)
        resolution = and_(resolution_running(m), m.resolution_breached.is_(False),
                          m.resolution_due_at.isnot(None), m.resolution_due_at > now,
                          m.resolution_due_at <= soon)
        return or_(response, resolution)


class FilterBreached(FilterYesNo):
    """A breach recorded, or a due time passed while still awaited (before the periodic check
    records it: a breach is a fact of the times)."""

    def clause(self):
        m = self.model
        now = clock.now()
        return or_(
            m.response_breached.is_(True), m.resolution_breached.is_(True),
            and_(response_awaited(m), m.response_due_at.isnot(None), m.response_due_at < now),
            and_(resolution_running(m), m.resolution_due_at.isnot(None), m.resolution_due_at < now),
        )


class FilterAwaitingDecision(FilterYesNo):
    """An escalation of the complaint is pending a decision."""

    def clause(self):
        pending = select(Escalation.id).where(Escalation.complaint_id == self.model.id,
                                              Escalation.status == "pending")
        return pending.exists()


def searches():
    """``virtual_search`` entries of the complaint list."""
    return {
        "open": yes_no_search(FilterOpen, _l("Open (new, responded or in progress)")),
        "mine": yes_no_search(FilterMine, _l("Mine (I am the first-contact owner)")),
        "due_soon": yes_no_search(FilterDueSoon, _l("Due within the hour")),
        "breached": yes_no_search(FilterBreached, _l("SLA breached")),
        "awaiting_decision": yes_no_search(FilterAwaitingDecision, _l("Waiting for an escalation decision")),
    }


def quick_filters():
    return [
        (_l("Open"), {"_flt_0_open": 1}),
        (_l("Mine"), {"_flt_0_mine": 1}),
        (_l("Due within the hour"), {"_flt_0_due_soon": 1}),
        (_l("Breached and open"), {"_flt_0_breached": 1, "_flt_0_open": 1}),
        (_l("Paused"), {"_flt_0_paused": 1}),
        (_l("Waiting for a decision"), {"_flt_0_awaiting_decision": 1}),
    ]
