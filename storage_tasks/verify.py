"""`taptik-db verify`: one report of consistency checks between the models, the database and storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage_tasks import migrator
from storage_tasks.orphans import key_from_storage_url
from storage_tasks.package_rows import StoredPackage, stream_packages
from storage_tasks.packages import sha256_chunks
from storage_tasks.stores import ObjectStore, open_store
from taptik_models.errors import TaptikError
from taptik_models.settings import project_root

REQUIRED_FIELDS = ("config_id", "user_id", "name", "checksum", "storage_url")
# Differences that mean an expected table, column, index or constraint is missing or extra.
_SCHEMA_OPS = {
    "add_table",
    "remove_table",
    "add_column",
    "remove_column",
    "add_index",
    "remove_index",
    "add_constraint",
    "remove_constraint",
    "add_fk",
    "remove_fk",
    "modify_nullable",
}
MAX_DETAILS = 20


@dataclass
class Check:
    name: str
    ok: bool
    details: Any = None


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def check_required_fields(conn: Connection) -> Check:
    counts = ", ".join(f"count(*) FILTER (WHERE {c} IS NULL) AS {c}" for c in REQUIRED_FIELDS)
    row = conn.execute(sa.text(f"SELECT {counts} FROM public.taptik_packages")).mappings().one()
    violations = {k: v for k, v in row.items() if v}
    return Check("required_fields_not_null", not violations, violations or "every row has them")


def check_package_users(conn: Connection) -> Check:
    count = conn.execute(
        sa.text(
            "SELECT count(*) FROM public.taptik_packages p WHERE p.user_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = p.user_id)"
        )
    ).scalar_one()
    return Check("package_users_exist", count == 0, {"packages_without_user": count})


def _describe_diff(diff) -> str:
    op = diff[0]
    if op == "modify_nullable":
        _, _schema, table, column, _info, old, new = diff
        return f"{table}.{column}: nullable {old} in the database, {new} in the models"
    obj = diff[-1]
    name = getattr(obj, "name", None) or str(obj)
    table = getattr(getattr(obj, "table", None), "name", None)
    return f"{op} {table + '.' if table else ''}{name}"


def check_schema(conn: Connection) -> Check:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from taptik_models import autogen_plugin, metadata
    from taptik_models.compare_scope import include_name, include_object

    autogen_plugin.install()  # keeps alembic-utils' global comparator out of this comparison
    context = MigrationContext.configure(
        conn,
        opts={"target_metadata": metadata, "include_name": include_name, "include_object": include_object},
    )
    problems = []
    for diff in compare_metadata(context, metadata):
        for item in diff if isinstance(diff, list) else [diff]:
            if item[0] in _SCHEMA_OPS:
                problems.append(_describe_diff(item))
    return Check("schema_matches_models", not problems, problems[:MAX_DETAILS] or "tables, indexes, constraints")


def check_alembic_head(conn: Connection) -> Check:
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(Config(str(project_root() / "alembic.ini"))).get_heads())
    current = set(MigrationContext.configure(conn).get_current_heads())
    return Check("alembic_at_head", current == heads, {"database": sorted(current), "head": sorted(heads)})


def _check_object(store: ObjectStore, pkg: StoredPackage, checksums: bool) -> str | None:
    key = key_from_storage_url(pkg.storage_url)
    try:
        info = store.stat(key)
        if info is None:
            return f"{pkg.id}: {key} missing"
        if pkg.file_size is not None and info.size != pkg.file_size:
            return f"{pkg.id}: {key} has {info.size} bytes, row says {pkg.file_size}"
        if checksums and pkg.checksum:
            sha, _ = sha256_chunks(store.get(key))
            if sha != pkg.checksum:
                return f"{pkg.id}: {key} sha256 differs from the row's checksum"
    except TaptikError as exc:
        return f"{pkg.id}: {key}: {exc}"
    return None


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    while batch := list(islice(items, size)):
        yield batch


def check_storage(
    conn: Connection,
    store: ObjectStore,
    *,
    checksums: bool,
    concurrency: int = 16,
    progress: Callable[[int], None] | None = None,
) -> Check:
    packages = (p for p in stream_packages(conn) if p.storage_url)
    problems: list[str] = []
    checked = 0
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for batch in _chunks(packages, 1000):
            for problem in pool.map(lambda p: _check_object(store, p, checksums), batch):
                if problem:
                    problems.append(problem)
            checked += len(batch)
            if progress:
                progress(checked)
    name = "storage_objects_match_rows" + ("_with_checksums" if checksums else "")
    details = {"checked": checked, "problems": len(problems), "first": problems[:MAX_DETAILS]}
    return Check(name, not problems, details)


def verify(
    *,
    database_url: str | None = None,
    storage: bool = False,
    checksums: bool = False,
    storage_url: str | None = None,
    store: ObjectStore | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Run every check; with `storage` (implied by `checksums`) also compare each row with its object."""
    report = VerifyReport()
    with migrator.connect(migrator.resolve_url(database_url, None)) as conn:
        for check in (check_alembic_head, check_schema, check_required_fields, check_package_users):
            report.checks.append(check(conn))
            conn.rollback()
        if storage or checksums:
            store = store or open_store(storage_url)
            report.checks.append(check_storage(conn, store, checksums=checksums, progress=progress))
    return report
