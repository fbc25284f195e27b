"""Disk images and phone extractions: image format and details, verifications, carved files,
application data found in items.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("format", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("details", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("unlock", sa.Text(), nullable=True))
    with op.batch_alter_table("file", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("carved", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("stored_md5", sa.String(length=32), nullable=True),
        sa.Column("stored_sha1", sa.String(length=40), nullable=True),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("checksum_errors", sa.Text(), server_default="[]", nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("verified_by", sa.Text(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("verification", schema=None) as batch_op:
        batch_op.create_index("ix_verification_evidence", ["evidence_id"], unique=False)
    op.create_table(
        "app_data",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("provenance_key", sa.String(length=64), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("marker", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("evidence_id", "provenance_key", "app", name="uq_app_data"),
    )


def downgrade() -> None:
    op.drop_table("app_data")
    with op.batch_alter_table("verification", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_evidence")
    op.drop_table("verification")
    with op.batch_alter_table("file", schema=None) as batch_op:
        batch_op.drop_column("carved")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_column("unlock")
        batch_op.drop_column("details")
        batch_op.drop_column("format")
