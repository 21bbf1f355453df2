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


def _policy(table: str, name: str, definition: str) -> PGPolicy:
    return PGPolicy(schema="public", signature=name, on_entity=f"public.{table}", definition=definition)


MY_TEAMS = "(SELECT tm.team_id FROM team_members tm WHERE tm.user_id = auth.uid())"
OWNS_PACKAGE = "EXISTS (SELECT 1 FROM taptik_packages p WHERE p.id = package_id AND p.user_id = auth.uid())"

POLICIES = [
    _policy(
        "taptik_packages",
        "Packages are visible to owner, public or team",
        f"AS PERMISSIVE FOR SELECT TO public USING (auth.uid() = user_id OR is_public OR team_id IN {MY_TEAMS})",
    ),
    _policy(
        "taptik_packages",
        "Owners manage their packages",
        "AS PERMISSIVE FOR ALL TO public USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id)",
    ),
    _policy(
        "teams",
        "Members can view their teams",
        f"AS PERMISSIVE FOR SELECT TO public USING (id IN {MY_TEAMS})",
    ),
    _policy(
        "team_members",
        "Members can view their own memberships",
        "AS PERMISSIVE FOR SELECT TO public USING (user_id = auth.uid())",
    ),
    _policy(
        "package_analytics",
        "Owners read their packages' events",
        f"AS PERMISSIVE FOR SELECT TO public USING ({OWNS_PACKAGE})",
    ),
    _policy(
        "package_versions",
        "Versions are visible with their package",
        "AS PERMISSIVE FOR SELECT TO public USING (EXISTS (SELECT 1 FROM taptik_packages p WHERE p.id = package_id))",
    ),
    _policy(
        "package_versions",
        "Owners manage their package versions",
        f"AS PERMISSIVE FOR ALL TO public USING ({OWNS_PACKAGE}) WITH CHECK ({OWNS_PACKAGE})",
    ),
]
