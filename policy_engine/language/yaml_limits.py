"""Limits on what a YAML file may make us build, checked before anything is built.

A few hundred bytes of nested anchors and aliases ("billion laughs") expand to billions of nodes,
and ten thousand nested brackets exhaust Python's stack (LibYAML's composer, written in C, crashes
the process). Composing the node graph is where both happen, so the file is first read as a stream
of parser events, which takes constant stack and memory whatever the nesting, and refused at the
first event past a limit. No real policy comes near them: the policies shipped in `policies/` nest
at most 13 levels (`repair.yaml`) and use no alias at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from policy_engine.language.problems import Problem

# The largest file read, in bytes: the biggest shipped policy file is 15 kB.
MAX_FILE_BYTES = 1_000_000
# The deepest nesting of mappings and lists, counting what aliases bring in where they are used.
MAX_NESTING = 64
# The nodes all aliases of one file may stand for together: each alias counts the whole node it
# repeats, so this bounds the data built from a file to its own nodes plus this many.
MAX_ALIAS_NODES = 10_000


def file_too_large(size: int, file: str) -> Problem | None:
    """The file's size, refused past MAX_FILE_BYTES before it is read."""
    if size <= MAX_FILE_BYTES:
        return None
    return Problem(file, 1, 1, f"the file is {size:,} bytes, more than the limit of {MAX_FILE_BYTES:,}")


@dataclass
class _Open:
    """A mapping or list being read: its anchor, the nodes it holds so far and its height."""

    anchor: str | None
    nodes: int = 1
    height: int = 1


@dataclass
class _Scan:
    file: str
    # Per anchor: the nodes it stands for and how deep it nests (memoised: an alias costs one look-up).
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    open: list[_Open] = field(default_factory=list)
    alias_nodes: int = 0

    def problem(self, event: Any, message: str) -> Problem:
        mark = event.start_mark
        return Problem(self.file, mark.line + 1, mark.column + 1, message)

    def add(self, event: Any, nodes: int, height: int) -> Problem | None:
        """A finished node of `nodes` nodes nesting `height` deep, inside the innermost open one."""
        if len(self.open) + height > MAX_NESTING:
            return self.problem(event, f"nested deeper than {MAX_NESTING} levels")
        if self.open:
            parent = self.open[-1]
            parent.nodes += nodes
            parent.height = max(parent.height, height + 1)
        return None

    def step(self, event: Any) -> Problem | None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.sizes.clear()  # anchors do not reach across documents
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(self.open) + 1 > MAX_NESTING:
                return self.problem(event, f"nested deeper than {MAX_NESTING} levels")
            self.open.append(_Open(event.anchor))
        elif isinstance(event, yaml.CollectionEndEvent):
            done = self.open.pop()
            if done.anchor is not None:
                self.sizes[done.anchor] = (done.nodes, done.height)
            return self.add(event, done.nodes, done.height) if self.open else None
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                self.sizes[event.anchor] = (1, 0)
            return self.add(event, 1, 0)
        elif isinstance(event, yaml.AliasEvent):
            return self.alias(event)
        return None

    def alias(self, event: Any) -> Problem | None:
        if any(node.anchor == event.anchor for node in self.open):
            return self.problem(event, f"alias *{event.anchor} is inside the node it names: it would repeat forever")
        if event.anchor not in self.sizes:
            return None  # an undefined alias: the composer reports it as a YAML syntax error
        nodes, height = self.sizes[event.anchor]
        self.alias_nodes += nodes
        if self.alias_nodes > MAX_ALIAS_NODES:
            return self.problem(event, f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes")
        return self.add(event, nodes, height)


def check_yaml_limits(text: str, file: str, loader: type[Any]) -> Problem | None:
    """The first place `text` goes past a limit, read with `loader`'s parser; None when it does not
    (or when it is not valid YAML: composing it reports the syntax error in the parser's words)."""
    size = len(text.encode("utf-8"))
    too_large = file_too_large(size, file)
    if too_large is not None:
        return too_large
    scan = _Scan(file)
    try:
        for event in yaml.parse(text, Loader=loader):
            problem = scan.step(event)
            if problem is not None:
                return problem
    except yaml.YAMLError:
        return None
    return None
