"""Pure functions turning a parsed package of one platform into a package for another.

Each transformer: deep-copies the package, removes secrets (any key matching
api_key / token / secret / password, at any depth), renames settings to the target's
names (settings the target has no equivalent for are dropped and listed), maps
keybinding notation, and sets the platform. Nothing here touches a file or a database.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

Package = dict[str, Any]
SECRET_KEY = re.compile(r"api[_-]?key|token|secret|password", re.IGNORECASE)

# Setting names, from Claude Code's to each target's. None: the target has no such setting.
_FROM_CLAUDE_CODE: dict[str, dict[str, str | None]] = {
    "cursor": {
        "model": "cursor.general.model",
        "theme": "workbench.colorTheme",
        "fontSize": "editor.fontSize",
        "tabSize": "editor.tabSize",
        "autoSave": "files.autoSave",
        "lineNumbers": "editor.lineNumbers",
        "permissions": None,
        "hooks": None,
    },
    "kiro": {
        "model": "kiro.agent.model",
        "theme": "workbench.colorTheme",
        "fontSize": "editor.fontSize",
        "tabSize": "editor.tabSize",
        "autoSave": "files.autoSave",
        "lineNumbers": "editor.lineNumbers",
        "permissions": "kiro.agent.trustedCommands",
        "hooks": "kiro.hooks",
    },
    "vim": {
        "model": None,
        "theme": "colorscheme",
        "fontSize": None,
        "tabSize": "tabstop",
        "autoSave": "autowriteall",
        "lineNumbers": "number",
        "permissions": None,
        "hooks": None,
    },
}
_CURSOR_TO_CLAUDE_CODE = {v: k for k, v in _FROM_CLAUDE_CODE["cursor"].items() if v}


def strip_secrets(value: Any) -> tuple[Any, list[str]]:
    """A copy of `value` without secret-looking keys, and the dotted paths removed."""
    removed: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            kept = {}
            for key, item in node.items():
                where = f"{path}.{key}" if path else str(key)
                if SECRET_KEY.search(str(key)):
                    removed.append(where)
                else:
                    kept[key] = walk(item, where)
            return kept
        if isinstance(node, list):
            return [walk(item, f"{path}[{i}]") for i, item in enumerate(node)]
        return node

    return walk(value, ""), removed


def rename_settings(settings: dict, names: dict[str, str | None]) -> tuple[dict, list[str]]:
    """Settings under the target's names; unknown names are kept as they are, unsupported ones dropped."""
    renamed, dropped = {}, []
    for key, value in settings.items():
        if key in names and names[key] is None:
            dropped.append(key)
        else:
            renamed[names.get(key, key)] = value
    return renamed, dropped


_MODIFIERS_VIM = {
    "ctrl": "C",
    "control": "C",
    "cmd": "D",
    "meta": "M",
    "alt": "M",
    "option": "M",
    "shift": "S",
}


def vscode_key_to_vim(key: str) -> str:
    """`ctrl+shift+p` -> `<C-S-p>`; chords (`ctrl+k ctrl+s`) become sequences."""
    out = []
    for chord in key.split():
        parts = chord.lower().split("+")
        mods = [_MODIFIERS_VIM.get(p, p) for p in parts[:-1]]
        out.append(f"<{'-'.join([*mods, parts[-1]])}>" if mods else parts[-1])
    return "".join(out)


def _map_keybindings(bindings: Any, key_map: Callable[[str], str]) -> Any:
    if not isinstance(bindings, list):
        return bindings
    mapped = []
    for binding in bindings:
        if isinstance(binding, dict) and isinstance(binding.get("key"), str):
            binding = {**binding, "key": key_map(binding["key"])}
        mapped.append(binding)
    return mapped


def _transformer(target: str, names: dict[str, str | None], key_map: Callable[[str], str] = str) -> Callable:
    def transform(package: Package) -> Package:
        doc, removed = strip_secrets(copy.deepcopy(package))
        dropped: list[str] = []
        if isinstance(doc.get("settings"), dict):
            doc["settings"], dropped = rename_settings(doc["settings"], names)
        if "keybindings" in doc:
            doc["keybindings"] = _map_keybindings(doc["keybindings"], key_map)
        source = doc.get("platform")
        doc["platform"] = target
        doc["migration"] = {
            "from": source,
            "to": target,
            "removed_secrets": removed,
            "dropped_settings": dropped,
        }
        return doc

    transform.__name__ = f"to_{target.replace('-', '_')}"
    return transform


def _compose(*names: dict[str, str | None]) -> dict[str, str | None]:
    """Rename maps applied one after another (cursor -> claude-code -> kiro)."""
    result: dict[str, str | None] = dict(names[0])
    for later in names[1:]:
        result = {k: (later.get(v, v) if v else None) for k, v in result.items()}
    return result


TRANSFORMERS: dict[tuple[str, str], Callable[[Package], Package]] = {
    ("claude-code", "cursor"): _transformer("cursor", _FROM_CLAUDE_CODE["cursor"]),
    ("claude-code", "kiro"): _transformer("kiro", _FROM_CLAUDE_CODE["kiro"]),
    ("claude-code", "vim"): _transformer("vim", _FROM_CLAUDE_CODE["vim"], vscode_key_to_vim),
    ("cursor", "claude-code"): _transformer("claude-code", _CURSOR_TO_CLAUDE_CODE),
    ("cursor", "kiro"): _transformer("kiro", _compose(_CURSOR_TO_CLAUDE_CODE, _FROM_CLAUDE_CODE["kiro"])),
}


def get_transformer(source: str, target: str) -> Callable[[Package], Package]:
    from storage_tasks.errors import UnknownPlatformPair

    try:
        return TRANSFORMERS[(source, target)]
    except KeyError:
        known = ", ".join(f"{a} -> {b}" for a, b in TRANSFORMERS)
        raise UnknownPlatformPair(f"no transformer from {source!r} to {target!r}; known: {known}") from None
