"""Model embeddings carry per-model learned scalars (``params``, JSON).

Model2Vec learns, besides the vector, a per-model shift of the distance (the
model's overall quality) used in ranking and in the expected error; it has to
travel with the embedding. Existing rows get ``{}`` (no shift).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_embeddings") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("model_embeddings") as batch:
        batch.drop_column("params")
