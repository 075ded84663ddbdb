"""Configuration layers and their refusals."""
import pytest

import config
from config import ConfigError


def test_env_vars_override_the_layer(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/svc")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/2")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("MAIL_USE_TLS", "true")
    settings = config.load("development")
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql://u@db.example/svc"
    assert settings["REDIS_URL"] == "redis://cache.example:6379/2"
    assert settings["MAIL_PORT"] == 2525 and settings["MAIL_USE_TLS"] is True


def test_defaults_are_chinese_first(monkeypatch):
    for var in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = config.load("development")
    assert settings["BABEL_DEFAULT_LOCALE"] == "zh"
    assert list(settings["LANGUAGES"]) == ["zh", "en"]
    assert settings["REDIS_URL"] == "embedded"
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


@pytest.mark.parametrize("secret", [None, "", "dev-only-secret-change-me", "short"])
def test_production_refuses_a_weak_secret(monkeypatch, secret):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/svc")
    monkeypatch.setenv("REDIS_URL", "redis://r:6379/0")
    if secret is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        config.load("production")


def test_production_refuses_sqlite_and_embedded_redis(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("REDIS_URL", "redis://r:6379/0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        config.load("production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/svc")
    monkeypatch.setenv("REDIS_URL", "embedded")
    with pytest.raises(ConfigError, match="REDIS_URL"):
        config.load("production")


def test_production_accepts_real_settings(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/svc")
    monkeypatch.setenv("REDIS_URL", "redis://r:6379/0")
    settings = config.load("production")
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["FAB_UPDATE_PERMS"] is False


def test_unknown_layer_is_refused():
    with pytest.raises(ConfigError):
        config.load("staging")
