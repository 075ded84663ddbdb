"""The periodic scheduler: rq's ``CronScheduler`` with ``app.schedule``, kept alive through a Redis
restart.

``rq cron app.schedule --url URL`` stops for good when Redis goes away (its loop has no way back),
and with it every periodic job: the SLA sweep, the outbox flush, the reaper of dead jobs. This is
the same scheduler, started as ``python -m app.cron --url URL``: when Redis does not answer it waits
for it (backing off up to 5 s) and goes on where it was. It stops on SIGTERM/SIGINT like rq's.
"""
import argparse
import logging
import time

from redis import Redis
from redis.exceptions import RedisError
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

log = logging.getLogger(__name__)


class ResilientCronScheduler(CronScheduler):
    def start(self):
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        self._until_redis_answers(self.register_birth)
        try:
            while True:
                try:
                    if self.enqueue_jobs():
                        self.save()
                    self.heartbeat()
                    sleep_time = self.calculate_sleep_interval()
                except RedisError:
                    log.warning("cron scheduler %s: Redis does not answer; waiting", self.name, exc_info=True)
                    self._until_redis_answers(self.register_birth)
                    continue
                if sleep_time > 0:
                    time.sleep(sleep_time)
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            try:
                self.register_death()
            except RedisError:
                pass

    def _until_redis_answers(self, then):
        delay = 0.5
        while True:
            try:
                self.connection.ping()
                return then()
            except RedisError:
                time.sleep(delay)
                delay = min(delay * 2, 5)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="Redis URL (redis://… or unix://…)")
    parser.add_argument("--schedule", default="app.schedule", help="module declaring the periodic jobs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scheduler = ResilientCronScheduler(connection=Redis.from_url(args.url))
    scheduler.load_config_from_file(args.schedule)
    scheduler.start()


if __name__ == "__main__":
    main()
