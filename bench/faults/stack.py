"""The product as production runs it, against the run's own servers: ``flask db upgrade``,
``flask roles sync``, ``flask seed demo``, then gunicorn, rq workers (the app's ``AppWorker``, on
every queue the configuration declares) and one ``rq cron``; mail to the run's SMTP sink."""
import json
import os
import secrets
import subprocess
import sys
import time

import requests

from bench.faults.servers import free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
BIN = os.path.dirname(sys.executable)


def _bin(name):
    candidate = os.path.join(BIN, name)
    return candidate if os.path.exists(candidate) else name


class AppStack:
    def __init__(self, children, root, name, database_url, redis_url, mail_port, web_workers=2, rq_workers=2,
                 general_workers=1):
        self.children = children
        self.name = name
        self.upload = os.path.join(root, f"uploads-{name}")
        self.control_socket = os.path.join(root, f"gunicorn-{name}.ctl")  # not the shared ~/.gunicorn one
        self.redis_url = redis_url
        self.port = free_port()
        self.web_workers = web_workers
        self.rq_workers = rq_workers
        self.general_workers = general_workers
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DATABASE_", "REDIS_", "MAIL_", "RQ_", "TEST_", "RATELIMIT_"))}
        self.env.update({
            "APP_ENV": os.environ.get("FAULTS_APP_ENV", "production"),
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(mail_port),
            "UPLOAD_FOLDER": self.upload,
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        self.web = None
        self.cron = None
        self.workers = []
        self.worker_serial = 0
        self.queues = None
        self.kinds = None
        self.plan = []

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def flask(self, *args, timeout=900):
        self.children.run(f"{self.name}-flask-{args[0]}-{args[1] if len(args) > 1 else ''}".rstrip("-"),
                          [_bin("flask"), "--app", "wsgi"] + list(args), env=self.env, cwd=ROOT, timeout=timeout)

    def prepare(self, scale):
        os.makedirs(self.upload, exist_ok=True)
        self.flask("db", "upgrade", "heads")  # every head: the tree may hold migrations being merged
        self.flask("roles", "sync")
        self.flask("seed", "demo", "--scale", str(scale))

    def declared_queues(self):
        out = subprocess.run([sys.executable, "-m", "bench.faults.queues"], env=self.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"queue names not read:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def worker_plan(self):
        """The queue lists of the workers to start, most urgent queue first in each.

        When the app names kinds of worker (``worker_queues``), one of each kind, then more of the
        kind serving the most queues (the general one: users' imports and exports) until there are
        ``general_workers`` of it and ``rq_workers`` in all; else ``rq_workers`` workers on every
        declared queue. Any declared queue no worker serves gets a worker of its own."""
        declared = self.declared_queues()
        self.queues, self.kinds = declared["queues"], declared.get("workers") or None
        plan = []
        if self.kinds:
            general = max(self.kinds, key=lambda k: len(self.kinds[k]))
            plan = [(kind, names) for kind, names in self.kinds.items()]
            while (sum(1 for k, _ in plan if k == general) < self.general_workers
                   or len(plan) < self.rq_workers):
                plan.append((general, self.kinds[general]))
        else:
            plan = [("all", list(self.queues)) for _ in range(max(self.rq_workers, self.general_workers))]
        covered = {n for _, names in plan for n in names}
        missing = [n for n in self.queues if n not in covered]
        if missing:
            plan.append(("rest", missing))
        return plan

    def start(self):
        os.makedirs(self.upload, exist_ok=True)
        self.plan = self.worker_plan()
        self.web = self.children.start(f"{self.name}-gunicorn", [
            _bin("gunicorn"), "--workers", str(self.web_workers), "--bind", f"127.0.0.1:{self.port}",
            "--timeout", "120", "--graceful-timeout", "5", "--control-socket", self.control_socket,
            "--access-logfile", "-", "wsgi:app"],
            env=self.env, cwd=ROOT)
        for kind, names in self.plan:
            self.start_worker(kind, names)
        self.cron = self.children.start(f"{self.name}-rq-cron",
                                        [_bin("python"), "-m", "app.cron", "--url", self.redis_url],
                                        env=self.env, cwd=ROOT)
        self.wait_ready()

    def start_worker(self, kind, names):
        self.worker_serial += 1
        name = f"{self.name}-worker-{self.worker_serial}-{kind}"
        child = self.children.start(name, [
            _bin("rq"), "worker", "--worker-class", "app.core.queue.AppWorker", "--url", self.redis_url,
            "--name", f"faults-{name}-{secrets.token_hex(3)}"] + list(names), env=self.env, cwd=ROOT)
        child.kind, child.queues = kind, list(names)
        self.workers.append(child)
        return child

    def replace_worker(self, dead):
        """What a process supervisor does after a worker died: start one like it."""
        return self.start_worker(dead.kind, dead.queues)

    def live_workers(self):
        return [w for w in self.workers if w.running()]

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.web.running():
                raise RuntimeError(f"gunicorn exited:\n{self.web.log_tail()}")
            try:
                r = requests.get(self.base_url + "/login/", timeout=5)
                if r.status_code == 200:
                    break
                last = r.status_code
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.3)
        else:
            raise RuntimeError(f"the app did not answer within {timeout} s ({last}):\n{self.web.log_tail()}")
        # the workers have registered with Redis
        from redis import Redis
        from rq import Worker

        connection = Redis.from_url(self.redis_url)
        while time.monotonic() < deadline:
            if len(Worker.all(connection=connection)) >= len(self.live_workers()):
                connection.close()
                return
            time.sleep(0.3)
        raise RuntimeError("the rq workers did not register:\n" + "\n".join(w.log_tail(10) for w in self.workers))

    def stop(self):
        for child in [self.cron, self.web] + self.workers:
            if child is not None:
                child.stop()
