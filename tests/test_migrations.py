"""The schema comes from migrations, and the models agree with them."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model
from sqlalchemy import create_engine, inspect

from app.extensions import db


def test_models_match_migrations(app):
    # the session's database was built from empty by `upgrade()` in conftest
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Model.metadata)
    assert diff == []


def test_upgrade_from_empty_builds_every_table(app):
    tables = set(inspect(db.engine).get_table_names())
    expected = set(Model.metadata.tables)
    assert expected <= tables
    assert {"ab_user", "ab_role", "ab_permission_view", "outlet", "engineer", "stock", "alembic_version"} <= tables


def test_downgrade_and_upgrade_again(app, tmp_path):
    """On a scratch SQLite database: base → head → base → head."""
    from flask_migrate import downgrade, upgrade

    url = f"sqlite:///{tmp_path}/scratch.sqlite"
    from app import create_app

    scratch = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": url,
                                                "UPLOAD_FOLDER": str(tmp_path)})
    with scratch.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "outlet" in inspect(db.engine).get_table_names()
        db.engine.dispose()
    create_engine(url).dispose()
