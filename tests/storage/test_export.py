"""`taptik-db export`: a manifest of local package files, whatever state they are in."""

from __future__ import annotations

import hashlib
import json
import os

from storage_tasks.export import export_packages
from tests.conftest import run_cli
from tests.storage.conftest import package_doc, run, write_package


def test_manifest_describes_valid_packages(packages_dir, tmp_path):
    result = export_packages(packages_dir, tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert [p["name"] for p in doc["packages"]] == ["alpha", "beta", "gamma"]
    alpha = doc["packages"][0]
    content = (packages_dir / "alpha.taptik").read_bytes()
    assert alpha["sha256"] == hashlib.sha256(content).hexdigest()
    assert alpha["size"] == len(content)
    assert alpha["platform"] == "claude-code"
    assert alpha["metadata"]["title"] == "alpha title"
    assert alpha["metadata"]["tags"] == ["ai", "alpha"]
    assert result.warnings == []


def test_unreadable_packages_are_warnings_named_from_the_file(tmp_path):
    folder = tmp_path / "packages"
    write_package(folder, "empty.cursor.taptik", b"")
    write_package(folder, "corrupt-kiro.taptik", b'{"name": "broken", ')
    write_package(folder, "latin1.taptik", '{"name": "caf\xe9"}'.encode("latin-1"))
    write_package(folder, "binary.taptik", b"\x89PNG\r\n\x00\x00\x01")
    write_package(folder, "ignored.json", package_doc("not-a-package"))
    result = export_packages(folder, tmp_path / "m.json")
    by_name = {p.name: p for p in result.packages}
    assert set(by_name) == {"empty.cursor", "corrupt-kiro", "latin1", "binary"}
    assert by_name["empty.cursor"].platform == "cursor"
    assert by_name["corrupt-kiro"].platform == "kiro"
    assert "empty file" in by_name["empty.cursor"].warnings[0]
    assert "not JSON" in by_name["corrupt-kiro"].warnings[0]
    assert "not UTF-8" in by_name["latin1"].warnings[0]
    assert "binary" in by_name["binary"].warnings[0]
    assert by_name["empty.cursor"].sha256 == hashlib.sha256(b"").hexdigest()


def test_huge_files_are_hashed_in_chunks_not_parsed(tmp_path):
    folder = tmp_path / "packages"
    folder.mkdir()
    digest = hashlib.sha256()
    with open(folder / "huge.taptik", "wb") as out:
        for _ in range(30):
            block = os.urandom(1 << 20)
            digest.update(block)
            out.write(block)
    (entry,) = export_packages(folder, tmp_path / "m.json").packages
    assert entry.size == 30 << 20
    assert entry.sha256 == digest.hexdigest()
    assert "too large to parse" in entry.warnings[0]


def test_cli_reports_warnings_and_exits_zero(tmp_path):
    folder = tmp_path / "packages"
    write_package(folder, "ok.taptik", package_doc("ok"))
    write_package(folder, "bad.taptik", b"\xff\xfe")
    result = run("export", "--source", str(folder), "--manifest", str(tmp_path / "m.json"))
    assert result.exit_code == 0, result.output
    assert "2 package(s)" in result.output
    assert "warning: bad.taptik: not UTF-8" in result.output


def test_missing_source_folder_is_one_clear_line(tmp_path):
    done = run_cli("export", "--source", str(tmp_path / "nope"), "--manifest", str(tmp_path / "m.json"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"taptik-db: error: package folder not found: {tmp_path / 'nope'}"
    assert not (tmp_path / "m.json").exists()
