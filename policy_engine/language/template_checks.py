"""Message templates (`templates/NAME.LOCALE.j2`): each compiles, and reads only names in scope
wherever a policy sends it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError

from policy_engine.language.expressions import ENV, check_names, compile_template
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
            except ValueError as exc:
                line = getattr(exc.__cause__, "lineno", None) or _syntax_line(template_file.source)
                problems.append(Problem(template_file.file, line, 1, str(exc)))
                continue
            for scope in scopes:
                for message in check_names(template_file.source, template_scope(scope), template=True):
                    line, col = _locate(template_file.source, message)
                    if (template_file.file, line, col, message) not in seen:
                        seen.add((template_file.file, line, col, message))
                        problems.append(Problem(template_file.file, line, col, message))
    return problems


def _syntax_line(source: str) -> int:
    try:
        ENV.parse(source)
    except TemplateSyntaxError as exc:
        return exc.lineno or 1
    return 1


def _locate(source: str, message: str) -> tuple[int, int]:
    """Where the name a message quotes first appears in a template."""
    match = re.search(r"'([^']+)'", message)
    if match:
        needle = match.group(1)
        for n, line in enumerate(source.splitlines(), start=1):
            col = line.find(needle)
            if col >= 0:
                return n, col + 1
    return 1, 1
