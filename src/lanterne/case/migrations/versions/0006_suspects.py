"""Suspects and records: suspects with their identifiers and seized items, watchlists
(offence records, register extracts) and their hits, and the seized device of an evidence item.
Messages are indexed by group and sender together (the network counts posts per person and
group) and by direct-message peer.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_message_group", table_name="message")
    op.create_index("ix_message_group_sender", "message", ["chat_group_id", "sender_id"])
    op.create_index("ix_message_peer", "message", ["peer_id"])
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_type", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("device_make", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("device_model", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("device_serial", sa.Text(), nullable=True))
    op.create_table(
        "suspect",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.String(length=10), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("occupation", sa.Text(), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "suspect_identifier",
        sa.Column("suspect_id", sa.Integer(), nullable=False),
        sa.Column("identifier_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["identifier_id"], ["identifier.id"]),
        sa.ForeignKeyConstraint(["suspect_id"], ["suspect.id"]),
        sa.PrimaryKeyConstraint("suspect_id", "identifier_id"),
    )
    op.create_index("ix_suspect_identifier_identifier", "suspect_identifier", ["identifier_id"])
    op.create_table(
        "suspect_evidence",
        sa.Column("suspect_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["suspect_id"], ["suspect.id"]),
        sa.PrimaryKeyConstraint("suspect_id", "label"),
    )
    op.create_table(
        "watchlist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "watchlist_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.String(length=10), nullable=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["watchlist_id"], ["watchlist.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("watchlist_id", "key", name="uq_watchlist_entry"),
    )
    op.create_table(
        "watchlist_entry_identifier",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("identifier_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["identifier_id"], ["identifier.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["watchlist_entry.id"]),
        sa.PrimaryKeyConstraint("entry_id", "identifier_id"),
    )
    op.create_index(
        "ix_watchlist_entry_identifier_identifier", "watchlist_entry_identifier", ["identifier_id"]
    )
    op.create_table(
        "watchlist_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["watchlist_entry.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "subject", "subject_id", "field", name="uq_watchlist_hit"),
    )
    op.create_index("ix_watchlist_hit_subject", "watchlist_hit", ["subject", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_message_peer", table_name="message")
    op.drop_index("ix_message_group_sender", table_name="message")
    op.create_index("ix_message_group", "message", ["chat_group_id"])
    op.drop_table("watchlist_hit")
    op.drop_table("watchlist_entry_identifier")
    op.drop_table("watchlist_entry")
    op.drop_table("watchlist")
    op.drop_table("suspect_evidence")
    op.drop_table("suspect_identifier")
    op.drop_table("suspect")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        for column in ("device_serial", "device_model", "device_make", "device_type"):
            batch_op.drop_column(column)
