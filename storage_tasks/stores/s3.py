"""`s3://bucket`: any S3 API (AWS, MinIO, Supabase's S3 endpoint) through boto3.

Credentials, region and endpoint come from the standard AWS variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL), read by boto3 itself.
Path-style addressing, as Supabase's endpoint requires. Retries are ours (RetryPolicy),
botocore's own are switched off so the two do not multiply.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import SplitResult

from storage_tasks.errors import ObjectExists, ObjectNotFound
from storage_tasks.stores import DeleteResult, KeyPrefix, ObjectInfo, RetryPolicy, batched
from taptik_models.errors import ConfigError, StorageError

PAGE_SIZE = 1000
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}


def is_transient(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    return False


def _code(exc) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc) -> str:
    return f"{_code(exc)}: {exc.response.get('Error', {}).get('Message')}"


class S3Store:
    def __init__(self, parts: SplitResult, *, retry: RetryPolicy | None = None, max_connections: int = 32):
        import boto3
        from botocore.config import Config

        self.bucket = parts.netloc
        if not self.bucket:
            raise ConfigError(f"S3 storage URL must name a bucket: s3://bucket, got {parts.geturl()!r}")
        self.keys = KeyPrefix(parts.path)
        self.url = self.keys.url("s3", self.bucket)
        self.retry = retry or RetryPolicy()
        config = Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            max_pool_connections=max_connections,
            connect_timeout=10,
            read_timeout=60,
        )
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.client = boto3.session.Session().client("s3", region_name=region, config=config)

    def _retrying(self, fn):
        return self.retry.call(fn, is_transient)

    def _call(self, what: str, fn):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._retrying(fn)
        except ClientError as exc:
            raise StorageError(f"{what}: {_describe(exc)}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{what}: {exc}") from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        full_prefix = self.keys.listing(prefix)
        token = None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": full_prefix, "MaxKeys": PAGE_SIZE}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(f"list s3://{self.bucket}", lambda kw=kwargs: self.client.list_objects_v2(**kw))
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=self.keys.short(item["Key"]),
                    size=item["Size"],
                    last_modified=item["LastModified"],
                    etag=item.get("ETag", "").strip('"') or None,
                )
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def put(
        self,
        key: str,
        source: Path | bytes,
        *,
        content_type: str,
        upsert: bool = True,
        sha256: str | None = None,
    ) -> bool:
        from botocore.exceptions import ClientError

        kwargs = {"Bucket": self.bucket, "Key": self.keys.full(key), "ContentType": content_type}
        if not upsert:
            kwargs["IfNoneMatch"] = "*"
        if sha256:
            # botocore hashes the bytes it sends, S3 recomputes that over what it received and
            # refuses a mismatch (BadDigest), and answers with the checksum of what it stored.
            kwargs["ChecksumAlgorithm"] = "SHA256"

        def once():
            if isinstance(source, bytes | bytearray):
                return self.client.put_object(Body=source, **kwargs)
            with open(source, "rb") as body:  # reopened per attempt: a retry re-sends from the start
                return self.client.put_object(Body=body, **kwargs)

        try:
            response = self.retry.call(once, is_transient)
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412"):
                raise ObjectExists(f"object already exists: {key}") from None
            raise StorageError(f"put {key}: {_describe(exc)}") from exc
        stored = response.get("ChecksumSHA256")
        if not sha256 or not stored:  # an S3 API without checksums: the caller verifies otherwise
            return False
        if stored != base64.b64encode(bytes.fromhex(sha256)).decode():
            raise StorageError(f"put {key}: stored content's sha256 differs from {sha256[:12]}...")
        return True

    def get(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        full = self.keys.full(key)
        try:
            response = self._retrying(lambda: self.client.get_object(Bucket=self.bucket, Key=full))
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise ObjectNotFound(f"object not found: {key}") from None
            raise StorageError(f"get {key}: {_code(exc)}") from exc
        return response["Body"].iter_chunks(1 << 20)

    def stat(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        full = self.keys.full(key)
        try:
            head = self._retrying(lambda: self.client.head_object(Bucket=self.bucket, Key=full))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"stat {key}: {_code(exc)}") from exc
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            last_modified=head["LastModified"],
            etag=head.get("ETag", "").strip('"') or None,
        )

    def delete(self, keys: Iterable[str]) -> DeleteResult:
        result = DeleteResult()
        for batch in batched(keys):
            objects = [{"Key": self.keys.full(k)} for k in batch]
            try:
                response = self._call(
                    f"delete {len(batch)} objects",
                    lambda o=objects: self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": o, "Quiet": True}
                    ),
                )
            except StorageError as exc:
                result.failed.update(dict.fromkeys(batch, str(exc)))
                continue
            errors = {
                self.keys.short(e["Key"]): f"{e.get('Code')}: {e.get('Message')}" for e in response.get("Errors", [])
            }
            result.failed.update(errors)
            result.deleted.extend(k for k in batch if k not in errors)
        return result
