"""Application factory: config → extensions → AppBuilder → each domain's register()."""
import logging
import os

from flask import Flask

import config as config_layers

log = logging.getLogger(__name__)
# Search columns without a SQL type of their own (virtual filters such as "region" or "expires
# within") get their filters from the views; FAB warns at every start that it has none for them.
logging.getLogger("flask_appbuilder.models.filters").setLevel(logging.ERROR)

# Domains register their views and APIs in this order (menus follow it).
DOMAINS = (
    "app.core",
    "app.network",
    "app.engineers",
    "app.parts",
    "app.orders",
    "app.complaints",
    "app.qualification",
    "app.audit_trail",
    "app.reports",
    "app.security",
)


def create_app(config_name=None, overrides=None):
    from importlib import import_module

    from flask_appbuilder import AppBuilder, Model

    from app.core import queue
    from app.extensions import db, mail, migrate

    settings = config_layers.load(config_name, overrides)
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(settings)
    os.makedirs(app.config["UPLOAD_FOLDER"], exist_ok=True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///") and ":memory:" not in app.config[
        "SQLALCHEMY_DATABASE_URI"
    ]:
        os.makedirs(os.path.dirname(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]), exist_ok=True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql://"):
        app.config["SQLALCHEMY_DATABASE_URI"] = app.config["SQLALCHEMY_DATABASE_URI"].replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = queue.redis_url(app)

    # Import every model so the metadata is complete before anything touches it.
    for name in DOMAINS:
        try:
            import_module(name + ".models")
        except ModuleNotFoundError as exc:  # a domain without models
            if exc.name != name + ".models":
                raise

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     compare_type=True, render_as_batch=True)
    mail.init_app(app)
    queue.init_app(app)

    from app.core import db_events, people, protection

    db_events.install(app)
    people.install(app)  # one way to show a person: family name then given name for Chinese names
    protection.init_app(app)  # before the AppBuilder: FAB exempts its API blueprints from CSRF

    appbuilder = AppBuilder(update_perms=False)
    with app.app_context():
        appbuilder.init_app(app, db.session)
        for name in DOMAINS:
            import_module(name).register(appbuilder)
        appbuilder.post_init()

    from app import cli

    cli.register(app)
    from app.core import web

    web.install(app)
    from app.core import api_input, openapi

    api_input.install(app)  # bad ids, bodies and text: 4xx before any view runs
    openapi.install(app)  # the served OpenAPI spec: complete and valid
    return app
