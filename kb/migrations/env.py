"""Alembic's entry point. kb.migrations.upgrade passes its own connection; the `alembic`
command line (alembic.ini at the repository root) connects to KB_DATABASE_URL or the SQLite
file in KB_DATA_DIR."""
from __future__ import annotations

from alembic import context

from kb.review import Base


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from kb.config import Settings
    from kb.review import _engine, database_url
    engine = _engine(context.config.get_main_option("sqlalchemy.url") or database_url(Settings.from_env().data_dir))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
