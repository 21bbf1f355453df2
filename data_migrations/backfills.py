"""Set-based loads of new tables from taptik_packages, as resumable batch steps.

Each inserts, for one keyset page of packages, every row that page yields, in one
statement with its checkpoint: a repeated or resumed run never inserts twice.
"""

from __future__ import annotations

from data_migrations import batches

PACKAGES = "public.taptik_packages"
MIGRATED = "jsonb_build_object('migrated', true)"


def download_events_step(revision: str) -> batches.BatchStep:
    """One `download` event per counted download (metadata {"migrated": true}), dated at the package's creation."""
    return batches.BatchStep(
        revision=revision,
        name="download events from download_count",
        source=PACKAGES,
        ctes=f"""affected AS (
  INSERT INTO public.package_analytics (package_id, event_type, user_id, metadata, created_at)
  SELECT p.id, 'download', NULL, {MIGRATED}, p.created_at
  FROM {PACKAGES} p CROSS JOIN LATERAL generate_series(1, p.download_count)
  WHERE IN_BATCH(p.id) AND p.download_count > 0
  RETURNING 1
)""",
    )


def load_download_events(revision: str) -> int:
    return batches.run(
        download_events_step(revision),
        offline_guard=f"NOT EXISTS (SELECT 1 FROM public.package_analytics WHERE metadata @> {MIGRATED})",
    )


def package_versions_step(revision: str) -> batches.BatchStep:
    """One version row per package: its version (else 1.0.0), file and checksum."""
    return batches.BatchStep(
        revision=revision,
        name="one version per package",
        source=PACKAGES,
        ctes=f"""affected AS (
  INSERT INTO public.package_versions (package_id, version, storage_url, checksum, created_at)
  SELECT p.id, coalesce(p.version, '1.0.0'), p.storage_url, p.checksum, p.created_at
  FROM {PACKAGES} p WHERE IN_BATCH(p.id)
  RETURNING 1
)""",
    )


def load_package_versions(revision: str) -> int:
    return batches.run(
        package_versions_step(revision),
        offline_guard="NOT EXISTS (SELECT 1 FROM public.package_versions)",
    )
