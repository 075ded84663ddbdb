"""A real rq worker for tests, with the app's worker class, against the test database and Redis:

* ``burst(app, queue_name, **env)`` runs ``rq worker --burst`` on that queue in a child process
  until the queue is empty (fails the test if the worker fails);
* ``running(app, queue_name, **env)`` keeps a worker process serving the queue for the length of
  a ``with`` block (for a browser test that waits for its jobs).

``env`` adds settings for the child, e.g. ``MAIL_SERVER``/``MAIL_PORT`` of an SMTP sink.
"""
import os
import subprocess
import sys
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _command(app, queue_name, burst_mode, extra):
    from app.core import queue

    redis_url = queue.redis_url(app)
    env = dict(os.environ, APP_ENV="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=redis_url, UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"],
               **{key: str(value) for key, value in extra.items()})
    command = [os.path.join(os.path.dirname(sys.executable), "rq"), "worker"] + (["--burst"] if burst_mode else [])
    command += ["--worker-class", "app.core.queue.AppWorker", "--url", redis_url, queue_name]
    return command, env


def burst(app, queue_name, timeout=120, **env):
    """Run every job queued on ``queue_name`` in a real worker process; fails the test if it fails."""
    command, env = _command(app, queue_name, True, env)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@contextmanager
def running(app, queue_name, **env):
    """A worker process serving ``queue_name`` until the block ends."""
    command, env = _command(app, queue_name, False, env)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
