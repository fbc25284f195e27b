"""Hash sets, their entries, and matches of contents against them; the turned and mirrored
PDQ variants of each picture.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("content", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdq_dihedral", sa.Text(), nullable=True))
    op.create_table(
        "hashset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("scheme", sa.String(length=32), nullable=True),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("imported_by", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "hash_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hashset_id", sa.Integer(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("entry_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.Column("location", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["hashset_id"], ["hashset.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hash_entry", schema=None) as batch_op:
        batch_op.create_index("ix_hash_entry_md5", ["md5"], unique=False)
        batch_op.create_index("ix_hash_entry_sha1", ["sha1"], unique=False)
        batch_op.create_index("ix_hash_entry_sha256", ["sha256"], unique=False)
        batch_op.create_index("ix_hash_entry_set", ["hashset_id"], unique=False)
    op.create_table(
        "match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("hashset_id", sa.Integer(), nullable=False),
        sa.Column("entry", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("distance", sa.Integer(), server_default="0", nullable=False),
        sa.Column("variant", sa.String(length=16), server_default="", nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["entry"], ["hash_entry.id"]),
        sa.ForeignKeyConstraint(["hashset_id"], ["hashset.id"]),
        sa.ForeignKeyConstraint(["sha256"], ["content.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256", "entry", "method", "variant", name="uq_match"),
    )
    with op.batch_alter_table("match", schema=None) as batch_op:
        batch_op.create_index("ix_match_set", ["hashset_id"], unique=False)
    op.create_table(
        "pdq_group",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("group_sha256", sa.String(length=64), nullable=False),
        sa.Column("representative", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["content.sha256"]),
        sa.PrimaryKeyConstraint("sha256"),
    )
    with op.batch_alter_table("pdq_group", schema=None) as batch_op:
        batch_op.create_index("ix_pdq_group_group", ["group_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pdq_group", schema=None) as batch_op:
        batch_op.drop_index("ix_pdq_group_group")
    op.drop_table("pdq_group")
    with op.batch_alter_table("match", schema=None) as batch_op:
        batch_op.drop_index("ix_match_set")
    op.drop_table("match")
    with op.batch_alter_table("hash_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_hash_entry_set")
        batch_op.drop_index("ix_hash_entry_sha256")
        batch_op.drop_index("ix_hash_entry_sha1")
        batch_op.drop_index("ix_hash_entry_md5")
    op.drop_table("hash_entry")
    op.drop_table("hashset")
    with op.batch_alter_table("content", schema=None) as batch_op:
        batch_op.drop_column("pdq_dihedral")
