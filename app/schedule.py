"""The one declared schedule of periodic jobs, read by ``rq cron`` (cron strings are UTC).

Run exactly one ``rq cron app.schedule`` process per deployment.
"""
from rq import cron

from app import jobs

SCHEDULE = [
    # (job, cron in UTC, what it does)
    (jobs.refresh_certification_statuses, "5 16 * * *", "00:05 Asia/Shanghai: certification statuses"),
    (jobs.sla_sweep, "* * * * *", "every minute: complaint SLA warnings, breaches, escalations"),
    (jobs.flush_outbox, "*/5 * * * *", "every 5 minutes: re-queue emails left unsent"),
]

for func, spec, _purpose in SCHEDULE:
    cron.register(func, queue_name="default", cron=spec)
