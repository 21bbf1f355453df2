"""`taptik-db migrate-platform`: the transformers (pure) and the copy task on each backend."""

from __future__ import annotations

import json

import pytest

from storage_tasks.errors import UnknownPlatformPair
from storage_tasks.export import export_packages
from storage_tasks.migrate_platform import migrate_platform
from storage_tasks.transformers import get_transformer, strip_secrets, vscode_key_to_vim
from storage_tasks.upload import upload_packages
from tests.storage.conftest import package_doc, rows, run


def test_secrets_are_removed_at_any_depth():
    doc = {"a": {"API_KEY": 1, "nested": [{"githubToken": "t", "keep": 2}]}, "db_password": "p", "x": 1}
    cleaned, removed = strip_secrets(doc)
    assert cleaned == {"a": {"nested": [{"keep": 2}]}, "x": 1}
    assert sorted(removed) == ["a.API_KEY", "a.nested[0].githubToken", "db_password"]


def test_claude_code_to_cursor_renames_settings_and_drops_secrets():
    source = package_doc("p")
    out = get_transformer("claude-code", "cursor")(source)
    assert out["platform"] == "cursor"
    assert out["settings"] == {"cursor.general.model": "opus", "workbench.colorTheme": "dark", "editor.tabSize": 2}
    assert out["migration"]["removed_secrets"] == ["settings.apiKey"]
    assert source["settings"]["apiKey"] == "sk-secret"  # the input is left alone


def test_claude_code_to_vim_maps_keybindings_and_drops_what_vim_lacks():
    out = get_transformer("claude-code", "vim")(package_doc("p"))
    assert out["keybindings"] == [{"key": "<C-S-p>", "command": "palette"}]
    assert out["settings"] == {"colorscheme": "dark", "tabstop": 2}
    assert out["migration"]["dropped_settings"] == ["model"]
    assert vscode_key_to_vim("ctrl+k ctrl+s") == "<C-k><C-s>"


def test_cursor_to_kiro_goes_through_claude_code_names():
    out = get_transformer("cursor", "kiro")({"settings": {"cursor.general.model": "m", "editor.fontSize": 12}})
    assert out["settings"] == {"kiro.agent.model": "m", "editor.fontSize": 12}


def test_unknown_pair_lists_the_known_ones():
    with pytest.raises(UnknownPlatformPair, match="known: claude-code -> cursor, claude-code -> kiro"):
        get_transformer("vim", "emacs")


@pytest.fixture
def claude_packages(packages_dir, tmp_path, user_id, storage_url):
    manifest = tmp_path / "m.json"
    export_packages(packages_dir, manifest)
    upload_packages(manifest, user_id, storage_url=storage_url)


def test_copies_each_package_once(claude_packages, store, engine, migrated_url):
    result = run("migrate-platform", "--from", "claude-code", "--to", "cursor")
    assert result.exit_code == 0, result.output
    assert "3 created" in result.output
    copies = rows(engine, "SELECT * FROM taptik_packages WHERE platform = 'cursor' ORDER BY name")
    assert [r["name"] for r in copies] == ["alpha_cursor", "beta_cursor", "gamma_cursor"]
    content = json.loads(b"".join(store.get(copies[0]["storage_url"])))
    assert content["platform"] == "cursor" and "sk-secret" not in json.dumps(content)
    assert copies[0]["metadata"]["migrated_from"]["platform"] == "claude-code"

    again = migrate_platform("claude-code", "cursor")
    assert [c.status for c in again.copies] == ["skipped"] * 3
    assert len(rows(engine)) == 6


def test_dry_run_creates_nothing(claude_packages, store, engine, migrated_url):
    before = {o.key for o in store.list()}
    result = migrate_platform("claude-code", "kiro", dry_run=True)
    assert [c.status for c in result.copies] == ["planned"] * 3
    assert {o.key for o in store.list()} == before and len(rows(engine)) == 3


def test_unknown_pair_is_one_line_on_the_cli(migrated_url):
    result = run("migrate-platform", "--from", "kiro", "--to", "vim")
    assert result.exit_code == 2
    assert "no transformer from 'kiro' to 'vim'" in result.output
