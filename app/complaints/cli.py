"""``flask complaints recompute-breaches``: the one-off recomputation of breach flags."""
import click
from flask.cli import AppGroup

complaints_cli = AppGroup("complaints", help="Complaints.")


@complaints_cli.command("recompute-breaches")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100000))
def recompute_breaches(batch):
    """Recompute due times and mark every late response or resolution as breached (idempotent).

    A response or resolution still awaited is left to the every-minute sweep, which escalates it;
    what already happened late is marked, not escalated."""
    from app.complaints import services

    counts = services.recompute_breaches(batch=batch, log=click.echo)
    click.echo("checked {checked}, newly breached: response {response_breached}, "
               "resolution {resolution_breached}".format(**counts))
