"""Defaults and NOT NULL on the fields v2 requires; rows that cannot comply are quarantined.

Why: v1 accepted packages without config_id, owner, name, checksum or file; v2 relies on
them. Rows lacking any of these move to `taptik_packages_quarantine` with the reason
(their versions and events are kept in `taptik_archive`), never deleted; the count is
logged. Remaining gaps get defaults: description 'No description', version '1.0.0',
download_count 0, is_public false. NOT NULL goes through validated CHECKs (no long lock).
Downgrade preserves: quarantined rows, their versions and events move back; filled-in
defaults get their pre-images (NULL) back where unchanged since; the quarantine table
(then empty) moves to the archive.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from data_migrations import batches, ddl
from data_migrations.archive import archive_table, restore_archived_table
from data_migrations.lint import ignore_in_file
from data_migrations.policies import enable_rls
from data_migrations.preimages import restore_pre_images, rewrite_in_batches
from data_migrations.quarantine import quarantine_rows, release_quarantine

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "taptik_packages"
QUARANTINE = "taptik_packages_quarantine"
COLUMNS = [
    "id", "config_id", "user_id", "name", "title", "platform", "version", "is_public", "download_count",
    "user_tags", "metadata", "checksum", "storage_url", "file_size", "created_at", "updated_at",
    "description", "team_id", "sanitization_level", "likes", "views", "archived_at",
]  # fmt: skip
REQUIRED = ["config_id", "user_id", "name", "checksum", "storage_url"]
DEPENDENTS = {"package_versions": "package_id", "package_analytics": "package_id"}
DEFAULTS = {
    "description": "'No description'",
    "version": "'1.0.0'",
    "download_count": "0",
    "is_public": "false",
}


def upgrade() -> None:
    ignore_in_file("prefer-bigint-over-int", "the quarantine mirrors taptik_packages' integer counters")
    ignore_in_file(
        "prefer-robust-stmts",
        "constraints are validated outside the transaction; every statement here is re-runnable "
        "(SET DEFAULT, SET NOT NULL and ENABLE RLS are idempotent, the rest use IF [NOT] EXISTS)",
    )
    if not restore_archived_table(QUARANTINE):
        op.create_table(
            QUARANTINE,
            sa.Column("id", sa.Uuid, nullable=False),
            sa.Column("config_id", sa.Text),
            sa.Column("user_id", sa.Uuid),
            sa.Column("name", sa.Text),
            sa.Column("title", sa.Text),
            sa.Column("platform", sa.Text),
            sa.Column("version", sa.Text),
            sa.Column("is_public", sa.Boolean),
            sa.Column("download_count", sa.Integer),
            sa.Column("user_tags", postgresql.ARRAY(sa.Text)),
            sa.Column("metadata", postgresql.JSONB),
            sa.Column("checksum", sa.Text),
            sa.Column("storage_url", sa.Text),
            sa.Column("file_size", sa.BigInteger),
            sa.Column("created_at", sa.DateTime(timezone=True)),
            sa.Column("updated_at", sa.DateTime(timezone=True)),
            sa.Column("description", sa.Text),
            sa.Column("team_id", sa.Uuid),
            sa.Column("sanitization_level", sa.Text),
            sa.Column("likes", sa.Integer),
            sa.Column("views", sa.Integer),
            sa.Column("archived_at", sa.DateTime(timezone=True)),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("quarantined_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="pk_taptik_packages_quarantine"),
            if_not_exists=True,
        )
    enable_rls(QUARANTINE)  # no policy: only the owner role and service_role read it
    quarantine_rows(revision, TABLE, QUARANTINE, COLUMNS, REQUIRED, DEPENDENTS)
    rewrite_in_batches(
        revision,
        "fill defaults",
        TABLE,
        {column: f"coalesce(t.{column}, {default})" for column, default in DEFAULTS.items()},
        where=" OR ".join(f"t.{column} IS NULL" for column in DEFAULTS),
    )
    ddl.set_default(TABLE, "description", "'No description'")
    ddl.set_default(TABLE, "version", "'1.0.0'")
    for column in [*DEFAULTS, *REQUIRED]:
        ddl.set_not_null(TABLE, column)
    batches.clear_progress(revision)


def downgrade() -> None:
    for column in [*DEFAULTS, *REQUIRED]:
        ddl.drop_not_null(TABLE, column)
    ddl.set_default(TABLE, "description", None)
    ddl.set_default(TABLE, "version", None)
    restore_pre_images(revision, TABLE, list(DEFAULTS))
    release_quarantine(revision, TABLE, QUARANTINE, COLUMNS, DEPENDENTS)
    archive_table(QUARANTINE)
    batches.clear_progress(revision)
