"""What schema comparisons (autogenerate, `alembic check`, `taptik-db verify`) look at: public only.

auth and storage belong to Supabase, taptik_archive holds the chain's pre-images and
archives: none of them is ours to model.
"""

from __future__ import annotations


def include_name(name, type_, parent_names) -> bool:
    return name in (None, "public") if type_ == "schema" else True


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and obj.schema not in (None, "public"))
