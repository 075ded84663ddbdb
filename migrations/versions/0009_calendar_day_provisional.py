"""calendar days: provisional (a forecast year not yet published, until an HQ admin confirms it)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:40:00.000000

"""
from datetime import date

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# The first year without a published arrangement when this revision was written.
FIRST_FORECAST_YEAR = 2027


def _seeded_forecast(years):
    """(day, kind, name) of the rows the earlier reference loader wrote for ``years`` from the
    ``holidays`` package: forecasts, unless an HQ admin has changed them since."""
    try:
        import holidays
    except ImportError:
        return set()
    cn = holidays.China(years=sorted(years), language="zh_CN")
    rows = {(d, "holiday", str(name)[:100]) for d, name in cn.items()}
    rows |= {(d, "workday", "调休上班") for d in getattr(cn, "weekend_workdays", ()) if d.year in years}
    return rows


def upgrade():
    with op.batch_alter_table('calendar_day', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provisional', sa.Boolean(), nullable=False, server_default=sa.false()))

    # Days of the default calendar already loaded for a year not yet published came from the
    # package's forecast: provisional, unless an HQ admin changed or added them (kept confirmed).
    calendar_day = sa.table('calendar_day', sa.column('id', sa.Integer), sa.column('calendar_id', sa.Integer),
                            sa.column('day', sa.Date), sa.column('kind', sa.String),
                            sa.column('name', sa.String), sa.column('provisional', sa.Boolean))
    business_calendar = sa.table('business_calendar', sa.column('id', sa.Integer), sa.column('region_id', sa.Integer))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(calendar_day.c.id, calendar_day.c.day, calendar_day.c.kind, calendar_day.c.name)
        .where(calendar_day.c.day >= date(FIRST_FORECAST_YEAR, 1, 1),
               calendar_day.c.calendar_id.in_(sa.select(business_calendar.c.id)
                                              .where(business_calendar.c.region_id.is_(None))))).all()
    if not rows:
        return
    seeded = _seeded_forecast({day.year for _id, day, _kind, _name in rows})
    ids = [id_ for id_, day, kind, name in rows if (day, kind, name) in seeded]
    if ids:
        conn.execute(calendar_day.update().where(calendar_day.c.id.in_(ids)).values(provisional=True))


def downgrade():
    with op.batch_alter_table('calendar_day', schema=None) as batch_op:
        batch_op.drop_column('provisional')
