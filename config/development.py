from config.base import Config as Base


class Config(Base):
    DEBUG = False
    # Rate limits on, as in production: their counters live in the embedded Redis.
