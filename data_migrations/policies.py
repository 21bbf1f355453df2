"""Row-level security statements that stay correct when a table comes back from the archive."""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from data_migrations.sql import ident, literal, qualified


def create_policy_sql(table: str, name: str, definition: str, schema: str = "public"):
    """CREATE POLICY, skipped when the table already has a policy of that name."""
    return text(
        f"""DO $policy$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_policies WHERE schemaname = {literal(schema)}
                 AND tablename = {literal(table)} AND policyname = {literal(name)}) THEN
    CREATE POLICY {ident(name)} ON {qualified(schema, table)} {definition};
  END IF;
END
$policy$"""
    )


def create_policy(table: str, name: str, definition: str, schema: str = "public") -> None:
    op.execute(create_policy_sql(table, name, definition, schema))


def drop_policy(table: str, name: str, schema: str = "public") -> None:
    op.execute(text(f"DROP POLICY IF EXISTS {ident(name)} ON {qualified(schema, table)}"))


def enable_rls(table: str, schema: str = "public") -> None:
    op.execute(text(f"ALTER TABLE {qualified(schema, table)} ENABLE ROW LEVEL SECURITY"))
