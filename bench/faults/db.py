"""The run's own reads of a stack's database (what is really stored), through psycopg, reconnecting
after a restart."""
import time

import psycopg


class Db:
    def __init__(self, url):
        self.url = url
        self.conn = None

    def _connect(self):
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        return self.conn

    def rows(self, sql, params=None, attempts=30):
        last = None
        for _ in range(attempts):
            try:
                with self._connect().cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall() if cur.description else []
            except psycopg.OperationalError as exc:  # the server restarting: reconnect
                last = exc
                self.close()
                time.sleep(0.5)
        raise RuntimeError(f"database not reachable: {last}")

    def value(self, sql, params=None):
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None
