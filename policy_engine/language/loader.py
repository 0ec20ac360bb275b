"""Load a policy set from files: parse, apply `extends`, validate, check, pin.

A set is accepted whole or not at all: `load_policy_set` either returns a `PolicySet` in which every
policy is valid, or raises `PolicyError` listing every problem as `FILE:LINE:COL: message`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from policy_engine.language.actions import ACTIONS
from policy_engine.language.calendars import Calendar
from policy_engine.language.checks import PolicyChecker
from policy_engine.language.model import Policy
from policy_engine.language.problems import PolicyError, Problem, did_you_mean
from policy_engine.language.resolved import ResolvedPolicy
from policy_engine.language.selection import PolicySet, check_selection
from policy_engine.language.template_checks import TemplateFile, check_template_files
from policy_engine.language.yamlsource import DocPath, SourceMap, load_yaml_file

# Folders under a policy root that hold other things than policies (compliance: report targets and
# merchant risk rules, read by reports/ and risk/).
_SKIPPED_DIRS = {"tests", "compliance", "__pycache__", ".git"}


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


@dataclass
class RawPolicy:
    id: str
    data: dict[str, Any]
    smap: SourceMap


@dataclass
class _Collected:
    problems: list[Problem] = field(default_factory=list)
    raw: dict[str, RawPolicy] = field(default_factory=dict)
    calendars: dict[str, Calendar] = field(default_factory=dict)
    # Where each calendar lists its years (FILE:LINE:COL of `years:`), for the notes on its coverage.
    calendar_years_at: dict[str, Problem] = field(default_factory=dict)
    templates: dict[str, dict[str, TemplateFile]] = field(default_factory=dict)
    # Files that could not be read as YAML. What they define is unknown, so a policy or calendar
    # "missing" elsewhere may be in them: such references are not reported (only the YAML mistake is).
    unreadable: list[str] = field(default_factory=list)


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[Path], list[Problem]]:
    """YAML files and templates under the given files and folders (scenario folders skipped)."""
    yaml_files: list[Path] = []
    template_files: list[Path] = []
    problems: list[Problem] = []
    for root in paths:
        if root.is_file():
            (template_files if root.suffix == ".j2" else yaml_files).append(root)
            continue
        if not root.is_dir():
            problems.append(Problem(display_path(root), 1, 1, "no such file or folder"))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS and not d.startswith("."))
            for name in sorted(filenames):
                full = Path(dirpath) / name
                if name.endswith((".yaml", ".yml")):
                    yaml_files.append(full)
                elif name.endswith(".j2"):
                    template_files.append(full)
    return yaml_files, template_files, problems


def pydantic_problems(exc: ValidationError, raw: Any, smap: SourceMap) -> list[Problem]:
    """Turn pydantic's errors into operator messages at the right place."""
    problems: list[Problem] = []
    for err in exc.errors():
        path = _raw_path(raw, err["loc"])
        kind = err["type"]
        message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        last = path[-1] if path else None
        if kind == "extra_forbidden":
            parent = path[:-1]
            # Every `actions:` list holds actions: an unknown key there is an action type that does not exist.
            is_action = len(parent) >= 2 and parent[-2] == "actions" and isinstance(parent[-1], int)
            known = list(ACTIONS) if is_action else _known_keys(err, raw, parent)
            hint = did_you_mean(str(last), known)
            msg = f"unknown {'action' if is_action else 'key'} '{last}'{hint}"
            if is_action and not hint:
                msg += f" (actions: {', '.join(ACTIONS)})"
            problems.append(smap.problem(path, msg, at_key=True))
        elif kind == "missing":
            missing = err["loc"][-1]
            problems.append(smap.problem(path, f"missing required key '{missing}'"))
        elif err["loc"] and err["loc"][-1] == "[key]":
            # A mapping key that is not a valid name (a counter `second reopens:`): point at the key.
            problems.append(smap.problem(path, message, at_key=True))
        else:
            where = f"{last}: " if isinstance(last, str) and kind != "value_error" else ""
            problems.append(smap.problem(_refine_by_date(raw, path, message), f"{where}{message}"))
    return problems


_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


def _refine_by_date(raw: Any, path: DocPath, message: str) -> DocPath:
    """A whole-object check that names a date (a calendar's make-up day) points at that date's entry."""
    match = _DATE.search(message)
    if not match:
        return path
    node = raw
    for part in path:
        node = node[part]
    if not isinstance(node, dict):
        return path
    for key, value in node.items():
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict) and str(item.get("date")) == match[1]:
                    return (*path, key, i, "date")
    return path


def _known_keys(err: Any, raw: Any, parent: DocPath) -> list[str]:
    del err, raw, parent  # the suggestion list is refined by the caller's model when it matters
    return list(_ALL_KEYS)


def _model_keys(model: type[BaseModel], out: set[str]) -> None:
    for name, info in model.model_fields.items():
        out.add(info.alias or name)
        ann = info.annotation
        for sub in _models_in(ann):
            if sub.__name__ not in _visited:
                _visited.add(sub.__name__)
                _model_keys(sub, out)


def _models_in(ann: Any) -> Iterable[type[BaseModel]]:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        yield ann
    for arg in getattr(ann, "__args__", ()) or ():
        yield from _models_in(arg)


_visited: set[str] = set()
_ALL_KEYS: set[str] = set()
_model_keys(Policy, _ALL_KEYS)
_model_keys(Calendar, _ALL_KEYS)


def _raw_path(raw: Any, loc: tuple[Any, ...]) -> DocPath:
    """Pydantic locations include union and validator tags; keep the parts that exist in the data."""
    path: list[str | int] = []
    node = raw
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.endswith("_") and part[:-1] in node:
            path.append(part[:-1])  # aliased keys: if_ -> if, from_ -> from
            node = node[part[:-1]]
        elif isinstance(node, dict) and isinstance(part, str) and not _looks_like_tag(part):
            path.append(part)  # a missing key: point at its parent, remember the name
            node = None
    return tuple(path)


def _looks_like_tag(part: str) -> bool:
    return part in {"str", "list[Branch]", "function-after[_when(), Timer]"} or "[" in part or "(" in part


def _collect(paths: Sequence[Path]) -> _Collected:
    out = _Collected()
    yaml_files, template_files, problems = discover(paths)
    out.problems.extend(problems)
    for path in template_files:
        _add_template(out, path)
    for path in yaml_files:
        name = display_path(path)
        data, smap, problems = load_yaml_file(path, name)
        out.problems.extend(problems)
        if data is None:
            if problems:
                out.unreadable.append(name)
            else:
                out.problems.append(Problem(name, 1, 1, "the file is empty"))
            continue
        if not isinstance(data, dict):
            out.problems.append(smap.problem((), "a policy file is a mapping with `policies:` or `calendar:`"))
        elif "calendar" in data and "policies" not in data:
            _add_calendar(out, data, smap)
        elif "policies" in data:
            _add_policies(out, data, smap)
        else:
            out.problems.append(smap.problem((), "this file has neither `policies:` nor `calendar:` at the top"))
    return out


def _add_template(out: _Collected, path: Path) -> None:
    name = display_path(path)
    stem = path.name[: -len(".j2")]
    if "." not in stem:
        out.problems.append(Problem(name, 1, 1, "a template file is named NAME.LOCALE.j2 (e.g. approved.zh-CN.j2)"))
        return
    template, locale = stem.rsplit(".", 1)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        out.problems.append(Problem(name, 1, 1, f"cannot read template: {exc}"))
        return
    if locale in out.templates.get(template, {}):
        other = out.templates[template][locale].file
        out.problems.append(Problem(name, 1, 1, f"template '{template}' for {locale} is also in {other}"))
        return
    out.templates.setdefault(template, {})[locale] = TemplateFile(template, locale, name, source)


def _add_calendar(out: _Collected, data: dict[str, Any], smap: SourceMap) -> None:
    try:
        cal = Calendar.model_validate(data)
    except ValidationError as exc:
        out.problems.extend(pydantic_problems(exc, data, smap))
        return
    if cal.calendar in out.calendars:
        out.problems.append(smap.problem(("calendar",), f"calendar '{cal.calendar}' is defined twice"))
        return
    out.calendars[cal.calendar] = cal
    out.calendar_years_at[cal.calendar] = smap.problem(("years",), "", at_key=True)


def _add_policies(out: _Collected, data: dict[str, Any], smap: SourceMap) -> None:
    for key in data:
        if key != "policies":
            out.problems.append(
                smap.problem((key,), f"unknown key '{key}' (a policy file has only `policies:`)", at_key=True)
            )
    items = data["policies"]
    if not isinstance(items, list) or not items:
        out.problems.append(smap.problem(("policies",), "`policies` is a list of policies"))
        return
    for i, item in enumerate(items):
        sub = smap.sub(("policies", i))
        if not isinstance(item, dict):
            out.problems.append(sub.problem((), "each policy is a mapping that starts with `policy: ID`"))
            continue
        pid = item.get("policy")
        if not isinstance(pid, str):
            out.problems.append(sub.problem((), "each policy needs `policy: ID`, its unique name"))
            continue
        if pid in out.raw:
            first = out.raw[pid].smap.value_at(("policy",))
            out.problems.append(sub.problem(("policy",), f"policy id '{pid}' is already used at {first[0]}:{first[1]}"))
            continue
        out.raw[pid] = RawPolicy(pid, item, sub)


def merge(parent: RawPolicy, child: RawPolicy, problems: list[Problem] | None = None) -> RawPolicy:
    """Child over parent, as JSON Merge Patch (RFC 7386) does it.

    Mappings merge key by key, `null` removes the parent's key (an exchange has no refund clock),
    anything else replaces. A `null` that removes nothing is reported: it is most likely a typo.
    """
    smap = SourceMap(child.smap.file)
    smap.values = dict(parent.smap.values)
    smap.keys = dict(parent.smap.keys)

    def replace_subtree(path: DocPath) -> None:
        for table in (smap.values, smap.keys):
            for p in [p for p in table if p[: len(path)] == path and len(p) > len(path)]:
                del table[p]

    def go(base: dict[str, Any], over: dict[str, Any], path: DocPath) -> dict[str, Any]:
        result = dict(base)
        for key, value in over.items():
            sub = (*path, key)
            if value is None:
                if key in result:
                    del result[key]
                    replace_subtree(sub)
                    smap.keys.pop(sub, None)
                    smap.values.pop(sub, None)
                elif problems is not None:
                    problems.append(
                        child.smap.problem(sub, f"`{key}: null` removes nothing: '{parent.id}' has no '{key}' here")
                    )
                continue
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                result[key] = go(base[key], value, sub)
            else:
                result[key] = value
                replace_subtree(sub)
                for table, src in ((smap.values, child.smap.values), (smap.keys, child.smap.keys)):
                    for p, pos in src.items():
                        if p[: len(sub)] == sub:
                            table[p] = pos
            if sub in child.smap.keys:
                smap.keys[sub] = child.smap.keys[sub]
            if sub in child.smap.values:
                smap.values[sub] = child.smap.values[sub]
        return result

    data = go({k: v for k, v in parent.data.items() if k != "abstract"}, child.data, ())
    if "abstract" not in child.data:
        data.pop("abstract", None)
    smap.values[()] = child.smap.values.get((), (child.smap.file, 1, 1))
    return RawPolicy(child.id, data, smap)


def _resolve_extends(out: _Collected) -> dict[str, RawPolicy]:
    resolved: dict[str, RawPolicy] = {}
    broken: set[str] = set()

    def resolve(pid: str, chain: list[str]) -> RawPolicy | None:
        if pid in resolved:
            return resolved[pid]
        if pid in broken:
            return None
        raw = out.raw[pid]
        parent_id = raw.data.get("extends")
        if parent_id is None:
            resolved[pid] = raw
            return raw
        if not isinstance(parent_id, str):
            return raw  # the model reports the wrong type
        if parent_id in chain or parent_id == pid:
            cycle = chain[chain.index(parent_id) :] if parent_id in chain else []
            loop = " -> ".join([*cycle, pid, parent_id])
            out.problems.append(raw.smap.problem(("extends",), f"`extends` chain loops: {loop}"))
            broken.add(pid)
            return None
        if parent_id not in out.raw and out.unreadable:
            broken.add(pid)  # perhaps defined in the unreadable file: its YAML mistake is the one to fix
            return None
        if parent_id not in out.raw:
            out.problems.append(
                raw.smap.problem(
                    ("extends",), f"`extends` names unknown policy '{parent_id}'{did_you_mean(parent_id, out.raw)}"
                )
            )
            broken.add(pid)
            return None
        parent = resolve(parent_id, [*chain, pid])
        if parent is None:
            broken.add(pid)
            return None
        merged = merge(parent, raw, out.problems)
        resolved[pid] = merged
        return merged

    for pid in out.raw:
        resolve(pid, [])
    return resolved


def load_policy_set(paths: Sequence[Path | str]) -> PolicySet:
    """Load and check every policy under `paths`; raise PolicyError with every problem found."""
    out = _collect([Path(p) for p in paths])
    merged = _resolve_extends(out)
    policies: dict[str, tuple[Policy, SourceMap]] = {}
    for pid, raw in merged.items():
        try:
            policies[pid] = (Policy.model_validate(raw.data), raw.smap)
        except ValidationError as exc:
            out.problems.extend(pydantic_problems(exc, raw.data, raw.smap))
    template_uses = []
    used_templates: dict[str, set[str]] = {}
    for pid, (policy, smap) in policies.items():
        checker = PolicyChecker(policy, smap, out.calendars, out.templates, all_files_read=not out.unreadable)
        out.problems.extend(checker.run())
        used_templates[pid] = checker.used_templates
        if not policy.abstract:
            template_uses.extend(checker.template_uses)
    out.problems.extend(check_template_files(out.templates, template_uses))
    concrete = {pid: ps for pid, ps in policies.items() if not ps[0].abstract}
    out.problems.extend(check_selection(concrete))
    if out.problems:
        raise PolicyError(out.problems)
    resolved: dict[str, ResolvedPolicy] = {}
    for pid, (policy, _smap) in concrete.items():
        calendar = out.calendars.get(policy.calendar) if policy.calendar else None
        texts = {
            name: {locale: text.source for locale, text in out.templates[name].items() if locale in policy.locales}
            for name in sorted(used_templates[pid])
        }
        resolved[pid] = ResolvedPolicy.build(policy, calendar, texts)
    return PolicySet(resolved, out.calendars, out.calendar_years_at)
