"""A messy v1 dataset, built with SQL, and whole-database snapshots to compare states."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests.helpers import add_user

PACKAGE_COLUMNS = (
    "id, config_id, user_id, name, title, platform, version, is_public, download_count, "
    "user_tags, metadata, checksum, storage_url, file_size"
)


def insert_messy_v1(conn: Connection) -> dict:
    """Rows covering every rule of the v2 chain; returns ids by role in the story."""
    alice, bob = add_user(conn), add_user(conn)
    ids = {}

    def package(key, **values):
        row = {
            "id": uuid.uuid4(),
            "config_id": f"cfg-{key}",
            "user_id": alice,
            "name": key,
            "title": None,
            "platform": "claude-code",
            "version": "1.0.0",
            "is_public": False,
            "download_count": 0,
            "user_tags": None,
            "metadata": None,
            "checksum": "a" * 64,
            "storage_url": f"{alice}/{key}.taptik",
            "file_size": 100,
        } | values
        conn.execute(
            sa.text(
                f"INSERT INTO taptik_packages ({PACKAGE_COLUMNS}) VALUES (:id, :config_id, :user_id, :name, :title, "
                ":platform, :version, :is_public, :download_count, :user_tags, CAST(:metadata AS jsonb), :checksum, "
                ":storage_url, :file_size)"
            ),
            row,
        )
        ids[key] = row["id"]

    package("meta_full", metadata='{"title": "Meta Title", "description": "Meta desc", "tags": ["X", "y"]}')
    package("meta_title_only", metadata='{"title": "Only Title"}', title="Own Title")
    package("no_meta", metadata=None, download_count=3)
    package("tags_not_array", metadata='{"tags": "oops", "extra": {"k": 1}}')
    package("mixed_platform", platform="  Claude   Code ", user_tags=[" AI", "ai", "", "Rust ", None, "rust"])
    package("cursor_caps", platform="CURSOR", user_tags=["Vim", "vim", "VIM"], is_public=True)
    package("null_everything_optional", title=None, platform=None, version=None, is_public=None,
            download_count=None, user_tags=None, metadata=None, file_size=None)  # fmt: skip
    package("big_downloads", download_count=250, user_id=bob, is_public=True)
    package("empty_tags", user_tags=[])
    package("missing_checksum", checksum=None, download_count=2)
    package("missing_user", user_id=None)
    package("missing_config_and_name", config_id=None, name=None, storage_url=None)
    return {"alice": alice, "bob": bob, "ids": ids}


def table_hash(conn: Connection, table: str) -> str | None:
    """md5 over every row's text, in primary-key order (None when the table does not exist)."""
    if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
        return None
    return conn.execute(
        sa.text(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t")
    ).scalar()


def public_snapshot(conn: Connection) -> dict[str, str]:
    """Hash of every table in the public schema (alembic_version excluded)."""
    tables = conn.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
    ).scalars()
    return {t: table_hash(conn, f"public.{t}") for t in sorted(tables)}


def column_snapshot(conn: Connection) -> dict:
    """Columns, nullability and defaults of the public schema: the shape, not the data."""
    rows = conn.execute(
        sa.text(
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name <> 'alembic_version' ORDER BY 1, 2"
        )
    ).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}
