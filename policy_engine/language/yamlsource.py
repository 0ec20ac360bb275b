"""Safe YAML loading that remembers where every key and value came from.

Operators need `FILE:LINE:COL` for every mistake, including those found long after parsing (an
unknown state named deep inside a handler). We compose the YAML node graph ourselves, refuse tags
and duplicate keys, and record the position of each key and value by its path in the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policy_engine.language.problems import Problem
from policy_engine.language.yaml_limits import check_yaml_limits, file_too_large

DocPath = tuple[str | int, ...]
Position = tuple[str, int, int]  # file, line, column (1-based)

# The only node types a policy needs; anything else (python/object, binary, set) is refused.
_ALLOWED_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)


@dataclass
class SourceMap:
    """Positions of keys and values by document path; `file` is the default file."""

    file: str
    values: dict[DocPath, Position] = field(default_factory=dict)
    keys: dict[DocPath, Position] = field(default_factory=dict)

    def value_at(self, path: DocPath) -> Position:
        """The position of the value at `path`, or of its nearest ancestor we know."""
        for cut in range(len(path), -1, -1):
            pos = self.values.get(path[:cut])
            if pos is not None:
                return pos
        return (self.file, 1, 1)

    def key_at(self, path: DocPath) -> Position:
        return self.keys.get(path) or self.value_at(path)

    def problem(self, path: DocPath, message: str, *, at_key: bool = False) -> Problem:
        file, line, col = self.key_at(path) if at_key else self.value_at(path)
        return Problem(file, line, col, message)

    def sub(self, prefix: DocPath) -> SourceMap:
        """The map of the part of the document below `prefix`, with paths relative to it."""
        n = len(prefix)
        out = SourceMap(self.file)
        out.values = {p[n:]: v for p, v in self.values.items() if p[:n] == prefix}
        out.keys = {p[n:]: v for p, v in self.keys.items() if p[:n] == prefix and len(p) > n}
        if () not in out.values:
            out.values[()] = self.value_at(prefix)
        return out


@dataclass
class Reporter:
    """The problems of one policy, each reported at the place the operator must edit."""

    smap: SourceMap
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: DocPath, message: str, *, at_key: bool = False) -> None:
        self.problems.append(self.smap.problem(path, message, at_key=at_key))

    def error_in_text(self, path: DocPath, needle: str, message: str) -> None:
        """A problem with a name or value inside an expression, reported where it is written."""
        file, line, col = find_on_line(self.smap.value_at(path), needle)
        self.problems.append(Problem(file, line, col, message))

    def line_of(self, path: DocPath) -> str:
        """`line 12` in the policy's own file, `FILE:12` elsewhere (in the policy it extends)."""
        file, line, _ = self.smap.value_at(path)
        return f"line {line}" if file == self.smap.file else f"{file}:{line}"


def find_on_line(pos: Position, needle: str) -> Position:
    """Where `needle` (a name or value inside an expression) is written on the line of `pos`, at or
    after its column; `pos` itself when it is not there (an expression written over several lines,
    a name spelt another way, a file that changed since)."""
    file, line, col = pos
    if not needle:
        return pos
    try:
        with open(file, encoding="utf-8") as f:
            text = next((ln for n, ln in enumerate(f, start=1) if n == line), "")
    except (OSError, UnicodeDecodeError):
        return pos
    # Not inside a longer name: `customer` is not found in `case.customer_id`.
    match = re.compile(rf"(?<![\w.]){re.escape(needle)}(?!\w)").search(text, col - 1)
    return pos if match is None else (file, line, match.start() + 1)


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. In YAML 1.1 `on`, `off`, `yes` and `no` are booleans, which
    would turn a state's `on:` key or a state named `no` into true/false behind an operator's back."""


# The same rules on LibYAML's parser, about seven times faster; files it refuses are parsed again by
# the Python one, so syntax errors read the same whichever parser is installed.
_FastLoader: type[Any] = _Loader
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """`_Loader`'s YAML 1.2 booleans on LibYAML."""

    _FastLoader = _CLoader

_cls: Any
for _cls in (_Loader, _FastLoader):
    _cls.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _cls.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )


def _pos(file: str, mark: yaml.Mark) -> Position:
    return (file, mark.line + 1, mark.column + 1)


_STR = "tag:yaml.org,2002:str"


def _build(loader: Any, node: yaml.Node, path: DocPath, smap: SourceMap, problems: list[Problem]) -> Any:
    smap.values[path] = _pos(smap.file, node.start_mark)
    if node.tag == _STR and isinstance(node, yaml.ScalarNode):
        return node.value  # most values are text: skip the constructor's dispatch
    if node.tag not in _ALLOWED_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        problems.append(smap.problem(path, f"YAML tag '{tag}' is not allowed in policy files"))
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    Problem(
                        *_pos(smap.file, key_node.start_mark),
                        "YAML merge keys (<<) are not supported; use `extends` to reuse a policy",
                    )
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(*_pos(smap.file, key_node.start_mark), "keys must be plain text"))
                continue
            # Keys are names: keep their text as written (`2026-01-01:` stays text, not a date).
            key = str(key_node.value)
            if key in result:
                first = smap.keys.get((*path, key))
                where = f" (first at line {first[1]})" if first else ""
                problems.append(Problem(*_pos(smap.file, key_node.start_mark), f"duplicate key '{key}'{where}"))
                continue
            smap.keys[(*path, key)] = _pos(smap.file, key_node.start_mark)
            result[key] = _build(loader, value_node, (*path, key), smap, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), smap, problems) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except ValueError as exc:  # a date that does not exist (2026-02-30) and the like
        problems.append(Problem(*_pos(smap.file, node.start_mark), f"'{node.value}' is not valid: {exc}"))
        return node.value


def load_yaml_text(text: str, file: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse one YAML document. Returns (data, positions, problems); data is None on syntax errors
    and on a file past a limit of `yaml_limits` (refused before it is composed)."""
    over_limit = check_yaml_limits(text, file, _FastLoader)
    if over_limit is not None:
        return None, SourceMap(file), [over_limit]
    if _FastLoader is not _Loader:
        try:
            return _compose(_FastLoader(text), file)
        except yaml.YAMLError:
            pass  # the Python parser below reports it, in its words
    try:
        return _compose(_Loader(text), file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        return None, SourceMap(file), [Problem(file, line, col, f"YAML syntax: {reason}")]
    except yaml.YAMLError as exc:
        return None, SourceMap(file), [Problem(file, 1, 1, f"YAML syntax: {exc}")]


def _compose(loader: Any, file: str) -> tuple[Any, SourceMap, list[Problem]]:
    """The document with its source map; raises the loader's YAMLError on a syntax error."""
    smap = SourceMap(file)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        data = None if node is None else _build(loader, node, (), smap, problems)
    finally:
        loader.dispose()
    return data, smap, problems


def load_yaml_file(path: Path, display: str | None = None) -> tuple[Any, SourceMap, list[Problem]]:
    name = display or str(path)
    try:
        too_large = file_too_large(path.stat().st_size, name)
        if too_large is not None:
            return None, SourceMap(name), [too_large]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, SourceMap(name), [Problem(name, 1, 1, f"cannot read file: {exc}")]
    return load_yaml_text(text, name)
