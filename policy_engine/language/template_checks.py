"""Message templates (`templates/NAME.LOCALE.j2`): each compiles, and reads only names in scope
wherever a policy sends it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from policy_engine.language.expressions import TemplateCompileError, compile_template
from policy_engine.language.name_checks import name_problems
from policy_engine.language.problems import Problem
from policy_engine.language.scope import Scope, template_scope


@dataclass
class TemplateFile:
    name: str
    locale: str
    file: str
    source: str


def check_template_files(
    templates: Mapping[str, Mapping[str, TemplateFile]], uses: list[tuple[str, Scope]]
) -> list[Problem]:
    """Compile every template and check the names it reads where it is sent, once per problem."""
    problems: list[Problem] = []
    seen: set[tuple[str, int, int, str]] = set()
    for name, by_locale in templates.items():
        scopes = [scope for used, scope in uses if used == name]
        for template_file in by_locale.values():
            try:
                compile_template(template_file.source)
            except TemplateCompileError as exc:
                problems.append(Problem(template_file.file, exc.lineno, 1, str(exc)))
                continue
            for scope in scopes:
                for found in name_problems(template_file.source, template_scope(scope), template=True):
                    line, col = _locate(template_file.source, found.message, found.lineno)
                    if (template_file.file, line, col, found.message) not in seen:
                        seen.add((template_file.file, line, col, found.message))
                        problems.append(Problem(template_file.file, line, col, found.message))
    return problems


# The parts of a template that read names: `{{ ... }}` and `{% ... %}` (group 1). Comments and raw
# blocks are matched too, to be skipped: a name written in them, as in the text around the blocks,
# is prose, not the one read.
_CODE = re.compile(
    r"\{#.*?#\}|\{%[-+]?\s*raw\s*[-+]?%\}.*?\{%[-+]?\s*endraw\s*[-+]?%\}|(\{\{.*?\}\}|\{%.*?%\})",
    re.DOTALL,
)


def _locate(source: str, message: str, lineno: int = 1) -> tuple[int, int]:
    """Where the name a message quotes is first read in a template from line `lineno` on (where the
    problem is): in a `{{ }}` or `{% %}` block, whole (`customer` is not found in `case.customer` or
    `customers`). The start of line `lineno` when the message quotes no name, or one not found."""
    match = re.search(r"'([^']+)'", message)
    if not match:
        return lineno, 1
    # Lines end at "\n" only, as Jinja counts them (str.splitlines also breaks at a form feed or U+2028).
    line_start = sum(len(line) + 1 for line in source.split("\n")[: lineno - 1])
    name = re.compile(rf"(?<![\w.]){re.escape(match.group(1))}(?!\w)")
    for code in _CODE.finditer(source):
        if code.group(1) is None:
            continue  # a comment or a raw block
        # From the problem's line on: a block that ends before it is searched from past its end, so
        # finds nothing; one that spans it only from its part on that line.
        found = name.search(code.group(1), max(line_start - code.start(1), 0))
        if found:
            before = source[: code.start(1) + found.start()]
            return before.count("\n") + 1, len(before) - before.rfind("\n")
    return lineno, 1
