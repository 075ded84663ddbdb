"""A real rq worker for tests: ``burst(app, queue_name)`` runs ``rq worker --burst`` with the app's
worker class on that queue in a child process, against the test database and Redis."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def burst(app, queue_name, timeout=120):
    """Run every job queued on ``queue_name`` in a real worker process; fails the test if it fails."""
    from app.core import queue

    redis_url = queue.redis_url(app)
    env = dict(os.environ, APP_ENV="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=redis_url, UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"])
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "rq"), "worker", "--burst", "--worker-class",
         "app.core.queue.AppWorker", "--url", redis_url, queue_name],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return result
