"""`supabase://bucket`: Supabase Storage's HTTP API through the `supabase` package (storage3).

Needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (the service role bypasses RLS on
storage.objects). Limits followed from storage3 2.34: `list_v2` pages by cursor,
`remove` takes at most 1,000 paths, `file_options` values are strings, errors carry
`.status` as a string.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import SplitResult

from storage_tasks.errors import ObjectExists, ObjectNotFound
from storage_tasks.stores import DeleteResult, KeyPrefix, ObjectInfo, RetryPolicy, batched
from taptik_models.errors import ConfigError, StorageError
from taptik_models.settings import load_settings

PAGE_SIZE = 1000


def _status(exc: BaseException) -> int:
    try:
        return int(getattr(exc, "status", 0) or 0)
    except (TypeError, ValueError):
        return 0


def is_transient(exc: BaseException) -> bool:
    import httpx
    from storage3.exceptions import StorageApiError

    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, StorageApiError) and _status(exc) >= 500


def _parse_time(value) -> datetime:
    if isinstance(value, datetime):
        return value
    if value:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return datetime.fromtimestamp(0, UTC)


class SupabaseStore:
    def __init__(self, parts: SplitResult, *, retry: RetryPolicy | None = None):
        from supabase import create_client

        settings = load_settings()
        if not settings.supabase_url or not settings.supabase_service_role_key:
            raise ConfigError("supabase:// storage needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
        self.bucket_id = parts.netloc
        if not self.bucket_id:
            raise ConfigError(f"Supabase storage URL must be supabase://bucket, got {parts.geturl()!r}")
        self.keys = KeyPrefix(parts.path)
        self.url = self.keys.url("supabase", self.bucket_id)
        self.retry = retry or RetryPolicy()
        client = create_client(settings.supabase_url, settings.supabase_service_role_key)
        self.bucket = client.storage.from_(self.bucket_id)

    def _call(self, what: str, fn):
        from storage3.exceptions import StorageApiError

        try:
            return self.retry.call(fn, is_transient)
        except StorageApiError as exc:
            raise StorageError(f"{what}: {exc.status} {exc.code}: {exc.message}") from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        full_prefix = self.keys.listing(prefix)
        cursor = None
        while True:
            options = {"limit": PAGE_SIZE, "prefix": full_prefix, "with_delimiter": False}
            if cursor:
                options["cursor"] = cursor
            page = self._call(f"list {self.url}", lambda o=options: self.bucket.list_v2(o))
            for obj in page.objects:
                meta = obj.metadata or {}
                yield ObjectInfo(
                    key=self.keys.short(obj.key or obj.name),
                    size=int(meta.get("size") or meta.get("contentLength") or 0),
                    last_modified=_parse_time(meta.get("lastModified") or obj.updated_at),
                    etag=(meta.get("eTag") or "").strip('"') or None,
                )
            if not page.hasNext or not page.nextCursor:
                return
            cursor = page.nextCursor

    def put(
        self,
        key: str,
        source: Path | bytes,
        *,
        content_type: str,
        upsert: bool = True,
        sha256: str | None = None,
    ) -> bool:
        from storage3.exceptions import StorageApiError

        full = self.keys.full(key)
        options = {"content-type": content_type, "upsert": "true" if upsert else "false"}

        def once():
            if isinstance(source, bytes | bytearray):
                return self.bucket.upload(full, bytes(source), options)
            return self.bucket.upload(full, Path(source), options)  # storage3 opens and streams it

        try:
            self.retry.call(once, is_transient)
        except StorageApiError as exc:
            if str(exc.code) in ("Duplicate", "409") or _status(exc) == 409:
                raise ObjectExists(f"object already exists: {key}") from None
            raise StorageError(f"put {key}: {exc.status} {exc.code}: {exc.message}") from exc
        return False

    def get(self, key: str) -> Iterator[bytes]:
        from storage3.exceptions import StorageApiError

        full = self.keys.full(key)
        try:
            data = self.retry.call(lambda: self.bucket.download(full), is_transient)
        except StorageApiError as exc:
            if _status(exc) in (400, 404) and "not" in str(exc.message).lower():
                raise ObjectNotFound(f"object not found: {key}") from None
            raise StorageError(f"get {key}: {exc.status} {exc.code}: {exc.message}") from exc
        return iter((data,))  # storage3's download returns the whole body

    def stat(self, key: str) -> ObjectInfo | None:
        from storage3.exceptions import StorageApiError

        full = self.keys.full(key)
        try:
            info = self.retry.call(lambda: self.bucket.info(full), is_transient)
        except StorageApiError as exc:
            if str(exc.status) == "404" or str(exc.code) in ("not_found", "NoSuchKey"):
                return None
            raise StorageError(f"stat {key}: {exc.status} {exc.code}: {exc.message}") from exc
        meta = info.get("metadata") or {}
        return ObjectInfo(
            key=key,
            size=int(info.get("size") or meta.get("size") or 0),
            last_modified=_parse_time(info.get("last_modified") or info.get("updated_at")),
            etag=(info.get("etag") or meta.get("eTag") or "").strip('"') or None,
        )

    def delete(self, keys: Iterable[str]) -> DeleteResult:
        result = DeleteResult()
        for batch in batched(keys):  # remove() takes at most 1,000 paths
            paths = [self.keys.full(k) for k in batch]
            try:
                self._call(f"delete {len(batch)} objects", lambda p=paths: self.bucket.remove(p))
            except StorageError as exc:
                result.failed.update(dict.fromkeys(batch, str(exc)))
                continue
            # remove() answers with what it deleted; keys already absent are not errors (as on S3).
            result.deleted.extend(batch)
        return result
