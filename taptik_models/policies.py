"""Row-level security policies as declared entities, so autogenerate sees them change."""

from __future__ import annotations

from alembic_utils.pg_policy import PGPolicy as _PGPolicy
from sqlalchemy import text


class PGPolicy(_PGPolicy):
    """alembic-utils' PGPolicy, with the policy name quoted in the SQL it emits.

    alembic-utils 0.8.8 strips the quotes from a signature and emits it bare, which
    breaks names with spaces such as v1's "Users can view public packages".
    """

    def _name(self) -> str:
        return '"' + self.signature.replace('"', '""') + '"'

    def to_sql_statement_create(self):
        return text(f"CREATE POLICY {self._name()} on {self.on_entity} {self.definition}")

    def to_sql_statement_drop(self, cascade=False):
        return text(f"DROP POLICY {self._name()} on {self.on_entity}")

    def to_sql_statement_create_or_replace(self):
        yield text(f"DROP POLICY IF EXISTS {self._name()} on {self.on_entity};")
        yield text(f"CREATE POLICY {self._name()} on {self.on_entity} {self.definition};")


VIEW_PUBLIC_PACKAGES = PGPolicy(
    schema="public",
    signature='"Users can view public packages"',
    on_entity="public.taptik_packages",
    definition="AS PERMISSIVE FOR SELECT TO public USING ((is_public OR (auth.uid() = user_id)))",
)

MANAGE_OWN_PACKAGES = PGPolicy(
    schema="public",
    signature='"Users can manage own packages"',
    on_entity="public.taptik_packages",
    definition="AS PERMISSIVE FOR ALL TO public USING ((auth.uid() = user_id))",
)

POLICIES = [VIEW_PUBLIC_PACKAGES, MANAGE_OWN_PACKAGES]
