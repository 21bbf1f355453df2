"""Normalizers as SQL expression templates (`{col}` is the column), shared by revisions and tasks."""

from __future__ import annotations

# "  Claude   Code " -> "claude-code"
NORMALIZED_PLATFORM = r"regexp_replace(lower(btrim({col})), '\s+', '-', 'g')"

# {" AI", "ai", "", NULL, "Rust "} -> {"ai", "rust"}: first occurrence keeps its place.
NORMALIZED_TAGS = """CASE WHEN {col} IS NULL THEN NULL ELSE ARRAY(
  SELECT tag FROM (
    SELECT lower(btrim(raw)) AS tag, min(ord) AS first_seen
    FROM unnest({col}) WITH ORDINALITY AS u(raw, ord)
    WHERE raw IS NOT NULL AND btrim(raw) <> ''
    GROUP BY 1
  ) tags ORDER BY first_seen
) END"""
