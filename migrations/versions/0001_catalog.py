"""The catalog: models (tags, aliases), tasks, probes, task embeddings, change counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CATALOG_KINDS = ("models", "tasks", "probes", "task_embeddings")


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    _create_model_tables()
    _create_task_tables()
    revisions = op.create_table(
        "revisions",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.Column("stamp", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_revisions")),
    )
    op.bulk_insert(revisions, [{"kind": kind, "counter": 0, "stamp": uuid.uuid4().hex} for kind in CATALOG_KINDS])


def _create_model_tables() -> None:
    """models, model_tags, model_aliases."""
    op.create_table(
        "models",
        _id(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("arch", sa.String(length=255), nullable=True),
        sa.Column("num_params", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=128), nullable=True),
        sa.Column("trained_on", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    op.create_table(
        "model_tags",
        _id(),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], ondelete="CASCADE", name=op.f("fk_model_tags_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_tags")),
        sa.UniqueConstraint("model_id", "key", name="uq_model_tags_model_id_key"),
    )
    op.create_index(op.f("ix_model_tags_model_id"), "model_tags", ["model_id"])
    op.create_table(
        "model_aliases",
        _id(),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], ondelete="CASCADE", name=op.f("fk_model_aliases_model_id_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_aliases")),
        sa.UniqueConstraint("alias", name=op.f("uq_model_aliases_alias")),
    )
    op.create_index(op.f("ix_model_aliases_model_id"), "model_aliases", ["model_id"])


def _create_task_tables() -> None:
    """tasks, probes, task_embeddings."""
    op.create_table(
        "tasks",
        _id(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data_uri", sa.Text(), nullable=False),
        sa.Column("num_classes", sa.Integer(), nullable=False),
        sa.Column("num_samples", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("taxonomy", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("name", name=op.f("uq_tasks_name")),
    )
    op.create_table(
        "probes",
        _id(),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("arch", sa.String(length=255), nullable=False),
        sa.Column("weights_checksum", sa.String(length=128), nullable=False),
        sa.Column("embedding_length", sa.Integer(), nullable=False),
        sa.Column("layers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probes")),
        sa.UniqueConstraint("name", name=op.f("uq_probes_name")),
    )
    op.create_table(
        "task_embeddings",
        _id(),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("prior", sa.LargeBinary(), nullable=True),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("package_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_id"], ["probes.id"], ondelete="CASCADE", name=op.f("fk_task_embeddings_probe_id_probes")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], ondelete="CASCADE", name=op.f("fk_task_embeddings_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_embeddings")),
        sa.UniqueConstraint("task_id", "probe_id", "method", name="uq_task_embeddings_task_id_probe_id_method"),
    )
    op.create_index(op.f("ix_task_embeddings_probe_id"), "task_embeddings", ["probe_id"])
    op.create_index(op.f("ix_task_embeddings_task_id"), "task_embeddings", ["task_id"])


def downgrade() -> None:
    op.drop_table("revisions")
    op.drop_index(op.f("ix_task_embeddings_task_id"), table_name="task_embeddings")
    op.drop_index(op.f("ix_task_embeddings_probe_id"), table_name="task_embeddings")
    op.drop_table("task_embeddings")
    op.drop_table("probes")
    op.drop_table("tasks")
    op.drop_index(op.f("ix_model_aliases_model_id"), table_name="model_aliases")
    op.drop_table("model_aliases")
    op.drop_index(op.f("ix_model_tags_model_id"), table_name="model_tags")
    op.drop_table("model_tags")
    op.drop_table("models")
