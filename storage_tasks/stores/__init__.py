"""The object-store interface, key validation, retries, and the backend registry.

A backend is one module with a class that satisfies `ObjectStore` and takes the
parsed URL in its constructor; it is registered with one line in `BACKENDS`.
"""

from __future__ import annotations

import importlib
import random
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import SplitResult, unquote, urlsplit

from storage_tasks.errors import InvalidKey, TransientStorageError
from taptik_models.errors import ConfigError, StorageError
from taptik_models.settings import load_settings

MAX_KEY_BYTES = 1024
DELETE_BATCH = 1000
BUCKET = "taptik-packages"

# scheme -> "module:Class"; imported lazily so boto3/supabase load only when used.
BACKENDS = {
    "file": "storage_tasks.stores.file:FileStore",
    "s3": "storage_tasks.stores.s3:S3Store",
    "supabase": "storage_tasks.stores.supabase:SupabaseStore",
}


@dataclass(frozen=True)
class ObjectInfo:
    """One object as a listing or stat reports it."""

    key: str
    size: int
    last_modified: datetime
    etag: str | None = None


@dataclass
class DeleteResult:
    """What a batched delete did: keys deleted, and the error of each key it could not delete."""

    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    """What every backend offers. Keys are validated by the caller with `validate_key`."""

    url: str

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`, page after page until the last."""
        ...

    def put(
        self,
        key: str,
        source: Path | bytes,
        *,
        content_type: str,
        upsert: bool = True,
        sha256: str | None = None,
    ) -> bool:
        """Store `source` (a local file, streamed, or bytes) under `key`.

        Raises ObjectExists when the key is taken and not `upsert`. Returns True only when
        the store itself checked what it stored against `sha256` (S3 checksums); callers
        verify by other means otherwise.
        """
        ...

    def get(self, key: str) -> Iterator[bytes]:
        """The object's content in chunks (never the whole object in memory unless the API forces it)."""
        ...

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and date of `key`, or None when it does not exist."""
        ...

    def delete(self, keys: Iterable[str]) -> DeleteResult:
        """Delete `keys` in batches of at most DELETE_BATCH."""
        ...


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise InvalidKey."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key is empty")
    shown = key.encode("unicode_escape").decode()[:80]
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key longer than {MAX_KEY_BYTES} bytes: {shown}...")
    if key.startswith("/") or key.startswith("\\"):
        raise InvalidKey(f"object key must be relative, not start with '/': {shown}")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in key):
        raise InvalidKey(f"object key contains control characters: {shown}")
    segments = key.replace("\\", "/").split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise InvalidKey(f"object key has an empty, '.' or '..' segment: {shown}")
    return key


class KeyPrefix:
    """The folder a store URL may name after its bucket (`s3://bucket/folder`): keys live under it."""

    def __init__(self, path: str):
        self.prefix = unquote(path).strip("/")

    def full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def short(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def listing(self, prefix: str) -> str:
        """The backend prefix to list for a caller's key prefix."""
        if prefix:
            return self.full(prefix)
        return f"{self.prefix}/" if self.prefix else ""

    def url(self, scheme: str, bucket: str) -> str:
        return f"{scheme}://{bucket}" + (f"/{self.prefix}" if self.prefix else "")


def batched(items: Iterable[str], size: int = DELETE_BATCH) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in delay."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0

    def call(self, fn: Callable[[], T], is_transient: Callable[[BaseException], bool]) -> T:
        """Run `fn`, retrying transient errors; the last one is raised as TransientStorageError."""
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if attempt == self.attempts:
                    raise TransientStorageError(
                        f"gave up after {self.attempts} attempts: {type(exc).__name__}: {exc}"
                    ) from exc
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                time.sleep(random.uniform(0, delay))
        raise AssertionError("unreachable")


def default_storage_url() -> str:
    """`TAPTIK_STORAGE`, else a folder beside the embedded database."""
    settings = load_settings()
    if settings.storage_url:
        return settings.storage_url
    return (settings.home / "storage" / BUCKET).as_uri()


def open_store(url: str | None = None, *, retry: RetryPolicy | None = None) -> ObjectStore:
    """The backend for `url` (`file:///dir`, `s3://bucket`, `supabase://bucket`; default from settings)."""
    url = url or default_storage_url()
    parts: SplitResult = urlsplit(url)
    target = BACKENDS.get(parts.scheme)
    if target is None:
        raise ConfigError(
            f"unknown storage URL scheme {parts.scheme!r} in {url!r} "
            f"(known: {', '.join(f'{s}://' for s in sorted(BACKENDS))})"
        )
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(parts, retry=retry or RetryPolicy())


__all__ = [
    "BACKENDS",
    "DELETE_BATCH",
    "DeleteResult",
    "ObjectInfo",
    "ObjectStore",
    "RetryPolicy",
    "StorageError",
    "batched",
    "open_store",
    "validate_key",
]
