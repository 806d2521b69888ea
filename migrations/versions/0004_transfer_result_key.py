"""Transfer results get a unique key: (model, task, protocol, metric, repeat).

A registry may hold several measurements of one (model, task, protocol,
metric): measuring a pair again (``zoo evaluate -m M -t T``) adds a row, and
the readers average them or take the latest. So the key keeps every row and
numbers them: ``repeat`` is 0 for the first measurement of a key, 1 for the
next, in the order they were recorded (by id). Existing rows are numbered so,
deterministically; nothing is dropped. A job's unit writes only repeat 0, so
a retried or concurrent unit cannot add a second row for its key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KEY = ("model_id", "task_id", "protocol", "metric")

# each row's repeat: how many rows of its key were recorded before it (portable: no window functions)
NUMBER_REPEATS = sa.text(
    "UPDATE transfer_results SET repeat = ("
    "SELECT COUNT(*) FROM transfer_results AS earlier "
    "WHERE earlier.model_id = transfer_results.model_id AND earlier.task_id = transfer_results.task_id "
    "AND earlier.protocol = transfer_results.protocol AND earlier.metric = transfer_results.metric "
    "AND earlier.id < transfer_results.id)"
)


def upgrade() -> None:
    with op.batch_alter_table("transfer_results") as batch:
        batch.add_column(sa.Column("repeat", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.execute(NUMBER_REPEATS)
    with op.batch_alter_table("transfer_results") as batch:
        batch.create_unique_constraint("uq_transfer_results_key", [*KEY, "repeat"])


def downgrade() -> None:
    with op.batch_alter_table("transfer_results") as batch:
        batch.drop_constraint("uq_transfer_results_key", type_="unique")
        batch.drop_column("repeat")
