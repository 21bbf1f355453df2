"""`taptik-db upload`: store the manifest's package files and record them as taptik_packages rows.

Object keys are content-addressed: `<user_id>/<sha256>.taptik`. Re-uploading the same
file writes the same key, so a rerun after a crash overwrites (upsert) instead of
duplicating, and the row insert is guarded on (user_id, checksum).

Order per file, so that nothing is lost at any crash point: put -> verify (stat size,
then the store's own checksum or a re-read sha256) -> insert the row (committed in
batches) -> only then, with --remove-local, delete the local file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from storage_tasks import migrator
from storage_tasks.package_rows import (
    DEFAULT_VERSION,
    NewPackage,
    insert_packages,
    package_columns,
    require_user,
    uploaded_checksums,
)
from storage_tasks.packages import CONTENT_TYPE, PackageEntry, load_manifest, sha256_chunks
from storage_tasks.stores import ObjectStore, open_store, validate_key
from taptik_models.errors import ConfigError, TaptikError

INSERT_BATCH = 200


def object_key(user_id: str, sha256: str) -> str:
    """Where a package lives in the bucket: `<user_id>/<sha256>.taptik`."""
    return validate_key(f"{user_id}/{sha256}.taptik")


@dataclass
class Outcome:
    name: str
    path: str
    key: str | None
    status: str  # uploaded | skipped | failed | planned
    detail: str = ""


@dataclass
class UploadResult:
    store: str
    user_id: str
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    removed_local: list[str] = field(default_factory=list)

    def by_status(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def ok(self) -> bool:
        return not self.by_status("failed")


class VerificationFailed(TaptikError):
    """What was stored is not what the manifest describes."""


def verify_stored(store: ObjectStore, key: str, size: int, sha256: str, checked_by_store: bool) -> None:
    """Raise VerificationFailed unless `key` holds `size` bytes hashing to `sha256`.

    When the store checked the sha256 itself during the put (S3 recomputes a supplied
    ChecksumSHA256 and refuses a mismatch), that is the proof and costs no request.
    Otherwise: a stat for the size, then a re-read for the sha256.
    """
    if checked_by_store:
        return
    info = store.stat(key)
    if info is None:
        raise VerificationFailed(f"{key} is missing right after its upload")
    if info.size != size:
        raise VerificationFailed(f"{key} holds {info.size} bytes, expected {size}")
    actual, _ = sha256_chunks(store.get(key))
    if actual != sha256:
        raise VerificationFailed(f"{key} has sha256 {actual[:12]}..., expected {sha256[:12]}...")


def _store_one(store: ObjectStore, entry: PackageEntry, key: str) -> None:
    path = Path(entry.path)
    if not path.is_file():
        raise ConfigError(f"local file is gone: {path}")
    if path.stat().st_size != entry.size:
        raise ConfigError(f"{path} changed since export (size); run `taptik-db export` again")
    checked = store.put(key, path, content_type=CONTENT_TYPE, upsert=True, sha256=entry.sha256)
    verify_stored(store, key, entry.size, entry.sha256, checked)


def _row(entry: PackageEntry, user_id: str, key: str, public: bool) -> NewPackage:
    meta = entry.metadata
    tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
    return NewPackage(
        user_id=user_id,
        name=entry.name,
        title=entry.title,
        platform=entry.platform,
        checksum=entry.sha256,
        storage_url=key,
        file_size=entry.size,
        is_public=public,
        version=str(meta.get("version") or DEFAULT_VERSION),
        description=meta.get("description"),
        sanitization_level=meta.get("sanitization_level"),
        user_tags=[str(t) for t in tags],
    )


def upload_packages(
    manifest: Path,
    user_id: str,
    *,
    storage_url: str | None = None,
    store: ObjectStore | None = None,
    database_url: str | None = None,
    public: bool = False,
    remove_local: bool = False,
    force: bool = False,
    concurrency: int = 8,
    dry_run: bool = False,
    confirm: Callable[[list[Outcome]], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> UploadResult:
    """Upload what the manifest lists for `user_id`; see the module docstring for the order of steps.

    `confirm` sees the plan (status "planned"/"skipped") and may refuse: then nothing changes.
    """
    try:
        user_id = str(uuid.UUID(str(user_id)))
    except ValueError:
        raise ConfigError(f"--user-id must be a UUID, got {user_id!r}") from None
    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    entries = load_manifest(Path(manifest))
    store = store or open_store(storage_url)
    result = UploadResult(store=store.url, user_id=user_id, dry_run=dry_run)

    with migrator.connect(migrator.resolve_url(database_url, None)) as conn:
        require_user(conn, user_id)
        done = set() if force else uploaded_checksums(conn, user_id, {e.sha256 for e in entries})
        columns = package_columns(conn)
        conn.commit()
        todo: list[tuple[PackageEntry, str]] = []
        seen: set[str] = set()
        for entry in entries:
            key = object_key(user_id, entry.sha256)
            if entry.sha256 in done:
                result.outcomes.append(Outcome(entry.name, entry.path, key, "skipped", "already uploaded"))
            elif entry.sha256 in seen:
                result.outcomes.append(Outcome(entry.name, entry.path, key, "skipped", "same file listed twice"))
            else:
                seen.add(entry.sha256)
                todo.append((entry, key))
                result.outcomes.append(Outcome(entry.name, entry.path, key, "planned"))
        if dry_run or not todo or (confirm is not None and not confirm(result.outcomes)):
            return result
        outcome_of = {(e.sha256, e.path): o for o, (e, _) in zip(result.by_status("planned"), todo, strict=True)}
        pending: list[tuple[PackageEntry, NewPackage]] = []

        def flush() -> None:
            if not pending:
                return
            inserted = insert_packages(conn, [row for _, row in pending], columns, allow_duplicates=force)
            conn.commit()
            for entry, row in pending:
                outcome = outcome_of[(entry.sha256, entry.path)]
                outcome.status = "uploaded"
                if (user_id, row.checksum) not in inserted:
                    outcome.detail = "stored; a row for this checksum appeared meanwhile"
                if remove_local:
                    _remove(entry, result)
            pending.clear()

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = {pool.submit(_store_one, store, e, k): (e, k) for e, k in todo}
            for finished, future in enumerate(as_completed(futures), 1):
                entry, key = futures[future]
                error = future.exception()
                if error is None:
                    pending.append((entry, _row(entry, user_id, key, public)))
                else:
                    outcome = outcome_of[(entry.sha256, entry.path)]
                    outcome.status, outcome.detail = "failed", _describe(error)
                if progress:
                    progress(finished, len(todo))
                if len(pending) >= INSERT_BATCH:
                    flush()
        flush()
    return result


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, TaptikError) else f"{type(error).__name__}: {error}"


def _remove(entry: PackageEntry, result: UploadResult) -> None:
    try:
        os.unlink(entry.path)
        result.removed_local.append(entry.path)
    except FileNotFoundError:
        pass
