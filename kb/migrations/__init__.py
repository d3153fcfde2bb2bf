"""The review database's schema history (Alembic), applied when a ReviewDB opens.

- A new, empty database gets the current schema in one step (`create_all`) and is stamped at
  head: Alembic's own recipe for building from scratch.
- A database made before migrations existed (by `create_all`, no `alembic_version` table) is
  stamped at the baseline — the schema as it was then — and upgraded from there.
- Any other database is upgraded to head.

Web workers and the ingest worker may open the same database at once: the upgrade runs under a
lock (an advisory lock on PostgreSQL, a lock file beside a SQLite database), and a database
already at head is recognised without taking it.

A new revision: edit the models in kb/review.py, then from the repository root
`alembic revision --autogenerate -m "what changed"` (alembic.ini points here; the database is
KB_DATABASE_URL or the SQLite file in KB_DATA_DIR), review the file, and keep
tests/test_auth.py's schema check green.
"""
from __future__ import annotations

import contextlib
import fcntl
from functools import lru_cache
from pathlib import Path

from sqlalchemy import inspect, text

HERE = Path(__file__).resolve().parent
BASELINE = "0001_baseline"       # the schema before migrations (git 70a6643)
_PG_LOCK_ID = 0x6B62_7265      # any constant shared by every process of this app ("kbre")


class SchemaError(RuntimeError):
    """The database was made by a newer version of the app (a revision this code does not know)."""


def config(connection=None):
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head() -> str:
    from alembic.script import ScriptDirectory
    return ScriptDirectory.from_config(config()).get_current_head()


def current(connection) -> str | None:
    from alembic.migration import MigrationContext
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine) -> str:
    """Bring the database to head; return what was done ('current', 'created', 'stamped+upgraded',
    'upgraded')."""
    with engine.connect() as conn:
        if current(conn) == head():
            return "current"
    with _lock(engine):
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
            return _upgrade(conn)


def _upgrade(conn) -> str:
    from alembic import command
    from alembic.script import ScriptDirectory

    from kb.review import Base
    rev = current(conn)
    if rev == head():
        return "current"                       # another process did it while we waited
    cfg = config(conn)
    if rev is not None:
        try:
            known = ScriptDirectory.from_config(cfg).get_revision(rev) is not None
        except Exception:        # alembic raises for an id it has never heard of
            known = False
        if not known:
            raise SchemaError(f"the review database is at schema revision {rev}, which this version "
                              f"of kb does not know (newest known: {head()}): it was made by a newer "
                              "version; upgrade kb rather than open it with this one")
    if rev is None:
        tables = set(inspect(conn).get_table_names())
        if not tables & set(Base.metadata.tables):
            Base.metadata.create_all(conn)
            command.stamp(cfg, "head")
            return "created"
        command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
        return "stamped+upgraded"
    command.upgrade(cfg, "head")
    return "upgraded"


@contextlib.contextmanager
def _lock(engine):
    """Serialise upgrades of one SQLite file across processes (PostgreSQL locks in the database)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    with open(f"{url.database}.migrate-lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
