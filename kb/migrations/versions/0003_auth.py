"""Authentication (issue 10): revocable tokens, login throttling.

- tokens.revoked_at: a revoked token is kept, so its holder is told it was revoked;
- API tokens made before expiry existed get one: KB_TOKEN_DAYS (default 90) from the upgrade;
- login_failures / login_locks: failed logins per account and per address, and the locks.

Revision ID: 0003_auth
Revises: 0002_jobs
"""
import os
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

revision = "0003_auth"
down_revision = "0002_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    days = float(os.environ.get("KB_TOKEN_DAYS") or 90)
    tokens = sa.table("tokens", sa.column("kind", sa.String), sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(tokens.update().where(tokens.c.kind == "api", tokens.c.expires_at.is_(None))
               .values(expires_at=datetime.now(timezone.utc) + timedelta(days=days)))
    op.create_table("login_failures",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("key", sa.String(length=200), nullable=False),
                    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"], unique=False)
    op.create_table("login_locks",
                    sa.Column("key", sa.String(length=200), nullable=False),
                    sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("until", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("failures", sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint("key"))


def downgrade() -> None:
    op.drop_table("login_locks")
    op.drop_index("ix_login_failures_key_at", table_name="login_failures")
    op.drop_table("login_failures")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("revoked_at")
