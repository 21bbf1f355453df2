"""v1 baseline: taptik_packages exactly as production has it, RLS on, the two v1 policies.

Why: every later revision starts from this shape; a v1 production database is adopted
by stamping it at 0001 (`alembic stamp 0001`), never by running this upgrade.
Downgrade preserves: the table is moved to `taptik_archive.taptik_packages` with its
rows, policies and foreign key, not dropped; upgrading again moves it back.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from data_migrations.archive import archive_table, restore_archived_table
from data_migrations.lint import ignore_in_file
from data_migrations.policies import create_policy, enable_rls

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "taptik_packages"


def upgrade() -> None:
    ignore_in_file("prefer-bigint-over-int", "v1 exactly as production has it: download_count is integer")
    ignore_in_file("prefer-text-field", "alembic_version (varchar) is Alembic's own table")
    restore_archived_table(TABLE)
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid, server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("config_id", sa.Text),
        sa.Column("user_id", sa.Uuid),
        sa.Column("name", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("platform", sa.Text),
        sa.Column("version", sa.Text),
        sa.Column("is_public", sa.Boolean, server_default=sa.false()),
        sa.Column("download_count", sa.Integer, server_default=sa.text("0")),
        sa.Column("user_tags", postgresql.ARRAY(sa.Text)),
        sa.Column("metadata", postgresql.JSONB),
        sa.Column("checksum", sa.Text),
        sa.Column("storage_url", sa.Text),
        sa.Column("file_size", sa.BigInteger),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_taptik_packages"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name="fk_taptik_packages_user_id_users", ondelete="CASCADE"
        ),
        if_not_exists=True,
    )
    enable_rls(TABLE)
    create_policy(
        TABLE,
        "Users can view public packages",
        "FOR SELECT USING (is_public OR auth.uid() = user_id)",
    )
    create_policy(TABLE, "Users can manage own packages", "FOR ALL USING (auth.uid() = user_id)")


def downgrade() -> None:
    archive_table(TABLE)
