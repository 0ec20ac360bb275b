"""An expression's error as the engine passes it on: the policy's text kept, the case's values left out.

An expression that fails says why in Python's or Jinja's words, which quote the values involved:
"'dict object' has no attribute 'X'" names a key that came from an event, "could not convert string
to float: 'X'" a caller's text. The engine writes these errors into reasons, failures, logs and the
timeline; there, a quoted value is replaced by '…' unless the policy wrote it (it appears in the
expression's text, such as an operator '<' or a name).
"""

from __future__ import annotations

import re

# A quoted value as Python's repr writes it: in single or double quotes, with backslash escapes.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
# The expression the error is about, which expressions.py writes first between backticks.
_EXPRESSION = re.compile(r"^`([^`]*)`")
REDACTED = "'…'"
# Python's and Jinja's names of types ('dict object', 'NoneType'): their words, not a case's values.
_TYPE_WORDS = re.compile(r"\w+ object|NoneType|int|float|str|bool|list|dict|tuple|datetime|date")


def without_values(error: str, policy_text: str = "") -> str:
    """The error with every quoted value the policy did not write replaced by '…'.

    Policy text is the expression at the start of the error (between backticks) and `policy_text`
    (a condition, a table's name): a quoted part found in either stays."""
    match = _EXPRESSION.match(error)
    written = policy_text + (match.group(1) if match else "")
    head = match.group(0) if match else ""

    def keep_or_redact(quoted: re.Match[str]) -> str:
        inner = quoted.group(0)[1:-1]
        if inner and (inner in written or _TYPE_WORDS.fullmatch(inner)):
            return quoted.group(0)
        return REDACTED

    return head + _QUOTED.sub(keep_or_redact, error[len(head) :])
