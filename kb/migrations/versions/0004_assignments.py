"""Assignments (issue B.2): a reviewer, an approver and a due date per criterion beside its owner.

The "returned" status needs no schema change (status is a free string column).

Revision ID: 0004_assignments
Revises: 0003_auth
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_assignments"
down_revision = "0003_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a foreign key to an existing table in place
    with op.batch_alter_table("criterion_states") as batch:
        batch.add_column(sa.Column("reviewer_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("approver_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        batch.create_foreign_key("fk_criterion_states_reviewer_id_users", "users", ["reviewer_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_foreign_key("fk_criterion_states_approver_id_users", "users", ["approver_id"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("criterion_states") as batch:
        batch.drop_constraint("fk_criterion_states_approver_id_users", type_="foreignkey")
        batch.drop_constraint("fk_criterion_states_reviewer_id_users", type_="foreignkey")
        batch.drop_column("due_date")
        batch.drop_column("approver_id")
        batch.drop_column("reviewer_id")
