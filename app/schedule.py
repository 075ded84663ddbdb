"""The one declared schedule of periodic jobs, read by rq's cron scheduler (cron strings are UTC).

Run exactly one ``python -m app.cron`` process per deployment (``app/cron.py``). Every periodic job goes on the
housekeeping queue (``RQ_HOUSEKEEPING_QUEUE``): the least urgent, after the emails and the users'
imports and exports, and served by the express worker too (``core.queue.worker_queues``) so that
the SLA sweep never waits behind a long import.
"""
from rq import cron

import config
from app import jobs
from app.reports.job_control import reap_abandoned_jobs

SCHEDULE = [
    # (job, cron in UTC, what it does)
    (jobs.refresh_certification_statuses, "5 16 * * *", "00:05 Asia/Shanghai: certification statuses"),
    (jobs.enforce_refresher_training, "15 16 * * *", "00:15 Asia/Shanghai: quarterly refresher suspensions"),
    (jobs.recompute_star_levels, "20 16 * * *", "00:20 Asia/Shanghai: engineers' star levels"),
    (jobs.check_outlet_qualification, "30 16 * * *",
     "00:30 Asia/Shanghai: flag outlets below a qualification threshold, open special audits"),
    (jobs.open_annual_audits, "40 16 * * *", "00:40 Asia/Shanghai: open annual audits 30 days before due"),
    (jobs.sla_sweep, "* * * * *", "every minute: complaint SLA warnings, breaches, escalations"),
    (jobs.flush_outbox, "* * * * *", "every minute: re-queue emails left unsent for a minute"),
    (jobs.send_certificate_reminders, "30 0 * * *", "08:30 Asia/Shanghai: certificate expiry reminders"),
    (jobs.clean_up_job_files, "50 16 * * *",
     "00:50 Asia/Shanghai: delete import/export files older than the retention, cancel unconfirmed imports"),
    (reap_abandoned_jobs, "* * * * *",
     "every minute: mark failed the users' jobs whose worker died (My jobs offers a retry)"),
]

HOUSEKEEPING_QUEUE = config.load()["RQ_HOUSEKEEPING_QUEUE"]

for func, spec, _purpose in SCHEDULE:
    cron.register(func, queue_name=HOUSEKEEPING_QUEUE, cron=spec)
