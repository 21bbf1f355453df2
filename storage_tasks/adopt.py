"""`taptik-db adopt`: bring a database migrated by the legacy hand-written SQL under Alembic.

Such a database has `schema_migrations` (versions 1-3) and no `alembic_version`. That
table says what was meant to run, not what the schema is, so adopt compares the live
public schema with a fingerprint of the schema each revision produces: tables (and
whether RLS is on), columns with type, nullability and default, indexes with their
definitions, constraints, and RLS policies. The reference fingerprints come from a
scratch embedded PostgreSQL migrated revision by revision. An exact match is stamped
(`alembic stamp`); anything else is refused with the differences from the closest
revision. Adopt never changes data: stamping writes only Alembic's bookkeeping.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage_tasks import migrator
from storage_tasks.status import alembic_config, alembic_error, run_alembic, script_directory
from taptik_models.errors import TaptikError
from taptik_models.settings import project_root, redact_url

IGNORED_TABLES = ("schema_migrations", "alembic_version")
LEGACY_VERSIONS = {1: "0001", 2: "0002", 3: "0003"}  # what each legacy SQL version corresponds to
Fingerprint = dict[str, dict[str, str]]

_QUERIES = {
    "tables": """
        SELECT c.relname, 'rls ' || c.relrowsecurity || ', forced ' || c.relforcerowsecurity
        FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
          AND c.relname <> ALL(:ignored)""",
    "columns": """
        SELECT c.relname || '.' || a.attname,
               format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END
               || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0
          AND NOT a.attisdropped AND c.relname <> ALL(:ignored)""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> ALL(:ignored)""",
    "constraints": """
        SELECT c.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE c.relnamespace = 'public'::regnamespace AND c.relname <> ALL(:ignored)
          AND k.contype <> 'n'  -- PostgreSQL 18 catalogs NOT NULL as constraints; columns carry it""",
    "policies": """
        SELECT tablename || '.' || policyname,
               concat_ws(' ', permissive, cmd, 'to', roles::text, 'using', qual, 'with check', with_check)
        FROM pg_policies WHERE schemaname = 'public' AND tablename <> ALL(:ignored)""",
}


def fingerprint(conn: Connection) -> Fingerprint:
    """The public schema as comparable text, Alembic's and the legacy bookkeeping tables left out."""
    result = {
        kind: dict(conn.execute(text(sql), {"ignored": list(IGNORED_TABLES)}).all()) for kind, sql in _QUERIES.items()
    }
    conn.rollback()
    return result


def differences(live: Fingerprint, reference: Fingerprint) -> list[str]:
    """What the live schema has, lacks or defines differently compared with a revision's."""
    found = []
    for kind in _QUERIES:
        mine, theirs = live.get(kind, {}), reference.get(kind, {})
        for name in sorted(mine.keys() - theirs.keys()):
            found.append(f"extra {kind[:-1] if kind != 'indexes' else 'index'} {name}: {mine[name]}")
        for name in sorted(theirs.keys() - mine.keys()):
            found.append(f"missing {kind[:-1] if kind != 'indexes' else 'index'} {name}: {theirs[name]}")
        for name in sorted(k for k in mine.keys() & theirs.keys() if mine[k] != theirs[k]):
            found.append(f"different {name}: database has {mine[name]!r}, the revision {theirs[name]!r}")
    return found


def _chain_digest() -> str:
    """Changes whenever anything that shapes a revision's schema changes."""
    root = project_root()
    digest = hashlib.sha256()
    files = sorted([*root.glob("alembic/versions/*.py"), *root.glob("data_migrations/*.py")])
    for path in [*files, root / "taptik_models" / "supabase_env.sql"]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def reference_fingerprints(chain_digest: str) -> dict[str, Fingerprint]:
    """The schema fingerprint at base and after each revision, from a scratch embedded database."""
    from storage_tasks.local_db import LocalDatabase

    revisions = [s.revision for s in reversed(list(script_directory().walk_revisions()))]
    with tempfile.TemporaryDirectory(prefix="taptik-adopt-") as home:
        scratch = LocalDatabase(Path(home))
        scratch.start()
        try:
            with migrator.connect(scratch.url().render_as_string(hide_password=False)) as conn:
                config = alembic_config()
                config.attributes["connection"] = conn
                references = {"base": fingerprint(conn)}
                for revision in revisions:
                    command.upgrade(config, revision)
                    references[revision] = fingerprint(conn)
        finally:
            scratch.stop()
    return references


@dataclass
class AdoptReport:
    database: str
    dry_run: bool
    legacy_version: int | None = None
    matched: str | None = None
    closest: str | None = None
    differences: list[str] = field(default_factory=list)
    stamped: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.matched is not None


class AdoptRefused(TaptikError):
    """The database is not one adopt may stamp (already under Alembic, or empty)."""


def _legacy_version(conn: Connection) -> int | None:
    if conn.execute(text("SELECT to_regclass('public.schema_migrations')")).scalar() is None:
        return None
    return conn.execute(text("SELECT max(version) FROM public.schema_migrations")).scalar()


def adopt(database_url: str | None = None, *, dry_run: bool = False) -> AdoptReport:
    """Find the revision the live schema matches exactly and stamp it; otherwise report the differences."""
    url = migrator.resolve_url(database_url, None)
    report = AdoptReport(redact_url(url), dry_run)
    with migrator.connect(url) as conn:
        if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is not None:
            raise AdoptRefused(f"{report.database} already has alembic_version: it is under Alembic, nothing to adopt")
        report.legacy_version = _legacy_version(conn)
        live = fingerprint(conn)
    references = reference_fingerprints(_chain_digest())
    if live == references["base"]:
        raise AdoptRefused(f"{report.database} has none of taptik's tables: nothing to adopt; run `taptik-db deploy`")
    distance = {rev: len(differences(live, ref)) for rev, ref in references.items() if rev != "base"}
    # The earliest of equal matches: revisions that only change data (0006) then still run.
    report.closest = min(distance, key=lambda rev: (distance[rev], rev))
    if distance[report.closest]:
        report.differences = differences(live, references[report.closest])
        return report
    report.matched = report.closest
    also = sorted(rev for rev, d in distance.items() if d == 0 and rev != report.matched)
    if also:
        report.warnings.append(
            f"the schema also matches {', '.join(also)} (revisions that change only data): stamped "
            f"{report.matched}, so the next upgrade runs their data steps"
        )
    expected = LEGACY_VERSIONS.get(report.legacy_version or 0)
    if expected != report.matched:
        report.warnings.append(
            f"schema_migrations says version {report.legacy_version}, which is revision {expected}; "
            f"the live schema is revision {report.matched}, and the schema wins"
        )
    if not dry_run:
        done = run_alembic(url, "stamp", report.matched)
        if done.returncode != 0:
            raise TaptikError(f"alembic stamp {report.matched} failed: {alembic_error(url, done)}")
        report.stamped = True
    return report
