"""``bin/run``'s local mail folder: with no MAIL_SERVER, the product's emails land in var/mail/."""
import smtplib
from email.message import EmailMessage

import pytest

from app import launcher


@pytest.fixture(autouse=True)
def _clean():
    """No business data here: replaces conftest's database clean-up for this module."""
    yield


def test_emails_without_a_mail_server_are_kept_as_files(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "VAR", str(tmp_path))
    env = {}
    sink = launcher._mail_sink(env)
    try:
        assert env["MAIL_SERVER"] == "127.0.0.1" and int(env["MAIL_PORT"]) > 0
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "noreply@example.com", "manager@example.com", "投诉升级"
        msg.set_content("请审批。")
        with smtplib.SMTP(env["MAIL_SERVER"], int(env["MAIL_PORT"])) as smtp:
            smtp.send_message(msg)
    finally:
        sink.stop()
    (kept,) = (tmp_path / "mail").iterdir()
    assert kept.suffix == ".eml"
    from email import message_from_bytes, policy

    stored = message_from_bytes(kept.read_bytes(), policy=policy.default)
    assert stored["Subject"] == "投诉升级" and stored.get_content().strip() == "请审批。"


def test_bin_run_starts_an_express_worker_and_a_general_one_most_urgent_queue_first():
    env = {"REDIS_URL": "unix:///tmp/redis.sock"}
    commands = launcher.worker_commands(env)
    assert set(commands) == {"worker-express", "worker"}
    for command in commands.values():
        assert command[1:6] == ["worker", "--worker-class", "app.core.queue.AppWorker", "--url", "unix:///tmp/redis.sock"]
    assert commands["worker-express"][6:] == ["notify", "housekeeping"]  # never a user's import
    assert commands["worker"][6:] == ["notify", "default", "housekeeping"]
    # more general workers; queue names from the environment
    env.update(RQ_QUEUE="imports", RQ_NOTIFY_QUEUE="mail")
    commands = launcher.worker_commands(env, general=2)
    assert commands["worker"][6:] == commands["worker-2"][6:] == ["mail", "imports", "housekeeping"]
    assert commands["worker-express"][6:] == ["mail", "housekeeping"]
