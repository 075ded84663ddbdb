"""Flask commands: ``deploy``, ``roles sync``, ``seed``, ``jobs run``, ``audit verify``."""
import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext


def register(app):
    app.cli.add_command(deploy)
    app.cli.add_command(roles_cli)
    app.cli.add_command(seed_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(audit_cli)


@click.command("deploy")
@with_appcontext
def deploy():
    """The deploy step, once per release: migrate the database, sync permissions and roles, load the
    reference data (calendar, SLA policies, settings…). Safe to run again: what is there already,
    and whatever HQ admins changed, is kept."""
    from flask_migrate import upgrade

    from seeds import reference

    upgrade()
    click.echo("database at the latest revision")
    reference.load(log=click.echo)  # syncs the roles first


roles_cli = AppGroup("roles", help="Permissions and roles.")


@roles_cli.command("sync")
def roles_sync():
    """Create every permission and make each role exactly as declared (idempotent)."""
    from app.security import roles

    changed = roles.sync_all(current_app.appbuilder, log=click.echo)
    click.echo(f"roles in sync ({changed} changed)")


seed_cli = AppGroup("seed", help="Reference and demo data.")


@seed_cli.command("reference")
def seed_reference():
    """Roles, product categories, certification types, settings, SLA defaults, the business calendar
    and the audit checklist (idempotent; part of ``flask deploy``)."""
    from seeds import reference

    reference.load(log=click.echo)


@seed_cli.command("demo")
@click.option("--scale", default=1, show_default=True, type=click.IntRange(1, 1000),
              help="Multiply the demo network (100 gives about 5,000 outlets).")
def seed_demo(scale):
    """Reference data plus a believable demo network and one user per role (idempotent)."""
    from seeds import demo

    demo.load(scale=scale, log=click.echo)


jobs_cli = AppGroup("jobs", help="Background jobs.")


@jobs_cli.command("run")
@click.argument("name")
def jobs_run(name):
    """Run one periodic job now, in this process (e.g. refresh_certification_statuses)."""
    from app import jobs

    func = getattr(jobs, name, None)
    if func is None or name.startswith("_"):
        raise click.BadParameter(f"unknown job {name!r}; known: {', '.join(jobs.__all__)}")
    click.echo(f"{name}: {func()}")


@jobs_cli.command("enqueue")
@click.argument("name")
def jobs_enqueue(name):
    """Put one periodic job on the queue for a worker."""
    from app import jobs
    from app.core import queue

    func = getattr(jobs, name, None)
    if func is None or name.startswith("_"):
        raise click.BadParameter(f"unknown job {name!r}; known: {', '.join(jobs.__all__)}")
    job = queue.enqueue(func, queue=queue.HOUSEKEEPING)
    click.echo(job.id)


audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def audit_verify():
    """Recompute the audit trail's hash chain; print the JSON result, exit 1 when it is broken."""
    import json

    from app.audit_trail.web import verify_and_record

    result = verify_and_record()  # the run is recorded in the trail, as from the page and the API
    click.echo(json.dumps(result))
    if not result["ok"]:
        raise SystemExit(1)
