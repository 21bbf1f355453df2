"""`taptik-db export`: describe the local package files in a manifest for `upload`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage_tasks.packages import PackageEntry, scan_file, write_manifest
from taptik_models.errors import ConfigError

DEFAULT_SOURCE = Path("~/.taptik/packages")
DEFAULT_MANIFEST = Path("taptik-manifest.json")


@dataclass
class ExportResult:
    manifest: Path
    packages: list[PackageEntry]

    @property
    def warnings(self) -> list[str]:
        return [w for p in self.packages for w in p.warnings]


def export_packages(
    source: Path = DEFAULT_SOURCE,
    manifest: Path = DEFAULT_MANIFEST,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Scan `source/*.taptik`, write the manifest, return what it holds.

    Unreadable metadata (binary, empty, non-UTF-8, invalid JSON) is a warning on the
    entry, whose name and platform then come from the file name.
    """
    source = Path(source).expanduser()
    if not source.is_dir():
        raise ConfigError(f"package folder not found: {source}")
    files = sorted(p for p in source.glob("*.taptik") if p.is_file())
    entries = []
    for done, path in enumerate(files, 1):
        entries.append(scan_file(path))
        if progress:
            progress(done, len(files))
    manifest = Path(manifest).expanduser()
    write_manifest(manifest, source, entries)
    return ExportResult(manifest=manifest, packages=entries)
