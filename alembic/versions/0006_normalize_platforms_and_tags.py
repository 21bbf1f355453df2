"""Normalize platform names and user tags.

Why: v1 clients wrote "Claude Code", " cursor ", "VIM"; tags with stray spaces, case
variants, duplicates and blanks. v2 matches on `claude-code`, `cursor`, `vim` and on
clean tag sets. Platform: trimmed, lower-cased, runs of white space to one hyphen. Tags:
trimmed, lower-cased, de-duplicated (first occurrence keeps its place), blanks dropped.
Downgrade preserves: every rewritten platform and tag array gets its pre-image back,
unless the application changed that value since the upgrade (the newer value stays).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from data_migrations import batches
from data_migrations.normalize import NORMALIZED_PLATFORM, NORMALIZED_TAGS
from data_migrations.preimages import restore_pre_images, rewrite_in_batches

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "taptik_packages"


def upgrade() -> None:
    rewrite_in_batches(
        revision,
        "normalize platform and tags",
        TABLE,
        {
            "platform": NORMALIZED_PLATFORM.format(col="t.platform"),
            "user_tags": NORMALIZED_TAGS.format(col="t.user_tags"),
        },
        where="t.platform IS NOT NULL OR t.user_tags IS NOT NULL",
    )
    batches.clear_progress(revision)


def downgrade() -> None:
    restore_pre_images(revision, TABLE, ["platform", "user_tags"])
    batches.clear_progress(revision)
