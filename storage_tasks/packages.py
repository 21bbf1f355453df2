"""Local package files and the manifest that describes them (written by export, read by upload)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage_tasks.errors import ManifestError

MANIFEST_VERSION = 1
CONTENT_TYPE = "application/json"
# Larger files are hashed (streamed) but not parsed for metadata: json.loads needs them whole.
MAX_PARSE_BYTES = 16 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
KNOWN_PLATFORMS = ("claude-code", "cursor", "kiro", "vim", "vscode", "windsurf")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (never the whole file at once)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sha256_chunks(chunks) -> tuple[str, int]:
    """Hex sha256 and byte count of a stream of chunks."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def normalize_platform(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def platform_from_name(stem: str) -> str | None:
    """`my-setup.cursor` or `cursor-setup` -> cursor; None when the name says nothing."""
    lowered = stem.lower().replace("_", "-")
    for platform in sorted(KNOWN_PLATFORMS, key=len, reverse=True):
        if re.search(rf"(^|[.\-]){re.escape(platform)}($|[.\-])", lowered):
            return platform
    return None


@dataclass
class PackageEntry:
    """One package file as the manifest records it."""

    path: str
    name: str
    platform: str | None
    size: int
    sha256: str
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return str(self.metadata.get("title") or self.name)


def _pick(doc: dict, *names: str) -> Any:
    """The first of `names` found at the top level or under the package's metadata/manifest object."""
    places = [doc] + [doc[k] for k in ("metadata", "manifest") if isinstance(doc.get(k), dict)]
    for place in places:
        for name in names:
            if place.get(name) not in (None, ""):
                return place[name]
    return None


def parse_package(content: bytes) -> dict[str, Any]:
    """The package JSON as a dict; ValueError with the reason when it is not one."""
    if not content.strip():
        raise ValueError("empty file")
    if b"\x00" in content:
        raise ValueError("binary file (contains NUL bytes)")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte {exc.start})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"JSON {type(doc).__name__}, not an object")
    return doc


def describe_package(doc: dict[str, Any]) -> dict[str, Any]:
    """The metadata fields taptik_packages needs, from a parsed package."""
    tags = _pick(doc, "tags", "user_tags", "userTags")
    meta = {
        "name": _pick(doc, "name"),
        "title": _pick(doc, "title", "displayName"),
        "description": _pick(doc, "description"),
        "platform": normalize_platform(_pick(doc, "platform", "sourcePlatform", "source_platform")),
        "version": _pick(doc, "version"),
        "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
        "sanitization_level": _pick(doc, "sanitizationLevel", "sanitization_level"),
    }
    return {k: v for k, v in meta.items() if v not in (None, [])}


def scan_file(path: Path) -> PackageEntry:
    """Hash one file and read its metadata; problems become warnings, never exceptions."""
    size = path.stat().st_size
    sha = sha256_file(path)
    warnings: list[str] = []
    meta: dict[str, Any] = {}
    if size > MAX_PARSE_BYTES:
        warnings.append(f"{path.name}: {size} bytes, too large to parse; metadata from the file name")
    else:
        try:
            meta = describe_package(parse_package(path.read_bytes()))
        except ValueError as exc:
            warnings.append(f"{path.name}: {exc}; metadata from the file name")
    name = str(meta.pop("name", None) or path.stem)
    platform = meta.pop("platform", None) or platform_from_name(path.stem)
    return PackageEntry(
        path=str(path.resolve()),
        name=name,
        platform=platform,
        size=size,
        sha256=sha,
        metadata=meta,
        warnings=warnings,
    )


def write_manifest(path: Path, source: Path, entries: list[PackageEntry]) -> None:
    """Write atomically: a crash never leaves half a manifest behind."""
    doc = {
        "version": MANIFEST_VERSION,
        "source": str(source),
        "created_at": datetime.now(UTC).isoformat(),
        "packages": [asdict(e) for e in entries],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=2)
    os.replace(tmp, path)


def load_manifest(path: Path) -> list[PackageEntry]:
    """The manifest's entries, or ManifestError with one line saying what is wrong."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        raise ManifestError(f"manifest {path} has no 'packages' list; write one with `taptik-db export`")
    entries = []
    for i, item in enumerate(doc["packages"]):
        try:
            entry = PackageEntry(**item)
        except TypeError as exc:
            raise ManifestError(f"manifest {path}: package #{i}: {exc}") from None
        problems = []
        if not isinstance(entry.path, str) or not isinstance(entry.name, str) or not entry.name:
            problems.append("path and name must be strings")
        if not isinstance(entry.sha256, str) or not _SHA256.match(entry.sha256):
            problems.append("sha256 must be 64 hex digits")
        if not isinstance(entry.size, int) or entry.size < 0:
            problems.append("size must be a non-negative integer")
        if not isinstance(entry.metadata, dict):
            problems.append("metadata must be an object")
        if problems:
            raise ManifestError(f"manifest {path}: package #{i}: {'; '.join(problems)}")
        entries.append(entry)
    return entries
