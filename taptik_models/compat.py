"""The one mapping between taptik's v1 and v2 push API shapes.

v1 clients send `file`, `user`, `public` and put title, description and tags inside
`metadata`; v2 names them `filePath`, `userId`, `isPublic` and flattens the metadata,
adding `teamId` and `version`. The data steps use the same mapping (`V1_METADATA_COLUMNS`)
to backfill v2 columns from `metadata` and to fold them back on downgrade, so the API
layer and the database agree on what a v1 client sees.

Pure data and functions only: revisions may import this module (it holds no ORM class).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taptik_models.errors import TaptikError

# metadata key in v1 rows/requests -> column of taptik_packages
V1_METADATA_COLUMNS: dict[str, str] = {"title": "title", "description": "description", "tags": "user_tags"}

# v1 top-level request field -> v2 field
V1_TO_V2_FIELDS: dict[str, str] = {"file": "filePath", "user": "userId", "public": "isPublic"}
# metadata key -> v2 top-level field
V1_METADATA_TO_V2: dict[str, str] = {"title": "title", "description": "description", "tags": "tags"}
V2_ONLY_FIELDS: tuple[str, ...] = ("teamId", "version")

API_VERSION_HEADER = "x-api-version"


class CompatError(TaptikError):
    """A request that is neither a v1 nor a v2 push, or cannot be converted."""

    exit_code = 2


def detect_api_version(headers: Mapping[str, str] | None, body: Mapping[str, Any]) -> int:
    """1 or 2: the `x-api-version` header when present (case-insensitive), else the body's shape."""
    for name, value in (headers or {}).items():
        if name.lower() == API_VERSION_HEADER:
            version = str(value).strip().lower().removeprefix("v")
            if version.split(".")[0] in ("1", "2"):
                return int(version.split(".")[0])
            raise CompatError(f"unsupported {API_VERSION_HEADER}: {value!r} (expected 1 or 2)")
    if any(key in body for key in (*V1_TO_V2_FIELDS.values(), *V2_ONLY_FIELDS)):
        return 2
    if any(key in body for key in V1_TO_V2_FIELDS) or isinstance(body.get("metadata"), Mapping):
        return 1
    raise CompatError("cannot tell the API version: no x-api-version header and no v1 or v2 fields")


def v1_request_to_v2(body: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a v1 push request to the v2 shape. Unknown fields pass through unchanged."""
    out: dict[str, Any] = {}
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise CompatError("v1 request: metadata must be an object")
    for key, value in body.items():
        if key == "metadata":
            continue
        out[V1_TO_V2_FIELDS.get(key, key)] = value
    extra = {k: v for k, v in metadata.items() if k not in V1_METADATA_TO_V2}
    for key, field in V1_METADATA_TO_V2.items():
        if key in metadata:
            out[field] = metadata[key]
    if extra:
        out["metadata"] = extra
    return out


def v2_request_to_v1(body: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `v1_request_to_v2` (v2-only fields are dropped: v1 has no place for them)."""
    back = {v2: v1 for v1, v2 in V1_TO_V2_FIELDS.items()}
    meta_back = {v2: key for key, v2 in V1_METADATA_TO_V2.items()}
    out: dict[str, Any] = {}
    metadata: dict[str, Any] = dict(body.get("metadata") or {})
    for key, value in body.items():
        if key in V2_ONLY_FIELDS or key == "metadata":
            continue
        if key in meta_back:
            metadata[meta_back[key]] = value
        else:
            out[back.get(key, key)] = value
    if metadata:
        out["metadata"] = metadata
    return out


def v2_response_to_v1(response: Mapping[str, Any]) -> dict[str, Any]:
    """A v2 push response (`{"success", "package": {...}}`) as v1 clients expect it.

    v1: `{"success", "id", "url", "metadata": {"title", "tags"}}`.
    """
    package = response.get("package") or {}
    out: dict[str, Any] = {"success": bool(response.get("success", False))}
    if "error" in response:
        out["error"] = response["error"]
    if package:
        out["id"] = package.get("id")
        out["url"] = package.get("url", package.get("storageUrl"))
        out["metadata"] = {"title": package.get("title"), "tags": list(package.get("tags") or [])}
    return out
