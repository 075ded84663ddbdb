from config.base import Config as Base


class Config(Base):
    DEBUG = False
    RATELIMIT_ENABLED = False
