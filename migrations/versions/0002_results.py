"""Results: transfer results, Model2Vec runs and their model embeddings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RESULT_KINDS = ("transfer_results", "model_embeddings")


def upgrade() -> None:
    _create_transfer_results()
    _create_model2vec_runs()
    _create_model_embeddings()
    _seed_revisions()


def _create_transfer_results() -> None:
    """The transfer_results table and its indexes."""
    op.create_table(
        "transfer_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("protocol", sa.String(length=255), nullable=False),
        sa.Column("protocol_params", sa.JSON(), nullable=False),
        sa.Column("train_size", sa.Integer(), nullable=False),
        sa.Column("test_size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], ondelete="CASCADE", name=op.f("fk_transfer_results_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], ondelete="CASCADE", name=op.f("fk_transfer_results_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_results")),
    )
    op.create_index(op.f("ix_transfer_results_model_id"), "transfer_results", ["model_id"])
    op.create_index(op.f("ix_transfer_results_task_id"), "transfer_results", ["task_id"])


def _create_model2vec_runs() -> None:
    """The model2vec_runs table and its index."""
    op.create_table(
        "model2vec_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("hyperparams", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_id"], ["probes.id"], ondelete="CASCADE", name=op.f("fk_model2vec_runs_probe_id_probes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model2vec_runs")),
    )
    op.create_index(op.f("ix_model2vec_runs_probe_id"), "model2vec_runs", ["probe_id"])


def _create_model_embeddings() -> None:
    """The model_embeddings table and its indexes."""
    op.create_table(
        "model_embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("bias", sa.LargeBinary(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("trained", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], ondelete="CASCADE", name=op.f("fk_model_embeddings_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["model2vec_runs.id"],
            ondelete="CASCADE",
            name=op.f("fk_model_embeddings_run_id_model2vec_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_embeddings")),
        sa.UniqueConstraint("run_id", "model_id", name="uq_model_embeddings_run_id_model_id"),
    )
    op.create_index(op.f("ix_model_embeddings_model_id"), "model_embeddings", ["model_id"])
    op.create_index(op.f("ix_model_embeddings_run_id"), "model_embeddings", ["run_id"])


def _seed_revisions() -> None:
    """A revision row for each new kind of result."""
    revisions = sa.table(
        "revisions", sa.column("kind", sa.String), sa.column("counter", sa.BigInteger), sa.column("stamp", sa.String)
    )
    op.bulk_insert(revisions, [{"kind": kind, "counter": 0, "stamp": uuid.uuid4().hex} for kind in RESULT_KINDS])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM revisions WHERE kind IN ('transfer_results', 'model_embeddings')"))
    op.drop_index(op.f("ix_model_embeddings_run_id"), table_name="model_embeddings")
    op.drop_index(op.f("ix_model_embeddings_model_id"), table_name="model_embeddings")
    op.drop_table("model_embeddings")
    op.drop_index(op.f("ix_model2vec_runs_probe_id"), table_name="model2vec_runs")
    op.drop_table("model2vec_runs")
    op.drop_index(op.f("ix_transfer_results_task_id"), table_name="transfer_results")
    op.drop_index(op.f("ix_transfer_results_model_id"), table_name="transfer_results")
    op.drop_table("transfer_results")
