"""Video: facts (rotation, audio, creation time), vPDQ frame hashes of the case's videos and of
listed videos, and video match details (shares of matching frames, matched time segments).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("content", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rotation", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("audio_codec", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("created", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("frames_hashed", sa.Integer(), nullable=True))
    with op.batch_alter_table("match", schema=None) as batch_op:
        batch_op.alter_column(
            "method", existing_type=sa.String(length=8), type_=sa.String(length=16)
        )
        batch_op.add_column(sa.Column("query_share", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("target_share", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("segments", sa.Text(), nullable=True))
    op.create_table(
        "video_frame",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["content.sha256"]),
        sa.PrimaryKeyConstraint("sha256", "frame"),
    )
    op.create_table(
        "hash_entry_frame",
        sa.Column("entry", sa.Integer(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["entry"], ["hash_entry.id"]),
        sa.PrimaryKeyConstraint("entry", "frame"),
    )


def downgrade() -> None:
    op.drop_table("hash_entry_frame")
    op.drop_table("video_frame")
    with op.batch_alter_table("match", schema=None) as batch_op:
        for column in ("segments", "target_share", "query_share"):
            batch_op.drop_column(column)
        batch_op.alter_column(
            "method", existing_type=sa.String(length=16), type_=sa.String(length=8)
        )
    with op.batch_alter_table("content", schema=None) as batch_op:
        for column in ("frames_hashed", "created", "audio_codec", "rotation"):
            batch_op.drop_column(column)
