"""A database of its own for one bench run: a temporary SQLite file, or — when ``DATABASE_URL``
points at PostgreSQL — a new database next to it, dropped when the run ends."""
import os
import tempfile
import uuid


def create(prefix):
    """``(url, created)``: the scratch database's URL, and what ``drop`` needs (None for SQLite)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return "sqlite:///" + os.path.join(tempfile.mkdtemp(prefix=f"{prefix}-"), "bench.sqlite"), None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{prefix.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return parsed.set(database=name).render_as_string(hide_password=False), (admin, name)


def drop(created):
    if not created:
        return
    from sqlalchemy import text

    admin, name = created
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
