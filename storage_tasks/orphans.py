"""`taptik-db orphans`: objects in storage that no package or package version references.

Every page of the listing is read. The referenced keys are streamed from the database
into a sorted array of 64-bit hashes (8 bytes a key: about 8 MB per million rows), not a
set of strings. A hash collision can only make an orphan look referenced, never the
reverse, so it can hide an orphan but never delete a referenced file.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage_tasks import migrator
from storage_tasks.package_rows import table_exists
from storage_tasks.stores import BUCKET, DeleteResult, ObjectInfo, ObjectStore, open_store

_PUBLIC_PATH = f"/{BUCKET}/"


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def key_from_storage_url(value: str) -> str:
    """The object key a storage_url names: a bare key, or a full Storage URL of the bucket."""
    if "://" in value and _PUBLIC_PATH in value:
        return value.split(_PUBLIC_PATH, 1)[1].split("?", 1)[0]
    return value


class ReferencedKeys:
    """Membership test for the keys the database references, in 8 bytes a key."""

    def __init__(self, keys: Iterator[str]):
        hashes = array("q", (key_hash(key_from_storage_url(k)) for k in keys))
        self._sorted = array("q", sorted(hashes))
        del hashes

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, key: str) -> bool:
        h = key_hash(key)
        i = bisect_left(self._sorted, h)
        return i < len(self._sorted) and self._sorted[i] == h


def referenced_keys(conn: Connection) -> ReferencedKeys:
    """Every storage_url of taptik_packages and package_versions (if it exists): one streamed query."""
    sources = ["SELECT storage_url FROM public.taptik_packages WHERE storage_url IS NOT NULL"]
    if table_exists(conn, "package_versions"):
        sources.append("SELECT storage_url FROM public.package_versions WHERE storage_url IS NOT NULL")
    result = conn.execution_options(stream_results=True, yield_per=20_000).execute(sa.text(" UNION ALL ".join(sources)))
    return ReferencedKeys(row[0] for row in result)


@dataclass
class OrphanReport:
    store: str
    scanned: int
    referenced: int
    older_than_seconds: float
    orphans: list[ObjectInfo] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def deletable(self) -> list[ObjectInfo]:
        cutoff = datetime.now(UTC) - timedelta(seconds=self.older_than_seconds)
        return [o for o in self.orphans if o.last_modified <= cutoff]

    @property
    def ok(self) -> bool:
        return not self.failed


def find_orphans(
    *,
    storage_url: str | None = None,
    store: ObjectStore | None = None,
    database_url: str | None = None,
    older_than: timedelta = timedelta(hours=24),
    delete: bool = False,
    dry_run: bool = False,
    confirm: Callable[[list[ObjectInfo]], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> OrphanReport:
    """List unreferenced objects; with `delete`, remove those older than `older_than` in batches.

    Objects younger than the grace period are listed but never deleted: an upload stores
    the file a moment before it inserts the row.
    """
    store = store or open_store(storage_url)
    with migrator.connect(migrator.resolve_url(database_url, None)) as conn:
        referenced = referenced_keys(conn)
    report = OrphanReport(
        store=store.url,
        scanned=0,
        referenced=len(referenced),
        older_than_seconds=older_than.total_seconds(),
        dry_run=dry_run,
    )
    for info in store.list():
        report.scanned += 1
        if info.key not in referenced:
            report.orphans.append(info)
        if progress and report.scanned % 1000 == 0:
            progress(report.scanned)
    if progress:
        progress(report.scanned)
    victims = report.deletable
    if not delete or dry_run or not victims or (confirm is not None and not confirm(victims)):
        return report
    outcome: DeleteResult = store.delete(o.key for o in victims)
    report.deleted, report.failed = outcome.deleted, outcome.failed
    return report
