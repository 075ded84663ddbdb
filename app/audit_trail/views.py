"""What auditors see: the event list (filters, security events, exports), one event's page, and
the history section every record's page shows to those who may read the trail."""
from datetime import datetime, timedelta

from flask import current_app, g, stream_with_context
from flask_appbuilder import expose
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import String, and_, cast, false, func, inspect as sa_inspect, not_, or_, select
from wtforms import StringField
from wtforms.validators import Optional

from app.audit_trail import capture, present
from app.audit_trail.enums import ACTOR_KIND, AUDIT_ACTION, JOB_LABELS, SECURITY_ACTIONS
from app.audit_trail.models import AuditEvent
from app.core import clock, exports
from app.core.views import (SEARCH_FIELD_CANDIDATES, VIEW_METHOD_PERMISSIONS, BaseModelView, FilterYesNo,
                            VirtualSearch, related_search, scoped, yes_no_search)
from app.extensions import db
from app.network.models import Region
from app.security import permissions as p

HISTORY_LIMIT = 200
EXPORT_BATCH = 500


# --- filters -----------------------------------------------------------------------------------

def _first(value):
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return (str(value).strip() if value is not None else "") or None


def parse_local(value):
    """A time typed in the business time zone (``2026-03-01``, ``2026-03-01 14:30``,
    ``2026-03-01T14:30:15``) as naive UTC; ``None`` when it is not one."""
    text = _first(value)
    if text is None:
        return None
    text = text.replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return clock.to_utc(datetime.strptime(text, fmt))
        except ValueError:
            continue
    return None


class FilterAtFrom(BaseFilter):
    """Events at or after a local time (a date means its first minute)."""

    name = _l("From")
    arg_name = None

    def apply(self, query, value):
        moment = parse_local(value)
        return query if moment is None else query.filter(AuditEvent.at >= moment)


class FilterAtUntil(BaseFilter):
    """Events before a local time; a date alone includes that whole day."""

    name = _l("Until")
    arg_name = None

    def apply(self, query, value):
        moment = parse_local(value)
        if moment is None:
            return query
        if len(_first(value)) <= 10:
            moment += timedelta(days=1)
        return query.filter(AuditEvent.at < moment)


class FilterSecurityEvent(FilterYesNo):
    def clause(self):
        return AuditEvent.action.in_(SECURITY_ACTIONS)


def _time_field():
    return StringField(_l("Time"), validators=[Optional()], widget=BS3TextFieldWidget(),
                       description=_l("Local time, e.g. 2026-03-01 or 2026-03-01 14:30"))


def _time_cell(value):
    """The event's local time, seconds included, on one line."""
    text = present.local_time(value)
    return Markup('<span class="text-nowrap">{}</span>').format(text) if text else ""


def _text_field(label, description):
    return lambda: StringField(label, validators=[Optional()], widget=BS3TextFieldWidget(), description=description)


# Who acted: a user by name or account, a background job or the system by what the trail calls them.

def who_clause(term, exact=False):
    """Events whose actor matches ``term``: a user whose name (either order) or account matches,
    the stored actor name, background jobs by their label, the system, anonymous visitors and
    command-line runs by their kind's label."""
    user = current_app.appbuilder.sm.user_model

    def match(column):
        return func.lower(column) == term.lower() if exact else column.icontains(term, autoescape=True)

    names = [user.username, user.first_name, user.last_name, user.last_name + user.first_name,
             user.first_name + " " + user.last_name]
    users = select(user.id).where(or_(*[match(column) for column in names]))
    clauses = [match(AuditEvent.actor_name), and_(AuditEvent.actor_kind == "user", AuditEvent.actor_id.in_(users))]
    needle = term.lower()

    def hit(label):
        label = str(label).lower()
        return label == needle if exact else needle in label

    jobs = ["job:" + name for name, label in JOB_LABELS.items()
            if hit(label) or hit(f"{ACTOR_KIND.label('job')}: {label}")]
    if jobs:
        clauses.append(AuditEvent.actor_name.in_(jobs))
    clauses += [AuditEvent.actor_kind == kind for kind in ("system", "anonymous", "job", "cli")
                if hit(ACTOR_KIND.label(kind))]
    return or_(*clauses)


class FilterWhoContains(BaseFilter):
    name = _l("Contains")
    arg_name = None

    def apply(self, query, value):
        term = _first(value)
        return query if term is None else query.filter(who_clause(term[:150]))


class FilterWhoIs(BaseFilter):
    name = _l("Equal to")
    arg_name = None

    def apply(self, query, value):
        term = _first(value)
        return query if term is None else query.filter(who_clause(term[:150], exact=True))


# Which record: events about the records a condition selects, and about the rows that belong to
# them (deleted with them: a complaint's timeline, pauses and escalations, an audit's checklist,
# an engineer's certificates and training).

def _parts(table):
    """``[(table, model, foreign key column)]`` of the rows deleted with a row of ``table``."""
    if table not in _PARTS:
        _PARTS[table] = [(child_table, child, column) for child_table, child in present._models_by_table().items()
                         for column in child.__table__.columns
                         if child_table != table and any(fk.column.table.name == table and fk.ondelete == "CASCADE"
                                                         for fk in column.foreign_keys)]
    return _PARTS[table]


_PARTS = {}


def records_clause(condition_for):
    """Events about the rows for which ``condition_for(model)`` holds (``None``: not that model)
    and about the rows belonging to them: one subquery per table, no ids read into Python."""
    parts = []
    for table, model in present._models_by_table().items():
        if table in capture.NOT_AUDITED:
            continue
        condition = condition_for(model)
        if condition is None:
            continue
        pk = model.__mapper__.primary_key[0]
        parts.append(and_(AuditEvent.entity == table,
                          AuditEvent.record_id.in_(select(cast(pk, String)).where(condition))))
        for child_table, child, fk in _parts(table):
            child_pk = child.__mapper__.primary_key[0]
            parts.append(and_(AuditEvent.entity == child_table, AuditEvent.record_id.in_(
                select(cast(child_pk, String)).where(fk.in_(select(pk).where(condition))))))
    return or_(*parts) if parts else false()


def _number_condition(term):
    def condition(model):
        columns = [model.__table__.c[name] for name in SEARCH_FIELD_CANDIDATES if name in model.__table__.c]
        return or_(*[column.icontains(term, autoescape=True) for column in columns]) if columns else None

    return condition


class FilterRecordNumber(BaseFilter):
    """Events about the records whose number, code, employee number, SKU, name or account contains
    the text typed (and about the rows belonging to them)."""

    name = _l("Contains")
    arg_name = None

    def apply(self, query, value):
        term = _first(value)
        return query if term is None else query.filter(records_clause(_number_condition(term[:100])))


def _int(value):
    try:
        return int(_first(value))
    except (TypeError, ValueError):
        return None


class FilterEventRegion(BaseFilter):
    """Events about the records of one region, by each model's own region rule (the one the region
    scope uses), and about the rows belonging to them."""

    name = _l("Is")
    arg_name = None

    def apply(self, query, value):
        region_id = _int(value)
        if region_id is None:
            return query

        def condition(model):
            rule = getattr(model, "region_scope_clause", None)
            return rule([region_id]) if rule is not None else None

        return query.filter(records_clause(condition))


def bookkeeping_only():
    """Events recorded before bookkeeping columns were left out (``capture.BOOKKEEPING``) whose
    only change is one of them. The stored JSON is canonical (keys sorted, no spaces), so such an
    event's changes read exactly ``{"<column>":[…,…]}``: a second key would follow ``],"``."""
    parts = [and_(AuditEvent.entity == table, AuditEvent.action.in_(("update", "bulk_update")),
                  AuditEvent.changes.like('{"' + name + '":[%]}'), not_(AuditEvent.changes.like('%],"%')))
             for table, names in sorted(capture.BOOKKEEPING.items()) for name in sorted(names)]
    return or_(*parts) if parts else false()


class FilterNoBookkeeping(BaseFilter):
    """Leaves out the events that only recorded bookkeeping (``bookkeeping_only``)."""

    name = "no bookkeeping"
    arg_name = None

    def apply(self, query, value):
        return query.filter(not_(bookkeeping_only()))


# --- export ------------------------------------------------------------------------------------
# The streams, the formula neutralisation and the download response are the shared ones
# (``core.exports``); the trail writes one line per changed field. The CSV is streamed in the
# response, the workbook written by a background job (``reports.exports``) like every list's.
#
# Events are read in keyset batches of ``EXPORT_BATCH`` by id as plain rows (no ORM objects, so
# nothing piles up in a session however long the trail), each batch on the session current when
# it is read: a streamed response outlives the request's own session.

EXPORT_KINDS = [exports.INTEGER, exports.DATETIME_SECONDS]  # the event id and its time; then text


def export_header():
    return [gettext("Event id"), gettext("Time (Asia/Shanghai)"), gettext("Actor"), gettext("Action"),
            gettext("Entity"), gettext("Record"), gettext("Field"), gettext("Before"), gettext("After"),
            gettext("Request id"), gettext("Client address"), gettext("Hash")]


def event_lines(event):
    """The export's rows of one event (a row with the trail's columns): one per changed field, the
    time local; the writers neutralise formulas (``core.exports``)."""
    at = clock.to_local(event.at).replace(tzinfo=None) if event.at else None
    head = [at, present.who(event), present.action_label(event.action), present.entity_label(event.entity),
            present.record_text(event)]
    tail = [event.request_id, event.client_addr, event.hash]
    return [[event.id] + head + [label, before, after] + tail
            for _code, label, before, after in present.lines(event) or [("", "", "", "")]]


def event_batches(make_query, size=None):
    """Lists of the selected events as plain rows, oldest first, ``size`` at a time (keyset paging
    on the id). ``make_query()`` gives the filtered ORM query; it is called per batch so each batch
    runs on the session of the moment."""
    columns = list(AuditEvent.__table__.columns)
    last = 0
    while True:
        batch = (make_query().with_entities(*columns).filter(AuditEvent.id > last)
                 .order_by(None).order_by(AuditEvent.id).limit(size or EXPORT_BATCH).all())
        if not batch:
            return
        yield batch
        last = batch[-1].id


class AuditExport(exports.ListExport):
    """The filtered trail as the export's header and rows: the list's filters (``_flt_*`` query
    arguments, the virtual time and security filters included) and scope, events oldest first,
    one line per changed field. Used by the streamed CSV and the background workbook alike."""

    def _columns(self):
        return []

    def _order(self, args):
        return None

    def header(self):
        return export_header()

    def kinds(self):
        return EXPORT_KINDS

    def sheet_title(self):
        return gettext("Audit events")

    def filename(self, ext):
        return exports.export_filename("audit-events", ext)

    def row_batches(self):
        for batch in event_batches(self.query):
            present.prepare(batch)  # the related records of the whole batch, one query per table
            rows = []
            for event in batch:
                rows.extend(event_lines(event))
            yield rows

    @staticmethod
    def progress_of(rows):
        """Events in a batch of rows (progress counts events, like ``count``)."""
        return len({row[0] for row in rows})


# --- pages -------------------------------------------------------------------------------------

class AuditEventView(BaseModelView):
    """Every recorded change and security event, newest first; read-only."""

    class_permission_name = p.AUDIT_EVENT
    datamodel = scoped(AuditEvent)
    base_permissions = [p.READ]
    include_route_methods = {"list", "show", "export_csv", "export_xlsx", "verify", "related_search"}
    list_export_class = AuditExport  # the background workbook's rows (``reports.exports``)  # no add, edit, delete, actions
    method_permission_name = {**VIEW_METHOD_PERMISSIONS, "export_csv": "read", "export_xlsx": "read",
                              "verify": "read"}
    singular = _l("audit event")
    list_title = _l("Audit trail")
    list_template = "audit_trail/event_list.html"
    show_template = "audit_trail/event_show.html"
    list_columns = ["at", "actor", "action", "entity", "record", "summary"]
    computed_columns = ("actor", "record", "summary")
    wrap_columns = ["summary"]
    show_columns = ["id", "at", "actor", "actor_kind", "action", "entity", "record", "request_id", "client_addr",
                    "prev_hash", "hash"]
    search_columns = ["record_number", "actor_name", "at", "region", "entity", "action", "security", "record_id"]
    virtual_search = {
        "record_number": VirtualSearch(_l("Record number or name"), [FilterRecordNumber], make_field=_text_field(
            _l("Record number or name"),
            _l("A complaint, order or audit number, an outlet code, an employee number, a part number or a name"))),
        "at": VirtualSearch(_l("Time"), [FilterAtFrom, FilterAtUntil], make_field=_time_field),
        "region": related_search(Region, FilterEventRegion, _l("Region")),
        "security": yes_no_search(FilterSecurityEvent, _l("Security event")),
    }
    who_filters = {"actor_name": [FilterWhoContains, FilterWhoIs]}
    """Who acted, by name or account; the second (``_flt_1_actor_name``) is an exact match."""
    base_filters = [["changes", FilterNoBookkeeping, None]]
    enum_columns = {"action": AUDIT_ACTION, "entity": present.ENTITY, "actor_kind": ACTOR_KIND}
    formatters_columns = {"at": _time_cell}
    base_order = ("id", "desc")
    order_columns = ["at", "action", "entity"]
    quick_filters = [
        (_l("Security events"), {"_flt_0_security": 1}),
        (_l("Failed sign-ins"), {"_flt_0_action": "login_failed"}),
        (_l("Permission denied"), {"_flt_0_action": "permission_denied"}),
        (_l("Deletions"), {"_flt_0_action": "delete"}),
    ]
    label_columns = {
        "id": _l("Event id"), "at": _l("Time"), "actor_kind": _l("Actor kind"), "actor_name": _l("Who"),
        "actor": _l("Who"), "action": _l("Action"), "entity": _l("Entity"), "record_id": _l("Record id"),
        "record": _l("Record"), "request_id": _l("Request id"), "client_addr": _l("Client address"),
        "prev_hash": _l("Previous hash"), "hash": _l("Hash"), "summary": _l("Changes"),
    }

    def _column_filters(self):
        return {**super()._column_filters(), **self.who_filters}

    def computed_values(self, items):
        present.prepare(items)  # every related record of the page: one query per table
        return {item.id: {"actor": present.who(item), "record": present.record_text(item, html=True),
                          "summary": present.summary(item, html=True)} for item in items}

    def show_extras(self, item):
        present.prepare([item])
        return {"event": item, "event_lines": present.lines(item, html=True),
                "event_is_change": item.action in present.ROW_ACTIONS}

    @expose("/verify", methods=["POST"])
    @has_access
    def verify(self):
        """Recompute every hash and link of the trail and say whether anything was edited. A POST:
        the run is itself recorded in the trail (``verify_and_record``)."""
        from flask import flash, redirect, url_for

        from app.audit_trail.web import verify_and_record
        from app.core.web import csrf_ok

        if not csrf_ok():
            return redirect(url_for("AuditEventView.list"))
        result = verify_and_record()
        if result["ok"]:
            flash(gettext("The audit trail is intact: %(n)s events checked, every hash and link verified.",
                          n=result["checked"]), "success")
        else:
            flash(gettext("The audit trail was altered: the chain breaks at event %(id)s.",
                          id=result["first_broken_id"]), "danger")
        return redirect(url_for("AuditEventView.list"))

    @expose("/export.csv")
    @has_access
    def export_csv(self):
        """The filtered events as CSV (UTF-8 with a BOM, so Excel reads the Chinese right), streamed:
        every selected event, read in batches. The workbook (``export_xlsx``, a POST) is written by a
        background job and downloaded under My jobs, as for every list."""
        from flask import flash, redirect, request, url_for

        export = AuditExport(self, request.args)
        try:
            export.probe()  # a filter value the database refuses: say so before streaming
        except Exception:
            db.session.rollback()
            flash(gettext("These filters cannot be applied; please check their values."), "danger")
            return redirect(url_for("AuditEventView.list"))
        body = exports.csv_stream(export.header(), export.rows(), EXPORT_BATCH)
        return exports.attachment(stream_with_context(body), exports.CSV_MIMETYPE, export.filename("csv"))


# --- the history section of every record's page -------------------------------------------------

def may_read_trail():
    """Asked per request (never frozen into a template): may the current user read the trail?"""
    cache = g.get("_audit_trail_access")
    if cache is None:
        cache = bool(current_app.appbuilder.sm.has_access(p.READ, p.AUDIT_EVENT))
        g._audit_trail_access = cache
    return cache


def record_id(item):
    identity = sa_inspect(item).identity or ()
    return ",".join(str(v) for v in identity) if identity else None


def history_section(view, item):
    """Template variables for ``pages/show.html``: the record's events, newest first, in one
    query; nothing for users who may not read the trail."""
    from app.audit_trail.capture import NOT_AUDITED

    table = getattr(view.datamodel.obj, "__tablename__", None)
    rid = record_id(item)
    if table is None or table in NOT_AUDITED or rid is None or not may_read_trail():
        return {}
    events = (db.session.query(AuditEvent)
              .filter(AuditEvent.entity == table, AuditEvent.record_id == rid, not_(bookkeeping_only()))
              .order_by(AuditEvent.id.desc()).limit(HISTORY_LIMIT + 1).all())
    present.prepare(events[:HISTORY_LIMIT])
    rows = []
    for event in events[:HISTORY_LIMIT]:
        changes = present.lines(event, html=True) or [("", "", "", "")]
        for index, (code, label, before, after) in enumerate(changes):
            rows.append({"event": event, "first": index == 0, "span": len(changes), "time": present.local_time(event.at),
                         "who": present.who(event), "action": present.action_label(event.action), "field": label,
                         "code": code, "before": before, "after": after})
    return {"record_history": rows, "record_history_more": len(events) > HISTORY_LIMIT,
            "record_history_limit": HISTORY_LIMIT, "record_history_entity": table, "record_history_id": rid}
