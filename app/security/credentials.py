"""Sign-in state rules: credential versions (ending sessions and tokens) and account lockout.

* ``current_version(user_id)``: one primary-key read; sessions (``SESSION_KEY``) and JWTs (claim
  ``cv``) carry the version they were issued under and are refused once it moved on.
* Every write path is covered by one ORM hook (``install``): whenever a flush changes a user's
  password or turns ``active`` off, the version is bumped in the same transaction. Logging out
  bumps it too (``logged_out``).
* Lockout: ``security.lockout_failures`` consecutive failed logins lock the account for
  ``security.lockout_minutes``; both logins (page and API) refuse it meanwhile, and an admin may
  unlock it (``unlock``). Locks and unlocks are audit events (``account_locked``,
  ``account_unlocked``); every failure already is one (``login_failed``).
"""
from datetime import timedelta

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.core import clock, settings
from app.security.models import UserCredential

SESSION_KEY = "_cv"
CLAIM = "cv"


def _session():
    from app.extensions import db

    return db.session


def current_version(user_id):
    """The user's credential version (0 before anything bumped it)."""
    value = _session().query(UserCredential.version).filter(UserCredential.user_id == user_id).scalar()
    return value or 0


def _row(session, user_id):
    with session.no_autoflush:
        row = session.get(UserCredential, user_id)
    if row is None:
        row = UserCredential(user_id=user_id, version=0, failed_logins=0)
        session.add(row)
    return row


def _bump(session, user_id):
    row = _row(session, user_id)
    row.version = (row.version or 0) + 1
    return row.version


def logged_out(user_id):
    """A logout ends every session and token of the user (all devices)."""
    session = _session()
    _bump(session, user_id)
    session.commit()


# --- the ORM hook ------------------------------------------------------------------------------

def _user_class():
    from flask_appbuilder.security.sqla.models import User

    return User


def _before_flush(session, flush_context, instances):
    user_class = _user_class()
    for obj in list(session.dirty):
        if not isinstance(obj, user_class) or obj.id is None:
            continue
        state = inspect(obj)
        password = state.attrs.password.history
        active = state.attrs.active.history
        if password.has_changes() or (active.has_changes() and not obj.active):
            _bump(session, obj.id)


def install():
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


# --- lockout -----------------------------------------------------------------------------------

def locked_until(user_id):
    """When the user's lockout ends (naive UTC), or None when not locked."""
    until = _session().query(UserCredential.locked_until).filter(UserCredential.user_id == user_id).scalar()
    if until is not None and until > clock.now():
        return until
    return None


def login_failed(user):
    """Count one failed login; lock the account at the limit. Returns the lock's end when this
    failure locked it. Commits."""
    from app.audit_trail import capture

    session = _session()
    row = _row(session, user.id)
    if row.locked_until is not None and row.locked_until <= clock.now():
        row.locked_until = None  # an expired lock starts a new count
    row.failed_logins = (row.failed_logins or 0) + 1
    until = None
    limit = settings.get("security.lockout_failures")
    if row.failed_logins >= limit:
        until = clock.now() + timedelta(minutes=settings.get("security.lockout_minutes"))
        row.locked_until = until
        failures, row.failed_logins = row.failed_logins, 0
        capture.record("account_locked", "ab_user", user.id, {
            "username": user.username, "failures": failures, "until": until})
    session.commit()
    return until


def login_succeeded(user_id):
    session = _session()
    row = session.get(UserCredential, user_id)
    if row is not None and (row.failed_logins or row.locked_until is not None):
        row.failed_logins = 0
        row.locked_until = None
        session.commit()


def unlock(user):
    """Lift the user's lockout and forget their failed logins; records ``account_unlocked`` when
    the account was locked. Returns whether it was locked. The caller commits."""
    from app.audit_trail import capture

    session = _session()
    row = session.get(UserCredential, user.id)
    if row is None:
        return False
    was_locked = row.locked_until is not None and row.locked_until > clock.now()
    row.locked_until = None
    row.failed_logins = 0
    if was_locked:
        capture.record("account_unlocked", "ab_user", user.id, {"username": user.username})
    return was_locked
