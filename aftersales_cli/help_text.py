"""Command help as people read it: a docstring's paragraphs flow to the terminal's width.

Docstrings are wrapped at the source's line length; the help renderer keeps those breaks in every
paragraph after the first, which cuts sentences mid-line in a wide or narrow terminal. `reflow`
joins the lines of each paragraph, and keeps the breaks that carry meaning: list items (`-`, `*`,
`1.`), indented lines (examples), and paragraphs marked `\\b` (kept as written).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

_KEPT_LINE = re.compile(r"^(\s|[-*•]\s|\d+[.)]\s)")


def reflow_paragraph(paragraph: str) -> str:
    """One paragraph's lines joined, except where a line starts a list item or is indented."""
    if paragraph.startswith("\b"):
        return paragraph
    lines = paragraph.split("\n")
    joined = [lines[0]]
    for line in lines[1:]:
        if _KEPT_LINE.match(line) or not line.strip():
            joined.append(line)
        else:
            joined[-1] = f"{joined[-1].rstrip()} {line.strip()}"
    return "\n".join(joined)


def reflow(text: str) -> str:
    """A help text whose paragraphs flow (inspect.cleandoc first, as the renderer does)."""
    help_text, marker, rest = inspect.cleandoc(text).partition("\f")
    flowed = "\n\n".join(reflow_paragraph(p) for p in help_text.split("\n\n"))
    return flowed + marker + rest


def reflow_tree(command: Any) -> None:
    """Reflow the help of a command, its options' help and, for a group, every command under it."""
    if command.help:
        command.help = reflow(command.help)
    for parameter in getattr(command, "params", []):
        if getattr(parameter, "help", None):
            parameter.help = reflow(parameter.help)
    for sub in getattr(command, "commands", {}).values():
        reflow_tree(sub)
