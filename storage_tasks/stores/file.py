"""`file:///dir`: objects as files under a folder; the default store, beside the embedded database."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import SplitResult, unquote

from storage_tasks.errors import ObjectExists, ObjectNotFound
from storage_tasks.stores import DeleteResult, ObjectInfo, RetryPolicy, validate_key
from taptik_models.errors import ConfigError

CHUNK = 1 << 20
_PARTIAL = ".partial-"


class FileStore:
    """Puts are atomic (a temporary file renamed into place), so a reader never sees half an object."""

    def __init__(self, parts: SplitResult, *, retry: RetryPolicy | None = None):
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigError(f"file storage URL must be file:///absolute/dir, got {parts.geturl()!r}")
        self.root = Path(unquote(parts.path))
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(key=key, size=st.st_size, last_modified=datetime.fromtimestamp(st.st_mtime, UTC))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return
        # os.scandir walks lazily: a million files never sit in one list.
        stack = [self.root]
        while stack:
            folder = stack.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                        continue
                    if entry.name.startswith(_PARTIAL):
                        continue
                    key = Path(entry.path).relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        yield self._info(key, entry.stat(follow_symlinks=False))

    def put(
        self,
        key: str,
        source: Path | bytes,
        *,
        content_type: str,
        upsert: bool = True,
        sha256: str | None = None,
    ) -> bool:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_PARTIAL, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes | bytearray):
                    out.write(source)
                else:
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, out, CHUNK)
            if upsert:
                os.replace(tmp, target)
            else:
                os.link(tmp, target)  # fails if another writer won the race
                os.unlink(tmp)
            return False
        except FileExistsError:
            os.unlink(tmp)
            raise ObjectExists(f"object already exists: {key}") from None
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"object not found: {key}")

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return chunks()

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            return self._info(key, self._path(key).stat())
        except FileNotFoundError:
            return None

    def delete(self, keys: Iterable[str]) -> DeleteResult:
        result = DeleteResult()
        for key in keys:
            try:
                self._path(key).unlink()
                result.deleted.append(key)
            except FileNotFoundError:
                result.deleted.append(key)  # as S3 does: deleting a missing key succeeds
            except OSError as exc:
                result.failed[key] = str(exc)
        return result
