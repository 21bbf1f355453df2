"""Autogenerate comparison of RLS policies, as an opt-in Alembic plugin.

alembic-utils 0.8.8 registers its comparator in Alembic's *global* dispatcher, so every
autogenerate comparison in the process runs it, including pytest-alembic's
`test_downgrade_leaves_no_trace`, whose bare MigrationContext lacks the
`include_schemas` option the comparator reads (KeyError). Alembic 1.18+ has named
plugins that a context opts into with `autogenerate_plugins`: we move the comparator
into one, and env.py opts in. The move touches Alembic's dispatcher registry directly;
there is no public API to unregister a global comparator.
"""

from __future__ import annotations

import contextlib
import sys

from alembic.autogenerate import compare
from alembic.runtime.plugins import Plugin
from alembic_utils import replaceable_entity

NAME = "taptik.policies"
AUTOGENERATE_PLUGINS = ["alembic.autogenerate.*", NAME]


def setup(plugin: Plugin) -> None:
    fn = replaceable_entity.compare_registered_entities
    for key, entries in list(compare.comparators._registry.items()):
        compare.comparators._registry[key] = [entry for entry in entries if entry[0] is not fn]
    plugin.add_autogenerate_comparator(fn, "schema")


def install() -> None:
    """Idempotent: env.py runs once per Alembic command, many times in one test process."""
    with contextlib.suppress(ValueError):  # already installed in this process
        Plugin.setup_plugin_from_module(sys.modules[__name__], NAME)
