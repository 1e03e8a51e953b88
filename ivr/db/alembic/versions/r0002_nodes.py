"""Telephony nodes: each registers with its capacity and a heartbeat; every attempt says its node.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

A node is one Asterisk with its dialog server. The controller driving it writes the node's row (its
AMI address, how many calls it may carry, whether AMI is up) every few seconds; `ivr node list`
reads it. `attempts.node` names the node that placed each call, so a controller reconciles only the
calls of its own node and the calls of a node that went silent can be found (issue 12).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ami_host", sa.Text(), nullable=False),
        sa.Column("ami_port", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("controller", sa.Text(), nullable=True),     # host:pid of the controller driving it
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("beat_at", sa.Text(), nullable=False),       # UTC, real time
        sa.Column("ami_connected", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("stopped_at", sa.Text(), nullable=True),     # set on a clean stop
        sa.PrimaryKeyConstraint("name", name=op.f("pk_nodes")),
    )
    op.add_column("attempts", sa.Column("node", sa.Text(), nullable=True))
    op.create_index("attempts_node_state", "attempts", ["node", "state"])


def downgrade() -> None:
    op.drop_index("attempts_node_state", table_name="attempts")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("node")
    op.drop_table("nodes")
