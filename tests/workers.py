"""Real rq workers for tests, with the app's worker class, against the test database and Redis:

* ``burst(app, queue_name, **env)`` runs ``rq worker --burst`` in a child process until its queues
  are empty (fails the test if the worker fails);
* ``running(app, queue_name, **env)`` keeps a worker process serving them for the length of a
  ``with`` block (for a test that waits for its jobs, or kills the worker).

A worker listens as production's general worker does, most urgent first: the app's notification
queue, then ``queue_name`` and the app's user-job queue, then its housekeeping queue (each test
has queues of its own, ``tests/conftest.py``). ``env`` adds settings for the child, e.g.
``MAIL_SERVER``/``MAIL_PORT`` of an SMTP sink. Every worker started here is stopped at the end of
its block, or at the end of the run at the latest (``stop_all``), and the queues it served are
emptied at the end of the test (``drop_queues``).
"""
import os
import subprocess
import sys
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_started = []
"""Worker processes started by ``running`` and not yet reaped."""
_used_queues = set()
"""Queue names given to ``burst``/``running`` since the last ``drop_queues``."""


def queues_for(app, queue_name=None):
    """The queues a test worker listens to, most urgent first."""
    from app.core import queue

    names = queue.queue_names(app)
    if queue_name and queue_name not in names:
        names.insert(1, queue_name)
    return names


def _command(app, queue_name, burst_mode, extra, options=(), queues=None):
    from app.core import queue

    redis_url = queue.redis_url(app)
    settings = {"RQ_NOTIFY_QUEUE": app.config["RQ_NOTIFY_QUEUE"], "RQ_QUEUE": app.config["RQ_QUEUE"],
                "RQ_HOUSEKEEPING_QUEUE": app.config["RQ_HOUSEKEEPING_QUEUE"]}
    env = dict(os.environ, APP_ENV="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=redis_url, UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"])
    env.update(settings)
    env.update({key: str(value) for key, value in extra.items()})
    names = list(queues) if queues else queues_for(app, queue_name)
    _used_queues.update(names)
    command = [os.path.join(os.path.dirname(sys.executable), "rq"), "worker"] + (["--burst"] if burst_mode else [])
    command += ["--worker-class", "app.core.queue.AppWorker", "--url", redis_url, *options, *names]
    return command, env


def burst(app, queue_name=None, timeout=120, **env):
    """Run every job queued on the test's queues (and ``queue_name``) in a real worker process;
    fails the test if it fails."""
    command, env = _command(app, queue_name, True, env)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def _stop(process, timeout=20):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    if process in _started:
        _started.remove(process)


@contextmanager
def running(app, queue_name=None, options=(), queues=None, **env):
    """A worker process serving the test's queues (and ``queue_name``) until the block ends.
    ``options``: extra ``rq worker`` options; ``queues``: exactly these queues, in this order."""
    command, env = _command(app, queue_name, False, env, options, queues)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _started.append(process)
    try:
        yield process
    finally:
        _stop(process)
        if process.stderr:
            process.stderr.close()


def stop_all():
    """Stop every worker a test left running (the end of the run)."""
    for process in list(_started):
        _stop(process, timeout=10)


def drop_queues(connection, names=()):
    """Delete the queues ``names`` and those the workers of this test served: their waiting jobs,
    their registries (started, finished, failed, deferred, scheduled, cancelled) and those jobs."""
    from rq import Queue
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.registry import (CanceledJobRegistry, DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry,
                             ScheduledJobRegistry, StartedJobRegistry)

    names = set(names) | _used_queues
    _used_queues.clear()
    kinds = (StartedJobRegistry, FinishedJobRegistry, FailedJobRegistry, DeferredJobRegistry, ScheduledJobRegistry,
             CanceledJobRegistry)
    for name in sorted(names):
        q = Queue(name, connection=connection)
        registries = [kind(name, connection=connection) for kind in kinds]
        with connection.pipeline() as pipe:
            pipe.exists(q.key, *[r.key for r in registries])
            (present,) = pipe.execute()
        if not present:
            continue
        for registry in registries:
            for job_id in registry.get_job_ids(cleanup=False):
                try:
                    Job.fetch(job_id, connection=connection).delete(remove_from_queue=False)
                except NoSuchJobError:
                    pass
            connection.delete(registry.key)
        q.delete(delete_jobs=True)
