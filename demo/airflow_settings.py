"""Settings the demo's SQLite-backed `airflow standalone` imports by path.

SQLite allows one writer at a time; waiting up to a minute for the lock (instead of Python's default 5 s) keeps the
scheduler, the API server and the task runners from failing each other's writes during a backfill.
"""

SQLITE_CONNECT_ARGS = {"timeout": 60}
