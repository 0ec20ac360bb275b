"""Changes to the grants file made by `aftersales keys`, keeping the operator's comments and order.

Only the part that changes is rewritten: a new principal is added after the last one, `revoke`
writes one line (`disabled: true`), and a principal that gets a new key has its own entry written
again (comments inside that entry are not kept). The result is checked like any grants file before
it replaces the old one (atomically), so an edit never leaves a broken file behind.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policy_engine.language.yamlsource import load_yaml_text
from service.atomic_files import write_atomically
from service.identity.grants import Grants, GrantsError, parse_grants

HEADER = """\
# Who may call the aftersales service: named principals (backend services), each with its Ed25519
# public key(s), the roles it may assert and the case types it may open. Deny by default: a caller
# that is not here, is disabled or is past `expires` is refused. Reference: docs/security.md.
# Check it with `aftersales grants validate`.
"""


@dataclass(frozen=True)
class Entry:
    """A principal's entry as written in the file (keys as written: inline PEM or a path)."""

    roles: Sequence[str]
    open_types: Sequence[str] = ()
    keys: Sequence[str] = ()
    expires: dt.datetime | None = None
    disabled: bool = False
    note: str = ""

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Entry:
        return cls(
            roles=list(raw.get("roles") or ()),
            open_types=list(raw.get("open_types") or ()),
            keys=list(raw.get("keys") or ()),
            expires=raw.get("expires"),
            disabled=raw.get("disabled") is True,
            note=str(raw.get("note") or ""),
        )


def read_entries(path: Path) -> dict[str, Entry]:
    """The principals as written (call after the file was checked)."""
    if not path.exists():
        return {}
    data, _, _ = load_yaml_text(path.read_text(encoding="utf-8"), str(path))
    principals = (data or {}).get("principals") or {}
    return {name: Entry.from_raw(raw) for name, raw in principals.items()}


def render(name: str, entry: Entry, indent: int = 2) -> str:
    """One principal's entry, at `indent` spaces, its children `indent` deeper."""
    pad, child = " " * indent, " " * (indent * 2)
    lines = [f"{pad}{name}:"]
    if entry.note:
        lines.append(f"{child}note: {json.dumps(entry.note, ensure_ascii=False)}")
    lines.append(f"{child}roles: [{', '.join(entry.roles)}]")
    if entry.open_types:
        lines.append(f"{child}open_types: [{', '.join(entry.open_types)}]")
    lines.append(f"{child}keys:")
    for key in entry.keys:
        if "\n" in key.strip():
            lines.append(f"{child}  - |")
            lines.extend(f"{child}    {line}" if line else "" for line in key.strip().splitlines())
        else:
            lines.append(f"{child}  - {json.dumps(key.strip())}")
    if entry.expires is not None:
        lines.append(f"{child}expires: {entry.expires.isoformat()}")
    if entry.disabled:
        lines.append(f"{child}disabled: true")
    return "\n".join(lines) + "\n"


def put_principal(text: str, name: str, entry: Entry) -> str:
    """`text` with principal `name` added (after the last principal) or its entry replaced."""
    if not text.strip():
        return (text or HEADER) + "principals:\n" + render(name, entry)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:  # comments only
        return _with_newline(text) + "principals:\n" + render(name, entry)
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("the grants file is not a mapping")
    found = _item(root, "principals")
    if found is None:
        return _with_newline(text) + "principals:\n" + render(name, entry)
    key_node, principals = found
    if not isinstance(principals, yaml.MappingNode) or principals.flow_style or not principals.value:
        # `principals:` (empty), `principals: {}` or a flow mapping: write the mapping out again.
        start, end = key_node.start_mark.index, _end(text, principals)
        entries = read_entries_from(text)
        entries[name] = entry
        block = "principals:\n" + "".join(render(n, e) for n, e in entries.items())
        return text[:start] + block + text[end:]
    indent = principals.value[0][0].start_mark.column
    existing = _item(principals, name)
    if existing is not None:
        start = existing[0].start_mark.index - existing[0].start_mark.column
        end = _end(text, existing[1])
        return text[:start] + render(name, entry, indent) + text[end:]
    end = _end(text, principals)
    return _with_newline(text[:end]) + render(name, entry, indent) + text[end:]


def disable_principal(text: str, name: str) -> str:
    """`text` with `disabled: true` in principal `name`'s entry (one line written or changed)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    principals = _item(root, "principals") if isinstance(root, yaml.MappingNode) else None
    found = _item(principals[1], name) if principals and isinstance(principals[1], yaml.MappingNode) else None
    if found is None:
        raise ValueError(f"no principal '{name}'")
    value = found[1]
    if not isinstance(value, yaml.MappingNode) or value.flow_style or not value.value:
        entry = read_entries_from(text)[name]
        return put_principal(
            text, name, Entry(entry.roles, entry.open_types, entry.keys, entry.expires, True, entry.note)
        )
    flag = _item(value, "disabled")
    if flag is not None:
        return text[: flag[1].start_mark.index] + "true" + text[flag[1].end_mark.index :]
    indent: int = value.value[0][0].start_mark.column
    end = _end(text, value)
    return _with_newline(text[:end]) + " " * indent + "disabled: true\n" + text[end:]


def read_entries_from(text: str) -> dict[str, Entry]:
    data, _, _ = load_yaml_text(text, "grants")
    principals = (data or {}).get("principals") or {}
    return {name: Entry.from_raw(raw) for name, raw in principals.items()}


def write_checked(path: Path, text: str, *, case_types: Collection[str] | None = None) -> Grants:
    """Check `text` as the grants file and put it in place atomically; raises GrantsError (nothing written)."""
    grants = parse_grants(text.encode("utf-8"), str(path), base_dir=path.parent, case_types=case_types)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text, mode)
    return grants


def _item(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    return next(((k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _end(text: str, node: yaml.Node) -> int:
    """Where `node`'s own text ends: after its last content line, before any blank or comment lines
    that follow it (they belong to what comes next)."""
    end = node.end_mark.index
    line_start = text.rfind("\n", 0, end) + 1
    if text[line_start:end].strip():
        # The node ends inside a line (a flow value, a scalar): keep the rest of that line with it.
        newline = text.find("\n", end)
        return len(text) if newline < 0 else newline + 1
    end = line_start
    while end > 0:
        previous = text.rfind("\n", 0, end - 1) + 1
        stripped = text[previous:end].strip()
        if stripped and not stripped.startswith("#"):
            break
        end = previous
    return end


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


__all__ = [
    "HEADER",
    "Entry",
    "GrantsError",
    "disable_principal",
    "put_principal",
    "read_entries",
    "render",
    "write_checked",
]
