"""package_versions, with one row per existing package.

Why: v2 keeps every published version of a package. Each existing package gets one
version row: its `version` (else '1.0.0'), storage_url and checksum. Loaded before the
primary key, unique constraint and foreign key are built (the table is new and unread
until then).
Downgrade preserves: the table moves to `taptik_archive` with every version (including
ones published after the upgrade); the next upgrade moves it back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data_migrations import batches, ddl
from data_migrations.archive import archive_table, restore_archived_table
from data_migrations.backfills import load_package_versions
from data_migrations.policies import create_policy, enable_rls

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "package_versions"
OWNS_PACKAGE = "EXISTS (SELECT 1 FROM taptik_packages p WHERE p.id = package_id AND p.user_id = auth.uid())"


def upgrade() -> None:
    if not restore_archived_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("id", sa.Uuid, server_default=sa.text("gen_random_uuid()"), nullable=False),
            sa.Column("package_id", sa.Uuid, nullable=False),
            sa.Column("version", sa.Text, nullable=False),
            sa.Column("changelog", sa.Text),
            sa.Column("storage_url", sa.Text),
            sa.Column("checksum", sa.Text),
            sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            if_not_exists=True,
        )
        load_package_versions(revision)
    ddl.add_primary_key("pk_package_versions", TABLE, ["id"])
    op.execute(
        sa.text(
            "DO $u$ BEGIN IF NOT EXISTS (SELECT FROM pg_constraint "
            "WHERE conname = 'uq_package_versions_package_id_version') THEN "
            "ALTER TABLE public.package_versions ADD CONSTRAINT uq_package_versions_package_id_version "
            "UNIQUE (package_id, version); END IF; END $u$"
        )
    )
    ddl.add_foreign_key(
        "fk_package_versions_package_id_taptik_packages",
        TABLE,
        ["package_id"],
        "public.taptik_packages",
        ["id"],
        ondelete="CASCADE",
    )
    enable_rls(TABLE)
    create_policy(
        TABLE,
        "Versions are visible with their package",
        "FOR SELECT USING (EXISTS (SELECT 1 FROM taptik_packages p WHERE p.id = package_id))",
    )
    create_policy(
        TABLE,
        "Owners manage their package versions",
        f"FOR ALL USING ({OWNS_PACKAGE}) WITH CHECK ({OWNS_PACKAGE})",
    )
    batches.clear_progress(revision)


def downgrade() -> None:
    archive_table(TABLE)
    batches.clear_progress(revision)
