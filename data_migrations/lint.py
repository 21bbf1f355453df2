"""Silencing a squawk rule in the rendered SQL, always with the reason beside it.

CI renders every revision with `alembic upgrade <prev>:<rev> --sql` and lints it with
squawk (tests/test_squawk.py). A rule is silenced only where a revision says why:
`ignore_comment` prefixes one statement; `ignore_in_file` covers a statement Alembic
renders itself (op.create_table). Online these are comments, or nothing.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from data_migrations import runtime

Ignore = tuple[str, str]  # (squawk rule, why it does not apply here)


def ignore_comment(ignore: Ignore | None) -> str:
    if ignore is None:
        return ""
    rule, why = ignore
    return f"-- {why}\n-- squawk-ignore {rule}\n"


def ignore_in_file(rule: str, why: str) -> None:
    """Silence `rule` for this revision's rendered SQL (offline only)."""
    if runtime.offline():
        # Alembic strips the text and appends ';': the trailing "--" keeps it on a comment line.
        op.execute(text(f"-- {why}\n-- squawk-ignore-file {rule}\n--"))
