"""The test suite cleans up after itself: a test session (``tests/cleanup_probe.py``, run in a child
``pytest``) that starts workers, an SMTP sink and (without ``TEST_REDIS_URL``) its own Redis server,
queues jobs and writes files, leaves no process, no file, no Redis key and no database behind — and
does not touch this run's own keys in a Redis both share."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core import queue
from tests import conftest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# It checks the machine, not the database (and starts a whole second session): once per bin/test.
pytestmark = pytest.mark.once


def _marked(marker):
    """The processes whose environment carries ``marker`` (every process the child session started)."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get("SVC_CLEANUP_PROBE") == marker:
                found.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def test_a_test_run_leaves_no_process_file_redis_key_or_database(app):
    marker = uuid.uuid4().hex
    canary = f"{conftest.RUN_ID}:canary:{marker}"  # this run's: must survive the other run's clean-up
    connection = queue.connection(app)
    connection.set(canary, "1", ex=600)
    temp = tempfile.mkdtemp(prefix="probe-")  # the child's temporary folder: must end empty
    report = os.path.join(os.path.dirname(temp), f"probe-{marker}.json")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "APP_ENV", "SVC_TEST_RUN", "RQ_KEY_PREFIX")}
    env.update(TMPDIR=temp, SVC_CLEANUP_PROBE=marker, PROBE_REPORT=report)
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "tests/cleanup_probe.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
        with open(report) as fh:
            probe = json.load(fh)
        assert probe["run_id"] != conftest.RUN_ID and probe["run_dir"].startswith(temp)

        deadline = time.monotonic() + 10
        while _marked(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p.cmdline() for p in _marked(marker)], "processes left running"
        assert os.listdir(temp) == [], "files left behind"

        if os.environ.get("TEST_REDIS_URL"):  # the same Redis as this run
            assert list(connection.scan_iter(match=f"*{probe['run_id']}*")) == []
        else:  # its own Redis server: stopped (above), its socket gone
            assert probe["redis"].startswith("unix://") and not os.path.exists(probe["redis"][len("unix://"):])
        assert connection.get(canary) == b"1"

        if probe["backend"] == "postgresql":
            admin = create_engine(make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(database="postgres"))
            with admin.connect() as conn:
                left = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                    {"name": probe["database"]}).first()
            admin.dispose()
            assert left is None, "its database was not dropped"
    finally:
        connection.delete(canary)
        shutil.rmtree(temp, ignore_errors=True)
        if os.path.exists(report):
            os.remove(report)
        for process in _marked(marker):  # never leave this test's own mess either
            process.kill()
