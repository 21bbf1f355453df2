"""`taptik-db migrate-platform`: copy every package of one platform to a new package for another.

The copy of package `name` is the row `<name>_<target>` with its own object (the
transformed file, content-addressed like uploads). A package that already has its copy
is skipped, so a second run creates nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage_tasks import migrator
from storage_tasks.orphans import key_from_storage_url
from storage_tasks.package_rows import DEFAULT_VERSION, NewPackage, insert_packages, package_columns
from storage_tasks.packages import CONTENT_TYPE, parse_package
from storage_tasks.stores import ObjectStore, open_store
from storage_tasks.transformers import get_transformer
from storage_tasks.upload import object_key, verify_stored
from taptik_models.errors import TaptikError


@dataclass
class PlatformCopy:
    source_id: str
    name: str
    key: str | None
    status: str  # created | skipped | failed | planned
    detail: str = ""


@dataclass
class MigrateResult:
    source: str
    target: str
    dry_run: bool
    copies: list[PlatformCopy] = field(default_factory=list)

    def by_status(self, status: str) -> list[PlatformCopy]:
        return [c for c in self.copies if c.status == status]

    @property
    def ok(self) -> bool:
        return not self.by_status("failed")


def _source_rows(conn: Connection, platform: str, columns: set[str]) -> list[dict]:
    extra = "".join(f", {c}" for c in ("description", "sanitization_level") if c in columns)
    rows = conn.execute(
        sa.text(
            "SELECT id::text, user_id::text, name, title, version, is_public, user_tags, metadata, "
            f"storage_url{extra} FROM public.taptik_packages "
            "WHERE platform = :p AND user_id IS NOT NULL AND name IS NOT NULL AND storage_url IS NOT NULL "
            "ORDER BY id"
        ),
        {"p": platform},
    )
    return [dict(r) for r in rows.mappings()]


def _existing_copies(conn: Connection, target: str) -> set[tuple[str, str]]:
    rows = conn.execute(
        sa.text("SELECT user_id::text, name FROM public.taptik_packages WHERE platform = :q"), {"q": target}
    )
    return {(r[0], r[1]) for r in rows}


def _copy_one(store: ObjectStore, row: dict, transform, target: str, dry_run: bool) -> tuple[str, NewPackage]:
    source_key = key_from_storage_url(row["storage_url"])
    content = b"".join(store.get(source_key))
    try:
        package = parse_package(content)
    except ValueError as exc:
        raise TaptikError(f"{source_key}: {exc}") from None
    name = f"{row['name']}_{target}"
    transformed = transform(package) | {"name": name}
    data = json.dumps(transformed, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    key = object_key(row["user_id"], sha)
    if not dry_run:
        checked = store.put(key, data, content_type=CONTENT_TYPE, upsert=True, sha256=sha)
        verify_stored(store, key, len(data), sha, checked)
    metadata = dict(row["metadata"] or {})
    metadata["migrated_from"] = {"package_id": row["id"], "platform": transformed["migration"]["from"]}
    return key, NewPackage(
        user_id=row["user_id"],
        name=name,
        title=row["title"] or name,
        platform=target,
        checksum=sha,
        storage_url=key,
        file_size=len(data),
        is_public=bool(row["is_public"]),
        version=row["version"] or DEFAULT_VERSION,
        description=row.get("description") or metadata.get("description"),
        sanitization_level=row.get("sanitization_level"),
        user_tags=list(row["user_tags"] or []),
        metadata=metadata,
    )


def migrate_platform(
    source: str,
    target: str,
    *,
    database_url: str | None = None,
    storage_url: str | None = None,
    store: ObjectStore | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MigrateResult:
    """Create the `<name>_<target>` copy of each `source` package that lacks one."""
    transform = get_transformer(source, target)
    store = store or open_store(storage_url)
    result = MigrateResult(source=source, target=target, dry_run=dry_run)
    with migrator.connect(migrator.resolve_url(database_url, None)) as conn:
        columns = package_columns(conn)
        rows = _source_rows(conn, source, columns)
        existing = _existing_copies(conn, target)
        conn.commit()
        new_rows = []
        for done, row in enumerate(rows, 1):
            name = f"{row['name']}_{target}"
            if (row["user_id"], name) in existing:
                result.copies.append(PlatformCopy(row["id"], name, None, "skipped", "copy exists"))
            else:
                try:
                    key, new_row = _copy_one(store, row, transform, target, dry_run)
                except TaptikError as exc:
                    result.copies.append(PlatformCopy(row["id"], name, None, "failed", str(exc)))
                else:
                    existing.add((row["user_id"], name))
                    new_rows.append(new_row)
                    status = "planned" if dry_run else "created"
                    result.copies.append(PlatformCopy(row["id"], name, key, status))
            if progress:
                progress(done, len(rows))
        if new_rows and not dry_run:
            insert_packages(conn, new_rows, columns, allow_duplicates=True)
            conn.commit()
    return result
